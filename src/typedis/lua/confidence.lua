-- Bayesian update of one Confidence field of a live record, keeping its sorted index in step:
--   new = prior + (signal - prior) / sqrt(n + 1), n = the evidence count before this update.
-- The evidence lives in hidden fields of the record's hash: "~conf+:<field>" counts
-- corroborations (signal >= 0.5), "~conf-:<field>" contradictions; n is their sum.
-- KEYS[1]: record hash
-- ARGV[1]: tag   ARGV[2]: id   ARGV[3]: field   ARGV[4]: signal (a finite number in [0, 1])
-- ARGV[5]: the prior when the record holds no value for the field (its default)
-- returns: {"ok", <new value text>} | {"missing"} (the record is not live) |
--          {"nan"} (the stored value is not a number in [0, 1])
local spec = SPEC
local tag, id, field = ARGV[1], ARGV[2], ARGV[3]
local signal = tonumber(ARGV[4])
local key = KEYS[1]
expect_type(key, 'hash')
local old, live = read_record(key)
if not live then return {'missing'} end
local prior = tonumber(old[field] or ARGV[5])
if not prior or not (prior >= 0 and prior <= 1) then return {'nan'} end
local up, down = '~conf+:' .. field, '~conf-:' .. field
local n = (tonumber(old[up]) or 0) + (tonumber(old[down]) or 0)
-- the clamp only absorbs rounding: the exact result lies between prior and signal
local value = math.min(1, math.max(0, prior + (signal - prior) / math.sqrt(n + 1)))
local new = {}
for f, t in pairs(old) do new[f] = t end
new[field] = string.format('%.17g', value) -- 17 digits: the exact double
expect_types(index_keys(spec, tag, new, index_keys(spec, tag, old, {})))

redis.call('HSET', key, field, new[field])
redis.call('HINCRBY', key, signal >= 0.5 and up or down, 1)
reindex(spec, tag, id, old, new, {}, {[field] = true})
return {'ok', new[field]}
