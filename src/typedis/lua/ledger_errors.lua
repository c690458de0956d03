-- The resolved predictions of one tag, highest error first, skipping records that are not
-- live (read-only).
-- KEYS[1]: errors (<tag>:p:<field>:e)   KEYS[2]: predictions (<tag>:p:<field>)
-- ARGV[1]: tag   ARGV[2]: at most this many (0: all)
-- returns: {"ok", <member>, <error>, ...} (members of KEYS[2], as stored)
local tag, limit = ARGV[1], tonumber(ARGV[2])
expect_type(KEYS[1], 'zset')
expect_type(KEYS[2], 'zset')
local out, got, start, page = {'ok'}, 0, 0, 256
while limit == 0 or got < limit do
  local batch = redis.call('ZRANGE', KEYS[1], start, start + page - 1, 'REV', 'WITHSCORES')
  if #batch == 0 then break end
  for i = 1, #batch, 2 do
    local head = batch[i]
    local id = string.sub(head, 1, string.find(head, '\0', 1, true) - 1)
    local key = record_key(tag, id)
    local live = redis.call('EXISTS', key) == 1 and live_until(redis.call('HGET', key, EXP))
    if live == nil then corrupt(key, EXP) end
    local found = live and
      redis.call('ZRANGE', KEYS[2], '[' .. head .. '\0', '(' .. head .. '\1', 'BYLEX') or {}
    if found[1] then
      out[#out + 1] = found[1]
      out[#out + 1] = batch[i + 1]
      got = got + 1
      if got == limit then break end
    end
  end
  start = start + page
end
return out
