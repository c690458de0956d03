-- Write back the exported state of records of one partition, for RedisMemory.restore (after
-- the records themselves were saved; a step of up to 200 records): their hidden "~" fields, the co-occurrence edges between
-- them and their ledger's predictions, keeping every index in step. A hidden field that is the
-- touch time of a touchable kind (a Decaying or CyclicDecay field's "~t:<field>") is set by the
-- kind's touch() at that time, which moves its index entries (the kinds that hear of touches,
-- a change log, do); any other hidden field is written as it is (no index reads it).
-- KEYS[1..n]: the record hashes
-- ARGV[1]: tag   ARGV[2]: JSON {"records": [[id, [name, value, name, value...]]...] (KEYS'
--   order; a record named only as an edge's end has no fields), "edges": [[index position,
--   a, b, weight text]...], "predictions": [[index position, id, "<key>\0<data>", key, error
--   text or null]...]}; edges and predictions name only these records; numbers are texts (no
--   rounding on the way)
-- returns: {"ok"} | {"missing", id} (a record is not live: nothing written)
local spec, tag = SPEC, ARGV[1]
local state = cjson.decode(ARGV[2])
local values = {}
for k, key in ipairs(KEYS) do
  expect_type(key, 'hash')
  local v, live = read_record(key)
  local id = state.records[k][1]
  if not live then return {'missing', id} end
  values[id] = v
  local after = {} -- the values with the restored hidden ones: the keys a touch writes
  for name, value in pairs(v) do after[name] = value end
  local flat = state.records[k][2]
  for i = 1, #flat, 2 do after[flat[i]] = flat[i + 1] end
  expect_types(index_keys(spec, tag, after, index_keys(spec, tag, v, {})))
end
local stamps = {} -- hidden field name -> position of the touchable index it is the clock of
for pos, ix in ipairs(spec.idx) do
  if KINDS[ix.kind].touch then stamps['~t:' .. esc(ix.fields[1])] = pos end
end
for k, key in ipairs(KEYS) do
  local id, flat = state.records[k][1], state.records[k][2]
  for i = 1, #flat, 2 do
    local name, value = flat[i], flat[i + 1]
    local pos = stamps[name]
    local v = values[id]
    if pos and v[spec.idx[pos].fields[1]] then
      local ix = spec.idx[pos]
      KINDS[ix.kind].touch(tag, ix, id, v, tonumber(value))
      v[name] = value
      for _, other in ipairs(spec.idx) do
        local heard = KINDS[other.kind].touched
        if heard then heard(tag, other, id, v, ix.fields[1]) end
      end
    elseif not pos then
      redis.call('HSET', key, name, value)
    end
  end
end
for _, e in ipairs(state.edges) do
  local lex = index_key(tag, spec.idx[e[1]])
  local ab, ba = e[2] .. '\0' .. e[3], e[3] .. '\0' .. e[2]
  redis.call('ZADD', lex .. ':w', e[4], ab, e[4], ba)
  redis.call('ZADD', lex, 0, ab, 0, ba)
end
for _, p in ipairs(state.predictions) do
  local ix = spec.idx[p[1]]
  local err = p[5] ~= cjson.null and p[5] or false
  KINDS[ix.kind].add(tag, ix, p[2], values[p[2]], {{p[3], p[4], err}})
end
return {'ok'}
