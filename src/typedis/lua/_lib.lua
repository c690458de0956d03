-- The index library: prepended (after _base.lua) to the scripts that write records.
--
-- Model scripts (save, delete, incr, sweep, load) are made per model: the model's layout is
-- baked in before this library as a Lua table (built once by typedis._schema):
--   local SPEC = {fields = {field, ...}, idx = {{kind, suffix, {field, ...}}, ...}}
-- kind "set":  one set per value, key <tag>:<suffix><text>[:<text>...]   (Key, Indexed, composite)
-- kind "uniq": one hash <tag>:<suffix>, field <text>[:<text>...] -> record id (Unique)
-- kind "z":    one sorted set <tag>:<suffix>, member id, score from the client (Sorted, ...)
-- kind "geo":  one geo set <tag>:<suffix>, member id
-- kind "lex":  one sorted set <tag>:<suffix>, member <text>\0<id>, score 0 (prefix search)
-- Every record id is in the set <tag>:all; a record with an expiry (hidden hash field "~exp")
-- is in the sorted set <tag>:exp. Texts are escaped exactly as
-- typedis._keys.escape does; a missing value (None) is written "%", which escape never yields.

local ESCAPED = '[%%:{}%*%?%[%]\\%z]'
local function esc(s)
  if not string.find(s, ESCAPED) then return s end
  return (string.gsub(s, ESCAPED, function(c)
    return string.format('%%%02X', string.byte(c))
  end))
end

local function hash_to_table(flat)
  local v = {}
  for i = 1, #flat, 2 do v[flat[i]] = flat[i + 1] end
  return v
end

-- The stored values of a record (nil if absent) and whether it is live (present, not expired).
local function read_record(key)
  local flat = redis.call('HGETALL', key)
  if #flat == 0 then return nil, false end
  local v = hash_to_table(flat)
  local exp = v[EXP]
  return v, (exp == nil or tonumber(exp) > now_ms())
end

local function set_key(tag, ix, v)
  local parts = {}
  for i, f in ipairs(ix[3]) do
    local t = v[f]
    parts[i] = t and esc(t) or '%'
  end
  return tag .. ':' .. ix[2] .. table.concat(parts, ':')
end

-- The unique hash field for values v, or nil when a part is missing (None is never unique).
local function uniq_field(ix, v)
  local parts = {}
  for i, f in ipairs(ix[3]) do
    local t = v[f]
    if t == nil then return nil end
    parts[i] = esc(t)
  end
  return table.concat(parts, ':')
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

local INDEX_TYPE = {set = 'set', uniq = 'hash', z = 'zset', geo = 'zset', lex = 'zset'}

local function lex_member(ix, v, id)
  local t = v[ix[3][1]]
  return t and (t .. '\0' .. id)
end

-- Add to wanted (key -> type) the index keys a record with values v uses at tag.
local function index_keys(spec, tag, v, wanted)
  for _, ix in ipairs(spec.idx) do
    if ix[1] == 'set' then
      wanted[set_key(tag, ix, v)] = 'set'
    else
      wanted[tag .. ':' .. ix[2]] = INDEX_TYPE[ix[1]]
    end
  end
  return wanted
end

-- A write command on each type of key, to ask the ACL whether the user may write one.
local WRITE_PROBE = {set = 'SADD', hash = 'HSET', zset = 'ZADD'}

-- Check, before any write, that each key holds its wanted type (or nothing) and that the
-- ACL lets the user write it: these keys are derived here, not declared in KEYS, so Redis
-- did not check them before the call began.
local function expect_types(wanted)
  for key, kind in pairs(wanted) do
    expect_type(key, kind)
    local probe = kind == 'hash' and {key, 'f', 'v'} or kind == 'zset' and {key, '0', 'm'}
      or {key, 'm'}
    if not redis.acl_check_cmd(WRITE_PROBE[kind], unpack(probe)) then
      error('typedis: the ACL user may not write key ' .. key .. '; nothing was written')
    end
  end
end

-- Check every key a record's removal touches: its index keys and the tag's id and expiry sets.
local function check_index_types(spec, tag, v)
  expect_types(index_keys(spec, tag, v, {[tag .. ':all'] = 'set', [tag .. ':exp'] = 'zset'}))
end

-- Remove every index entry of record id at tag, given its stored values v.
local function unindex(spec, tag, id, v)
  for _, ix in ipairs(spec.idx) do
    local kind = ix[1]
    if kind == 'set' then
      redis.call('SREM', set_key(tag, ix, v), id)
    elseif kind == 'uniq' then
      local f = uniq_field(ix, v)
      local h = tag .. ':' .. ix[2]
      if f and redis.call('HGET', h, f) == id then redis.call('HDEL', h, f) end
    elseif kind == 'lex' then
      local m = lex_member(ix, v, id)
      if m then redis.call('ZREM', tag .. ':' .. ix[2], m) end
    else
      redis.call('ZREM', tag .. ':' .. ix[2], id)
    end
  end
  redis.call('SREM', tag .. ':all', id)
  redis.call('ZREM', tag .. ':exp', id)
end

-- Remove a record and all its index entries.
local function purge(spec, tag, id, key, v)
  unindex(spec, tag, id, v)
  redis.call('DEL', key)
end

-- The holder of unique value f at tag if it is another live record, else nil.
local function live_holder(tag, ix, f, self_ids)
  local holder = redis.call('HGET', tag .. ':' .. ix[2], f)
  if not holder or self_ids[holder] then return nil end
  local _, live = read_record(tag .. ':r:' .. holder)
  if live then return holder end
  return nil
end

-- The position in the spec of the first unique index whose value in new is held by another
-- live record, or nil. old: the record's current values (nil for a new record).
local function unique_conflict(spec, tag, old, new, self_ids)
  for pos, ix in ipairs(spec.idx) do
    if ix[1] == 'uniq' then
      local f = uniq_field(ix, new)
      if f and (old == nil or f ~= uniq_field(ix, old)) and live_holder(tag, ix, f, self_ids) then
        return pos
      end
    end
  end
  return nil
end

-- Set a sorted/geo index entry: s is a score, "now", "<lon>,<lat>" (geo) or "" (remove).
local function put_score(tag, ix, id, s)
  local zkey = tag .. ':' .. ix[2]
  if s == '' then
    redis.call('ZREM', zkey, id)
  elseif s == 'now' then
    redis.call('ZADD', zkey, now_ms() / 1000, id)
  elseif ix[1] == 'geo' and string.find(s, ',', 1, true) then
    local lon, lat = string.match(s, '^([^,]+),(.+)$')
    redis.call('GEOADD', zkey, lon, lat, id)
  else
    redis.call('ZADD', zkey, s, id)
  end
end

-- Add the value-derived index entries (set, unique, prefix) of record id at tag, values v.
-- Adding an entry that exists changes nothing, so a full save also repairs missing ones.
local function index_values(spec, tag, id, v)
  for _, ix in ipairs(spec.idx) do
    local kind = ix[1]
    if kind == 'set' then
      redis.call('SADD', set_key(tag, ix, v), id)
    elseif kind == 'uniq' then
      local f = uniq_field(ix, v)
      if f then redis.call('HSET', tag .. ':' .. ix[2], f, id) end
    elseif kind == 'lex' then
      local m = lex_member(ix, v, id)
      if m then redis.call('ZADD', tag .. ':' .. ix[2], 0, m) end
    end
  end
end

-- Add every index entry of record id at tag, with values v and sorted/geo scores.
local function index_all(spec, tag, id, v, scores)
  index_values(spec, tag, id, v)
  for _, ix in ipairs(spec.idx) do
    if ix[1] == 'z' or ix[1] == 'geo' then
      local s = scores[ix[3][1]]
      if s and s ~= '' then put_score(tag, ix, id, s) end
    end
  end
end

-- Move the index entries of live record id whose values change from old to new; sorted/geo
-- entries change where scores has a value for their field (a decay clock, "now", only when
-- the value itself changes).
local function reindex(spec, tag, id, old, new, scores)
  for _, ix in ipairs(spec.idx) do
    local kind = ix[1]
    if kind == 'set' then
      local was, is = set_key(tag, ix, old), set_key(tag, ix, new)
      if was ~= is then
        redis.call('SREM', was, id)
        redis.call('SADD', is, id)
      end
    elseif kind == 'uniq' then
      local was, is = uniq_field(ix, old), uniq_field(ix, new)
      if was ~= is then
        local h = tag .. ':' .. ix[2]
        if was and redis.call('HGET', h, was) == id then redis.call('HDEL', h, was) end
        if is then redis.call('HSET', h, is, id) end
      end
    elseif kind == 'lex' then
      local was, is = lex_member(ix, old, id), lex_member(ix, new, id)
      if was ~= is then
        local z = tag .. ':' .. ix[2]
        if was then redis.call('ZREM', z, was) end
        if is then redis.call('ZADD', z, 0, is) end
      end
    else
      local f = ix[3][1]
      local s = scores[f]
      if s and not (s == 'now' and old[f] == new[f]) then put_score(tag, ix, id, s) end
    end
  end
end
