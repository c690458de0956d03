-- Index kind "decay": one sorted set of ids scored by the server time, in seconds, of the write
-- that last changed the value (typedis/_index/decay_kind.py).
-- key: <tag>:<suffix>
-- opts: rate (the field's decay rate)
-- arg: none; a moving record carries its clock when its value does not change
local function stamp(tag, ix, id, clock)
  redis.call('ZADD', index_key(tag, ix), clock or now_ms() / 1000, id)
end

KINDS.decay = {
  keys = one_key('zset'),
  add = function(tag, ix, id, v, carried)
    if v[ix.fields[1]] then stamp(tag, ix, id, carried) end
  end,
  remove = function(tag, ix, id) redis.call('ZREM', index_key(tag, ix), id) end,
  move = function(tag, ix, id, old, new)
    local f = ix.fields[1]
    if old[f] == new[f] then return end
    if new[f] then
      stamp(tag, ix, id)
    else
      redis.call('ZREM', index_key(tag, ix), id)
    end
  end,
  carry = function(tag, ix, id, old, new)
    local f = ix.fields[1]
    if old[f] ~= new[f] then return nil end
    return redis.call('ZSCORE', index_key(tag, ix), id) or nil
  end,
}
