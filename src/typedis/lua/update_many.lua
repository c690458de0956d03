-- Update a batch of records of one tag as one atomic step (Model.bulk_update()): the same
-- field values written to every record as save.lua's partial save writes them (index moves,
-- uniqueness, expiry, the kinds' hidden values), from the values the server holds: fields not
-- written keep what concurrent writes stored. Every record is checked before the first write of
-- any, so a refused record leaves the whole batch unwritten.
-- KEYS[k]: the hash of record k (each key once)
-- ARGV[1]: the tag of every record   ARGV[2]: expiry (as save.lua's ARGV[6])
-- ARGV[3..]: the field mask ("." for the fields not written), texts and index arguments, as
--            save.lua's ARGV[7..]; then the id of each record k
-- returns: {"ok", {k, ...}, {<SPEC.hidden values>, ...}}: the records updated and their hidden
--          values (a record not live, deleted or expired since it was listed, is skipped) |
--          {"at", k, <save.lua's reply refusing record k>}
-- Uniqueness holds against the stored records and among the batch's own: a value of a Unique
-- field written to two records of the batch refuses the second.
local tag, expiry = ARGV[1], ARGV[2]
local values = {}
local i = read_values(SPEC, ARGV, 3, values)
local saves, self_ids = {}, {}
for k, key in ipairs(KEYS) do
  local id = ARGV[i + k - 1]
  -- The values read once serve every record: a partial save of a live record in place writes
  -- them as they are (write_save changes them only for a record that is not live or moves).
  saves[k] = {key = key, okey = key, tag = tag, id = id, otag = tag, oid = id, mode = 'partial',
    expiry = expiry, sets = values.sets, set_flat = values.set_flat, dels = values.dels,
    written = values.written, args = values.args}
  self_ids[id] = true
end
local wanted, claimed, live = {}, {}, {}
for k, r in ipairs(saves) do
  local refused = plan_save(SPEC, r, self_ids, wanted)
  if not (refused and refused[1] == 'missing') then
    refused = refused or claim_values(SPEC, tag, r.id, r.new, claimed)
    if refused then return {'at', k, refused} end
    live[#live + 1] = k
  end
end
expect_types(wanted) -- once per distinct key of the batch
local hidden = {}
for n, k in ipairs(live) do
  write_save(SPEC, saves[k])
  hidden[n] = hidden_values(saves[k].key)
end
return {'ok', live, hidden}
