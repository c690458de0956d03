-- One temporal-difference (TD(0)) update of a PolicyEntry's Q-value, atomically on the server
-- (typedis/memory/_policy.py): Q <- Q + alpha * (reward + gamma * next_max_q - Q), and one more
-- visit; the Q-value's sorted index moves with it. Concurrent updates serialize: none is lost.
-- KEYS[1]: record hash
-- ARGV[1]: tag   ARGV[2]: id   ARGV[3]: Q field   ARGV[4]: visits field
-- ARGV[5]: reward   ARGV[6]: next_max_q   ARGV[7]: alpha   ARGV[8]: gamma
-- returns: {"ok", <new Q text>, <TD error text>} | {"missing"} (the record is not live) |
--          {"nan"} (the stored Q-value is not a number)
local spec, tag, id, qf, vf = SPEC, ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local reward, next_max, alpha, gamma = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]),
  tonumber(ARGV[8])
local key = KEYS[1]
expect_type(key, 'hash')
local old, live = read_record(key)
if not live then return {'missing'} end
local q = tonumber(old[qf] or '0')
if not q or q ~= q then return {'nan'} end
local td = reward + gamma * next_max - q
local new = {}
for f, t in pairs(old) do new[f] = t end
new[qf] = string.format('%.17g', q + alpha * td)
new[vf] = tostring(math.floor((tonumber(old[vf]) or 0) + 1))
expect_types(index_keys(spec, tag, new, index_keys(spec, tag, old, {})))
redis.call('HSET', key, qf, new[qf], vf, new[vf])
reindex(spec, tag, id, old, new, {}, {[qf] = true, [vf] = true})
return {'ok', new[qf], string.format('%.17g', td)}
