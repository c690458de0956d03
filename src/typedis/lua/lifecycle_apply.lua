-- Apply a MemoryLifecycle tick's decisions (typedis/memory/_lifecycle.py) to records of one
-- tag, each only while the record still holds what the tick read (digest() in _lib.lua): a
-- record written since is left as it is, for the next tick to judge again. A promotion writes
-- the tier field and moves its index entries; forgetting deletes the record with its entries.
-- Every record is checked (and every key's type and ACL) before the first write.
-- KEYS[1]: <tag>:all (routing)
-- ARGV[1]: tag   ARGV[2]: tier field   ARGV[3]: the promoted tier's text
-- ARGV[4..]: per record: its id, its digest as read, and "p" (promote) or "f" (forget)
-- returns: one flag per record, 1 if applied, 0 if it changed since it was read
local spec, tag, field, tier = SPEC, ARGV[1], ARGV[2], ARGV[3]
local wanted = {[tag .. ':all'] = 'set', [tag .. ':exp'] = 'zset'}
local plans, done = {}, {}
for i = 4, #ARGV, 3 do
  local id, seen, action = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local key = record_key(tag, id)
  local v, live = inspect_record(key)
  done[#done + 1] = 0
  if v and live and digest_of(v) == seen then
    local new
    if action == 'p' then
      new = {}
      for f, t in pairs(v) do new[f] = t end
      new[field] = tier
      index_keys(spec, tag, new, wanted)
    end
    index_keys(spec, tag, v, wanted)
    plans[#plans + 1] = {#done, id, key, v, new}
  end
end
expect_types(wanted)
for _, p in ipairs(plans) do
  local n, id, key, v, new = p[1], p[2], p[3], p[4], p[5]
  if new then
    redis.call('HSET', key, field, tier)
    reindex(spec, tag, id, v, new, {}, {[field] = true})
  else
    purge(spec, tag, id, key, v)
  end
  done[n] = 1
end
return done
