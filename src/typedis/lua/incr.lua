-- Add a number to one int or float field of a live record, keeping its indexes in step.
-- The sum is Python's: exact integer arithmetic on decimal texts for an int field, IEEE double
-- addition for a float field (a Lua number is a double). It is stored, indexed and checked
-- against the field's constraints as the one text typedis._codec writes for it (repr).
-- KEYS[1]: record hash
-- ARGV[1]: tag   ARGV[2]: id   ARGV[3]: field   ARGV[4]: delta (its repr)   ARGV[5]: "int" | "float"
-- ARGV[6], ARGV[7]: the field's lower and upper bounds: "" none, "<n>" inclusive, "(<n>" exclusive
-- ARGV[8]: the text a missing hash field loads as (the field's default), "" if it loads as None
-- returns: {"ok", <new text>, <the record's SPEC.hidden values>} | {"missing"}
--   | {"none"} (the value is None) | {"stored", <text>} (not a number of the field's type)
--   | {"range"} (the result is not a number within the double range)
--   | {"bounds", <new text>} | {"unique", <index position>, <new text>}
local spec = SPEC
local tag, id, field, delta, kind = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local key = KEYS[1]

-- An integer text as its sign ('' or '-') and the digits of its magnitude without leading zeros;
-- nil if it is not one.
local function split(text) return string.match(text, '^(%-?)0*(%d+)$') end

-- Digit strings (no leading zeros): a + b, or a - b when minus (then a >= b).
local function add_digits(a, b, minus)
  local out, carry = {}, 0
  for i = 1, math.max(#a, #b) do
    local db = (string.byte(b, -i) or 48) - 48
    local d = (string.byte(a, -i) or 48) - 48 + (minus and -db or db) + carry
    carry = d < 0 and -1 or (d > 9 and 1 or 0)
    out[i] = d - 10 * carry
  end
  if carry > 0 then out[#out + 1] = 1 end
  return (string.match(string.reverse(table.concat(out)), '^0*(%d+)$'))
end

local function compare_digits(a, b)
  if #a ~= #b then return #a < #b and -1 or 1 end
  return a < b and -1 or (a > b and 1 or 0)
end

local function signed(sign, digits) return digits == '0' and '0' or sign .. digits end

local function int_add(x, y)
  local sx, a = split(x)
  local sy, b = split(y)
  if sx == sy then return signed(sx, add_digits(a, b)) end
  if compare_digits(a, b) >= 0 then return signed(sx, add_digits(a, b, true)) end
  return signed(sy, add_digits(b, a, true))
end

local function int_compare(x, y)
  local sx, a = split(x)
  local sy, b = split(y)
  if sx ~= sy then return sx == '-' and -1 or 1 end
  return sx == '-' and -compare_digits(a, b) or compare_digits(a, b)
end

-- Python's repr() of a finite double: the fewest digits that read back as x (the nearest to x
-- of those), in fixed notation for exponents -4..15, else as <mantissa>e<sign><2+ digits>.
local function float_repr(x)
  if x == 0 then return '0.0' end -- -0.0 as well: typedis._codec folds it into 0.0
  local a, digits, e = math.abs(x)
  for p = 1, 17 do
    local s = string.format('%.' .. (p - 1) .. 'e', a)
    local lead, rest, exp = string.match(s, '^(%d)%.?(%d*)e([-+]%d+)$')
    digits, e = lead .. rest, tonumber(exp) - p + 1 -- a is about digits * 10^e
    if tonumber(s) == a then break end
    -- printf gives the nearest p digits; beside a power of two the gap below is half the gap
    -- above, and the neighbour on the other side of a may read back as a where the nearest fails
    local other = add_digits(digits, '1', tonumber(s) > a)
    if tonumber(other .. 'e' .. e) == a then
      digits = other
      break
    end
  end
  e = e + #digits - 1 -- now the exponent of the first digit
  digits = string.match(digits, '^(%d-)0*$')
  local sign = x < 0 and '-' or ''
  if e < -4 or e > 15 then
    local tail = #digits > 1 and '.' .. string.sub(digits, 2) or ''
    return string.format('%s%s%se%s%02d', sign, string.sub(digits, 1, 1), tail,
      e < 0 and '-' or '+', math.abs(e))
  end
  if e < 0 then return sign .. '0.' .. string.rep('0', -e - 1) .. digits end
  digits = digits .. string.rep('0', e + 1 - #digits)
  local fraction = string.sub(digits, e + 2)
  return sign .. string.sub(digits, 1, e + 1) .. '.' .. (fraction == '' and '0' or fraction)
end

expect_type(key, 'hash')
local old, live = read_record(key)
if not live then return {'missing'} end
local was = old[field] or ARGV[8]
if was == '' then return {'none'} end
local text, value -- the result as stored, and as a double
if kind == 'int' then
  if not split(was) then return {'stored', was} end
  text = int_add(was, delta)
  value = tonumber(text) -- math.huge beyond the double range
else
  value = tonumber(was)
  if not value then return {'stored', was} end
  value = value + tonumber(delta)
end
if value ~= value or value == math.huge or value == -math.huge then return {'range'} end
text = text or float_repr(value)

-- Whether the result passes bound ("" none, "<n>" or "(<n>" exclusive) on side -1 (lower) or
-- 1 (upper), compared as pydantic compares: as integers or as doubles.
local function beyond(bound, side)
  if bound == '' then return false end
  local open = string.sub(bound, 1, 1) == '('
  if open then bound = string.sub(bound, 2) end
  local c
  if kind == 'int' then
    c = int_compare(text, bound)
  else
    local n = tonumber(bound)
    c = value < n and -1 or (value > n and 1 or 0)
  end
  return c == side or (open and c == 0)
end
if beyond(ARGV[6], -1) or beyond(ARGV[7], 1) then return {'bounds', text} end

local new = {}
for f, t in pairs(old) do new[f] = t end
new[field] = text
local clash = conflict(spec, tag, old, new, {[id] = true})
if clash then return {'unique', clash, text} end
expect_types(index_keys(spec, tag, new, index_keys(spec, tag, old, {})))

redis.call('HSET', key, field, text)
reindex(spec, tag, id, old, new, {}, {[field] = true})
return {'ok', text, hidden_values(key)}
