#!lua flags=allow-oom
-- List the matches of a query on the server for a bulk change (Model.bulk_update(query)...),
-- which then takes them a batch at a time (LPOP), so the client never holds every id.
-- QUERY is lua/query.lua as a function of the library's prelude (typedis._lua).
-- Allowed on a full server: a bulk_delete() is how memory gets freed.
-- KEYS[1]: <tag>:all (as lua/query.lua's KEYS[1])
-- KEYS[2]: <tag>:bulk:<token>, where the ids go (a list, in the query's order); absent
-- ARGV[1]: the plan (JSON, see lua/query.lua), mode "ids"   ARGV[2]: KEYS[2]'s lifetime (ms)
-- returns: the number of ids listed (the live matches of the query's page, in its order)
local ids = QUERY(KEYS, ARGV)
for i = 1, #ids, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(ids, i, math.min(i + 999, #ids)))
end
if #ids > 0 then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return #ids
