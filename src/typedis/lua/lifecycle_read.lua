#!lua flags=no-writes
-- Read records whole (hidden fields included) for a MemoryLifecycle tick, without the read
-- hooks of a query or load (a tick's reads are not an agent's).
-- KEYS[k]: record hashes
-- returns: per record, its hash as a flat list of fields and values, or false if not live
local out = {}
for k, key in ipairs(KEYS) do
  local v, live = read_record(key)
  if v and live then
    local flat = {}
    for f, t in pairs(v) do
      flat[#flat + 1] = f
      flat[#flat + 1] = t
    end
    out[k] = flat
  else
    out[k] = false
  end
end
return out
