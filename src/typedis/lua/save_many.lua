-- Save a batch of records fully, in place (no key moves), as one atomic step: every record is
-- checked before the first write of any, so a refused record leaves the whole batch unwritten.
-- KEYS[k]: the hash of record k (each key once)
-- ARGV, per record k in turn: tag, id, expiry (as in save.lua), then its field mask, texts and
--   index arguments (as ARGV[7..] of save.lua)
-- returns: {"ok", {<record k's SPEC.hidden values>, ...}} |
--          {"at", k, <save.lua's reply refusing record k>}
-- Uniqueness holds against the stored records and among the batch's own; a record may take a
-- unique value that another record of the batch gives up.
-- A batch of new records (the common bulk load) reads no record: one EXISTS per 1000 keys,
-- and the model's generated fast path writes it.
local absent = true
for k = 1, #KEYS, 1000 do
  absent = absent and redis.call('EXISTS', unpack(KEYS, k, math.min(k + 999, #KEYS))) == 0
end
if absent and FRESH then return FRESH.save_many(KEYS, ARGV) end
local saves, ids = {}, {} -- ids: tag -> the batch's ids there
local i = 1
for k, key in ipairs(KEYS) do
  local r = {key = key, okey = key, tag = ARGV[i], id = ARGV[i + 1], otag = ARGV[i],
    oid = ARGV[i + 1], mode = 'full', expiry = ARGV[i + 2]}
  i = read_values(SPEC, ARGV, i + 3, r)
  saves[k] = r
  ids[r.tag] = ids[r.tag] or {}
  ids[r.tag][r.id] = true
end
local wanted, claimed = {}, {}
for k, r in ipairs(saves) do
  local refused = plan_save(SPEC, r, ids[r.tag], wanted, absent)
        or claim_values(SPEC, r.tag, r.id, r.new, claimed)
  if refused then return {'at', k, refused} end
end
expect_types(wanted) -- once per distinct key of the batch
local hidden = {}
for k, r in ipairs(saves) do
  write_save(SPEC, r)
  hidden[k] = hidden_values(r.key)
end
return {'ok', hidden}
