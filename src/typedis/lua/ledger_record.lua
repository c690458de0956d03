-- Record a prediction on a live record, replacing any earlier one under the same key (its
-- error entry goes with it).
-- KEYS[1]: record hash   KEYS[2]: predictions (<tag>:p:<field>)   KEYS[3]: errors (... :e)
-- ARGV[1]: id   ARGV[2]: key (no "\0")   ARGV[3]: the predicted values, JSON [[name, value]...]
-- returns: {"ok", <recorded at, epoch ms>} | {"missing"} (the record is not live; nothing written)
local id, pkey, predicted = ARGV[1], ARGV[2], ARGV[3]
local lex, errors = KEYS[2], KEYS[3]
expect_type(KEYS[1], 'hash')
local _, live = read_record(KEYS[1])
if not live then return {'missing'} end
expect_types({[lex] = 'zset', [errors] = 'zset'})
local head = id .. '\0' .. pkey
for _, member in ipairs(redis.call('ZRANGE', lex, '[' .. head .. '\0', '(' .. head .. '\1', 'BYLEX')) do
  redis.call('ZREM', lex, member)
end
redis.call('ZREM', errors, head)
local at = string.format('%d', now_ms())
redis.call('ZADD', lex, 0, head .. '\0' .. at .. '\n\n\n\n' .. predicted .. '\n')
return {'ok', at}
