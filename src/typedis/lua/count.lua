#!lua flags=no-writes
-- Count the live records of one tag: the ids whose record hash exists (one deleted outside
-- typedis is not counted) less those past their expiry. O(n): one EXISTS per 1000 ids.
-- KEYS[1]: <tag>:all   KEYS[2]: <tag>:exp
-- returns: the count
local tag = string.sub(KEYS[1], 1, -5) -- less ':all'
local expired = redis.call('ZRANGE', KEYS[2], '-inf', now_ms(), 'BYSCORE')
return present_in(tag, KEYS[1]) - present(tag, expired)
