#!lua flags=allow-oom
-- Delete records with all their index entries (works even when the server is out of memory).
-- KEYS[1..n]: record hashes
-- ARGV[1..n]: tag of each record   ARGV[n+1..2n]: id of each record
-- returns: the number of live records deleted (expired leftovers are cleaned but not counted)
local spec = SPEC
local n = #KEYS
local found = {}
for k = 1, n do
  expect_type(KEYS[k], 'hash')
  local v, live = read_record(KEYS[k])
  if v then
    check_index_types(spec, ARGV[k], v)
    found[k] = {v, live}
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
