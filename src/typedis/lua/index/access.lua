-- Index kind "access": the sorted set of an AccessCount field, scored by its value (the
-- confirmed read count) as kind "sorted" does, plus a read hook (typedis/_index/access_kind.py).
-- key: <tag>:<suffix>
-- opts: log (how many read times the staged list and the confirmed log keep: the latest)
-- arg: the score, or '' when the value is None; nil in move() when the text is the score
-- read(tag, ix, id, key): stage one read of live record key, in hidden fields of its hash:
--   "~acc:n:<field>" the number of staged reads, "~acc:s:<field>" their times (epoch ms,
--   comma-separated, the latest opts.log); lua/access_confirm.lua moves them to the log
--   "~acc:log:<field>".
-- The comma-separated lists a and b (either may be nil) joined, keeping the last cap items.
local function join(a, b, cap)
  local items = {}
  for _, list in ipairs({a or '', b or ''}) do
    for item in string.gmatch(list, '[^,]+') do items[#items + 1] = item end
  end
  return table.concat(items, ',', math.max(1, #items - cap + 1), #items)
end

-- The sorted kind's functions (its Lua comes first: see AccessKind.lua()), plus the read hook.
local sorted = KINDS.sorted
KINDS.access = {
  arg = sorted.arg,
  keys = sorted.keys,
  add = sorted.add,
  remove = sorted.remove,
  move = sorted.move,
  carry = sorted.carry,
  join = join,
  read = function(tag, ix, id, key)
    local f = ix.fields[1]
    local times = '~acc:s:' .. f
    redis.call('HINCRBY', key, '~acc:n:' .. f, 1)
    redis.call('HSET', key, times,
      join(redis.call('HGET', key, times), string.format('%d', now_ms()), ix.opts.log))
  end,
}
