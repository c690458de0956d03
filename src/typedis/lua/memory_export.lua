#!lua flags=no-writes
-- Read records of one partition whole, for RedisMemory.export: each live record's hash, its
-- hidden "~" fields included. No read hook runs: an export is no use of the records.
-- KEYS[1..n]: the record hashes   ARGV[1..n]: their ids
-- returns: {id, flat hash} for each live record, in KEYS' order
local found = {}
for k, key in ipairs(KEYS) do
  expect_type(key, 'hash')
  local _, live = read_record(key)
  if live then found[#found + 1] = {ARGV[k], redis.call('HGETALL', key)} end
end
return found
