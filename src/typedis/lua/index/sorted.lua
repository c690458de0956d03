-- Index kind "sorted": one sorted set of ids scored by value (typedis/_index/sorted_kind.py).
-- key: <tag>:<suffix>
-- opts: none
-- arg: the score, or '' when the value is None (no entry); nil in move() when the text is the
--      score (int and float values changed by incr.lua)
local function put(tag, ix, id, score)
  if score == '' then
    redis.call('ZREM', index_key(tag, ix), id)
  else
    redis.call('ZADD', index_key(tag, ix), score, id)
  end
end

KINDS.sorted = {
  arg = true,
  keys = one_key('zset'),
  add = function(tag, ix, id, v, arg) if arg and arg ~= '' then put(tag, ix, id, arg) end end,
  remove = function(tag, ix, id) redis.call('ZREM', index_key(tag, ix), id) end,
  move = function(tag, ix, id, old, new, arg)
    local f = ix.fields[1]
    if arg == nil then
      if old[f] == new[f] then return end
      arg = new[f] or ''
    end
    put(tag, ix, id, arg)
  end,
  carry = function(tag, ix, id) return redis.call('ZSCORE', index_key(tag, ix), id) or '' end,
}

-- ["range", zset suffix, min, max]: ids scored within min..max (ZRANGE BYSCORE bounds)
NODES.range = function(node, key, scratch)
  local out = scratch()
  redis.call('ZRANGESTORE', out, key(node[2]), node[3], node[4], 'BYSCORE')
  return out
end
