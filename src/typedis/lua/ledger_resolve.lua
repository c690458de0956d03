-- Resolve the open prediction of a live record: store its error (computed here from the
-- actual values, or given for an observed outcome), and when the error exceeds the ledger's
-- threshold feed a contradicting signal into a Confidence field by the Bayesian update of
-- lua/confidence.lua, all in one step. The error, for mode "actual", is the mean over the
-- predicted names, in stored order, of min(1, |p - a| / max(|p|, |a|, 1)) for two numbers,
-- 0 for equal values of one type, 1 otherwise or when the name is not in the actual values
-- (typedis._index.ledger_kind.prediction_error is the same computation in Python).
-- KEYS[1]: record hash   KEYS[2]: predictions (<tag>:p:<field>)   KEYS[3]: errors (... :e)
-- ARGV[1]: tag   ARGV[2]: id   ARGV[3]: key   ARGV[4]: mode ("actual" or an outcome name)
-- ARGV[5]: mode "actual": the actual values (a JSON object); else the error (a number in [0, 1])
-- ARGV[6]: the Confidence field to lower, or ""   ARGV[7]: threshold   ARGV[8]: the signal
-- ARGV[9]: the Confidence field's prior when the record holds no value (its default)
-- returns: {"ok", <error text>, <new confidence text or "">} | {"missing"} (not live) |
--          {"none"} (no prediction under key) | {"resolved"} (already resolved) |
--          {"nan"} (the stored confidence is not a number in [0, 1]); nothing written but "ok"
local spec = SPEC
local tag, id, pkey, mode = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local cf, threshold, signal = ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8])
local lex, errors = KEYS[2], KEYS[3]
expect_type(KEYS[1], 'hash')
local old, live = read_record(KEYS[1])
if not live then return {'missing'} end
expect_types({[lex] = 'zset', [errors] = 'zset'})
local head = id .. '\0' .. pkey
local found = redis.call('ZRANGE', lex, '[' .. head .. '\0', '(' .. head .. '\1', 'BYLEX')
if #found == 0 then return {'none'} end
local member = found[1]
local recorded, resolved, _, _, predicted = string.match(
  string.sub(member, #head + 2), '^([^\n]*)\n([^\n]*)\n([^\n]*)\n([^\n]*)\n([^\n]*)\n')
if resolved ~= '' then return {'resolved'} end

local err, actual = nil, ''
if mode == 'actual' then
  actual = ARGV[5]
  local pairs_, got = cjson.decode(predicted), cjson.decode(actual)
  local total = 0
  for _, pv in ipairs(pairs_) do
    local p, a = pv[2], got[pv[1]]
    if a == nil then
      total = total + 1
    elseif type(p) == 'number' and type(a) == 'number' then
      total = total + math.min(1, math.abs(p - a) / math.max(math.abs(p), math.abs(a), 1))
    elseif type(p) == type(a) and p == a then
      total = total + 0
    else
      total = total + 1
    end
  end
  err = total / #pairs_
else
  err = tonumber(ARGV[5])
end
local err_text = string.format('%.17g', err)

-- The confidence feedback, checked before any write.
local new, belief = nil, ''
if cf ~= '' and err > threshold then
  local prior = tonumber(old[cf] or ARGV[9])
  if not prior or not (prior >= 0 and prior <= 1) then return {'nan'} end
  local n = (tonumber(old['~conf+:' .. cf]) or 0) + (tonumber(old['~conf-:' .. cf]) or 0)
  local value = math.min(1, math.max(0, prior + (signal - prior) / math.sqrt(n + 1)))
  new = {}
  for f, t in pairs(old) do new[f] = t end
  belief = string.format('%.17g', value)
  new[cf] = belief
  expect_types(index_keys(spec, tag, new, index_keys(spec, tag, old, {})))
end

local at = string.format('%d', now_ms())
redis.call('ZREM', lex, member)
redis.call('ZADD', lex, 0, head .. '\0' .. recorded .. '\n' .. at .. '\n' .. mode .. '\n' ..
  err_text .. '\n' .. predicted .. '\n' .. actual)
redis.call('ZADD', errors, err_text, head)
if new then
  redis.call('HSET', KEYS[1], cf, belief)
  redis.call('HINCRBY', KEYS[1], (signal >= 0.5 and '~conf+:' or '~conf-:') .. cf, 1)
  reindex(spec, tag, id, old, new, {}, {[cf] = true})
end
return {'ok', err_text, belief}
