-- The fast path of a fresh full save, driving the straight-line functions generated for the
-- model (typedis/_codegen.py; a model whose library has FRESH = nil takes the generic steps):
--   read(argv, i, tag, id) -> r, next i   a record's field mask, texts and index arguments from
--                                         argv[i..] (as ARGV[7..] of save.lua), and the values
--                                         derived from them (keys, escaped texts)
--   check(r, tag, id, mine, claimed, wanted) -> nil | {'unique', index position}
--                                         refuses a unique value a live record holds (one in
--                                         mine, the call's ids at tag, is no conflict) or another
--                                         record of the call claimed first; adds the keys the
--                                         record writes to wanted (key -> Redis type)
--   write(r, key, tag, id, exp)           the record's hash and index entries
-- Replies and server state are the generic steps' (lua/_save.lua) for the same saves.
local function fresh_saves(read, check, write)
  return {
    -- save.lua's call (KEYS[1], ARGV) for a full save, in place, of a record that does not exist
    save = function(key, argv)
      local tag, id = argv[1], argv[2]
      local r = read(argv, 7, tag, id)
      local exp = expiry_after(argv[6], nil)
      local wanted = {[tag .. ':all'] = 'set'}
      if exp then wanted[tag .. ':exp'] = 'zset' end
      local refused = check(r, tag, id, {[id] = true}, {}, wanted)
      if refused then return refused end
      expect_types(wanted)
      write(r, key, tag, id, exp)
      return {'ok', hidden_values(key)}
    end,
    -- save_many.lua's call (KEYS, ARGV) when none of the records exists
    save_many = function(keys, argv)
      local records, tags, ids, exps = {}, {}, {}, {}
      local mine, i = {}, 1 -- mine: tag -> the batch's ids there
      for k = 1, #keys do
        local tag, id = argv[i], argv[i + 1]
        tags[k], ids[k], exps[k] = tag, id, expiry_after(argv[i + 2], nil)
        records[k], i = read(argv, i + 3, tag, id)
        local at = mine[tag]
        if not at then
          at = {}
          mine[tag] = at
        end
        at[id] = true
      end
      local wanted, claimed = {}, {}
      for tag in pairs(mine) do wanted[tag .. ':all'] = 'set' end
      for k = 1, #keys do
        local tag = tags[k]
        if exps[k] then wanted[tag .. ':exp'] = 'zset' end
        local refused = check(records[k], tag, ids[k], mine[tag], claimed, wanted)
        if refused then return {'at', k, refused} end
      end
      expect_types(wanted) -- once per distinct key of the batch
      local hidden = {}
      for k = 1, #keys do
        write(records[k], keys[k], tags[k], ids[k], exps[k])
        hidden[k] = hidden_values(keys[k])
      end
      return {'ok', hidden}
    end,
  }
end
