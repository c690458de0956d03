-- The effects of one reported outcome on a live record, in one atomic step: the Bayesian
-- update of each listed Confidence field (the formula of lua/confidence.lua, with the same
-- hidden evidence counts), the scaling of each listed CyclicDecay field's amplitudes
-- (KINDS.cyclic.scale), the discharge of their pressure when an updated confidence fell below
-- a threshold, and the resolution of the record's pending recall proposal ("~rp").
-- KEYS[1]: record hash
-- ARGV[1]: tag   ARGV[2]: id   ARGV[3]: signal in [0, 1], or "" (no confidence change)
-- ARGV[4]: amplitude factor >= 0, or "" (no cycle change)
-- ARGV[5]: discharge threshold, or "" (no discharge)   ARGV[6]: "1" resolve the proposal
-- ARGV[7]: c, the number of Confidence fields, then c pairs: field, prior when it holds none
-- then k, the number of CyclicDecay fields, then k groups: amplitudes field ("~cy:a:<f>"),
--   last-resolved field ("~cy:r:<f>", or "" when its pressure_rate is 0), m, m amplitudes
-- returns: {"ok", {new confidence texts}, {new amplitude texts}, <discharge ms or "">} |
--          {"missing"} (the record is not live) | {"nan", field} (a stored confidence is not a
--          number in [0, 1]); nothing is written unless "ok"
local spec = SPEC
local tag, id, key = ARGV[1], ARGV[2], KEYS[1]
local signal, factor, threshold = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local i = 7
local confs = {}
for _ = 1, tonumber(ARGV[i]) do
  confs[#confs + 1] = {field = ARGV[i + 1], default = ARGV[i + 2]}
  i = i + 2
end
i = i + 1
local cycs = {}
for _ = 1, tonumber(ARGV[i]) do
  local c = {amps = ARGV[i + 1], resolved = ARGV[i + 2], declared = {}}
  local m = tonumber(ARGV[i + 3])
  for j = 1, m do c.declared[j] = tonumber(ARGV[i + 3 + j]) end
  cycs[#cycs + 1] = c
  i = i + 3 + m
end

expect_type(key, 'hash')
local old, live = read_record(key)
if not live then return {'missing'} end
local new = {}
for f, t in pairs(old) do new[f] = t end
local beliefs, low = {}, false
if signal then
  for n, c in ipairs(confs) do
    local prior = tonumber(old[c.field] or c.default)
    if not prior or not (prior >= 0 and prior <= 1) then return {'nan', c.field} end
    local count = (tonumber(old['~conf+:' .. c.field]) or 0) +
      (tonumber(old['~conf-:' .. c.field]) or 0)
    local value = math.min(1, math.max(0, prior + (signal - prior) / math.sqrt(count + 1)))
    new[c.field] = string.format('%.17g', value)
    beliefs[n] = new[c.field]
    if threshold and value < threshold then low = true end
  end
end
local changed = {}
for _, c in ipairs(confs) do changed[c.field] = true end
if signal and #confs > 0 then
  expect_types(index_keys(spec, tag, new, index_keys(spec, tag, old, {})))
end

-- Writes: none of these can fail now.
if signal then
  for _, c in ipairs(confs) do
    redis.call('HSET', key, c.field, new[c.field])
    redis.call('HINCRBY', key, (signal >= 0.5 and '~conf+:' or '~conf-:') .. c.field, 1)
  end
  if #confs > 0 then reindex(spec, tag, id, old, new, {}, changed) end
end
local amps = {}
if factor then
  for n, c in ipairs(cycs) do
    amps[n] = KINDS.cyclic.scale(old[c.amps], c.declared, factor)
    redis.call('HSET', key, c.amps, amps[n])
  end
end
local discharged = ''
if low then
  for _, c in ipairs(cycs) do
    if c.resolved ~= '' then
      discharged = string.format('%d', now_ms())
      redis.call('HSET', key, c.resolved, discharged)
    end
  end
end
if ARGV[6] == '1' then redis.call('HDEL', key, '~rp') end
return {'ok', beliefs, amps, discharged}
