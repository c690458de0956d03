#!lua flags=no-writes
-- The heaviest edges of one record.
-- KEYS[1]: the edges by lex (<tag>:e:<field>)   KEYS[2]: the edges by weight (<tag>:e:<field>:w)
-- ARGV[1]: the record's id   ARGV[2]: at most this many neighbours
-- returns: {"ok", id, weight, id, weight, ...}, heaviest first (ties by id) |
--          {"wrongtype"} when an edge key holds another type (nothing read)
for k = 1, 2 do
  local t = redis.call('TYPE', KEYS[k])
  t = t.ok or t
  if t ~= 'none' and t ~= 'zset' then return {'wrongtype'} end
end
local id, limit = ARGV[1], tonumber(ARGV[2])
local found = {}
for _, edge in ipairs(redis.call('ZRANGE', KEYS[1], '[' .. id .. '\0', '(' .. id .. '\1', 'BYLEX')) do
  local weight = redis.call('ZSCORE', KEYS[2], edge)
  if weight then found[#found + 1] = {string.sub(edge, #id + 2), tonumber(weight)} end
end
table.sort(found, function(x, y)
  if x[2] ~= y[2] then return x[2] > y[2] end
  return x[1] < y[1]
end)
local out = {'ok'}
for i = 1, math.min(limit, #found) do
  out[#out + 1] = found[i][1]
  out[#out + 1] = string.format('%.17g', found[i][2])
end
return out
