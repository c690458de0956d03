-- Index kind "cyclic": a CyclicDecay field's base value; its score at a time adds cyclical
-- resonance and homeostatic pressure to the decayed base (typedis/_index/cyclic_kind.py).
-- Hidden fields of the record's hash: "~t:<field>" the touch time (epoch ms), "~cy:r:<field>"
-- when pressure was last resolved (epoch ms), "~cy:a:<field>" the cycle amplitudes
-- (comma-separated; absent: the declared ones). A moving record keeps all three.
-- opts: rate (per day), pressure_rate (per day), cycles ("period,amplitude,phase;...")
-- key: <tag>:<suffix> (ZSET, id -> base)
-- arg: none; carry: the touch time, when the value does not change
-- Also: scale(text, declared, factor), the amplitudes after strengthen/weaken (used by
-- lua/cyclic_scale.lua and lua/observe.lua).
local DAY_MS = 86400000
local MAX_AMPLITUDE, SNAP_BELOW = 100.0, 0.01

local function stamp_field(ix) return '~t:' .. esc(ix.fields[1]) end
local function resolved_field(ix) return '~cy:r:' .. esc(ix.fields[1]) end
local function num(x) return string.format('%.17g', x) end

-- Index record id, whose values v hold its base, as touched at t (ms).
local function write(tag, ix, id, v, t)
  local key = record_key(tag, id)
  redis.call('HSET', key, stamp_field(ix), string.format('%d', t))
  if not v[resolved_field(ix)] then
    redis.call('HSET', key, resolved_field(ix), string.format('%d', t))
  end
  redis.call('ZADD', index_key(tag, ix), num(tonumber(v[ix.fields[1]])), id)
end

local function unset(tag, ix, id)
  redis.call('HDEL', record_key(tag, id), stamp_field(ix))
end

-- The amplitudes in text (comma-separated; nil, false or another count than the declared
-- ones: the declared), as numbers.
local function amps_of(text, declared)
  local out = {}
  if text then
    for a in string.gmatch(text, '[^,]+') do out[#out + 1] = tonumber(a) end
  end
  if #out ~= #declared then
    out = {}
    for i, a in ipairs(declared) do out[i] = a end
  end
  return out
end

-- The amplitudes text after multiplying each by factor, clamped to [0, 100], below 0.01 -> 0.
local function scale(text, declared, factor)
  local out = {}
  for i, a in ipairs(amps_of(text, declared)) do
    local value = math.min(MAX_AMPLITUDE, math.max(0, a * factor))
    if value < SNAP_BELOW then value = 0 end
    out[i] = num(value)
  end
  return table.concat(out, ',')
end

KINDS.cyclic = {
  keys = one_key('zset'),
  add = function(tag, ix, id, v, carried)
    if v[ix.fields[1]] then
      write(tag, ix, id, v, tonumber(carried) or now_ms())
    else
      unset(tag, ix, id)
    end
  end,
  remove = function(tag, ix, id, v) redis.call('ZREM', index_key(tag, ix), id) end,
  move = function(tag, ix, id, old, new)
    local f = ix.fields[1]
    if old[f] == new[f] then return end
    redis.call('ZREM', index_key(tag, ix), id)
    if new[f] then write(tag, ix, id, new, now_ms()) else unset(tag, ix, id) end
  end,
  carry = function(tag, ix, id, old, new)
    local f = ix.fields[1]
    if old[f] ~= new[f] then return nil end
    return old[stamp_field(ix)]
  end,
  -- Restart the decay of record id (values v) at time t (ms); returns t.
  touch = function(tag, ix, id, v, t)
    write(tag, ix, id, v, t)
    return t
  end,
  amps_of = amps_of,
  scale = scale,
}

-- The page of the order by score at time order.at (ms; null: now), descending, equal scores
-- by id, then the ids without a value by id. Every record of the field is scored: O(N log N).
-- found: the key of the matching ids (a set or sorted set).
ORDERS.cyclic = function(order, found, offset, limit, key, scratch)
  local main = key(order.suffix)
  local at = order.at ~= cjson.null and order.at or now_ms()
  local need = limit < 0 and math.huge or offset + limit
  local rate, pressure_rate = order.rate, order.pressure_rate
  local periods, phases = order.periods, order.phases
  local member
  local kind = redis.call('TYPE', found)
  kind = kind.ok or kind
  if kind == 'set' then
    member = function(id) return redis.call('SISMEMBER', found, id) == 1 end
  else
    member = function(id) return redis.call('ZSCORE', found, id) ~= false end
  end
  local t = at / DAY_MS
  local scored = {}
  local flat = redis.call('ZRANGE', main, 0, -1, 'WITHSCORES')
  for i = 1, #flat, 2 do
    local id = flat[i]
    if member(id) then
      local h = redis.call('HMGET', key('r:' .. id), order.stamp, order.resolved, order.amps)
      local touched, since = tonumber(h[1]) or at, tonumber(h[2]) or at
      local amps = amps_of(h[3], order.amplitudes)
      -- the same operations, in the same order, as cyclic_kind.score()
      local total = tonumber(flat[i + 1]) * math.exp(-rate * (math.max(at - touched, 0) / DAY_MS))
      for c = 1, #periods do
        total = total + amps[c] * math.cos(2 * math.pi * (t - phases[c]) / periods[c])
      end
      total = total + pressure_rate * math.max(at - since, 0) / DAY_MS
      scored[#scored + 1] = {total, id}
    end
  end
  table.sort(scored, function(a, b) return a[1] > b[1] or (a[1] == b[1] and a[2] < b[2]) end)
  local ids = {}
  for i = offset + 1, math.min(#scored, need) do ids[#ids + 1] = scored[i][2] end
  if #scored >= need then return ids end
  return append_unscored(ids, found, main, #scored, offset, limit, scratch)
end
