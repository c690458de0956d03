-- Index kind "decay": a Decaying field's base value, ranked by how it decays since its touch
-- (typedis/_index/decay_kind.py).
-- The record's hidden hash field "~t:<field>" holds the touch time (epoch ms): the time of the
-- write that last changed the value, or of touch(); a moving record keeps it.
-- opts: rate (per day), curve ("exponential" or "power")
-- keys: <tag>:<suffix> (ZSET); for "power" also <tag>:<suffix>:<day> (ZSET, id -> base) for
--       each touch day and <tag>:<suffix>:days (ZSET of those days)
-- arg: none; carry: the touch time, when the value does not change
local DAY_MS = 86400000

local function stamp_field(ix) return '~t:' .. esc(ix.fields[1]) end
local function power(ix) return ix.opts.curve == 'power' end
local function day_key(tag, ix, t) return index_key(tag, ix) .. ':' .. math.floor(t / DAY_MS) end
local function days_key(tag, ix) return index_key(tag, ix) .. ':days' end
local function num(x) return string.format('%.17g', x) end

-- Index record id, whose values v hold its base, as touched at t (ms).
local function write(tag, ix, id, v, t)
  local base = tonumber(v[ix.fields[1]])
  redis.call('HSET', record_key(tag, id), stamp_field(ix), t)
  if power(ix) then
    local day = math.floor(t / DAY_MS)
    redis.call('ZADD', index_key(tag, ix), t, id)
    redis.call('ZADD', day_key(tag, ix, t), num(base), id)
    redis.call('ZADD', days_key(tag, ix), day, day)
  else
    -- the time-invariant order of base * e^(-rate * days): ln(base) + rate * t, t in days
    local score = (base > 0 and math.log(base) or -math.huge) + ix.opts.rate * t / DAY_MS
    redis.call('ZADD', index_key(tag, ix), num(score), id)
  end
end

-- Remove the entry of record id whose values were v.
local function erase(tag, ix, id, v)
  redis.call('ZREM', index_key(tag, ix), id)
  local t = tonumber(v[stamp_field(ix)])
  if power(ix) and t then
    local bucket = day_key(tag, ix, t)
    redis.call('ZREM', bucket, id)
    if redis.call('ZCARD', bucket) == 0 then
      redis.call('ZREM', days_key(tag, ix), math.floor(t / DAY_MS))
    end
  end
end

KINDS.decay = {
  keys = function(tag, ix, v, wanted)
    wanted[index_key(tag, ix)] = 'zset'
    if power(ix) then
      wanted[days_key(tag, ix)] = 'zset'
      wanted[day_key(tag, ix, now_ms())] = 'zset'
      local t = tonumber(v[stamp_field(ix)])
      if t then wanted[day_key(tag, ix, t)] = 'zset' end
    end
  end,
  add = function(tag, ix, id, v, carried)
    if v[ix.fields[1]] then
      write(tag, ix, id, v, tonumber(carried) or now_ms())
    else
      redis.call('HDEL', record_key(tag, id), stamp_field(ix))
    end
  end,
  remove = erase,
  move = function(tag, ix, id, old, new)
    local f = ix.fields[1]
    if old[f] == new[f] then return end
    erase(tag, ix, id, old)
    if new[f] then
      write(tag, ix, id, new, now_ms())
    else
      redis.call('HDEL', record_key(tag, id), stamp_field(ix))
    end
  end,
  carry = function(tag, ix, id, old, new)
    local f = ix.fields[1]
    if old[f] ~= new[f] then return nil end
    return old[stamp_field(ix)]
  end,
  -- Restart the decay of record id (values v) at time t (ms); returns t.
  touch = function(tag, ix, id, v, t)
    erase(tag, ix, id, v)
    write(tag, ix, id, v, t)
    return t
  end,
}

-- The page of a "power" curve's order at time order.at (ms; null: now): ids by
-- base * (1 + days)^-rate, descending, equal scores by id, then the ids without a value.
-- found: the key of the matching ids (a set or sorted set).
ORDERS.decay = function(order, found, offset, limit, key, scratch)
  local main, rate = key(order.suffix), order.rate
  local at = order.at ~= cjson.null and order.at or now_ms()
  local need = limit < 0 and math.huge or offset + limit
  local member
  local kind = redis.call('TYPE', found)
  kind = kind.ok or kind
  if kind == 'set' then
    member = function(id) return redis.call('SISMEMBER', found, id) == 1 end
  else
    member = function(id) return redis.call('ZSCORE', found, id) ~= false end
  end
  local function score(base, age_ms)
    return base * (1 + math.max(age_ms, 0) / DAY_MS) ^ -rate
  end
  -- each touch day's bound: its largest base at its youngest age
  local days = {}
  for _, day in ipairs(redis.call('ZRANGE', main .. ':days', 0, -1)) do
    local top = redis.call('ZRANGE', main .. ':' .. day, -1, -1, 'WITHSCORES')
    if #top > 0 then
      local youngest = at - (tonumber(day) + 1) * DAY_MS
      days[#days + 1] = {day, score(tonumber(top[2]), youngest), youngest}
    end
  end
  table.sort(days, function(a, b) return a[2] > b[2] end)
  local best = {} -- {score, id}, best first, at most need long
  local function better(a, b) return a[1] > b[1] or (a[1] == b[1] and a[2] < b[2]) end
  local function beaten(bound) return #best >= need and best[#best][1] > bound end
  for _, d in ipairs(days) do
    if beaten(d[2]) then break end
    local bucket, start, done = main .. ':' .. d[1], 0, false
    while not done do
      local chunk = redis.call('ZRANGE', bucket, '+inf', '-inf', 'BYSCORE', 'REV',
        'LIMIT', start, 64, 'WITHSCORES')
      if #chunk == 0 then break end
      for i = 1, #chunk, 2 do
        local id, base = chunk[i], tonumber(chunk[i + 1])
        if beaten(score(base, d[3])) then
          done = true
          break
        end
        if member(id) then
          local t = tonumber(redis.call('HGET', key('r:' .. id), order.stamp))
          local entry = {score(base, at - t), id}
          local pos = #best + 1
          while pos > 1 and better(entry, best[pos - 1]) do pos = pos - 1 end
          table.insert(best, pos, entry)
          if #best > need then table.remove(best) end
        end
      end
      start = start + 64
    end
  end
  local ids = {}
  for i = offset + 1, #best do ids[#ids + 1] = best[i][2] end
  if #best >= need then return ids end
  return append_unscored(ids, found, main, #best, offset, limit, scratch)
end
