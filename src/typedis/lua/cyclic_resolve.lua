-- Resolve the homeostatic pressure of a CyclicDecay field of a live record: its last-resolved
-- time becomes t, so its pressure restarts from 0.
-- KEYS[1]: record hash
-- ARGV[1]: the hidden field of the last-resolved time ("~cy:r:<field>")
-- ARGV[2]: t (epoch ms), or "" for the server's now
-- returns: {"ok", <t, epoch ms>} | {"missing"} (the record is not live)
local key = KEYS[1]
expect_type(key, 'hash')
local _, live = read_record(key)
if not live then return {'missing'} end
local t = string.format('%d', tonumber(ARGV[2]) or now_ms())
redis.call('HSET', key, ARGV[1], t)
return {'ok', t}
