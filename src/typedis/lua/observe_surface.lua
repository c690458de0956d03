-- Record that a live record was surfaced into an agent's context: its pending recall proposal
-- is the hidden field "~rp" = "<surfaced ms>,<expires ms>,<reason>" (replacing an older one),
-- so it goes with the record on delete, expiry and the sweep and moves with a key migration.
-- KEYS[1]: record hash
-- ARGV[1]: reason   ARGV[2]: time to live (ms, > 0)
-- returns: {"ok", <the proposal's text>} | {"missing"} (the record is not live)
local key = KEYS[1]
expect_type(key, 'hash')
local _, live = read_record(key)
if not live then return {'missing'} end
local t = now_ms()
local text = string.format('%d,%d,', t, t + tonumber(ARGV[2])) .. ARGV[1]
redis.call('HSET', key, '~rp', text)
return {'ok', text}
