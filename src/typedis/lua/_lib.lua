-- The index library: prepended (after _base.lua) to every script that reads or writes records.
--
-- A model's functions (its library, see typedis._lua) get the model's layout before it:
--   local SPEC = {fields = {field, ...},
--                 idx = {{kind = name, suffix = s, fields = {field, ...}, opts = {...}}, ...}}
-- and, after it, the Lua of each index kind the model uses (lua/index/<kind>.lua), which adds
-- itself to KINDS. The loops below are all that the write scripts know of indexes.
--
-- A kind is a table of functions. ix is the index's SPEC entry; v, old and new are a record's
-- stored texts by field (nil for None); arg is the index's save-time argument (see save.lua).
--   keys(tag, ix, v, wanted, id, arg) add key -> Redis type for the keys the entry of v uses;
--                                     id and arg are given where the write replaces record
--                                     id's stored entry (arg: the index's argument, nil when
--                                     the write sends none) or removes it (arg false), for a
--                                     kind whose keys the stored entry or arg name (text)
--   add(tag, ix, id, v, arg)          write the entry of record id with values v
--   remove(tag, ix, id, v)            remove the entry of record id with values v
--   move(tag, ix, id, old, new, arg)  make the entry reflect new instead of old, re-asserting it
--                                     (arg is nil where the field's text is all there is to
--                                     know, as after incr.lua)
-- and optionally:
--   arg = true                        the client sends an argument for the index (of one field)
--                                     at save time, when its field is written
--   carry(tag, ix, id, old, new)      the argument that re-creates the entry of a record that
--                                     moves to another key, or nil
--   conflict(tag, ix, old, new, self_ids)  whether values new break the index's constraint
--                                     (a holder in self_ids is no conflict)
--   claim(ix, v)                      the value of v the constraint holds to one record, or nil
--                                     (two records of one save_many call may not claim one)
--   touch(tag, ix, id, v, t)          refresh the entry of record id at time t (lua/touch.lua)
--   touched(tag, ix, id, v, field)    hear that another index's touch() refreshed field of
--                                     record id (values v): the change log records it
--   journal = true                    it logs writes rather than indexing values (the change
--                                     log): rebuild_indexes() (lua/reindex.lua) skips it
--   clean(tag, ix, id)                remove record id's stale entry from the index's own key
--                                     (clean_indexes(), lua/clean.lua, which checks the keys
--                                     keys() names first) where a plain removal would not do
--                                     (the vector kind records it for caches)
-- Kinds may also evaluate query nodes (lua/query.lua): NODES[op] = function(node, key, scratch)
-- returning the key of a set or sorted set of ids; key(suffix) names a key of the query's tag,
-- scratch() a new empty scratch key. And orders: ORDERS[name] = function(order, found,
-- offset, limit, key, scratch) returning the ids of the page, for a plan order {"kind": name}.
-- Every record id is in the set <tag>:all; a record with an expiry (hidden hash field "~exp")
-- is in the sorted set <tag>:exp. Texts are escaped exactly as typedis._keys.escape does.

local KINDS, NODES, ORDERS = {}, {}, {}

local ESCAPED = '[%%:{}%*%?%[%]\\%z]'
local function esc(s)
  if not string.find(s, ESCAPED) then return s end
  return (string.gsub(s, ESCAPED, function(c)
    return string.format('%%%02X', string.byte(c))
  end))
end

local function record_key(tag, id) return tag .. ':r:' .. id end
local function index_key(tag, ix) return tag .. ':' .. ix.suffix end

-- keys() of a kind whose index is one key of the given Redis type.
local function one_key(redis_type)
  return function(tag, ix, v, wanted) wanted[index_key(tag, ix)] = redis_type end
end

local function hash_to_table(flat)
  local v = {}
  for i = 1, #flat, 2 do v[flat[i]] = flat[i + 1] end
  return v
end

-- A digest of a record's values v (by field; nil: absent): of its expiry, then of SPEC.read,
-- as typedis._maintenance._digest computes it from a read. The repair operations (clean.lua,
-- reindex.lua) act on a record only while it holds what the client read.
local function digest_of(v)
  v = v or {}
  local parts = {v[EXP] and ('+' .. #v[EXP] .. ':' .. v[EXP]) or '-'}
  for _, f in ipairs(SPEC.read) do
    local x = v[f]
    parts[#parts + 1] = x and ('+' .. #x .. ':' .. x) or '-'
  end
  return redis.sha1hex(table.concat(parts))
end

-- digest_of() the record id holds now; '' for a key of another type (no read matches it).
local function digest(tag, id)
  local flat = redis.pcall('HGETALL', record_key(tag, id))
  if flat.err then return '' end
  return digest_of(hash_to_table(flat))
end

-- The stored values of a record (nil if absent), whether it is live (present, not expired),
-- and what is damaged, if anything (live is then nil): the field holding an expiry that is not
-- a number (EXP), or "" when the key holds another type than a hash (v is then nil).
local function inspect_record(key)
  local flat = redis.pcall('HGETALL', key)
  if wrong_type(flat) then return nil, nil, '' end
  if flat.err then error(flat) end -- an ACL denial...: raised as it is
  if #flat == 0 then return nil, false end
  local v = hash_to_table(flat)
  local live = live_until(v[EXP])
  if live == nil then return v, nil, EXP end
  return v, live
end

-- The stored values of a record (nil if absent) and whether it is live; damage raises corrupt().
local function read_record(key)
  local v, live, bad = inspect_record(key)
  if bad then corrupt(key, bad) end
  return v, live
end

-- The values of record id that its id holds: the texts of its key fields (keys: their names,
-- in order), for removing the entries of a record whose hash is gone.
local function key_values(id, keys)
  local v, i = {}, 1
  for part in string.gmatch(id .. ':', '([^:]*):') do
    if keys[i] then
      v[keys[i]] = string.gsub(part, '%%(%x%x)', function(h) return string.char(tonumber(h, 16)) end)
    end
    i = i + 1
  end
  return v
end

-- Whether the tag's id or expiry set still names record id (its hash may be gone).
local function listed(tag, id)
  return redis.call('SISMEMBER', tag .. ':all', id) == 1
    or redis.call('ZSCORE', tag .. ':exp', id) ~= false
end

-- The type of key (raising unless it is allowed or absent): 'none' or allowed.
local function expect_type(key, allowed)
  local t = redis.call('TYPE', key)
  t = t.ok or t
  if t ~= 'none' and t ~= allowed then
    error('typedis: key ' .. key .. ' holds a ' .. t .. ', expected a ' .. allowed)
  end
  return t
end

-- A record's hidden values (SPEC.hidden order), for the reply of a write.
local function hidden_values(key)
  if #SPEC.hidden == 0 then return {} end
  return redis.call('HMGET', key, unpack(SPEC.hidden))
end

-- Complete a query page (lua/query.lua and the kinds' ORDERS): after the n ids ranked by
-- scores, the matches (key found) missing from the sorted set scored come last, by id. ids
-- holds the page's ranked ids; offset and limit (-1: none) are the page's.
local function append_unscored(ids, found, scored, n, offset, limit, scratch)
  local rest = scratch()
  redis.call('ZDIFFSTORE', rest, 2, found, scored)
  redis.call('ZUNIONSTORE', rest, 1, rest, 'WEIGHTS', 0)
  local stop = limit < 0 and -1 or offset + limit - n - 1
  for _, id in ipairs(redis.call('ZRANGE', rest, math.max(offset - n, 0), stop)) do
    ids[#ids + 1] = id
  end
  return ids
end

-- Add to wanted (key -> type) the index keys a record with values v uses at tag. id: where
-- given, the write re-writes record id's entries with args (by index position) or, args nil,
-- removes them (see keys() above).
local function index_keys(spec, tag, v, wanted, id, args)
  for pos, ix in ipairs(spec.idx) do
    local arg
    if args then arg = args[pos] elseif id then arg = false end
    KINDS[ix.kind].keys(tag, ix, v, wanted, id, arg)
  end
  return wanted
end

-- A write command (and its arguments after the key) on each type of key, to ask the ACL
-- whether the user may write one. A string is a bitmap (the bloom kind), a stream the change
-- log (the changes kind).
local WRITE_PROBE = {
  set = {'SADD', 'm'}, hash = {'HSET', 'f', 'v'}, zset = {'ZADD', '0', 'm'},
  string = {'SETBIT', '0', '0'}, stream = {'XADD', '*', 'f', 'v'},
}

-- Check, before any write, that each key holds its wanted type (or nothing) and that the
-- ACL lets the user write it: these keys are derived here, not declared in KEYS, so Redis
-- did not check them before the call began.
local function expect_types(wanted)
  for key, kind in pairs(wanted) do
    expect_type(key, kind)
    local probe = WRITE_PROBE[kind]
    if not redis.acl_check_cmd(probe[1], key, unpack(probe, 2)) then
      error('typedis: the ACL user may not write key ' .. key .. '; nothing was written')
    end
  end
end

-- Check every key the removal of record id touches: its index keys and the tag's id and
-- expiry sets.
local function check_index_types(spec, tag, id, v)
  expect_types(index_keys(spec, tag, v, {[tag .. ':all'] = 'set', [tag .. ':exp'] = 'zset'}, id))
end

-- Remove a record and all its index entries.
local function purge(spec, tag, id, key, v)
  for _, ix in ipairs(spec.idx) do KINDS[ix.kind].remove(tag, ix, id, v) end
  redis.call('SREM', tag .. ':all', id)
  redis.call('ZREM', tag .. ':exp', id)
  redis.call('DEL', key)
end

-- The position in the spec of the first index whose constraint values new would break, or
-- nil. old: the record's current values (nil for a new record).
local function conflict(spec, tag, old, new, self_ids)
  for pos, ix in ipairs(spec.idx) do
    local check = KINDS[ix.kind].conflict
    if check and check(tag, ix, old, new, self_ids) then return pos end
  end
  return nil
end

-- Write every index entry of a new record id at tag, with values v; args by index position.
local function index_all(spec, tag, id, v, args)
  for pos, ix in ipairs(spec.idx) do KINDS[ix.kind].add(tag, ix, id, v, args[pos]) end
end

-- Move the index entries of live record id from values old to new: of every index, or only
-- of those over a field in changed (a set of field names).
local function reindex(spec, tag, id, old, new, args, changed)
  for pos, ix in ipairs(spec.idx) do
    local touched = changed == nil
    for _, f in ipairs(ix.fields) do touched = touched or changed[f] ~= nil end
    if touched then KINDS[ix.kind].move(tag, ix, id, old, new, args[pos]) end
  end
end
