-- Link two live records of one tag: each direction's weight becomes old * decay + weight.
-- KEYS[1], KEYS[2]: the two records' hashes
-- KEYS[3]: the edges by lex (<tag>:e:<field>)   KEYS[4]: the edges by weight (<tag>:e:<field>:w)
-- ARGV[1]: position of the cooccurrence index in SPEC.idx   ARGV[2], ARGV[3]: the records' ids
-- ARGV[4]: the weight to add (a finite number > 0)
-- returns: {"ok", new weight} | {"missing", 1 or 2} (that record is not live; nothing written)
local ix = SPEC.idx[tonumber(ARGV[1])]
local a, b, add = ARGV[2], ARGV[3], tonumber(ARGV[4])
for k = 1, 2 do
  expect_type(KEYS[k], 'hash')
  local _, live = read_record(KEYS[k])
  if not live then return {'missing', k} end
end
local lex, weights = KEYS[3], KEYS[4]
expect_types({[lex] = 'zset', [weights] = 'zset'})
local ab, ba = a .. '\0' .. b, b .. '\0' .. a
local old = tonumber(redis.call('ZSCORE', weights, ab) or '0')
local new = string.format('%.17g', old * ix.opts.decay + add)
redis.call('ZADD', weights, new, ab, new, ba)
redis.call('ZADD', lex, 0, ab, 0, ba)
return {'ok', new}
