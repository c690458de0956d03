#!lua flags=no-writes
-- The records of one tag a MemoryLifecycle tick may change (typedis/memory/_lifecycle.py),
-- found through the indexes, never by reading every record.
-- Promotion: in the episodic tier's set, access count >= a minimum, confidence >= a minimum,
--   created at or before a cutoff. Of the four index ranges, the smallest (counted in
--   O(log N) each) is read and its members are checked against the other three.
-- Forgetting: decayed importance below the floor (a range of the exponential decay index, whose
--   score is ln(base) + rate * days), not in the semantic tier's set, and idle: the latest of
--   its last confirmed read, its importance's touch and its creation is before a cutoff.
-- KEYS[1]: <tag>:all (routing)
-- ARGV[1]: tag   ARGV[2]: the tier set key of the episodic tier (after "<tag>:")
-- ARGV[3]: the tier set key of the semantic tier   ARGV[4]: access index suffix
-- ARGV[5]: minimum access count   ARGV[6]: confidence index suffix   ARGV[7]: minimum confidence
-- ARGV[8]: created index suffix   ARGV[9]: latest creation score (epoch s) to promote
-- ARGV[10]: importance (decay) index suffix   ARGV[11]: forget below this decay score
-- ARGV[12]: hidden field of the last confirmed reads   ARGV[13]: hidden field of the touch time
-- ARGV[14]: forget when last used before this time (epoch ms)
-- ARGV[15]: at most this many ids of each list (0: all)
-- returns: {ids to consider for promotion, ids to consider for forgetting}
local tag = ARGV[1]
local function k(suffix) return tag .. ':' .. suffix end
local episodic, semantic = k(ARGV[2]), k(ARGV[3])
local access, min_access = k(ARGV[4]), ARGV[5]
local conf, min_conf = k(ARGV[6]), ARGV[7]
local created, born = k(ARGV[8]), ARGV[9]
local cap = tonumber(ARGV[15])

local function at_least(key, id, low)
  local s = redis.call('ZSCORE', key, id)
  return s ~= false and tonumber(s) >= tonumber(low)
end

-- The members of a set, by SSCAN (what the tenant recipe of docs/keys.md grants), each once.
local function members(key)
  local out, seen, cursor = {}, {}, '0'
  repeat
    local page = redis.call('SSCAN', key, cursor, 'COUNT', 1000)
    cursor = page[1]
    for _, id in ipairs(page[2]) do
      if not seen[id] then
        seen[id] = true
        out[#out + 1] = id
      end
    end
  until cursor == '0'
  return out
end

-- each source: its size, how to list it, and how to test one id against it
local sources = {
  {redis.call('SCARD', episodic), function() return members(episodic) end,
    function(id) return redis.call('SISMEMBER', episodic, id) == 1 end},
  {redis.call('ZCOUNT', access, min_access, '+inf'),
    function() return redis.call('ZRANGE', access, min_access, '+inf', 'BYSCORE') end,
    function(id) return at_least(access, id, min_access) end},
  {redis.call('ZCOUNT', conf, min_conf, '+inf'),
    function() return redis.call('ZRANGE', conf, min_conf, '+inf', 'BYSCORE') end,
    function(id) return at_least(conf, id, min_conf) end},
  {redis.call('ZCOUNT', created, '-inf', born),
    function() return redis.call('ZRANGE', created, '-inf', born, 'BYSCORE') end,
    function(id)
      local s = redis.call('ZSCORE', created, id)
      return s ~= false and tonumber(s) <= tonumber(born)
    end},
}
local drive = 1
for i, s in ipairs(sources) do if s[1] < sources[drive][1] then drive = i end end
local promote = {}
if sources[drive][1] > 0 then
  for _, id in ipairs(sources[drive][2]()) do
    local ok = true
    for i, s in ipairs(sources) do
      if ok and i ~= drive then ok = s[3](id) end
    end
    if ok then
      promote[#promote + 1] = id
      if #promote == cap then break end
    end
  end
end

local forget = {}
local idle_before = tonumber(ARGV[14])
for _, id in ipairs(redis.call('ZRANGE', k(ARGV[10]), '-inf', '(' .. ARGV[11], 'BYSCORE')) do
  if redis.call('SISMEMBER', semantic, id) == 0 then
    local h = redis.call('HMGET', record_key(tag, id), ARGV[12], ARGV[13])
    local last = tonumber(h[2]) or 0
    local born_s = tonumber(redis.call('ZSCORE', created, id))
    if born_s then last = math.max(last, born_s * 1000) end
    if h[1] then last = math.max(last, tonumber(string.match(h[1], '([^,]+)$')) or 0) end
    if last < idle_before then
      forget[#forget + 1] = id
      if #forget == cap then break end
    end
  end
end
return {promote, forget}
