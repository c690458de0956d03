-- Saving records: the part of a model's library that save.lua and save_many.lua share.
-- A save is a table r: key, tag, id (where the record goes), okey, otag, oid (where it is now;
-- the same unless it moves), mode ('full' or 'partial'), expiry (see save.lua) and what
-- read_values() takes from ARGV. plan_save() checks it and adds the keys it writes to wanted;
-- once every plan of a call is checked (and expect_types(wanted) passed), write_save() writes.

-- The expiry (epoch ms text, or nil for none) of a record whose expiry is current, after a
-- save sending expiry: "" keep, "-" none, "+<ms>" from now, "=<epoch ms>".
local function expiry_after(expiry, current)
  if expiry == '' then return current end
  if expiry == '-' then return nil end
  local n = tonumber(string.sub(expiry, 2))
  if string.sub(expiry, 1, 1) == '+' then n = now_ms() + n end
  return tostring(n)
end

-- Read a record's values from ARGV at i (its field mask, then the texts of its "w" fields,
-- then its indexes' save-time arguments: see save.lua) into r; returns the next position.
local function read_values(spec, argv, i, r)
  local mask = argv[i]
  i = i + 1
  local sets, set_flat, dels, written, args = {}, {}, {}, {}, {}
  for p, f in ipairs(spec.fields) do
    local c = string.byte(mask, p)
    if c == 119 then -- "w"
      sets[f] = argv[i]
      set_flat[#set_flat + 1] = f
      set_flat[#set_flat + 1] = argv[i]
      written[f] = true
      i = i + 1
    elseif c == 110 then -- "n"
      dels[#dels + 1] = f
      written[f] = true
    end
  end
  for pos, ix in ipairs(spec.idx) do -- by index position
    if KINDS[ix.kind].arg and written[ix.fields[1]] then
      args[pos] = argv[i]
      i = i + 1
    end
  end
  r.sets, r.set_flat, r.dels, r.written, r.args = sets, set_flat, dels, written, args
  return i
end

-- Check save r against the stored data, adding the keys it writes to wanted (key -> type).
-- self_ids: the ids at r.tag whose unique values r may take; absent: r.okey is known to hold
-- nothing. Returns nil, or the reply that refuses it: {'unique', index position} |
-- {'exists'} | {'missing'} | {'corrupt', key, field}.
local function plan_save(spec, r, self_ids, wanted, absent)
  local ntag, otag = r.tag, r.otag
  local moving = r.key ~= r.okey
  local old, old_live, bad = nil, false, nil
  if not absent then old, old_live, bad = inspect_record(r.okey) end
  if bad then return {'corrupt', r.okey, bad} end
  local target = nil
  if moving then
    local target_live
    target, target_live, bad = inspect_record(r.key)
    if bad then return {'corrupt', r.key, bad} end
    if target_live then return {'exists'} end
  end
  if r.mode == 'partial' and not old_live then return {'missing'} end
  local fresh = moving or not old_live

  -- The record's values after this write (a record not live gets those sent: r.sets).
  local new = r.sets
  if old_live then
    new = {}
    for f, t in pairs(old) do new[f] = t end
    for f, t in pairs(r.sets) do new[f] = t end
    for _, f in ipairs(r.dels) do new[f] = nil end
  end
  new[EXP] = expiry_after(r.expiry, new[EXP])

  -- What the client did not send (scores of fields not written, clocks of unchanged values)
  -- travels with a moving record.
  if moving and old_live then
    for pos, ix in ipairs(spec.idx) do
      local carry = KINDS[ix.kind].carry
      if carry and r.args[pos] == nil then r.args[pos] = carry(otag, ix, r.oid, old, new) end
    end
  end

  local clash = conflict(spec, ntag, (not fresh) and old or nil, new, self_ids)
  if clash then return {'unique', clash} end

  -- Key types of everything written or cleaned. The entries of r.id are re-written with
  -- r.args (also where an old record or a target at r.id is purged first); those of r.oid are
  -- removed where the record moves.
  index_keys(spec, ntag, new, wanted, r.id, r.args)
  if old then index_keys(spec, otag, old, wanted, moving and r.oid or nil) end
  if target then index_keys(spec, ntag, target, wanted) end
  if fresh then wanted[ntag .. ':all'] = 'set' end
  if new[EXP] or target or (old and old[EXP]) then wanted[ntag .. ':exp'] = 'zset' end
  if old and fresh then -- purged by write_save
    wanted[otag .. ':all'] = 'set'
    wanted[otag .. ':exp'] = 'zset'
  end
  r.old, r.old_live, r.new, r.target, r.fresh = old, old_live, new, target, fresh
  return nil
end

-- Record in claimed the constrained values (the kinds' claim()) that record id at tag takes with
-- values v; returns {'unique', index position} when another record of the call took one first.
local function claim_values(spec, tag, id, v, claimed)
  for pos, ix in ipairs(spec.idx) do
    local claim = KINDS[ix.kind].claim
    local c = claim and claim(ix, v)
    if c then
      c = index_key(tag, ix) .. '\0' .. c
      if claimed[c] and claimed[c] ~= id then return {'unique', pos} end
      claimed[c] = id
    end
  end
  return nil
end

-- Write a checked save: none of these writes can fail now.
local function write_save(spec, r)
  local ntag, nid, nkey, old, new = r.tag, r.id, r.key, r.old, r.new
  if r.target then purge(spec, ntag, nid, nkey, r.target) end
  if old and r.fresh then purge(spec, r.otag, r.oid, r.okey, old) end
  if r.fresh then
    local flat = r.set_flat -- every value of new, as a record not live gets only those sent
    if r.old_live then
      flat = {}
      for f, t in pairs(new) do
        flat[#flat + 1] = f
        flat[#flat + 1] = t
      end
    elseif new[EXP] then
      flat[#flat + 1] = EXP
      flat[#flat + 1] = new[EXP]
    end
    redis.call('HSET', nkey, unpack(flat))
    index_all(spec, ntag, nid, new, r.args)
    redis.call('SADD', ntag .. ':all', nid)
    if new[EXP] then redis.call('ZADD', ntag .. ':exp', new[EXP], nid) end
    return
  end
  reindex(spec, ntag, nid, old, new, r.args, r.mode == 'partial' and r.written or nil)
  if #r.set_flat > 0 then redis.call('HSET', nkey, unpack(r.set_flat)) end
  if #r.dels > 0 then redis.call('HDEL', nkey, unpack(r.dels)) end
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
