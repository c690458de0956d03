-- Read the predictions of one live record (read-only).
-- KEYS[1]: record hash   KEYS[2]: predictions (<tag>:p:<field>)
-- ARGV[1]: id   ARGV[2]: key, or "" for every key
-- returns: {"missing"} (the record is not live) | {"ok", <member>...} (members as stored)
local id, pkey = ARGV[1], ARGV[2]
expect_type(KEYS[1], 'hash')
local _, live = read_record(KEYS[1])
if not live then return {'missing'} end
expect_type(KEYS[2], 'zset')
local head = pkey == '' and id .. '\0' or id .. '\0' .. pkey .. '\0'
local found = redis.call('ZRANGE', KEYS[2], '[' .. head, '(' .. string.sub(head, 1, -2) .. '\1',
  'BYLEX')
local out = {'ok'}
for _, m in ipairs(found) do out[#out + 1] = m end
return out
