-- Index kind "ledger": predictions attached to records (typedis/_index/ledger_kind.py).
-- keys: <tag>:<suffix>, zset of "<id>\0<key>\0<data>" all scored 0 (a record's predictions by
--       lex range); <tag>:<suffix>:e, "<id>\0<key>" scored by the error of resolved ones.
-- opts: confidence, threshold, low_signal (read by the ledger_* operations)   arg: none
-- Records get predictions from the ledger_* operations only: add writes the predictions a
-- moving record carries (carry), move writes nothing, remove drops the record's predictions.

local function ledger_keys(tag, ix)
  local key = index_key(tag, ix)
  return key, key .. ':e'
end

-- The members of record id's predictions.
local function ledger_of(lex, id)
  return redis.call('ZRANGE', lex, '[' .. id .. '\0', '(' .. id .. '\1', 'BYLEX')
end

-- The part of a member after "<id>\0" ("<key>\0<data>"), and its key.
local function ledger_tail(member, id)
  local tail = string.sub(member, #id + 2)
  return tail, string.sub(tail, 1, string.find(tail, '\0', 1, true) - 1)
end

KINDS.ledger = {
  keys = function(tag, ix, v, wanted)
    local lex, errors = ledger_keys(tag, ix)
    wanted[lex] = 'zset'
    wanted[errors] = 'zset'
  end,
  add = function(tag, ix, id, v, arg)
    if type(arg) ~= 'table' then return end
    local lex, errors = ledger_keys(tag, ix)
    for _, p in ipairs(arg) do
      redis.call('ZADD', lex, 0, id .. '\0' .. p[1])
      if p[3] then redis.call('ZADD', errors, p[3], id .. '\0' .. p[2]) end
    end
  end,
  remove = function(tag, ix, id)
    local lex, errors = ledger_keys(tag, ix)
    for _, member in ipairs(ledger_of(lex, id)) do
      local _, key = ledger_tail(member, id)
      redis.call('ZREM', lex, member)
      redis.call('ZREM', errors, id .. '\0' .. key)
    end
  end,
  move = function() end,
  -- the predictions of a record that moves: {tail, key, error or nil} each
  carry = function(tag, ix, id)
    local lex, errors = ledger_keys(tag, ix)
    local out = {}
    for _, member in ipairs(ledger_of(lex, id)) do
      local tail, key = ledger_tail(member, id)
      out[#out + 1] = {tail, key, redis.call('ZSCORE', errors, id .. '\0' .. key) or false}
    end
    return out
  end,
}
