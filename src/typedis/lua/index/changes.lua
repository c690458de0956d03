-- Index kind "changes": the model's change log, a stream (typedis/_index/changes_kind.py).
-- key: <tag>:changes   fields: all of the model's   opts: maxlen (0: none), trim ('~' or '=')
-- Each write appends one entry per record it changes: ~op (create, update, delete, touch),
-- ~id, ~changed (the changed fields, space separated), then each field holding a value of the
-- record after the write, with its stored text.
local function append(tag, ix, op, id, changed, v)
  local entry = {'~op', op, '~id', id, '~changed', table.concat(changed, ' ')}
  if v then
    for _, f in ipairs(ix.fields) do
      if v[f] then
        entry[#entry + 1] = f
        entry[#entry + 1] = v[f]
      end
    end
  end
  local key = index_key(tag, ix)
  if ix.opts.maxlen > 0 then
    redis.call('XADD', key, 'MAXLEN', ix.opts.trim, string.format('%d', ix.opts.maxlen), '*',
      unpack(entry))
  else
    redis.call('XADD', key, '*', unpack(entry))
  end
end

KINDS.changes = {
  journal = true, -- it logs writes, not values: rebuild_indexes() does not replay it
  keys = one_key('stream'),
  add = function(tag, ix, id, v)
    local present = {}
    for _, f in ipairs(ix.fields) do
      if v[f] then present[#present + 1] = f end
    end
    append(tag, ix, 'create', id, present, v)
  end,
  remove = function(tag, ix, id) append(tag, ix, 'delete', id, {}, nil) end,
  move = function(tag, ix, id, old, new)
    local changed = {}
    for _, f in ipairs(ix.fields) do
      if old[f] ~= new[f] then changed[#changed + 1] = f end
    end
    append(tag, ix, 'update', id, changed, new)
  end,
  touched = function(tag, ix, id, v, field) append(tag, ix, 'touch', id, {field}, v) end,
}
