#!lua flags=allow-oom
-- BM25 search over one tag's text index (typedis.retrieval._text): the top k records by
-- Okapi BM25, idf = ln(1 + (N - df + 0.5) / (df + 0.5)), term weight
-- tf (k1 + 1) / (tf + k1 (1 - b + b dl / avgdl)), ties by id.
--
-- Posting lists hold each posting's impact s at the reference length ref (lua/index/text.lua)
-- and are read best first, a batch at a time, from the list whose unread postings may add the
-- most. A posting of impact s weighs at most bound(s) at the current average length A:
-- s when A <= ref, else (k1 + 1) / (1 + (ref / A) ((k1 + 1) / s - 1)) (docs/retrieval.md).
-- Each new id is tested against the query's filters and scored whole (its length and its
-- impact in every query term's list, ZMSCORE for the batch); one whose record hash is gone
-- (deleted outside typedis, its postings left) is no hit. Reading stops when the k-th
-- score beats the sum over the lists of idf * bound(next unread impact): no unread id can
-- enter the top k. A filter admitting fewer ids than a quarter of the postings is listed
-- first (the query function) and its ids scored directly.
-- KEYS[1]: <tag>:all
-- ARGV[1]: JSON {"tag": tag, "suffix": the index's suffix, "terms": [term, ...] (distinct),
--   "k": n, "prune": bool (false: score every posting), "where": the query's filter node
--   (["all"]: none), "filter": the JSON text of the query plan listing the filter's matches
--   (mode "ids"), "read": a query plan (mode "records") whose where this fills with the top
--   ids, or null}
-- returns: {{id, ...}, {score as text, ...}, {ids scored, postings of the query terms},
--   records ("read": id1, values1, ... as lua/query.lua returns them) or nil}
local req = cjson.decode(ARGV[1])
local tag, k = req.tag, req.k
local ix
for _, i in ipairs(SPEC.idx) do if i.suffix == req.suffix then ix = i end end
local T = KINDS.text
local base = tag .. ':' .. req.suffix
local n = redis.call('ZCARD', base)
local k1, b = ix.opts.k1, ix.opts.b

-- The statistics and the query terms' posting lists.
local lists, postings, avgdl, ref = {}, 0, 1, 1
if n > 0 then
  local stats = base .. ':s'
  avgdl = math.max((tonumber(redis.call('ZSCORE', stats, 'len')) or 0) / n, 1e-9)
  ref = tonumber(redis.call('ZSCORE', stats, 'ref')) or 1
  for _, term in ipairs(req.terms) do
    local key = T.term_key(base, term)
    local df = redis.call('ZCARD', key)
    if df > 0 then
      local first = redis.call('ZRANGE', key, 0, 0, 'REV', 'WITHSCORES')
      lists[#lists + 1] = {
        key = key, pos = 0, df = df, next = tonumber(first[2]),
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5)),
      }
      postings = postings + df
    end
  end
end
local shrink = math.min(1, ref / avgdl)
local function bound(s)
  if shrink == 1 then return s end
  return (k1 + 1) / (1 + shrink * ((k1 + 1) / s - 1))
end

-- Filters: a membership test per node, and an estimate of how many ids it admits.
local scratches = {}
local function scratch()
  local out = tag .. ':q:t' .. (#scratches + 1)
  scratches[#scratches + 1] = out
  redis.call('DEL', out)
  return out
end
local function key_of(suffix) return tag .. ':' .. suffix end
local INFINITE = {['inf'] = math.huge, ['+inf'] = math.huge, ['-inf'] = -math.huge}
local function number(text)
  local open = string.sub(text, 1, 1) == '('
  if open then text = string.sub(text, 2) end
  return INFINITE[text] or tonumber(text), open
end
local function in_key(key)
  local t = redis.call('TYPE', key)
  t = t.ok or t
  if t == 'zset' then
    return function(id) return redis.call('ZSCORE', key, id) ~= false end, redis.call('ZCARD', key)
  end
  return function(id) return redis.call('SISMEMBER', key, id) == 1 end, redis.call('SCARD', key)
end
local everyone, size_all = in_key(KEYS[1])
if req.where[1] == 'all' then -- a posting names a stored record: no test
  everyone = function() return true end
end
local test_of
test_of = function(node)
  local op = node[1]
  if op == 'all' then return everyone, size_all end
  if op == 'ids' then
    local held = {}
    for _, id in ipairs(node[2]) do held[id] = true end
    return function(id) return held[id] == true end, #node[2]
  end
  if op == 'range' then
    local key = key_of(node[2])
    local lo, lo_open = number(node[3])
    local hi, hi_open = number(node[4])
    return function(id)
      local s = redis.call('ZSCORE', key, id)
      if not s then return false end
      s = number(s)
      return (s > lo or (not lo_open and s == lo)) and (s < hi or (not hi_open and s == hi))
    end, redis.call('ZCOUNT', key, node[3], node[4])
  end
  if op == 'and' or op == 'or' then
    local tests, size = {}, op == 'and' and math.huge or 0
    for i, part in ipairs(node[2]) do
      local test, n_part = test_of(part)
      tests[i] = test
      size = op == 'and' and math.min(size, n_part) or size + n_part
    end
    local want = op == 'or'
    return function(id)
      for _, test in ipairs(tests) do
        if test(id) == want then return want end
      end
      return not want
    end, size
  end
  if op == 'not' then
    local inner, n_inner = test_of(node[2])
    return function(id) return everyone(id) and not inner(id) end, math.max(size_all - n_inner, 0)
  end
  return in_key(NODES[op](node, key_of, scratch)) -- a kind's node: the key of its ids
end

local admits, admitted = nil, nil
if #lists > 0 then admits, admitted = test_of(req.where) end
local expkey, now = tag .. ':exp', now_ms()
local expiring = #lists > 0 and redis.call('ZCOUNT', expkey, '-inf', now) > 0

-- The top k, best first (ties by id). An id whose record hash is gone (deleted outside
-- typedis, its postings left until clean_indexes()) is tested only when it would enter, and
-- never does: the k-th score, and so the stopping bound, counts stored records only.
local top = {}
local function better(x, y) return x[2] > y[2] or (x[2] == y[2] and x[1] < y[1]) end
local function offer(id, s)
  local entry = {id, s}
  if #top >= k and not better(entry, top[#top]) then return end
  if redis.call('EXISTS', record_key(tag, id)) == 0 then return end
  local at = #top + 1
  while at > 1 and better(entry, top[at - 1]) do at = at - 1 end
  table.insert(top, at, entry)
  if #top > k then top[#top] = nil end
end

-- Score ids (at most a few hundred) whole and offer those holding a query term.
local function score(ids)
  if #ids == 0 then return end
  local lengths = redis.call('ZMSCORE', base, unpack(ids))
  local sums = {}
  for _, l in ipairs(lists) do
    local impacts = redis.call('ZMSCORE', l.key, unpack(ids))
    for i, s in ipairs(impacts) do
      local dl = lengths[i] and tonumber(lengths[i])
      if s and dl then
        local tf = T.term_tf(ix, tonumber(s), dl, ref)
        sums[i] = (sums[i] or 0) + l.idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))
      end
    end
  end
  for i, id in ipairs(ids) do
    if sums[i] then offer(id, sums[i]) end
  end
end

-- Of ids, those not seen before that the filters admit (live: not past their expiry).
local seen, visited = {}, 0
local function fresh(ids)
  local out = {}
  for _, id in ipairs(ids) do
    if not seen[id] then
      seen[id] = true
      visited = visited + 1
      local ok = admits(id)
      if ok and expiring then
        local at = redis.call('ZSCORE', expkey, id)
        ok = not at or tonumber(at) > now
      end
      if ok then out[#out + 1] = id end
    end
  end
  return out
end

local BATCH = 256
if #lists == 0 then -- nothing to score
elseif req.where[1] ~= 'all' and admitted * 4 <= postings then -- a narrow filter
  local ids = QUERY(KEYS, {req.filter}) -- its live matches
  visited = #ids
  for i = 1, #ids, BATCH do score({unpack(ids, i, math.min(i + BATCH - 1, #ids))}) end
elseif not req.prune then
  for _, l in ipairs(lists) do
    for at = 0, l.df - 1, BATCH do
      score(fresh(redis.call('ZRANGE', l.key, at, at + BATCH - 1)))
    end
  end
else
  local batch = 16
  while true do
    local most, best, best_bound = 0, nil, -1
    for _, l in ipairs(lists) do
      if l.next then
        local upper = l.idf * bound(l.next)
        most = most + upper
        if upper > best_bound then best, best_bound = l, upper end
      end
    end
    if not best or (#top >= k and top[k][2] > most * (1 + 1e-12)) then break end
    local page = redis.call('ZRANGE', best.key, best.pos, best.pos + batch - 1, 'REV', 'WITHSCORES')
    local ids = {}
    for i = 1, #page, 2 do ids[#ids + 1] = page[i] end
    score(fresh(ids))
    best.pos = best.pos + #ids
    best.next = nil
    if best.pos < best.df and #ids > 0 then best.next = tonumber(page[#page]) end
    batch = math.min(batch * 2, BATCH)
  end
end
for _, key in ipairs(scratches) do redis.call('DEL', key) end

local ids, scores = {}, {}
for i, entry in ipairs(top) do
  ids[i] = entry[1]
  scores[i] = string.format('%.17g', entry[2])
end
local records = nil
if req.read ~= cjson.null and #ids > 0 then
  req.read.where = {'ids', ids}
  records = QUERY(KEYS, {cjson.encode(req.read)})
end
return {ids, scores, {visited, postings}, records}
