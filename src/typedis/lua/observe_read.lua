-- Run the read hooks of a live record's index kinds (an AccessCount field stages one read), as
-- a query or load does for each record it returns.
-- KEYS[1]: record hash
-- ARGV[1]: tag   ARGV[2]: id
-- returns: {"ok", <the number of hooks run>} | {"missing"} (the record is not live)
local key = KEYS[1]
expect_type(key, 'hash')
local _, live = read_record(key)
if not live then return {'missing'} end
local n = 0
for _, ix in ipairs(SPEC.idx) do
  local read = KINDS[ix.kind].read
  if read then
    read(ARGV[1], ix, ARGV[2], key)
    n = n + 1
  end
end
return {'ok', n}
