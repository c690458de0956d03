-- Multiply the cycle amplitudes of a CyclicDecay field of a live record by a factor, each
-- clamped to [0, 100] and snapped to 0 below 0.01 (KINDS.cyclic.scale).
-- KEYS[1]: record hash
-- ARGV[1]: the hidden field of the amplitudes ("~cy:a:<field>")
-- ARGV[2]: factor (a finite number >= 0)   ARGV[3..]: the declared amplitudes
-- returns: {"ok", <the new amplitudes, comma-separated>} | {"missing"} (the record is not live)
local key = KEYS[1]
expect_type(key, 'hash')
local v, live = read_record(key)
if not live then return {'missing'} end
local declared = {}
for i = 3, #ARGV do declared[#declared + 1] = tonumber(ARGV[i]) end
local amps = KINDS.cyclic.scale(v[ARGV[1]], declared, tonumber(ARGV[2]))
redis.call('HSET', key, ARGV[1], amps)
return {'ok', amps}
