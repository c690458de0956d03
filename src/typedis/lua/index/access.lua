-- Index kind "access": the sorted set of an AccessCount field, scored by its value (the
-- confirmed read count) as kind "sorted" does, plus a read hook (typedis/_index/access_kind.py).
-- key: <tag>:<suffix>
-- opts: log (how many read times the staged list and the confirmed log keep: the latest)
-- arg: the score, or '' when the value is None; nil in move() when the text is the score
-- read(tag, ix, id, key): stage one read of live record key, in hidden fields of its hash:
--   "~acc:n:<field>" the number of staged reads, "~acc:s:<field>" their times (epoch ms,
--   comma-separated, the latest opts.log); lua/access_confirm.lua moves them to the log
--   "~acc:log:<field>".
local function put(tag, ix, id, score)
  if score == '' then
    redis.call('ZREM', index_key(tag, ix), id)
  else
    redis.call('ZADD', index_key(tag, ix), score, id)
  end
end

-- The comma-separated lists a and b (either may be nil) joined, keeping the last cap items.
local function join(a, b, cap)
  local items = {}
  for _, list in ipairs({a or '', b or ''}) do
    for item in string.gmatch(list, '[^,]+') do items[#items + 1] = item end
  end
  return table.concat(items, ',', math.max(1, #items - cap + 1), #items)
end

KINDS.access = {
  arg = true,
  keys = one_key('zset'),
  add = function(tag, ix, id, v, arg) if arg and arg ~= '' then put(tag, ix, id, arg) end end,
  remove = function(tag, ix, id) redis.call('ZREM', index_key(tag, ix), id) end,
  move = function(tag, ix, id, old, new, arg)
    local f = ix.fields[1]
    if arg == nil then
      if old[f] == new[f] then return end
      arg = new[f] or ''
    end
    put(tag, ix, id, arg)
  end,
  carry = function(tag, ix, id) return redis.call('ZSCORE', index_key(tag, ix), id) or '' end,
  read = function(tag, ix, id, key)
    local f = ix.fields[1]
    local times = '~acc:s:' .. f
    redis.call('HINCRBY', key, '~acc:n:' .. f, 1)
    redis.call('HSET', key, times,
      join(redis.call('HGET', key, times), string.format('%d', now_ms()), ix.opts.log))
  end,
  join = join,
}
