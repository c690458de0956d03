-- Index kind "unique": one hash, value text -> id (typedis/_index/unique_kind.py).
-- key: <tag>:<suffix>, field <text>[:<text>...]; no entry while a part is missing (None)
-- opts: none   arg: none
-- conflict: another live record holds the value   claim: the hash field of the value
-- taken(tag, h, f, self_ids): the conflict of hash field f, for the generated fast path
local function field_of(ix, v)
  local parts = {}
  for i, f in ipairs(ix.fields) do
    local t = v[f]
    if t == nil then return nil end
    parts[i] = esc(t)
  end
  return table.concat(parts, ':')
end

-- Remove the entry of field f if record id holds it (a new holder may have taken an expired
-- record's value).
local function release(h, f, id)
  if f and redis.call('HGET', h, f) == id then redis.call('HDEL', h, f) end
end

-- Whether field f of hash h names a live record, other than those in self_ids.
local function taken(tag, h, f, self_ids)
  local holder = redis.call('HGET', h, f)
  if not holder or self_ids[holder] then return false end
  local _, live = read_record(record_key(tag, holder))
  return live
end

KINDS.unique = {
  keys = one_key('hash'),
  add = function(tag, ix, id, v)
    local f = field_of(ix, v)
    if f then redis.call('HSET', index_key(tag, ix), f, id) end
  end,
  remove = function(tag, ix, id, v) release(index_key(tag, ix), field_of(ix, v), id) end,
  move = function(tag, ix, id, old, new)
    local h, was, is = index_key(tag, ix), field_of(ix, old), field_of(ix, new)
    if was ~= is then release(h, was, id) end
    if is then redis.call('HSET', h, is, id) end
  end,
  claim = field_of,
  conflict = function(tag, ix, old, new, self_ids)
    local f = field_of(ix, new)
    if not f or (old and f == field_of(ix, old)) then return false end
    return taken(tag, index_key(tag, ix), f, self_ids)
  end,
  taken = taken, -- for the generated fast path (typedis/_index/unique_kind.py)
}

-- ["uniq", hash suffix, [text, ...]]: the holders of these values
NODES.uniq = function(node, key, scratch)
  local out = scratch()
  for _, f in ipairs(node[3]) do
    local id = redis.call('HGET', key(node[2]), f)
    if id then redis.call('ZADD', out, 0, id) end
  end
  return out
end

-- ["uniqnone", hash suffix]: the records holding no value (None)
NODES.uniqnone = function(node, key, scratch)
  local out = scratch()
  local held = redis.call('HVALS', key(node[2]))
  redis.call('ZUNIONSTORE', out, 1, key('all'), 'WEIGHTS', 0)
  for i = 1, #held, 1000 do
    redis.call('ZREM', out, unpack(held, i, math.min(i + 999, #held)))
  end
  return out
end
