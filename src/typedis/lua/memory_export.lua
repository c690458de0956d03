#!lua flags=no-writes
-- Read one partition of a model whole, for RedisMemory.export: each live record's hash (its
-- hidden "~" fields included), the co-occurrence edges and the ledger's predictions. No read
-- hook runs: an export is no use of the records (it stages no access).
-- KEYS[1]: the partition's id set (<tag>:all)   KEYS[2]: its expiry set (<tag>:exp)
-- ARGV[1]: tag
-- returns: {records: {id, flat hash}, each; edges: {index position, "<a>\0<b>", weight}, each
--   edge once (a < b); predictions: {index position, member, error or false}, each}
local spec, tag = SPEC, ARGV[1]
expect_type(KEYS[1], 'set')
expect_type(KEYS[2], 'zset')
local seen, ids = {}, {}
for _, list in ipairs({redis.call('SMEMBERS', KEYS[1]), redis.call('ZRANGE', KEYS[2], 0, -1)}) do
  for _, id in ipairs(list) do
    if not seen[id] then
      seen[id] = true
      ids[#ids + 1] = id
    end
  end
end
table.sort(ids)
local records, edges, predictions = {}, {}, {}
for _, id in ipairs(ids) do
  local key = record_key(tag, id)
  expect_type(key, 'hash')
  local _, live = read_record(key)
  if live then records[#records + 1] = {id, redis.call('HGETALL', key)} end
end
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
return {records, edges, predictions}
