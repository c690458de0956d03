-- Index kind "prefix": a lexicographic sorted set of '<text>\0<id>', all scored 0
-- (typedis/_index/prefix_kind.py).
-- key: <tag>:<suffix>
-- opts: none   arg: none
local function member(ix, v, id)
  local t = v[ix.fields[1]]
  return t and (t .. '\0' .. id)
end

KINDS.prefix = {
  keys = one_key('zset'),
  add = function(tag, ix, id, v)
    local m = member(ix, v, id)
    if m then redis.call('ZADD', index_key(tag, ix), 0, m) end
  end,
  remove = function(tag, ix, id, v)
    local m = member(ix, v, id)
    if m then redis.call('ZREM', index_key(tag, ix), m) end
  end,
  move = function(tag, ix, id, old, new)
    local key, was, is = index_key(tag, ix), member(ix, old, id), member(ix, new, id)
    if was and was ~= is then redis.call('ZREM', key, was) end
    if is then redis.call('ZADD', key, 0, is) end
  end,
}

-- ["lex", zset suffix, prefix]: the ids whose text starts with prefix
NODES.lex = function(node, key, scratch)
  local out = scratch()
  local hits = redis.call('ZRANGE', key(node[2]), '[' .. node[3], '[' .. node[3] .. '\255', 'BYLEX')
  for _, m in ipairs(hits) do
    redis.call('ZADD', out, 0, string.match(m, '%z([^%z]*)$'))
  end
  return out
end
