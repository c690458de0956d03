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
