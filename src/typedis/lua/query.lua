#!lua flags=allow-oom
-- Run a planned query (typedis._query._planner) over one tag: set algebra on the server, then
-- order, slice and read the records, in one call. Sent with _base.lua, _lib.lua and the Lua of
-- every registered index kind before it (typedis._lua.query_script).
-- KEYS[1]: <tag>:all (the tag's id set; every other key is derived from the tag, same slot)
-- ARGV[1]: the plan (JSON):
--   {"tag": tag, "where": node, "order": order | null, "offset": n, "limit": n (-1: no limit),
--    "mode": "records" | "ids" | "count", "fields": [field, ...], "reads": [index, ...]?}
--   node: ["all"] | ["ids", [id, ...]] | ["and", [node, ...]] | ["or", [node, ...]]
--       | ["not", node] | a node of an index kind (NODES in lua/index/*.lua)
--   order: {"by": [[zset suffix, weight], ...], "desc": bool}: by the weighted sum of the
--          sorted sets' scores (the rank stage: one source of weight 1 is that sorted set);
--          or {"kind": name, ...}: an order an index kind computes (ORDERS in lua/index/*.lua)
--          The rank stage's options, all optional: "agg": "MIN" | "MAX" (ZUNIONSTORE's
--          AGGREGATE; default SUM); "min": a score (text): only records scored at least this
--          (">= min" in either direction; records without a score are left out, not last);
--          "shift": {suffix: rate}: sources of an exponential Decaying field, whose scores
--          ln(base) + rate * t_days become ln(value now) = score - rate * now_days;
--          "boost": [id, score, ...]: one more source of weight 1 (co-occurrence scores)
--   reads: the SPEC entries of the indexes whose kind's read(tag, ix, id, key) runs on each
--          record returned (mode "records"; e.g. the access kind stages a read)
-- returns: mode "count": the number of live matches (records whose hash exists, not past
--          their expiry; O(matches)); "ids": their ids in order;
--          "records": a flat list id1, values1, id2, values2, ... (values in "fields" order);
--          "scored": id1, values1, score1, ... (the order's score of each record, as text)
-- Scratch keys <tag>:q:<n> live only inside this call (scripts run alone, so the names are
-- safe to reuse) and are deleted before it returns.
local plan = cjson.decode(ARGV[1])
local tag = plan.tag
local scratch = 0
local function tmp()
  scratch = scratch + 1
  local out = tag .. ':q:' .. scratch
  redis.call('DEL', out)
  return out
end
local function k(suffix) return tag .. ':' .. suffix end
local BATCH = 1000 -- keys per command where a list of any length is sent in parts

local eval
local function many(nodes)
  local keys = {}
  for i, n in ipairs(nodes) do keys[i] = eval(n) end
  return keys
end

-- ZINTERSTORE or ZUNIONSTORE of any number of keys into a new scratch key, a batch at a time
-- (unpack() has a limit); the scores only say membership.
local function combine(command, keys)
  local out = tmp()
  for i = 1, #keys, BATCH do
    local batch = {unpack(keys, i, math.min(i + BATCH - 1, #keys))}
    if i > 1 then batch[#batch + 1] = out end
    redis.call(command, out, #batch, unpack(batch))
  end
  return out
end

eval = function(node)
  local op = node[1]
  if op == 'all' then return KEYS[1] end
  if NODES[op] then return NODES[op](node, k, tmp) end
  local out
  if op == 'ids' then
    out = tmp()
    for _, id in ipairs(node[2]) do
      if redis.call('SISMEMBER', KEYS[1], id) == 1 then redis.call('ZADD', out, 0, id) end
    end
  elseif op == 'and' then
    out = combine('ZINTERSTORE', many(node[2]))
  elseif op == 'or' then
    out = combine('ZUNIONSTORE', many(node[2]))
  elseif op == 'not' then
    local inner = eval(node[2])
    out = tmp()
    redis.call('ZDIFFSTORE', out, 2, KEYS[1], inner)
  else
    error('typedis: unknown query node ' .. tostring(op))
  end
  return out
end

local expkey = k('exp')
local expired = redis.call('ZCOUNT', expkey, '-inf', now_ms())
local offset, limit = plan.offset, plan.limit
local order = plan.order
local where = plan.where

-- A key holding the ids of the live matches (a set or a sorted set).
local function matches()
  local found = eval(where)
  if expired > 0 then
    local gone, live = tmp(), tmp()
    redis.call('ZRANGESTORE', gone, expkey, '-inf', now_ms(), 'BYSCORE')
    redis.call('ZDIFFSTORE', live, 2, found, gone)
    found = live
  end
  return found
end

-- The single sorted set of an order of one source of weight 1, else nil.
local function plain_order()
  if order == cjson.null or order.kind or order.shift or order.boost then return nil end
  local by = order.by
  if #by == 1 and by[1][2] == 1 then return k(by[1][1]) end
  return nil
end

-- A sorted set holding the order's scores: the source itself, or the rank stage's weighted
-- sum of its sources (a record missing from a source gets no part of it).
local function scores()
  local plain = plain_order()
  if plain then return plain end
  local out, by = tmp(), order.by
  local keys, weights = {}, {}
  for i, source in ipairs(by) do
    keys[i], weights[i] = k(source[1]), source[2]
    local rate = order.shift and order.shift[source[1]]
    if rate then -- score - rate * now_days: add the shift once to each member of the source
      local ones, shifted = tmp(), tmp()
      redis.call('ZINTERSTORE', ones, 2, keys[i], KEYS[1], 'WEIGHTS', 0, 1)
      redis.call('ZUNIONSTORE', shifted, 2, keys[i], ones, 'WEIGHTS', 1,
        string.format('%.17g', -rate * now_ms() / 86400000))
      keys[i] = shifted
    end
  end
  if order.boost then
    local boost = tmp()
    for i = 1, #order.boost, 1000 do
      local args = {}
      for j = i, math.min(i + 999, #order.boost), 2 do
        args[#args + 1] = order.boost[j + 1]
        args[#args + 1] = order.boost[j]
      end
      redis.call('ZADD', boost, unpack(args))
    end
    keys[#keys + 1], weights[#weights + 1] = boost, 1
  end
  local args = {'ZUNIONSTORE', out, #keys}
  for _, key in ipairs(keys) do args[#args + 1] = key end
  args[#args + 1] = 'WEIGHTS'
  for _, w in ipairs(weights) do args[#args + 1] = w end
  if order.agg then
    args[#args + 1] = 'AGGREGATE'
    args[#args + 1] = order.agg
  end
  redis.call(unpack(args))
  return out
end

local scored -- the sorted set holding the order's scores of the matches, for mode "scored"

-- Whether every score of key is finite: a set's are (1), a sorted set's lie between its first
-- and last (O(log n)).
local function finite_scores(key)
  local kind = redis.call('TYPE', key)
  if (kind.ok or kind) ~= 'zset' then return true end
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2]
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')[2]
  return not first or (tonumber(first) > -math.huge and tonumber(last) < math.huge)
end

-- The page reader of the matches (key found) in order: a function (off, lim) returning the
-- ids at positions off .. off + lim - 1 (lim < 0: to the end). The set algebra of the order
-- runs once, before the first read.
local function pager(found)
  if order == cjson.null then
    local by_id = tmp()
    redis.call('ZUNIONSTORE', by_id, 1, found, 'WEIGHTS', 0)
    return function(off, lim)
      return redis.call('ZRANGE', by_id, off, lim < 0 and -1 or off + lim - 1)
    end
  end
  if order.kind then
    return function(off, lim) return ORDERS[order.kind](order, found, off, lim, k, tmp) end
  end
  local ordered = scores()
  local ranked = ordered -- every live record matches: the scores are the page's order
  if found ~= KEYS[1] then
    -- The order's scores alone: the matches' own scores weigh 0. Those of a filter may be
    -- infinite (or sums past the largest double), and 0 * inf is NaN, which Redis makes 0: such
    -- matches are first copied with scores 0.
    if not finite_scores(found) then
      local zero = tmp()
      redis.call('ZUNIONSTORE', zero, 1, found, 'WEIGHTS', 0)
      found = zero
    end
    ranked = tmp()
    redis.call('ZINTERSTORE', ranked, 2, found, ordered, 'WEIGHTS', 0, 1)
  end
  scored = ranked
  if order.min then -- only scored records, at least min
    return function(off, lim)
      local args = {ranked, order.min, '+inf', 'BYSCORE', 'LIMIT', off, lim}
      if order.desc then args[2], args[3], args[#args + 1] = '+inf', order.min, 'REV' end
      return redis.call('ZRANGE', unpack(args))
    end
  end
  local n = redis.call('ZCARD', ranked)
  return function(off, lim)
    local stop = lim < 0 and -1 or off + lim - 1
    local ids = {}
    if off < n then
      local args = {ranked, off, (stop >= 0 and stop < n) and stop or -1}
      if order.desc then args[4] = 'REV' end
      ids = redis.call('ZRANGE', unpack(args))
    end
    if stop >= 0 and stop < n then return ids end
    return append_unscored(ids, found, ordered, n, off, lim, tmp)
  end
end

-- A range filter on the order's own sorted set, pushed down: one range read of the index.
local function pushed_down(off, lim)
  local lo, hi = where[3], where[4]
  if order.desc then lo, hi = hi, lo end
  local args = {k(where[2]), lo, hi, 'BYSCORE', 'LIMIT', off, lim}
  if order.desc then args[#args + 1] = 'REV' end
  return redis.call('ZRANGE', unpack(args))
end

-- Whether record key is live: its hash exists (one deleted outside typedis, by a stray DEL or
-- an eviction, left its id in the indexes) and it is not past its expiry.
local function live(key)
  if redis.call('EXISTS', key) == 0 then return false end
  local alive = live_until(redis.call('HGET', key, EXP))
  if alive == nil then corrupt(key, EXP) end
  return alive
end

local fields, reads = plan.fields, plan.reads or {}

-- Add the live records of ids to out (by mode: id; id, values; or id, values, score) and
-- return how many were not live.
local function read(ids, out)
  local gone = 0
  for _, id in ipairs(ids) do
    local key = tag .. ':r:' .. id
    if not live(key) then
      gone = gone + 1
    elseif plan.mode == 'ids' then
      out[#out + 1] = id
    else
      out[#out + 1] = id
      out[#out + 1] = redis.call('HMGET', key, unpack(fields))
      if plan.mode == 'scored' then out[#out + 1] = redis.call('ZSCORE', scored, id) end
      for _, ix in ipairs(reads) do KINDS[ix.kind].read(tag, ix, id, key) end
    end
  end
  return gone
end

-- The page's records, read from fetch(off, lim); the records found not live are replaced by
-- the next matches, so a page is full while matches remain.
local function collect(fetch)
  local out, off, want = {}, offset, limit
  while true do
    local ids = fetch(off, want)
    local gone = read(ids, out)
    if gone == 0 or want < 0 or #ids < want then return out end
    off, want = off + #ids, gone
  end
end

if plan.mode ~= 'count' and limit == 0 then return {} end
if plan.mode ~= 'count' and expired == 0 and where[1] == 'range'
    and plain_order() == k(where[2]) and not order.min then
  scored = k(where[2])
  return collect(pushed_down)
end
-- scratch keys are deleted whether or not the set algebra fails (a wrong key type)
local ok, result = pcall(function()
  local found = matches()
  if plan.mode == 'count' then return present_in(tag, found) end
  return collect(pager(found))
end)
for i = 1, scratch do redis.call('DEL', tag .. ':q:' .. i) end
if not ok then error(result) end
return result
