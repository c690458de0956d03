-- Write every index entry of records from the values their hashes hold now (typedis.
-- _maintenance, rebuild_indexes): for records imported around typedis. A record is indexed
-- only if it still holds what the client read (digest()), as the client computed its indexes'
-- arguments (scores, points, bits) from that; one written since is returned, for the client
-- to read again. A unique value another live record holds is left to it (no entry).
-- KEYS[1..n]: record hashes
-- ARGV[1]: tag; then per record: its id, its digest as read, and the argument of each index
--   whose kind takes one, in index order
-- returns: {records indexed, {ids of the records written since they were read}, {ids of the
--   records damaged on the server (an expiry that is not a number, a key of another type)}}
local spec, tag = SPEC, ARGV[1]
local nargs = 0
for _, ix in ipairs(spec.idx) do if KINDS[ix.kind].arg then nargs = nargs + 1 end end
local plans, changed, damaged = {}, {}, {}
local wanted = {[tag .. ':all'] = 'set', [tag .. ':exp'] = 'zset'}
for k = 1, #KEYS do
  local at = 2 + (k - 1) * (2 + nargs)
  local id = ARGV[at]
  local v, _, bad = inspect_record(KEYS[k])
  if bad then
    damaged[#damaged + 1] = id
  elseif not v or digest_of(v) ~= ARGV[at + 1] then
    changed[#changed + 1] = id
  else
    local args, j = {}, at + 2
    for pos, ix in ipairs(spec.idx) do
      local kind = KINDS[ix.kind]
      if kind.arg then
        args[pos] = ARGV[j]
        j = j + 1
      elseif kind.carry then -- what the record keeps (a decay clock, its predictions)
        args[pos] = kind.carry(tag, ix, id, v, v)
      end
    end
    plans[#plans + 1] = {id, v, args}
    index_keys(spec, tag, v, wanted, id, args)
  end
end
expect_types(wanted)
for _, p in ipairs(plans) do
  local id, v, args = p[1], p[2], p[3]
  for pos, ix in ipairs(spec.idx) do
    local kind = KINDS[ix.kind]
    if kind.journal then -- a change log: re-indexing is no change of the record
    elseif not (kind.conflict and kind.conflict(tag, ix, nil, v, {[id] = true})) then
      kind.add(tag, ix, id, v, args[pos])
    end
  end
  redis.call('SADD', tag .. ':all', id)
  if v[EXP] then
    redis.call('ZADD', tag .. ':exp', v[EXP], id)
  else
    redis.call('ZREM', tag .. ':exp', id)
  end
end
return {#plans, changed, damaged}
