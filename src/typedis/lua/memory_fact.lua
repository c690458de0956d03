-- Record a bi-temporal fact (typedis.memory.RedisMemory) and close, in the same step, the
-- validity of the versions of its thread (same user, subject and predicate) it supersedes:
-- a version valid at the new fact's valid_from ends there; a version beginning after it ends
-- the new fact where it begins (a back-filled fact). Validity is [valid_from, valid_until).
-- KEYS[1]: the new fact's record hash
-- ARGV[1..]: a full save of the fact as lua/save.lua takes it (fields thread, valid_from and
--            valid_until written)
-- returns: {"ok", <the new fact's valid_until text>, <the ids closed>...} | a save's refusal
local r = {key = KEYS[1], okey = KEYS[1], tag = ARGV[1], id = ARGV[2], otag = ARGV[3],
  oid = ARGV[4], mode = ARGV[5], expiry = ARGV[6]}
read_values(SPEC, ARGV, 7, r)
local from_text, until_text = r.sets.valid_from, r.sets.valid_until
-- datetimes are stored as ISO texts at UTC in one format: their byte order is their time order
local from_pos, until_pos -- the positions of the sorted indexes of valid_from and valid_until
for pos, ix in ipairs(SPEC.idx) do
  if ix.kind == 'sorted' and ix.fields[1] == 'valid_from' then from_pos = pos end
  if ix.kind == 'sorted' and ix.fields[1] == 'valid_until' then until_pos = pos end
end
local thread = r.tag .. ':i:thread:' .. esc(r.sets.thread)
local versions, cursor = {}, '0' -- SSCAN: the commands of docs/keys.md's tenant recipe
repeat
  local page = redis.call('SSCAN', thread, cursor, 'COUNT', 1000)
  cursor = page[1]
  for _, id in ipairs(page[2]) do versions[id] = true end
until cursor == '0'
local closing = {}
for id in pairs(versions) do
  if id ~= r.id then
    local key = record_key(r.tag, id)
    local v, live = read_record(key)
    if live then
      local f, u = v.valid_from, v.valid_until
      if f <= from_text and u > from_text then
        closing[#closing + 1] = {id = id, key = key, v = v}
      elseif f > from_text and f < until_text then
        until_text = f
        r.args[until_pos] = redis.call('ZSCORE', index_key(r.tag, SPEC.idx[from_pos]), id)
      end
    end
  end
end
r.sets.valid_until = until_text
for i = 1, #r.set_flat, 2 do
  if r.set_flat[i] == 'valid_until' then r.set_flat[i + 1] = until_text end
end
local wanted = {}
local refused = plan_save(SPEC, r, {[r.id] = true}, wanted)
if refused then return refused end
for _, c in ipairs(closing) do wanted[c.key] = 'hash' end
expect_types(wanted)
write_save(SPEC, r)
local reply = {'ok', until_text}
for _, c in ipairs(closing) do
  local new = {}
  for f, x in pairs(c.v) do new[f] = x end
  new.valid_until = from_text
  reindex(SPEC, r.tag, c.id, c.v, new, {[until_pos] = r.args[from_pos]}, {valid_until = true})
  redis.call('HSET', c.key, 'valid_until', from_text)
  reply[#reply + 1] = c.id
end
return reply
