#!lua flags=no-writes
-- What a client cache of a tag's vectors misses (typedis/retrieval/_vectors.py).
-- KEYS[1]: the ids holding a vector (<tag>:v:<field>)   KEYS[2]: the ids whose vector went
-- (its :d)   KEYS[3]: the counters (its :n: v version, e epoch, f floor)
-- ARGV[1]: the tag   ARGV[2]: the field   ARGV[3]: the cache's epoch ('' for none)
-- ARGV[4]: the cache's version   ARGV[5]: the most vectors to read in this call
-- returns: {epoch, version, how, ids, vectors, removed}: how is "same" (the cache is up to
--   date: nothing else), "delta" (ids and vectors changed since the cache's version, removed
--   the ids whose vector went), "full" (every id and vector; the cache starts again) or "ids"
--   (every id, no vector: more than ARGV[5] of them, which the client reads in batches of
--   plain HGETs rather than in one long script, then asks again from this version). A
--   vector missing from its record (a hash removed outside typedis) comes back false.
for k = 1, 3 do
  local t = redis.call('TYPE', KEYS[k])
  t = t.ok or t
  if t ~= 'none' and t ~= 'zset' then
    error('typedis: key ' .. KEYS[k] .. ' holds a ' .. t .. ', expected a zset')
  end
end
local tag, field, epoch, version, most = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local now_epoch = redis.call('ZSCORE', KEYS[3], 'e')
if not now_epoch then return {'', '0', 'full', {}, {}, {}} end
local now_version = redis.call('ZSCORE', KEYS[3], 'v')
if now_epoch == epoch and now_version == version then
  return {now_epoch, now_version, 'same'}
end
local how, ids, removed = 'full', nil, {}
local floor = tonumber(redis.call('ZSCORE', KEYS[3], 'f'))
if now_epoch == epoch and tonumber(version) >= floor then
  how = 'delta'
  ids = redis.call('ZRANGE', KEYS[1], '(' .. version, '+inf', 'BYSCORE')
  removed = redis.call('ZRANGE', KEYS[2], '(' .. version, '+inf', 'BYSCORE')
else
  ids = redis.call('ZRANGE', KEYS[1], 0, -1)
end
if how == 'delta' and #ids > most then -- too many changes: start again
  how, removed = 'full', {}
  ids = redis.call('ZRANGE', KEYS[1], 0, -1)
end
if #ids > most then return {now_epoch, now_version, 'ids', ids, {}, {}} end
local vectors = {}
for i, id in ipairs(ids) do
  vectors[i] = redis.call('HGET', record_key(tag, id), field)
end
return {now_epoch, now_version, how, ids, vectors, removed}
