-- Write a block of working memory (typedis.memory.RedisMemory): set its content or append to
-- it. A stored block keeps its pinned_order; a new one takes the number of blocks the user has.
-- KEYS[1]: the block's record hash
-- ARGV[1..]: a full save of the block as lua/save.lua takes it, pinned_order 0 (the whole
--            content for "set", the tail for "append"); then "set" | "append"
-- returns: {"ok"} | a save's refusal (lua/save.lua)
local r = {key = KEYS[1], okey = KEYS[1], tag = ARGV[1], id = ARGV[2], otag = ARGV[3],
  oid = ARGV[4], mode = ARGV[5], expiry = ARGV[6]}
local mode = ARGV[read_values(SPEC, ARGV, 7, r)]
local v, live = read_record(r.key)
if live then
  local content = r.sets.content
  if mode == 'append' then content = (v.content or '') .. content end
  redis.call('HSET', r.key, 'content', content, 'updated_at', r.sets.updated_at)
  return {'ok'}
end
local order = tostring(redis.call('SCARD', r.tag .. ':all'))
r.sets.pinned_order = order
for i = 1, #r.set_flat, 2 do
  if r.set_flat[i] == 'pinned_order' then r.set_flat[i + 1] = order end
end
local wanted = {}
local refused = plan_save(SPEC, r, {[r.id] = true}, wanted)
if refused then return refused end
expect_types(wanted)
write_save(SPEC, r)
return {'ok'}
