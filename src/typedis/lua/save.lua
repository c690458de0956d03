-- Save one record: full or partial, create or update, in place or moved to a new key.
-- KEYS[1]: record hash at its new key   KEYS[2]: record hash at its old key (= KEYS[1] unless moving)
-- ARGV[1], ARGV[2]: new tag, new id     ARGV[3], ARGV[4]: old tag, old id
-- ARGV[5]: "full" or "partial" (partial needs a live record)
-- ARGV[6]: expiry: "" keep, "-" none, "+<ms>" from now, "=<epoch ms>"
-- ARGV[7]: one letter per field of SPEC.fields: "w" written (its text follows), "n" written
--          as None (the hash field is removed), "." not written (partial save)
-- ARGV[8..]: the texts of the "w" fields, in order; then the save-time argument of each index
--          whose kind takes one (SPEC.idx order; see lua/_lib.lua) and whose field is written
-- returns: {"ok", <the record's SPEC.hidden values>} |
--          {"unique", <position of the index whose constraint it breaks>} |
--          {"exists"} (the new key holds another live record) | {"missing"} (partial save of
--          a record that is not live) | {"corrupt", key, field} (the record at key, old or new,
--          is damaged: see inspect_record in lua/_lib.lua)
-- Everything that can fail is checked before the first write.
local spec = SPEC
local ntag, nid, otag, oid, mode, expiry, mask = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5],
  ARGV[6], ARGV[7]
local nkey, okey = KEYS[1], KEYS[2]
local moving = nkey ~= okey

local i = 8
local sets, set_flat, dels, written = {}, {}, {}, {}
for p, f in ipairs(spec.fields) do
  local c = string.byte(mask, p)
  if c == 119 then -- "w"
    sets[f] = ARGV[i]
    set_flat[#set_flat + 1] = f
    set_flat[#set_flat + 1] = ARGV[i]
    written[f] = true
    i = i + 1
  elseif c == 110 then -- "n"
    dels[#dels + 1] = f
    written[f] = true
  end
end
local args = {} -- by index position
for pos, ix in ipairs(spec.idx) do
  if KINDS[ix.kind].arg and written[ix.fields[1]] then
    args[pos] = ARGV[i]
    i = i + 1
  end
end

local old, old_live, bad = inspect_record(okey)
if bad then return {'corrupt', okey, bad} end
local target = nil
if moving then
  local target_live
  target, target_live, bad = inspect_record(nkey)
  if bad then return {'corrupt', nkey, bad} end
  if target_live then return {'exists'} end
end
if mode == 'partial' and not old_live then return {'missing'} end
local fresh = moving or not old_live

-- The record's values after this write.
local new = {}
if old_live then for f, t in pairs(old) do new[f] = t end end
for f, t in pairs(sets) do new[f] = t end
for _, f in ipairs(dels) do new[f] = nil end
if expiry == '-' then
  new[EXP] = nil
elseif expiry ~= '' then
  local n = tonumber(string.sub(expiry, 2))
  if string.sub(expiry, 1, 1) == '+' then n = now_ms() + n end
  new[EXP] = tostring(n)
end

-- What the client did not send (scores of fields not written, clocks of unchanged values)
-- travels with a moving record.
if moving and old_live then
  for pos, ix in ipairs(spec.idx) do
    local carry = KINDS[ix.kind].carry
    if carry and args[pos] == nil then args[pos] = carry(otag, ix, oid, old, new) end
  end
end

-- Uniqueness.
local self_ids = {[nid] = true}
if otag == ntag then self_ids[oid] = true end
local clash = conflict(spec, ntag, (not fresh) and old or nil, new, self_ids)
if clash then return {'unique', clash} end

-- Key types of everything written or cleaned below.
local wanted = index_keys(spec, ntag, new, {})
if old then index_keys(spec, otag, old, wanted) end
if target then index_keys(spec, ntag, target, wanted) end
if fresh then wanted[ntag .. ':all'] = 'set' end
if new[EXP] or target or (old and old[EXP]) then wanted[ntag .. ':exp'] = 'zset' end
if old and fresh then -- purged below
  wanted[otag .. ':all'] = 'set'
  wanted[otag .. ':exp'] = 'zset'
end
expect_types(wanted)

-- Writes: none of these can fail now.
if target then purge(spec, ntag, nid, nkey, target) end
if old and fresh then purge(spec, otag, oid, okey, old) end

if fresh then
  local flat = {}
  for f, t in pairs(new) do
    flat[#flat + 1] = f
    flat[#flat + 1] = t
  end
  redis.call('HSET', nkey, unpack(flat))
  index_all(spec, ntag, nid, new, args)
else
  reindex(spec, ntag, nid, old, new, args, mode == 'partial' and written or nil)
  if #set_flat > 0 then redis.call('HSET', nkey, unpack(set_flat)) end
  if #dels > 0 then redis.call('HDEL', nkey, unpack(dels)) end
  if new[EXP] ~= old[EXP] then
    if new[EXP] then
      redis.call('HSET', nkey, EXP, new[EXP])
      redis.call('ZADD', ntag .. ':exp', new[EXP], nid)
    else
      redis.call('HDEL', nkey, EXP)
      redis.call('ZREM', ntag .. ':exp', nid)
    end
  end
end
if fresh then
  redis.call('SADD', ntag .. ':all', nid)
  if new[EXP] then redis.call('ZADD', ntag .. ':exp', new[EXP], nid) end
end
return {'ok', hidden_values(nkey)}
