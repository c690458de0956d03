-- Index kind "geo": one geo set of ids (typedis/_index/geo_kind.py).
-- key: <tag>:<suffix>
-- opts: none
-- arg: '<lon>,<lat>', '' when the value is None (no entry), or a geohash score carried from
--      the record's old key
local function put(key, id, point)
  if point == '' then
    redis.call('ZREM', key, id)
  elseif string.find(point, ',', 1, true) then
    local lon, lat = string.match(point, '^([^,]+),(.+)$')
    redis.call('GEOADD', key, lon, lat, id)
  else
    redis.call('ZADD', key, point, id)
  end
end

KINDS.geo = {
  arg = true,
  keys = one_key('zset'),
  add = function(tag, ix, id, v, arg) if arg and arg ~= '' then put(index_key(tag, ix), id, arg) end end,
  remove = function(tag, ix, id) redis.call('ZREM', index_key(tag, ix), id) end,
  move = function(tag, ix, id, old, new, arg) if arg then put(index_key(tag, ix), id, arg) end end,
  carry = function(tag, ix, id) return redis.call('ZSCORE', index_key(tag, ix), id) or '' end,
  put = put, -- for the generated fast path (typedis/_index/geo_kind.py)
}

-- ["geo", geo suffix, lon, lat, radius, unit]: ids within radius of the point
NODES.geo = function(node, key, scratch)
  local out = scratch()
  redis.call('GEOSEARCHSTORE', out, key(node[2]), 'FROMLONLAT', node[3], node[4],
    'BYRADIUS', node[5], node[6])
  return out
end
