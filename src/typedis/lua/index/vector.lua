-- Index kind "vector": the ids of a tag's records holding a vector (typedis/_index/vector_kind.py).
-- keys: <tag>:<suffix>, zset of the ids holding a vector, scored by the version of their last
--       change; <suffix>:d, zset of the ids whose vector went, scored by the version of that
--       change (the oldest beyond opts.tombstones dropped); <suffix>:n, zset of counters:
--       v (the version), e (the epoch: server time in microseconds when the key was made),
--       f (the floor: caches older than it reload whole).
-- opts: tombstones   arg: none (the vector is the record's field, packed float32)
-- Every change of a vector bumps the version in the same script, so a client cache of the
-- tag's vectors knows in one read whether, and what, it misses (lua/vector_sync.lua).

local function vector_keys(tag, ix)
  local key = index_key(tag, ix)
  return key, key .. ':d', key .. ':n'
end

-- The next version of the tag's vectors (the counters made, with their epoch, if absent).
local function vector_bump(tag, ix)
  local _, _, counters = vector_keys(tag, ix)
  if redis.call('EXISTS', counters) == 0 then
    local t = redis.call('TIME')
    redis.call('ZADD', counters, 0, 'v', 0, 'f', tonumber(t[1]) * 1000000 + tonumber(t[2]), 'e')
  end
  return redis.call('ZINCRBY', counters, 1, 'v')
end

local function vector_put(tag, ix, id)
  local live, gone = vector_keys(tag, ix)
  redis.call('ZADD', live, vector_bump(tag, ix), id)
  redis.call('ZREM', gone, id)
end

local function vector_drop(tag, ix, id)
  local live, gone, counters = vector_keys(tag, ix)
  if redis.call('ZREM', live, id) == 0 then return end
  redis.call('ZADD', gone, vector_bump(tag, ix), id)
  if redis.call('ZCARD', gone) > ix.opts.tombstones then
    local oldest = redis.call('ZPOPMIN', gone)
    redis.call('ZADD', counters, oldest[2], 'f')
  end
end

KINDS.vector = {
  keys = function(tag, ix, v, wanted)
    local live, gone, counters = vector_keys(tag, ix)
    wanted[live] = 'zset'
    wanted[gone] = 'zset'
    wanted[counters] = 'zset'
  end,
  add = function(tag, ix, id, v)
    if v[ix.fields[1]] then vector_put(tag, ix, id) end
  end,
  remove = function(tag, ix, id) vector_drop(tag, ix, id) end,
  clean = vector_drop, -- a stale id goes as a delete's does: caches drop it
  move = function(tag, ix, id, old, new)
    local f = ix.fields[1]
    if new[f] == nil then
      vector_drop(tag, ix, id)
    elseif old[f] ~= new[f] or not redis.call('ZSCORE', index_key(tag, ix), id) then
      vector_put(tag, ix, id)
    end
  end,
}
