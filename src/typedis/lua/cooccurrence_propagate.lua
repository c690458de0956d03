#!lua flags=no-writes
-- Spread activation from seed records breadth-first along the edges, decaying per hop.
-- KEYS[1]: the edges by lex (<tag>:e:<field>)   KEYS[2]: the edges by weight (<tag>:e:<field>:w)
-- ARGV[1]: position of the cooccurrence index in SPEC.idx   ARGV[2]: depth (hops, >= 1)
-- ARGV[3]: at most this many results   ARGV[4..]: the seeds' ids
-- A record first reached at hop h scores the sum, over its edges to records first reached at
-- hop h - 1 (the seeds at hop 0), of weight * hop_decay^(h - 1) (hop_decay: the index's opts).
-- returns: {"ok", id, score, ...}, highest first (ties by id), seeds excluded |
--          {"wrongtype"} when an edge key holds another type (nothing read)
for k = 1, 2 do
  local t = redis.call('TYPE', KEYS[k])
  t = t.ok or t
  if t ~= 'none' and t ~= 'zset' then return {'wrongtype'} end
end
local ix, depth, limit = SPEC.idx[tonumber(ARGV[1])], tonumber(ARGV[2]), tonumber(ARGV[3])
local visited, frontier = {}, {}
for i = 4, #ARGV do
  if not visited[ARGV[i]] then
    visited[ARGV[i]] = true
    frontier[#frontier + 1] = ARGV[i]
  end
end
local scores, reached = {}, {}
local factor = 1
for _ = 1, depth do
  local next_scores, next_ids = {}, {}
  for _, u in ipairs(frontier) do
    for _, edge in ipairs(redis.call('ZRANGE', KEYS[1], '[' .. u .. '\0', '(' .. u .. '\1', 'BYLEX')) do
      local v = string.sub(edge, #u + 2)
      local weight = redis.call('ZSCORE', KEYS[2], edge)
      if weight and not visited[v] then
        if not next_scores[v] then
          next_scores[v] = 0
          next_ids[#next_ids + 1] = v
        end
        next_scores[v] = next_scores[v] + tonumber(weight) * factor
      end
    end
  end
  if #next_ids == 0 then break end
  for _, v in ipairs(next_ids) do
    visited[v] = true
    scores[v] = next_scores[v]
    reached[#reached + 1] = v
  end
  frontier = next_ids
  factor = factor * ix.opts.hop_decay
end
table.sort(reached, function(x, y)
  if scores[x] ~= scores[y] then return scores[x] > scores[y] end
  return x < y
end)
local out = {'ok'}
for i = 1, math.min(limit, #reached) do
  out[#out + 1] = reached[i]
  out[#out + 1] = string.format('%.17g', scores[reached[i]])
end
return out
