-- Add a number to one numeric field of a live record, keeping its indexes in step.
-- KEYS[1]: record hash
-- ARGV[1]: tag   ARGV[2]: id   ARGV[3]: field   ARGV[4]: delta
-- ARGV[5]: "int" (exact within ±2^53) or "float"
-- ARGV[6], ARGV[7]: the field's lower and upper bounds: "" none, "<n>" inclusive, "(<n>" exclusive
-- returns: {"ok", <new value text>, <the record's SPEC.hidden values>} | {"missing"} | {"nan"} (the stored value or the result is
--          not a finite number in range) | {"bounds"} (the result breaks the field's bounds) |
--          {"unique", <position of the index whose constraint it breaks>}
local spec = SPEC
local tag, id, field, delta, kind = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local key = KEYS[1]
expect_type(key, 'hash')
local old, live = read_record(key)
if not live then return {'missing'} end
local was = old[field] or '0'
local result = tonumber(was) and tonumber(was) + tonumber(delta)
if not result or result ~= result or result == math.huge or result == -math.huge then
  return {'nan'}
end
local function outside(bound, above)
  if bound == '' then return false end
  local open = string.sub(bound, 1, 1) == '('
  local n = tonumber(open and string.sub(bound, 2) or bound)
  if above then return result > n or (open and result == n) end
  return result < n or (open and result == n)
end
if outside(ARGV[6], false) or outside(ARGV[7], true) then return {'bounds'} end
local new = {}
for f, t in pairs(old) do new[f] = t end
if kind == 'int' then
  if not string.match(was, '^%-?%d+$') or math.abs(result) > 9007199254740992 then
    return {'nan'}
  end
  new[field] = string.format('%d', result)
end
-- float results are formatted by HINCRBYFLOAT; schema rules keep floats out of text indexes.
local clash = conflict(spec, tag, old, new, {[id] = true})
if clash then return {'unique', clash} end
expect_types(index_keys(spec, tag, new, index_keys(spec, tag, old, {})))

if kind == 'int' then
  redis.call('HINCRBY', key, field, delta)
else
  new[field] = redis.call('HINCRBYFLOAT', key, field, delta)
end
reindex(spec, tag, id, old, new, {}, {[field] = true})
return {'ok', new[field], hidden_values(key)}
