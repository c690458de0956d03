-- Promote the staged reads of a live record to its confirmed access log: add their number to
-- its AccessCount field (keeping the field's index in step) and their times to the log.
-- KEYS[1]: record hash
-- ARGV[1]: tag   ARGV[2]: id   ARGV[3]: the AccessCount field   ARGV[4]: log size (latest kept)
-- returns: {"ok", <reads promoted>, <count text>} | {"missing"} (the record is not live) |
--          {"nan"} (the stored count is not a non-negative integer)
-- The hidden fields are those of lua/index/access.lua: "~acc:n:<field>", "~acc:s:<field>"
-- (staged) and "~acc:log:<field>" (confirmed times).
local spec = SPEC
local tag, id, field, cap = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local key = KEYS[1]
expect_type(key, 'hash')
local old, live = read_record(key)
if not live then return {'missing'} end
local count = old[field] or '0'
if not string.match(count, '^%d+$') then return {'nan'} end
local staged_n, staged_s, log = '~acc:n:' .. field, '~acc:s:' .. field, '~acc:log:' .. field
local staged = tonumber(old[staged_n] or '0')
if staged == 0 then return {'ok', 0, count} end
local new = {}
for f, t in pairs(old) do new[f] = t end
new[field] = string.format('%d', tonumber(count) + staged)
expect_types(index_keys(spec, tag, new, index_keys(spec, tag, old, {})))

redis.call('HSET', key, field, new[field], log, KINDS.access.join(old[log], old[staged_s], cap))
redis.call('HDEL', key, staged_n, staged_s)
reindex(spec, tag, id, old, new, {}, {[field] = true})
return {'ok', staged, new[field]}
