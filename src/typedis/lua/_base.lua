-- Prepended to every script (before the index library, for the scripts that use it).
-- A record with an expiry has hidden hash field "~exp" (epoch ms); a record past it is not live.

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

