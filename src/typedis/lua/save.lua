-- Save one record: full or partial, create or update, in place or moved to a new key.
-- KEYS[1]: record hash at its new key   KEYS[2]: record hash at its old key (= KEYS[1] unless moving)
-- ARGV[1], ARGV[2]: new tag, new id     ARGV[3], ARGV[4]: old tag, old id
-- ARGV[5]: "full" or "partial" (partial needs a live record)
-- ARGV[6]: expiry: "" keep, "-" none, "+<ms>" from now, "=<epoch ms>"
-- ARGV[7]: one letter per field of SPEC.fields: "w" written (its text follows), "n" written
--          as None (the hash field is removed), "." not written (partial save)
-- ARGV[8..]: the texts of the "w" fields, in order; then the save-time argument of each index
--          whose kind takes one (SPEC.idx order; see lua/_lib.lua) and whose field is written
-- returns: {"ok", <the record's SPEC.hidden values>} |
--          {"unique", <position of the index whose constraint it breaks>} |
--          {"exists"} (the new key holds another live record) | {"missing"} (partial save of
--          a record that is not live) | {"corrupt", key, field} (the record at key, old or new,
--          is damaged: see inspect_record in lua/_lib.lua)
-- Everything that can fail is checked before the first write (lua/_save.lua, lua/_fresh.lua).
-- A full save in place of a record that does not exist: the model's generated fast path.
if FRESH and ARGV[5] == 'full' and KEYS[1] == KEYS[2] and redis.call('EXISTS', KEYS[1]) == 0 then
  return FRESH.save(KEYS[1], ARGV)
end
local r = {key = KEYS[1], okey = KEYS[2], tag = ARGV[1], id = ARGV[2], otag = ARGV[3],
  oid = ARGV[4], mode = ARGV[5], expiry = ARGV[6]}
read_values(SPEC, ARGV, 7, r)
local self_ids = {[r.id] = true}
if r.otag == r.tag then self_ids[r.oid] = true end
local wanted = {}
local refused = plan_save(SPEC, r, self_ids, wanted)
if refused then return refused end
expect_types(wanted)
write_save(SPEC, r)
return {'ok', hidden_values(r.key)}
