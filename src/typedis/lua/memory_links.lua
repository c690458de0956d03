#!lua flags=no-writes
-- Read what joins the records of one partition, for RedisMemory.export: the co-occurrence
-- edges and the ledger's predictions.
-- KEYS[1]: the partition's id set (<tag>:all)   ARGV[1]: tag
-- returns: {edges: {index position, "<a>\0<b>", weight}, each edge once (a < b);
--   predictions: {index position, member, error or false}, each}
local spec, tag = SPEC, ARGV[1]
local edges, predictions = {}, {}
for pos, ix in ipairs(spec.idx) do
  if ix.kind == 'cooccurrence' then
    local weights = index_key(tag, ix) .. ':w'
    expect_type(weights, 'zset')
    local flat = redis.call('ZRANGE', weights, 0, -1, 'WITHSCORES')
    for i = 1, #flat, 2 do
      local member = flat[i]
      local sep = string.find(member, '\0', 1, true)
      if sep and string.sub(member, 1, sep - 1) < string.sub(member, sep + 1) then
        edges[#edges + 1] = {pos, member, flat[i + 1]}
      end
    end
  elseif ix.kind == 'ledger' then
    local lex = index_key(tag, ix)
    expect_type(lex, 'zset')
    expect_type(lex .. ':e', 'zset')
    for _, member in ipairs(redis.call('ZRANGE', lex, 0, -1)) do
      local first = string.find(member, '\0', 1, true)
      local second = first and string.find(member, '\0', first + 1, true)
      local head = second and string.sub(member, 1, second - 1) or member
      predictions[#predictions + 1] = {pos, member, redis.call('ZSCORE', lex .. ':e', head)}
    end
  end
end
return {edges, predictions}
