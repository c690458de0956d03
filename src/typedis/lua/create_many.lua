-- Create a batch of records as one atomic step (Model.bulk_create()): save_many.lua, whose code
-- typedis._lua appends to this, once no record of the batch is found live: a create never
-- overwrites (a record past its expiry is no record: it is replaced).
-- KEYS, ARGV: as save_many.lua's
-- returns: as save_many.lua's; {"at", k, {"exists"}} when record k is live
for k = 1, #KEYS, 1000 do
  local last = math.min(k + 999, #KEYS)
  if redis.call('EXISTS', unpack(KEYS, k, last)) > 0 then
    for j = k, last do
      local _, live, bad = inspect_record(KEYS[j])
      if bad then return {'at', j, {'corrupt', KEYS[j], bad}} end
      if live then return {'at', j, {'exists'}} end
    end
  end
end
