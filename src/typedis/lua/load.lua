#!lua flags=no-writes
-- Read records by key, hiding expired ones.
-- KEYS[1..n]: record hashes
-- returns: for each key, the values of the model's fields and then its hidden fields (in
--          SPEC.read order), or false if the record is not live
-- (a stored record always holds its key fields, so all-missing means no record)
local out = {}
for k, key in ipairs(KEYS) do
  local values = redis.call('HMGET', key, EXP, unpack(SPEC.read))
  local exp = values[1]
  local live
  if exp then
    live = tonumber(exp) > now_ms()
  else
    live = false
    for j = 2, #values do
      if values[j] then live = true break end
    end
  end
  if live then
    table.remove(values, 1)
    out[k] = values
  else
    out[k] = false
  end
end
return out
