#!lua flags=allow-oom
-- BM25 search over one tag's text index (typedis.retrieval._text): the top k records by
-- Okapi BM25, idf = ln(1 + (N - df + 0.5) / (df + 0.5)), tf weight
-- tf (k1 + 1) / (tf + k1 (1 - b + b dl / avgdl)), ties by id. Posting lists are read best
-- first a batch at a time, from the list whose unread postings may add the most; each new id
-- is scored whole (its length and its impact in every query term's list). Reading stops when
-- the k-th score beats the bound of any unread id: the sum over the lists of
-- idf * (impact of the next posting) * max(1, avgdl / ref) (lua/index/text.lua).
-- KEYS[1]: <tag>:all
-- ARGV[1]: JSON {"tag": tag, "suffix": the index's suffix, "terms": [term, ...] (distinct),
--   "k": n, "prune": bool (false: score every posting), "filter": the JSON text of a query
--   plan (mode "ids") or null, "read": a query plan (mode "records") whose where this fills
--   with the top ids, or null}
-- returns: {{id, ...}, {score as text, ...}, records ("read": id1, values1, ... as
--   lua/query.lua returns them) or nil}
local req = cjson.decode(ARGV[1])
local tag, k = req.tag, req.k
local ix
for _, i in ipairs(SPEC.idx) do if i.suffix == req.suffix then ix = i end end
local T = KINDS.text
local base = tag .. ':' .. req.suffix
local n = redis.call('ZCARD', base)
local k1, b = ix.opts.k1, ix.opts.b

local lists = {}
if n > 0 then
  local stats = base .. ':s'
  local total = tonumber(redis.call('ZSCORE', stats, 'len')) or 0
  local ref = tonumber(redis.call('ZSCORE', stats, 'ref')) or 1
  local avgdl = math.max(total / n, 1e-9)
  local slack = math.max(1, avgdl / ref)
  for _, term in ipairs(req.terms) do
    local key = T.term_key(base, term)
    local df = redis.call('ZCARD', key)
    if df > 0 then
      local first = redis.call('ZRANGE', key, 0, 0, 'REV', 'WITHSCORES')
      lists[#lists + 1] = {
        key = key, pos = 0, df = df, next = tonumber(first[2]),
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5)),
      }
    end
  end
  lists.avgdl, lists.ref, lists.slack = avgdl, ref, slack
end

-- The ids a filter admits (nil: every live id).
local allowed, nallowed = nil, 0
if req.filter ~= cjson.null and #lists > 0 then
  allowed = {}
  for _, id in ipairs(QUERY(KEYS, {req.filter})) do
    allowed[id] = true
    nallowed = nallowed + 1
  end
end
local expkey, now = tag .. ':exp', now_ms()
local expiring = #lists > 0 and redis.call('ZCOUNT', expkey, '-inf', now) > 0

local function admitted(id)
  if allowed then return allowed[id] == true end
  if expiring then
    local at = redis.call('ZSCORE', expkey, id)
    if at and tonumber(at) <= now then return false end
  end
  return true
end

local function score(id)
  local dl = tonumber(redis.call('ZSCORE', base, id))
  if not dl then return nil end
  local norm = k1 * (1 - b + b * dl / lists.avgdl)
  local s = nil -- a document holding no query term is no candidate
  for _, l in ipairs(lists) do
    local impact = redis.call('ZSCORE', l.key, id)
    if impact then
      local tf = T.term_tf(ix, tonumber(impact), dl, lists.ref)
      s = (s or 0) + l.idf * tf * (k1 + 1) / (tf + norm)
    end
  end
  return s
end

-- The top k, best first (ties by id).
local top = {}
local function better(a, b2) return a[2] > b2[2] or (a[2] == b2[2] and a[1] < b2[1]) end
local function offer(id)
  local s = score(id)
  if not s then return end
  local entry = {id, s}
  if #top >= k and not better(entry, top[#top]) then return end
  local at = #top + 1
  while at > 1 and better(entry, top[at - 1]) do at = at - 1 end
  table.insert(top, at, entry)
  if #top > k then top[#top] = nil end
end

local seen = {}
local function visit(id)
  if seen[id] then return end
  seen[id] = true
  if admitted(id) then offer(id) end
end

local postings = 0
for _, l in ipairs(lists) do postings = postings + l.df end
if #lists == 0 then -- nothing to score
elseif allowed and nallowed <= postings then -- a narrow filter: score what it admits
  for id in pairs(allowed) do visit(id) end
elseif not req.prune then
  for _, l in ipairs(lists) do
    for _, id in ipairs(redis.call('ZRANGE', l.key, 0, -1)) do visit(id) end
  end
else
  local batch = 16
  while true do
    local bound, best, most = 0, nil, -1
    for _, l in ipairs(lists) do
      if l.next then
        local upper = l.idf * l.next * lists.slack
        bound = bound + upper
        if upper > most then best, most = l, upper end
      end
    end
    if not best or (#top >= k and top[k][2] > bound) then break end
    local page = redis.call('ZRANGE', best.key, best.pos, best.pos + batch - 1, 'REV', 'WITHSCORES')
    for i = 1, #page, 2 do visit(page[i]) end
    best.pos = best.pos + #page / 2
    best.next = nil
    if best.pos < best.df and #page > 0 then best.next = tonumber(page[#page]) end
    batch = math.min(batch * 2, 512)
  end
end

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
return {ids, scores, records}
