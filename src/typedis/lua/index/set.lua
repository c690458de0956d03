-- Index kind "set": one set of ids per value (typedis/_index/set_kind.py).
-- key: <tag>:<suffix><text>[:<text>...], a missing value written '%'
-- opts: none   arg: none
local function set_key(tag, ix, v)
  local parts = {}
  for i, f in ipairs(ix.fields) do
    local t = v[f]
    parts[i] = t and esc(t) or '%'
  end
  return tag .. ':' .. ix.suffix .. table.concat(parts, ':')
end

KINDS.set = {
  keys = function(tag, ix, v, wanted) wanted[set_key(tag, ix, v)] = 'set' end,
  add = function(tag, ix, id, v) redis.call('SADD', set_key(tag, ix, v), id) end,
  remove = function(tag, ix, id, v) redis.call('SREM', set_key(tag, ix, v), id) end,
  move = function(tag, ix, id, old, new)
    local was, is = set_key(tag, ix, old), set_key(tag, ix, new)
    if was ~= is then redis.call('SREM', was, id) end
    redis.call('SADD', is, id)
  end,
}

-- ["set", key suffix]: the ids holding one value
NODES.set = function(node, key) return key(node[2]) end
