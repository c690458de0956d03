#!lua flags=no-writes
-- Read hash fields (hidden "~" ones included) of one live record.
-- KEYS[1]: record hash
-- ARGV[1..n]: field names
-- returns: the values (nil where absent), or false if the record is not live
local key = KEYS[1]
expect_type(key, 'hash')
if redis.call('EXISTS', key) == 0 then return false end
local live = live_until(redis.call('HGET', key, EXP))
if live == nil then corrupt(key, EXP) end
if not live then return false end
return redis.call('HMGET', key, unpack(ARGV))
