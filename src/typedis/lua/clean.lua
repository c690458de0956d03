-- Remove index entries the client found orphaned or of a wrong value, re-deciding each on the
-- server (typedis._maintenance, clean_indexes): an entry goes only if the record it points at
-- still holds what the client read (the same digest of its fields, or still absent) and the
-- entry is still as the client saw it (a zset member's score, a hash field's holder). A record
-- written since keeps every entry; the next clean_indexes() re-examines it. An entry of an
-- index's own key whose kind has clean() (lua/_lib.lua) goes through it (the vector kind bumps
-- its version and records a tombstone, as a delete does), in this same call.
-- KEYS[1]: the tag's id set (<tag>:all), for routing
-- ARGV[1]: tag; then 6 per entry: the key's type ('set', 'zset' or 'hash'), key, member (a
--   hash field), guard (a member's score or a field's value; '' for none), the id of the
--   record it points at, and that record's digest as the client read it (see digest())
-- returns: one flag per entry, 1 if it was removed
local tag = ARGV[1]
local doomed, removed = {}, {}
for i = 2, #ARGV, 6 do
  local kind, key, member, guard = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local still = false
  if digest(tag, ARGV[i + 4]) == ARGV[i + 5] then
    if kind == 'set' then
      still = redis.call('SISMEMBER', key, member) == 1
    elseif kind == 'zset' then
      local score = redis.call('ZSCORE', key, member)
      still = score ~= false and (guard == '' or tonumber(score) == tonumber(guard))
    else
      still = redis.call('HGET', key, member) == guard
    end
  end
  removed[#removed + 1] = still and 1 or 0
  if still then doomed[#doomed + 1] = i end
end
local cleaned_by = {} -- an index's own key -> the index, for the kinds with clean()
for _, ix in ipairs(SPEC.idx) do
  if KINDS[ix.kind].clean then cleaned_by[index_key(tag, ix)] = ix end
end
local wanted = {}
for _, i in ipairs(doomed) do
  local ix = cleaned_by[ARGV[i + 1]]
  wanted[ARGV[i + 1]] = ARGV[i]
  if ix then KINDS[ix.kind].keys(tag, ix, {}, wanted, ARGV[i + 2], false) end
end
expect_types(wanted)
local REMOVE = {set = 'SREM', zset = 'ZREM', hash = 'HDEL'}
for _, i in ipairs(doomed) do
  local ix = cleaned_by[ARGV[i + 1]]
  if ix then
    KINDS[ix.kind].clean(tag, ix, ARGV[i + 2])
  else
    redis.call(REMOVE[ARGV[i]], ARGV[i + 1], ARGV[i + 2])
  end
end
return removed
