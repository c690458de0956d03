-- Index kind "cooccurrence": symmetric weighted edges between records of one tag
-- (typedis/_index/cooccurrence_kind.py).
-- keys: <tag>:<suffix>, zset of "<a>\0<b>" all scored 0 (a record's edges by lex range);
--       <tag>:<suffix>:w, the same members scored by weight. Both directions are stored.
-- opts: decay, hop_decay (read by the cooccurrence_* operations)   arg: none
-- Records get edges from link() only: add and move write nothing; remove drops the record's
-- edges in both directions.

local function edge_keys(tag, ix)
  local key = index_key(tag, ix)
  return key, key .. ':w'
end

local function unlink_all(tag, ix, id)
  local lex, weights = edge_keys(tag, ix)
  local mine = redis.call('ZRANGE', lex, '[' .. id .. '\0', '(' .. id .. '\1', 'BYLEX')
  for _, edge in ipairs(mine) do
    local twin = string.sub(edge, #id + 2) .. '\0' .. id
    redis.call('ZREM', lex, edge, twin)
    redis.call('ZREM', weights, edge, twin)
  end
end

KINDS.cooccurrence = {
  keys = function(tag, ix, v, wanted)
    local lex, weights = edge_keys(tag, ix)
    wanted[lex] = 'zset'
    wanted[weights] = 'zset'
  end,
  add = function() end,
  remove = function(tag, ix, id) unlink_all(tag, ix, id) end,
  move = function() end,
}
