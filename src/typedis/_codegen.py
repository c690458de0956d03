"""Straight-line Lua generated from a model's spec: the fast path of a fresh full save.

A save of a record that is not stored (the common insert, and every ``save_many`` batch of new
records) needs none of the generic save steps' work (``lua/_save.lua``): no old values to merge,
no entries to move. For a model whose index kinds all generate their Lua
(``IndexKind.add_lua``), the library gets three functions written for its layout: ``read``
takes one record's texts and index arguments from ARGV by position and computes each derived
value (an index key, an escaped text) once; ``check`` refuses a unique value another live
record holds and lists the keys the record writes; ``write`` makes the writes. ``lua/_fresh.lua``
drives them as ``FRESH.save`` and ``FRESH.save_many``, which ``lua/save.lua`` and
``lua/save_many.lua`` call, in the same function call, when the record (every record of the
batch) does not exist; otherwise, or for a model whose library has ``FRESH = nil``, the generic
steps run. Both leave the same server state.

Pure: nothing here talks to Redis.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import TYPE_CHECKING

from ._index import AddLua

if TYPE_CHECKING:
    from ._spec import IndexSpec, ModelSpec

_STRAIGHT = 60  # up to this many fields, a record of no None is read and written without a mask
# or a table (a Lua call takes at most about 250 arguments)
_DECLINED = "local FRESH = nil -- this model's saves take the generic steps (_codegen)\n"


def fast_path(spec: ModelSpec) -> bool:
    """Whether a model's fresh saves take the generated straight-line Lua.

    They do when every index kind of the model generates its Lua (``IndexKind.add_lua``); a
    kind that does not, or an abstract model, leaves every save on the generic steps.
    """
    return _generated(spec) is not None


def functions(spec: ModelSpec) -> str:
    """The library part defining ``FRESH``: the generated fast path, or nil (``fast_path``)."""
    return _generated(spec) or _DECLINED


class Fresh:
    """The Lua names of one record saved fresh, which a kind's ``add_lua`` writes against.

    The generated functions see ``tag`` and ``id`` (where the record goes) and the record's
    table ``r``: ``r[p]`` holds the text of the p-th stored field (nil for None), then come the
    indexes' save-time arguments, then the derived values (``derive``), each computed once per
    record when it is read.
    """

    tag = "tag"
    id = "id"

    def __init__(self, spec: ModelSpec) -> None:
        self._fields = {name: p for p, name in enumerate(spec.stored, 1)}
        self._positions = {id(ix): p for p, ix in enumerate(spec.indexes, 1)}
        taking = [ix for ix in spec.indexes if _takes_argument(spec, ix)]
        self._arguments = {id(ix): len(self._fields) + k for k, ix in enumerate(taking, 1)}
        self.derived: list[str] = []  # the derived values' expressions, in slot order
        self._slots: dict[str, str] = {}

    def text(self, field: str) -> str:
        """The field's stored text (nil for None)."""
        return f"r[{self._fields[field]}]"

    def argument(self, index: IndexSpec) -> str:
        """The index's save-time argument (its kind's ``argument``)."""
        return f"r[{self._arguments[id(index)]}]"

    def index(self, index: IndexSpec) -> str:
        """The index's entry of the library's ``SPEC.idx`` (what the kind's Lua functions take)."""
        return f"IX[{self._positions[id(index)]}]"

    def position(self, index: IndexSpec) -> int:
        """The index's 1-based position in the spec (a refusal names it)."""
        return self._positions[id(index)]

    def index_key(self, index: IndexSpec) -> str:
        """The index's key (``<tag>:<suffix>``), computed once per record."""
        return self.derive(self.key_prefix(index))

    def key_prefix(self, index: IndexSpec) -> str:
        """An expression of the index's key (``<tag>:<suffix>``), for a kind that appends to it."""
        return f"tag .. ':' .. {self.index(index)}.suffix"

    def escaped(self, field: str) -> str:
        """The field's text escaped as a part of a key (``esc``; nil for None), computed once."""
        text = self.text(field)
        return self.derive(f"{text} and esc({text})")

    def derive(self, expression: str) -> str:
        """A value computed once per record from ``expression`` (the same one shares it)."""
        slot = self._slots.get(expression)
        if slot is None:
            n = len(self._fields) + len(self._arguments) + len(self.derived) + 1
            slot = self._slots[expression] = f"r[{n}]"
            self.derived.append(expression)
        return slot

    def delegated(self, index: IndexSpec) -> AddLua:
        """The entry written by the kind's own Lua (``KINDS.<name>.keys`` and ``add``), given the
        record's values of the index's fields: for a kind without a constraint whose entry
        needs no straight-line Lua of its own (the writes are the generic steps' for a record
        not stored)."""
        ix = self.index(index)
        kind = f"KINDS.{index.kind.name}"
        pairs = (f"[{ix}.fields[{k}]] = {self.text(f)}" for k, f in enumerate(index.fields, 1))
        values = self.derive("{" + ", ".join(pairs) + "}")
        argument = self.argument(index) if id(index) in self._arguments else "nil"
        return AddLua(
            f"{kind}.keys(tag, {ix}, {values}, wanted, id, {argument})",
            f"{kind}.add(tag, {ix}, id, {values}, {argument})",
        )

    @staticmethod
    def want(key: str, redis_type: str) -> str:
        """The statement listing a key the entry writes, with the Redis type it must hold."""
        return f"wanted[{key}] = '{redis_type}'\n"


def _takes_argument(spec: ModelSpec, index: IndexSpec) -> bool:
    """Whether the client sends an argument for the index at save time (``ModelSpec.arguments``)."""
    return index.kind.argument(spec.fields[index.fields[0]]) is not None


@functools.cache
def _generated(spec: ModelSpec) -> str | None:
    if spec.abstract:
        return None
    fresh = Fresh(spec)
    entries: list[tuple[IndexSpec, AddLua]] = []
    for index in spec.indexes:
        lua = index.kind.add_lua(index, fresh)
        if lua is None:
            return None
        entries.append((index, lua))
    claims = [(index, lua.claim, fresh.index_key(index)) for index, lua in entries if lua.claim]
    return "\n".join(
        [
            "local FRESH",
            "do",
            "local F, IX = SPEC.fields, SPEC.idx",
            _source(),
            _read(spec, fresh),
            _check(fresh, entries, claims),
            _write(spec, entries),
            "FRESH = fresh_saves(read, check, write)",
            "end\n",
        ]
    )


def _read(spec: ModelSpec, fresh: Fresh) -> str:
    n = len(spec.stored)
    lines = ["local function read(argv, i, tag, id)", "  local m, r = argv[i], {}"]
    if n <= _STRAIGHT:  # every field written (no None): the texts in order, no mask to read
        lines.append(f"  if m == '{'w' * n}' then")
        lines += (f"    r[{p}] = argv[i + {p}]" for p in range(1, n + 1))
        lines += [f"    i = i + {n + 1}", "    r.all = true", "  else"]
    lines += ["    local byte = string.byte", "    i = i + 1"]
    lines += (  # "w": its text follows; "n": None
        f"    if byte(m, {p}) == 119 then r[{p}] = argv[i]; i = i + 1 end" for p in range(1, n + 1)
    )
    if n <= _STRAIGHT:
        lines.append("  end")
    count = sum(_takes_argument(spec, ix) for ix in spec.indexes)  # a full save sends each
    lines += (f"  r[{n + 1 + k}] = argv[i + {k}]" for k in range(count))
    lines += (f"  r[{n + 1 + count + k}] = {expr}" for k, expr in enumerate(fresh.derived))
    lines += [f"  return r, i + {count}", "end"]
    return "\n".join(lines)


def _check(
    fresh: Fresh, entries: list[tuple[IndexSpec, AddLua]], claims: list[tuple[IndexSpec, str, str]]
) -> str:
    lines = ["local function check(r, tag, id, mine, claimed, wanted)"]
    for index, lua in entries:  # the first index (spec order) whose constraint breaks
        if lua.conflict:
            refusal = f"return {{'unique', {fresh.position(index)}}}"
            lines.append(f"  if {lua.conflict} then {refusal} end")
    for index, claim, key in claims:  # then the values another record of the call claimed
        refusal = f"return {{'unique', {fresh.position(index)}}}"
        lines += [
            "  do",
            f"    local c = {claim}",
            "    if c then",
            f"      c = {key} .. '\\0' .. c",
            f"      if claimed[c] and claimed[c] ~= id then {refusal} end",
            "      claimed[c] = id",
            "    end",
            "  end",
        ]
    lines += (_indent(lua.keys) for _, lua in entries)
    lines += ["  return nil", "end"]
    return "\n".join(lines)


def _write(spec: ModelSpec, entries: list[tuple[IndexSpec, AddLua]]) -> str:
    n = len(spec.stored)
    lines = ["local function write(r, key, tag, id, exp)"]
    if n <= _STRAIGHT:  # the hash as the generic steps write it
        pairs = ", ".join(f"F[{p}], r[{p}]" for p in range(1, n + 1))
        lines += [
            "  if r.all and exp then",
            f"    redis.call('HSET', key, {pairs}, EXP, exp)",
            "  elseif r.all then",
            f"    redis.call('HSET', key, {pairs})",
            "  else",
        ]
    lines.append("    local h, n = {}, 0")
    lines += (
        f"    if r[{p}] then h[n + 1] = F[{p}]; h[n + 2] = r[{p}]; n = n + 2 end"
        for p in range(1, n + 1)
    )
    lines += [
        "    if exp then h[n + 1] = EXP; h[n + 2] = exp; n = n + 2 end",
        "    redis.call('HSET', key, unpack(h, 1, n))",
    ]
    if n <= _STRAIGHT:
        lines.append("  end")
    lines += [
        *(_indent(lua.write) for _, lua in entries),
        "  redis.call('SADD', tag .. ':all', id)",
        "  if exp then redis.call('ZADD', tag .. ':exp', exp, id) end",
        "end",
    ]
    return "\n".join(lines)


def _indent(source: str) -> str:
    return "\n".join("  " + line for line in source.strip("\n").splitlines())


@functools.cache
def _source() -> str:
    return (resources.files("typedis") / "lua" / "_fresh.lua").read_text()
