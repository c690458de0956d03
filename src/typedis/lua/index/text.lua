-- Index kind "text": BM25 postings per tag (typedis/_index/text_kind.py). Sorted sets:
--   <tag>:<suffix>            id -> document length in terms (ZCARD: the document count)
--   <tag>:<suffix>:s          'len' -> total length of the documents, 'ref' -> reference length
--                             (the first document's, then the average at 16, 32... 1,024)
--   <tag>:<suffix>:d          '<id>\0<term>' scored 0: the terms of each document (lex range)
--   <tag>:<suffix>:t:<term>   id -> impact at the reference length (impact below)
-- opts: k1, b
-- arg: '<length>' then '\0<term>\0<tf>' per distinct term; '' for None (no entry); nil in
--      move() when the field was not written (the entry stays)
-- KINDS.text also lends impact, term_tf and term_key to lua/text_search.lua.
-- The posting lists are named by terms: keys() lists, besides the three keys above, those of
-- the terms a write adds (from arg) and removes (the record's stored terms, from <base>:d), so
-- every key a write touches is checked before its first write. Only this kind writes under
-- <tag>:<suffix>:t: (docs/keys.md).

local CHUNK = 1000 -- members per ZADD / ZREM (unpack() has a limit)

local function impact(ix, tf, dl, ref)
  local k1, b = ix.opts.k1, ix.opts.b
  return tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / ref))
end

-- The term frequency of a posting of impact s, for a document of length dl.
local function term_tf(ix, s, dl, ref)
  local k1, b = ix.opts.k1, ix.opts.b
  if k1 == 0 then return 1 end -- the weight does not depend on tf
  return math.floor(s * k1 * (1 - b + b * dl / ref) / (k1 + 1 - s) + 0.5)
end

local function term_key(base, term) return base .. ':t:' .. esc(term) end

-- The terms of document id, as '<id>\0<term>' members of <base>:d (call: redis.call, or
-- redis.pcall for an error reply rather than an error).
local function doc_terms(base, id, call)
  return (call or redis.call)('ZRANGE', base .. ':d', '[' .. id .. '\0', '(' .. id .. '\1', 'BYLEX')
end

-- The terms of document id as keys() finds them, before any check: none where the index's
-- keys hold another type (expect_types() refuses those keys themselves).
local function stored_terms(base, id)
  local dl = redis.pcall('ZSCORE', base, id)
  if type(dl) ~= 'string' then return {} end -- no entry (false), or an error reply
  local entries = doc_terms(base, id, redis.pcall)
  if entries.err then return {} end
  for i, entry in ipairs(entries) do entries[i] = string.sub(entry, #id + 2) end
  return entries
end

-- An argument's parts: the length, then each term and its frequency.
local function split(arg)
  local parts, at = {}, 1
  while true do
    local stop = string.find(arg, '\0', at, true)
    parts[#parts + 1] = string.sub(arg, at, (stop or 0) - 1)
    if not stop then break end
    at = stop + 1
  end
  return parts
end

local function in_chunks(command, key, items)
  for i = 1, #items, CHUNK do
    redis.call(command, key, unpack(items, i, math.min(i + CHUNK - 1, #items)))
  end
end

local function unindex(tag, ix, id)
  local base = index_key(tag, ix)
  local dl = redis.call('ZSCORE', base, id)
  if not dl then return end
  local entries = doc_terms(base, id)
  for _, entry in ipairs(entries) do
    redis.call('ZREM', term_key(base, string.sub(entry, #id + 2)), id)
  end
  in_chunks('ZREM', base .. ':d', entries)
  redis.call('ZREM', base, id)
  if redis.call('ZCARD', base) == 0 then
    redis.call('DEL', base .. ':s')
  else
    redis.call('ZINCRBY', base .. ':s', -tonumber(dl), 'len')
  end
end

-- While an index is young its reference length follows the average length: when it reaches
-- 16, 32, ... 1,024 documents and the average is more than 5% off, every impact is
-- recomputed at the new average (each time O(postings), about 2,048 documents' postings in
-- all; a record re-indexed at a checkpoint rarely moves the average that much), so that
-- posting lists read in impact order come close to BM25 order and their bounds stay tight
-- (lua/text_search.lua). These are postings of other documents, which keys() does not list:
-- one damaged by hand (its key of another type, or the posting gone) is left as it is (for
-- check_indexes() to find) rather than failing the write half-way.
local CHECKPOINTS = {}
for e = 4, 10 do CHECKPOINTS[2 ^ e] = true end

local function recalibrate(ix, base)
  local n = redis.call('ZCARD', base)
  if not CHECKPOINTS[n] then return end
  local stats = base .. ':s'
  local old = tonumber(redis.call('ZSCORE', stats, 'ref'))
  local new = math.max(tonumber(redis.call('ZSCORE', stats, 'len')) / n, 1)
  if math.abs(new - old) <= old / 20 then return end
  redis.call('ZADD', stats, new, 'ref')
  local lengths = {}
  for _, entry in ipairs(redis.call('ZRANGE', base .. ':d', 0, -1)) do
    local cut = string.find(entry, '\0', 1, true)
    local id, key = string.sub(entry, 1, cut - 1), term_key(base, string.sub(entry, cut + 1))
    lengths[id] = lengths[id] or tonumber(redis.call('ZSCORE', base, id))
    local dl, s = lengths[id], redis.pcall('ZSCORE', key, id)
    if dl and type(s) == 'string' then
      redis.call('ZADD', key, impact(ix, term_tf(ix, tonumber(s), dl, old), dl, new), id)
    end
  end
end

local function index(tag, ix, id, arg)
  local base, stats = index_key(tag, ix), index_key(tag, ix) .. ':s'
  local parts = split(arg)
  local dl = tonumber(parts[1])
  local ref = tonumber(redis.call('ZSCORE', stats, 'ref'))
  if not ref then
    ref = math.max(dl, 1)
    redis.call('ZADD', stats, ref, 'ref')
  end
  redis.call('ZINCRBY', stats, dl, 'len')
  redis.call('ZADD', base, dl, id)
  local lex = {}
  for i = 2, #parts - 1, 2 do
    local term = parts[i]
    redis.call('ZADD', term_key(base, term), impact(ix, tonumber(parts[i + 1]), dl, ref), id)
    lex[#lex + 1] = 0
    lex[#lex + 1] = id .. '\0' .. term
  end
  for i = 1, #lex, 2 * CHUNK do
    redis.call('ZADD', base .. ':d', unpack(lex, i, math.min(i + 2 * CHUNK - 1, #lex)))
  end
  recalibrate(ix, base)
end

KINDS.text = {
  arg = true,
  keys = function(tag, ix, v, wanted, id, arg)
    local base = index_key(tag, ix)
    wanted[base] = 'zset'
    wanted[base .. ':s'] = 'zset'
    wanted[base .. ':d'] = 'zset'
    if id and arg ~= nil then -- the stored entry is replaced or removed
      for _, term in ipairs(stored_terms(base, id)) do wanted[term_key(base, term)] = 'zset' end
    end
    if arg then
      local parts = split(arg)
      for i = 2, #parts - 1, 2 do wanted[term_key(base, parts[i])] = 'zset' end
    end
  end,
  add = function(tag, ix, id, v, arg) -- re-indexing a record replaces its entry
    unindex(tag, ix, id)
    if arg and arg ~= '' then index(tag, ix, id, arg) end
  end,
  remove = function(tag, ix, id) unindex(tag, ix, id) end,
  move = function(tag, ix, id, old, new, arg)
    if arg == nil then return end
    unindex(tag, ix, id)
    if arg ~= '' then index(tag, ix, id, arg) end
  end,
  carry = function(tag, ix, id) -- the argument re-creating the entry at another id
    local base = index_key(tag, ix)
    local dl = redis.call('ZSCORE', base, id)
    if not dl then return '' end
    local ref = tonumber(redis.call('ZSCORE', base .. ':s', 'ref'))
    local parts = {dl}
    for _, entry in ipairs(doc_terms(base, id)) do
      local term = string.sub(entry, #id + 2)
      local s = tonumber(redis.call('ZSCORE', term_key(base, term), id))
      parts[#parts + 1] = term
      parts[#parts + 1] = tostring(term_tf(ix, s, tonumber(dl), ref))
    end
    return table.concat(parts, '\0')
  end,
  impact = impact,
  term_tf = term_tf,
  term_key = term_key,
}
