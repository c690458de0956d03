#!lua flags=allow-oom
-- Remove up to ARGV[2] expired records of one tag, with all their index entries: O(expired).
-- A record whose hash is gone loses the entries its id locates (see lua/delete.lua).
-- KEYS[1]: the tag's expiry sorted set (<tag>:exp)
-- ARGV[1]: tag   ARGV[2]: at most this many records   ARGV[3..]: the model's key fields
-- returns: the number of records removed
local spec = SPEC
local tag = ARGV[1]
local keys = {unpack(ARGV, 3)}
expect_type(KEYS[1], 'zset')
local ids = redis.call('ZRANGE', KEYS[1], '-inf', now_ms(), 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
local doomed = {}
for _, id in ipairs(ids) do
  local key = record_key(tag, id)
  local v = inspect_record(key) or key_values(id, keys)
  check_index_types(spec, tag, id, v)
  doomed[#doomed + 1] = {id, key, v}
end
for _, d in ipairs(doomed) do purge(spec, tag, d[1], d[2], d[3]) end
return #doomed
