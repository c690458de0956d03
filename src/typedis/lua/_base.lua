-- Prepended to every script (before the index library, for the scripts that use it).
-- A record with an expiry has hidden hash field "~exp" (epoch ms); a record past it is not live.
-- Stored texts typedis did not write raise corrupt() before a script's first write (typedis
-- reads the error as CorruptRecord), or come back as a status the client decodes.

local EXP = '~exp'

-- Server time in epoch ms, read once per call and only when needed.
local NOW_MS
local function now_ms()
  if not NOW_MS then
    local t = redis.call('TIME')
    NOW_MS = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return NOW_MS
end

-- Whether a record whose "~exp" holds exp (nil or false: no expiry) is live now; nil when exp
-- is not a number typedis wrote.
local function live_until(exp)
  if not exp then return true end
  local t = tonumber(exp)
  if t == nil or t ~= t then return nil end
  return t > now_ms()
end

-- Raise the error typedis reads as CorruptRecord: hash field field of record key holds a text
-- typedis did not write ("" for the key itself: not a hash). "TYPEDIS_CORRUPT <field> <key>"
-- (a field name holds no space).
local function corrupt(key, field)
  error({err = 'TYPEDIS_CORRUPT ' .. field .. ' ' .. key})
end

-- Whether an error reply (a redis.pcall result) says the key holds another type.
local function wrong_type(reply)
  return reply.err ~= nil and string.find(reply.err, 'WRONGTYPE', 1, true) == 1
end

-- How many of the ids have a record hash at tag: one deleted outside typedis (a stray DEL, an
-- eviction) left its id behind but is no record. One EXISTS per 1000 ids.
local function present(tag, ids)
  local n = 0
  for i = 1, #ids, 1000 do
    local keys = {}
    for j = i, math.min(i + 999, #ids) do keys[#keys + 1] = tag .. ':r:' .. ids[j] end
    n = n + redis.call('EXISTS', unpack(keys))
  end
  return n
end

-- present() over the members of a set or sorted set of ids (nothing runs between the SSCAN
-- calls of a script, so each member is seen once).
local function present_in(tag, key)
  local kind = redis.call('TYPE', key)
  kind = kind.ok or kind
  local n = 0
  if kind == 'zset' then
    for i = 0, redis.call('ZCARD', key) - 1, 1000 do
      n = n + present(tag, redis.call('ZRANGE', key, i, i + 999))
    end
  elseif kind == 'set' then
    local cursor = '0'
    repeat
      local reply = redis.call('SSCAN', key, cursor, 'COUNT', 1000)
      cursor = reply[1]
      n = n + present(tag, reply[2])
    until cursor == '0'
  else -- no key: 0; a key of another type: WRONGTYPE
    n = redis.call('SCARD', key)
  end
  return n
end
