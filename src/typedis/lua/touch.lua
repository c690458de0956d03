-- Refresh the index entry of one field of a live record (a Decaying field: its decay restarts
-- now), through its index kind's touch(); the kinds with touched() hear of it (the change log).
-- KEYS[1]: record hash
-- ARGV[1]: tag   ARGV[2]: id   ARGV[3]: the index's position in SPEC.idx
-- ARGV[4]: the touch time (epoch ms), or "" for the server's now
-- returns: {"ok", <the kind's reply: a Decaying field's new touch time, epoch ms>} |
--          {"missing"} (no live record) | {"none"} (the field holds None) |
--          {"corrupt", key, field} (damaged: see inspect_record in lua/_lib.lua)
local spec = SPEC
local tag, id = ARGV[1], ARGV[2]
local ix = spec.idx[tonumber(ARGV[3])]
local v, live, bad = inspect_record(KEYS[1])
if bad then return {'corrupt', KEYS[1], bad} end
if not live then return {'missing'} end
if not v[ix.fields[1]] then return {'none'} end
expect_types(index_keys(spec, tag, v, {}))
local reply = KINDS[ix.kind].touch(tag, ix, id, v, tonumber(ARGV[4]) or now_ms())
for _, other in ipairs(spec.idx) do
  local heard = KINDS[other.kind].touched
  if heard then heard(tag, other, id, v, ix.fields[1]) end
end
return {'ok', reply}
