-- Drop the staged reads of a live record, leaving its confirmed count and log as they are.
-- KEYS[1]: record hash
-- ARGV[1]: the AccessCount field
-- returns: {"ok", <reads dropped>} | {"missing"} (the record is not live)
local key = KEYS[1]
expect_type(key, 'hash')
local old, live = read_record(key)
if not live then return {'missing'} end
local staged_n = '~acc:n:' .. ARGV[1]
local staged = tonumber(old[staged_n] or '0')
redis.call('HDEL', key, staged_n, '~acc:s:' .. ARGV[1])
return {'ok', staged}
