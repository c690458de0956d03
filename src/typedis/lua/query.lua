#!lua flags=allow-oom
-- Run a planned query (typedis._query._planner) over one tag: set algebra on the server, then
-- order, slice and read the records, in one call. A function of each model's library
-- (typedis._lua), so it sees the model's SPEC, _base.lua, _lib.lua and the Lua of the model's
-- own index kinds.
-- KEYS[1]: <tag>:all (the tag's id set; every other key is derived from the tag, same slot)
-- ARGV[1]: the plan (JSON):
--   {"tag": tag, "where": node, "order": order | null, "offset": n, "limit": n (-1: no limit),
--    "mode": "records" | "ids" | "scored" | "ranked" | "count", "fields": [field, ...], "reads": [index, ...]?,
--    "shape": shape, "budget": n (shape "ordered"), "profile": true?}
--   shape (typedis._query._planner.Plan.shape; the planner chooses it, this script runs it):
--     "index"   where is ["all"], a plain order: walk the order's sorted set from the offset
--     "range"   where is one range node on the plain order's sorted set: walk that range
--     "ordered" a plain order and a filter: walk the order's sorted set, keeping the ids in
--               every part of where's conjunction; after "budget" times as many ids as
--               its smallest part holds (or at the end of the sorted set), "sort" instead
--     "scan"    no order, a limit: walk the smallest part of where's conjunction in its own
--               order (a set's SSCAN order, a sorted set's scores), keeping the ids in the others
--     "sort"    set algebra over every match, then order (no order: by id) and slice
--     "count"   the number of live matches (count(), exact)
--     "cardinality" the number of matches by the indexes alone (count(exact=False))
--     "empty"   limit 0: nothing
--   A walk stops as soon as the page is full: it never copies the matches.
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
-- returns: mode "count": shape "count", the number of live matches (records whose hash
--          exists, not past their expiry; O(matches)); shape "cardinality", the number of
--          matches by the indexes alone (expired records not yet swept and records deleted
--          outside typedis included; O(1) for every record or one index set, O(log N) for
--          one range); "ids": their ids in order;
--          "records": a flat list id1, values1, id2, values2, ... (values in "fields" order);
--          "scored": id1, values1, score1, ... (the order's score of each record, as text;
--          nil for a record without one); "ranked": id1, score1, ... (a query across
--          partitions merges the pages of its partitions on these scores);
--          with "profile": {shape run, ids walked, elements stored in scratch keys, results}
-- Scratch keys <tag>:q:<n> live only inside this call (functions run alone, so the names are
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

-- A key holding the ids of found (a key of matches; default: where's) less the expired ones.
local function matches(found)
  found = found or eval(where)
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
-- sum of its sources (a record missing from a source gets no part of it). When the matches
-- (found) are fewer than a quarter of a source, that source is first cut to them (ZINTERSTORE
-- walks the smaller set), so a rank over a few ids costs the ids, not the whole source.
local function scores(found)
  local plain = plain_order()
  if plain then return plain end
  local out, by = tmp(), order.by
  local keys, weights = {}, {}
  local few = false
  if found ~= KEYS[1] then
    local t = redis.call('TYPE', found)
    few = (t.ok or t) == 'zset' and redis.call('ZCARD', found) or redis.call('SCARD', found)
  end
  for i, source in ipairs(by) do
    keys[i], weights[i] = k(source[1]), source[2]
    if few and few * 4 < redis.call('ZCARD', keys[i]) then
      local cut = tmp()
      redis.call('ZINTERSTORE', cut, 2, keys[i], found, 'WEIGHTS', 1, 0)
      keys[i] = cut
    end
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

-- The page reader over ranked, a sorted set of the order's scores of the matches (ordered: the
-- scores the matches without one are told apart by).
local function reader(found, ordered, ranked)
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

-- The first want records of a rank over every record, by the threshold algorithm (Fagin,
-- Lotem and Naor): each source is read best first, a batch at a time, and the ids a batch
-- brings are scored in every source (one ZMSCORE per source) as ZUNIONSTORE would (weight
-- times score, NaN as 0); the walk stops once the want-th best score seen is above what a
-- record not seen could still reach (the sum of the positive weighted scores at the open
-- sources' depths: a record missing from a source gets nothing from it), or, with "min",
-- once that bound is below min. It reads O(want ^ 1/2 * N ^ 1/2) ids for independent sources
-- instead of every one of them. Only for a descending SUM rank of positive weights without
-- boost and a page of at most TOP_MAX, and while it reads no more than a quarter of the
-- largest source: nil otherwise. Returns a scratch sorted set of the ids seen with their
-- scores, and whether it holds every record a page can show (else only its first want are
-- sure).
local TOP_MAX = 1000
local TOP_BATCH = 64
local function threshold_top(want)
  if not order.desc or order.agg or order.boost or want < 1 or want > TOP_MAX then return nil end
  local keys, weights, shifts = {}, {}, {}
  for i, source in ipairs(order.by) do
    local w = tonumber(source[2])
    if not w or w <= 0 then return nil end
    keys[i], weights[i] = k(source[1]), w
    local rate = order.shift and order.shift[source[1]]
    if rate then shifts[i] = tonumber(string.format('%.17g', -rate * now_ms() / 86400000)) end
  end
  local function source_score(i, text)
    local s = tonumber(text)
    if shifts[i] then s = s + shifts[i] end
    return s
  end
  -- the scores of a batch of ids: one ZMSCORE per source, summed in source order
  local function scores_of(ids)
    local totals = {}
    for i = 1, #keys do
      local texts = redis.call('ZMSCORE', keys[i], unpack(ids))
      for j = 1, #ids do
        local text = texts[j]
        if text then
          local x = weights[i] * source_score(i, text)
          if x ~= x then x = 0 end
          local total = totals[j]
          if total == nil then total = x else total = total + x end
          if total ~= total then total = 0 end
          totals[j] = total
        end
      end
    end
    return totals
  end
  -- sources ordered against each other would be read to the end: past a quarter of the largest
  -- (and two rounds), the union is cheaper
  local budget = 2 * TOP_BATCH * #keys
  for i = 1, #keys do budget = math.max(budget, redis.call('ZCARD', keys[i]) / 4) end
  local min = order.min and tonumber(order.min)
  local pos, depth, open = {}, {}, {}
  for i = 1, #keys do pos[i], depth[i], open[i] = 0, math.huge, true end
  local seen, entries, best = {}, {}, {} -- best: the want highest scores seen, lowest first
  while true do
    for i = 1, #keys do
      if open[i] then
        local got = redis.call('ZRANGE', keys[i], pos[i], pos[i] + TOP_BATCH - 1, 'REV',
          'WITHSCORES')
        pos[i] = pos[i] + TOP_BATCH
        open[i] = #got == 2 * TOP_BATCH
        local fresh = {}
        for j = 1, #got, 2 do
          local id = got[j]
          depth[i] = source_score(i, got[j + 1])
          if not seen[id] then
            seen[id] = true
            fresh[#fresh + 1] = id
          end
        end
        local scores = #fresh > 0 and scores_of(fresh) or {}
        for j, id in ipairs(fresh) do
          local score = scores[j]
          entries[#entries + 1], entries[#entries + 2] = score, id
          if #best < want or score > best[1] then
            if #best == want then table.remove(best, 1) end
            local at = 1
            while at <= #best and best[at] < score do at = at + 1 end
            table.insert(best, at, score)
          end
        end
      end
    end
    local bound, closed = 0, true
    for i = 1, #keys do
      if open[i] then
        closed = false
        local x = weights[i] * depth[i]
        if x > 0 then bound = bound + x end
      end
    end
    if closed or (min and bound < min) then return entries, true end
    if #best == want and best[1] > bound then return entries, false end
    if #entries / 2 > budget then return nil end
  end
end

-- The page reader of the matches (key found) in order: a function (off, lim) returning the
-- ids at positions off .. off + lim - 1 (lim < 0: to the end). The set algebra of the order
-- runs once, before the first read; a rank over every record for a short page reads only the
-- top of its sources (threshold_top), and computes the whole rank only if a read goes past it.
local function pager(found)
  if order == cjson.null then -- by id
    local by_id = tmp()
    redis.call('ZUNIONSTORE', by_id, 1, found, 'WEIGHTS', 0)
    return function(off, lim)
      return redis.call('ZRANGE', by_id, off, lim < 0 and -1 or off + lim - 1)
    end
  end
  if order.kind then
    return function(off, lim) return ORDERS[order.kind](order, found, off, lim, k, tmp) end
  end
  local want = offset + limit
  local entries, whole = nil, false
  if found == KEYS[1] and limit >= 0 and not plain_order() then
    entries, whole = threshold_top(want)
  end
  if entries then
    local top = tmp()
    for i = 1, #entries, 2 * BATCH do
      redis.call('ZADD', top, unpack(entries, i, math.min(i + 2 * BATCH - 1, #entries)))
    end
    local fast, slow = reader(found, top, top), nil
    return function(off, lim)
      local stop = lim < 0 and -1 or off + lim - 1
      if whole or (stop >= 0 and stop < want) then return fast(off, lim) end
      if not slow then
        local ordered = scores(found)
        slow = reader(found, ordered, ordered)
      end
      return slow(off, lim)
    end
  end
  -- The order's scores alone: the matches' own scores weigh 0. Those of a filter may be
  -- infinite (or sums past the largest double), and 0 * inf is NaN, which Redis makes 0: such
  -- matches are first copied with scores 0.
  if found ~= KEYS[1] and not finite_scores(found) then
    local zero = tmp()
    redis.call('ZUNIONSTORE', zero, 1, found, 'WEIGHTS', 0)
    found = zero
  end
  local ordered = scores(found)
  local ranked = ordered -- every live record matches: the scores are the page's order
  if found ~= KEYS[1] then
    ranked = tmp()
    redis.call('ZINTERSTORE', ranked, 2, found, ordered, 'WEIGHTS', 0, 1)
  end
  return reader(found, ordered, ranked)
end

local fields, reads = plan.fields, plan.reads or {}
local with_values = plan.mode == 'records' or plan.mode == 'scored'
local read = {} -- the values of the records found live, by key, when the reply holds values

-- Whether record key is live: its hash exists (one deleted outside typedis, by a stray DEL or
-- an eviction, left its id in the indexes) and it is not past its expiry. When the reply holds
-- values, one HMGET reads them with the expiry (a hash exists when any field it asks for
-- does; EXISTS decides only when none does), kept in read for reply().
local function live(key)
  local exp
  if not with_values then
    if redis.call('EXISTS', key) == 0 then return false end
    exp = redis.call('HGET', key, EXP)
  else
    local values = redis.call('HMGET', key, EXP, unpack(fields))
    exp = table.remove(values, 1)
    local any = exp
    for i = 1, #values do any = any or values[i] end
    if not any and redis.call('EXISTS', key) == 0 then return false end
    read[key] = values
  end
  local alive = live_until(exp)
  if alive == nil then corrupt(key, EXP) end
  return alive
end

local walked = 0 -- ids the walks looked at (returned with "profile")

-- The page's live ids from a walk over a stream of ids in order: batch() returns the next ids
-- (none at its end). An id counts when it is in every filter (functions id -> bool) and not
-- expired; the first skip of those are passed over, the next ones whose record is live make
-- the page (a record found gone is replaced by the next match). Returns the page and whether
-- the stream ended before it was full; nil after more than budget ids (if given).
local function walk(batch, filters, skip, budget)
  local page, seen, looked = {}, {}, 0
  while true do
    local ids = batch()
    if #ids == 0 then return page, true end
    for _, id in ipairs(ids) do
      looked, walked = looked + 1, walked + 1
      if budget and looked > budget then return nil end
      local keep = not seen[id] -- SSCAN may return an id twice
      seen[id] = true
      for _, member in ipairs(filters) do keep = keep and member(id) end
      if keep and skip > 0 and expired > 0 then
        local at = redis.call('ZSCORE', expkey, id)
        keep = not at or tonumber(at) > now_ms()
      end
      if keep then
        if skip > 0 then
          skip = skip - 1
        elseif live(tag .. ':r:' .. id) then
          page[#page + 1] = id
          if #page == limit then return page, false end
        end
      end
    end
  end
end

-- How many ids a walk reads per command: the page (and the skipped ids) at first, at most BATCH.
local function step(skip)
  local want = limit < 0 and BATCH or skip + limit
  return math.max(16, math.min(want, BATCH))
end

-- A stream of the ids of a sorted set by rank from position first (desc: highest first), or,
-- given lo and hi, of its scores within them (ZRANGE ... BYSCORE bounds).
local function ranked_ids(key, desc, first, n, lo, hi)
  local pos = first
  return function()
    local args
    if lo then
      args = {key, lo, hi, 'BYSCORE', 'LIMIT', pos, n}
      if desc then args[2], args[3], args[#args + 1] = hi, lo, 'REV' end
    else
      args = {key, pos, pos + n - 1}
      if desc then args[4] = 'REV' end
    end
    pos = pos + n
    return redis.call('ZRANGE', unpack(args))
  end
end

-- A stream of the members of a set, in SSCAN order (nothing runs between the SSCAN calls of a
-- script; an id returned twice is walked once).
local function scanned_ids(key, n)
  local cursor
  return function()
    local ids = {}
    while #ids == 0 and cursor ~= '0' do
      local reply = redis.call('SSCAN', key, cursor or '0', 'COUNT', n)
      cursor, ids = reply[1], reply[2]
    end
    return ids
  end
end

-- The Redis type of key ('set', 'zset', ...; 'none' when absent).
local function type_of(key)
  local t = redis.call('TYPE', key)
  return t.ok or t
end

-- The membership test of a key of ids (a set or a sorted set) and its size.
local function membership(key)
  if type_of(key) == 'zset' then
    return function(id) return redis.call('ZSCORE', key, id) ~= false end, redis.call('ZCARD', key)
  end
  return function(id) return redis.call('SISMEMBER', key, id) == 1 end, redis.call('SCARD', key)
end

-- A ZRANGE ... BYSCORE bound ('-inf', '+inf', 'x', or '(x': x excluded) as a number, and
-- whether it is excluded; also reads a score as ZSCORE returns it ('inf', '-inf' included).
local INFINITE = {['inf'] = math.huge, ['+inf'] = math.huge, ['-inf'] = -math.huge}
local function bound(text)
  local open = string.sub(text, 1, 1) == '('
  if open then text = string.sub(text, 2) end
  return INFINITE[text] or tonumber(text), open
end

-- The membership test of a range node: the record's score in the sorted set is within bounds.
local function in_range(part)
  local key = k(part[2])
  local lo, lo_open = bound(part[3])
  local hi, hi_open = bound(part[4])
  return function(id)
    local score = redis.call('ZSCORE', key, id)
    if not score then return false end
    score = bound(score)
    return (score > lo or (not lo_open and score == lo))
      and (score < hi or (not hi_open and score == hi))
  end
end

-- The number of live records among the ids held by key found (the exact count): those whose
-- hash exists, less the expired ones (those of found, when it is not the tag's id set, which
-- holds every one).
local function live_count(found)
  local n = present_in(tag, found)
  if expired == 0 then return n end
  local gone = redis.call('ZRANGE', expkey, '-inf', now_ms(), 'BYSCORE')
  if found ~= KEYS[1] then
    local held, member = {}, membership(found)
    for _, id in ipairs(gone) do
      if member(id) then held[#held + 1] = id end
    end
    gone = held
  end
  return n - present(tag, gone)
end

-- The keys of where's conjunction (each part evaluated once), their membership tests, their
-- sizes and the position of the smallest. With in_place, a range part is left unevaluated
-- (keys holds nothing at its position): it is sized by ZCOUNT, tested by its record's score
-- (ZSCORE) and, if it is the smallest, read where it is (ZRANGE ... BYSCORE LIMIT) instead of
-- copying its matches.
local function conjunction(in_place)
  local parts = where[1] == 'and' and where[2] or {where}
  local keys, tests, sizes, least = {}, {}, {}, 1
  for i, part in ipairs(parts) do
    if in_place and part[1] == 'range' then
      sizes[i] = redis.call('ZCOUNT', k(part[2]), part[3], part[4])
      tests[i] = in_range(part)
    else
      keys[i] = eval(part)
      tests[i], sizes[i] = membership(keys[i])
    end
    if sizes[i] < sizes[least] then least = i end
  end
  return keys, tests, sizes, least, parts
end

-- The ids of the smallest part of a conjunction(true), n per command, in its own order, and
-- the membership tests of the other parts.
local function smallest(keys, tests, least, parts, n)
  local source, batch = keys[least], nil
  if not source then -- the smallest part is a range, read in place
    local range = parts[least]
    batch = ranked_ids(k(range[2]), false, 0, n, range[3], range[4])
  elseif type_of(source) == 'zset' then
    batch = ranked_ids(source, false, 0, n)
  else
    batch = scanned_ids(source, n)
  end
  local others = {}
  for i, test in pairs(tests) do
    if i ~= least then others[#others + 1] = test end
  end
  return batch, others
end

-- The number of matches by the indexes alone (count(exact=False)), no record checked: a
-- range's ZCOUNT, the cardinality of one key of ids (every record's set, an index set), the
-- ZINTERCARD of a conjunction's keys; with ranges, a walk of its smallest part testing the
-- others (a range by its scores: none is copied).
local function cardinality()
  if where[1] == 'range' then return redis.call('ZCOUNT', k(where[2]), where[3], where[4]) end
  local parts = where[1] == 'and' and where[2] or {where}
  local ranged = false
  for _, part in ipairs(parts) do ranged = ranged or part[1] == 'range' end
  if not ranged then
    local keys = many(parts)
    if #keys == 1 then return select(2, membership(keys[1])) end
    return redis.call('ZINTERCARD', #keys, unpack(keys))
  end
  local keys, tests, _, least = conjunction(true)
  local batch, others = smallest(keys, tests, least, parts, BATCH)
  local n, seen, ids = 0, {}, batch()
  while #ids > 0 do
    for _, id in ipairs(ids) do
      local keep = not seen[id] -- SSCAN may return an id twice
      seen[id] = true
      for _, member in ipairs(others) do keep = keep and member(id) end
      if keep then n = n + 1 end
    end
    ids = batch()
  end
  return n
end

-- The page's records, read from fetch(off, lim) (the "sort" shape); the records found not live
-- are replaced by the next matches, so a page is full while matches remain.
local function collect(fetch)
  local page, off, want = {}, offset, limit
  while true do
    local ids = fetch(off, want)
    local gone = 0
    for _, id in ipairs(ids) do
      if live(tag .. ':r:' .. id) then page[#page + 1] = id else gone = gone + 1 end
    end
    if gone == 0 or want < 0 or #ids < want then return page end
    off, want = off + #ids, gone
  end
end

-- The reply of a page of live ids, by mode: id; id, values; id, values, score; or id, score.
local function reply(page)
  if plan.mode == 'ids' then return page end
  local out = {}
  if plan.mode == 'ranked' then
    for _, id in ipairs(page) do
      out[#out + 1] = id
      out[#out + 1] = redis.call('ZSCORE', scored, id)
    end
    return out
  end
  for _, id in ipairs(page) do
    local key = tag .. ':r:' .. id
    out[#out + 1] = id
    out[#out + 1] = read[key] or redis.call('HMGET', key, unpack(fields))
    if plan.mode == 'scored' then out[#out + 1] = redis.call('ZSCORE', scored, id) end
    for _, ix in ipairs(reads) do KINDS[ix.kind].read(tag, ix, id, key) end
  end
  return out
end

-- The "sort" shape's page: every match (found: their key, default where's), ordered.
local function sorted_page(found)
  return collect(pager(matches(found)))
end

-- Run the plan's shape: the shape run and the page's ids (or the count).
local function run()
  local shape = plan.shape
  if shape == 'empty' then return shape, {} end
  if shape == 'count' then return shape, live_count(eval(where)) end
  if shape == 'cardinality' then return shape, cardinality() end
  if shape == 'scan' then
    local keys, tests, _, least, parts = conjunction(true)
    local batch, others = smallest(keys, tests, least, parts, step(offset))
    return shape, walk(batch, others, offset)
  end
  if shape == 'sort' then return shape, sorted_page() end
  local zset = plain_order()
  scored = zset
  -- Nothing expired: the offset is a position of the index itself; else each id is checked.
  local first, skip = 0, offset
  if shape ~= 'ordered' and expired == 0 then first, skip = offset, 0 end
  local lo, hi
  if shape == 'range' then lo, hi = where[3], where[4] end
  local batch = ranked_ids(zset, order.desc, first, step(skip), lo, hi)
  if shape == 'ordered' then
    local keys, tests, sizes, least = conjunction()
    local page, ended = walk(batch, tests, skip, plan.budget * sizes[least])
    if page and not ended then return shape, page end
    return 'sort', sorted_page(#keys == 1 and keys[1] or combine('ZINTERSTORE', keys))
  end
  local page, ended = walk(batch, {}, skip)
  if ended and shape == 'index' and (limit < 0 or #page < limit) then
    return 'sort', sorted_page(KEYS[1]) -- records without a score come last
  end
  return shape, page
end

-- scratch keys (which may hold the scores of mode "scored") are deleted after the reply is
-- built, whether or not the set algebra fails (a wrong key type)
local ok, shape, result = pcall(function()
  local shape, page = run()
  if plan.profile or plan.mode == 'count' then return shape, page end
  return shape, reply(page)
end)
local stored = 0
for i = 1, scratch do
  local key = tag .. ':q:' .. i
  if plan.profile then stored = stored + select(2, membership(key)) end
  redis.call('DEL', key)
end
if not ok then error(shape) end
if plan.profile then
  return {shape, walked, stored, plan.mode == 'count' and result or #result}
end
return result
