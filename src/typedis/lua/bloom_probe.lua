#!lua flags=no-writes
-- Read a Bloom filter (typedis/memory/_bloom.py): look fingerprints up, or count its set bits.
-- KEYS[1]: the filter's bitmap (<tag>:b:<field>)
-- ARGV[1]: "fill" to count the set bits, else the filter's hash count k (offsets per token)
-- ARGV[2..]: one fingerprint each: the bit offsets of its tokens, in decimal, separated by
--            spaces, k per token
-- returns: {"ok", hit, ...}: hit is 1 when every bit of some token of the fingerprint is set,
--          else 0 | {"ok", set bits} for "fill" | {"wrongtype", <type>} when the key holds
--          something other than a bitmap (nothing is read)
local key = KEYS[1]
local t = redis.call('TYPE', key)
t = t.ok or t
if t ~= 'none' and t ~= 'string' then return {'wrongtype', t} end
if ARGV[1] == 'fill' then return {'ok', redis.call('BITCOUNT', key)} end
local k = tonumber(ARGV[1])
local out = {'ok'}
for i = 2, #ARGV do
  local hit = 0
  if t == 'string' then
    local cmd = {'BITFIELD_RO', key}
    for offset in string.gmatch(ARGV[i], '%d+') do
      cmd[#cmd + 1] = 'GET'
      cmd[#cmd + 1] = 'u1'
      cmd[#cmd + 1] = offset
      if #cmd == 2 + 3 * k then -- one token's offsets: a hit when all its bits are set
        local all = 1
        for _, bit in ipairs(redis.call(unpack(cmd))) do
          if bit == 0 then all = 0 break end
        end
        if all == 1 then hit = 1 break end
        cmd = {'BITFIELD_RO', key}
      end
    end
  end
  out[i] = hit
end
return out
