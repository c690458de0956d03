#!lua flags=no-writes
-- Count the live records of one tag in O(log n): all ids less those past their expiry.
-- KEYS[1]: <tag>:all   KEYS[2]: <tag>:exp
-- returns: the count
return redis.call('SCARD', KEYS[1]) - redis.call('ZCOUNT', KEYS[2], '-inf', now_ms())
