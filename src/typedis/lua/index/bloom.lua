-- Index kind "bloom": a Bloom filter on one bitmap per tag (typedis/_index/bloom_kind.py).
-- key: <tag>:<suffix> (a string holding the bitmap)
-- opts: bits (the bitmap's size), hashes (offsets per token)
-- arg: the bit offsets of the value's tokens, in decimal, separated by spaces ("" for None)
-- A Bloom filter cannot forget: remove leaves the bits set, and a changed value only adds its
-- own. move with a nil arg (an operation that sends none) keeps the bits already set.

local function set_bits(tag, ix, arg)
  if not arg or arg == '' then return end
  local key = index_key(tag, ix)
  for offset in string.gmatch(arg, '%d+') do redis.call('SETBIT', key, offset, 1) end
end

KINDS.bloom = {
  arg = true,
  keys = one_key('string'),
  add = function(tag, ix, id, v, arg) set_bits(tag, ix, arg) end,
  remove = function() end,
  move = function(tag, ix, id, old, new, arg) set_bits(tag, ix, arg) end,
}
