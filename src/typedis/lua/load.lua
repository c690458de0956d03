#!lua flags=no-writes
-- Read records by key, hiding expired ones, and run the read hook of each index kind that has
-- one on each live record (the access kind stages a read). A model with such a kind gets this
-- code without the no-writes flag, as its "load_reads" (see typedis._lua.library), so that only
-- those models' reads write.
-- KEYS[1..n]: record hashes (<tag>:r:<id>; a tag ends at its first "}", escaping keeps any
--            other out)
-- returns: for each key, the values of the model's fields and then its hidden fields (in
--          SPEC.read order), or false if the record is not live, or a string when it is
--          damaged: the name of the hidden field typedis cannot read (EXP), or "" when the key
--          holds another type than a hash
-- (a stored record always holds its key fields, so all-missing means no record)
local hooks = {}
for _, ix in ipairs(SPEC.idx) do
  if KINDS[ix.kind].read then hooks[#hooks + 1] = ix end
end
local out = {}
for k, key in ipairs(KEYS) do
  local values = redis.pcall('HMGET', key, EXP, unpack(SPEC.read))
  local live
  if wrong_type(values) then
    live = ''
  elseif values.err then
    error(values) -- an ACL denial...: raised as it is
  elseif values[1] then
    live = live_until(values[1])
    if live == nil then live = EXP end
  else
    live = false
    for j = 2, #values do
      if values[j] then live = true break end
    end
  end
  if live == true then
    table.remove(values, 1)
    out[k] = values
    if #hooks > 0 then
      local close = string.find(key, '}', 1, true)
      local tag, id = string.sub(key, 1, close), string.sub(key, close + 4)
      for _, ix in ipairs(hooks) do KINDS[ix.kind].read(tag, ix, id, key) end
    end
  else
    out[k] = live
  end
end
return out
