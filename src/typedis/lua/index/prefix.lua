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

-- ["lex", zset suffix, prefix]: the ids whose text starts with prefix. A member starting with
-- the prefix may hold a shorter text when the prefix has a NUL: "a\0<id>" for "a\0".
NODES.lex = function(node, key, scratch)
  local out, prefix = scratch(), node[3]
  local hits = redis.call('ZRANGE', key(node[2]), '[' .. prefix, '[' .. prefix .. '\255', 'BYLEX')
  for _, m in ipairs(hits) do
    local text, id = string.match(m, '^(.*)%z([^%z]*)$')
    if #text >= #prefix then redis.call('ZADD', out, 0, id) end
  end
  return out
end
