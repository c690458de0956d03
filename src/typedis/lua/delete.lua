#!lua flags=allow-oom
-- Delete records with all their index entries (works even when the server is out of memory).
-- A record whose hash is gone (a stray DEL, an eviction) but whose id is still listed in the
-- tag's id or expiry set loses the entries its id locates: those sets, the kinds that find an
-- entry by id (sorted, geo...) and the indexes of its key fields. An entry only its lost
-- values would locate stays, for check_indexes() to report. A damaged record (an unreadable
-- expiry, or a key of another type than a hash) is deleted as a live one; a key of another
-- type loses, with it, the entries its id locates.
-- KEYS[1..n]: record hashes
-- ARGV[1..n]: tag of each record   ARGV[n+1..2n]: id of each record
-- ARGV[2n+1..]: the model's key fields, in id order
-- returns: the number of live records deleted (expired leftovers are cleaned but not counted)
local spec = SPEC
local n = #KEYS
local keys = {unpack(ARGV, 2 * n + 1)}
local found = {}
for k = 1, n do
  local tag, id = ARGV[k], ARGV[n + k]
  local v, live, bad = inspect_record(KEYS[k])
  if bad == '' or (not v and listed(tag, id)) then v = key_values(id, keys) end
  if v then
    check_index_types(spec, tag, id, v)
    found[k] = {v, live ~= false}
  end
end
local deleted = 0
for k = 1, n do
  local f = found[k]
  if f then
    purge(spec, ARGV[k], ARGV[n + k], KEYS[k], f[1])
    if f[2] then deleted = deleted + 1 end
  end
end
return deleted
