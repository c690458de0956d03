"""The extension points, used from outside the package: a new index kind and a model operation.

The kind ``length`` (a sorted set of ids scored by the byte length of a str field, computed on
the server) brings its own marker (with an option, ``scale``, read by its Lua), reference class,
query condition and node, Lua and health check; no typedis module changes for it. The operation
``rename`` sets one field of a stored record in one atomic script, checking first, and keeps
every index in step through the kinds' loops of ``lua/_lib.lua``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TypeVar

import pytest
import redis

from typedis import Indexed, Key, Model, NotFound, _index, _lua, _scripts
from typedis._index import IndexKind, Records
from typedis._markers import Marker
from typedis._query._conditions import Cond
from typedis._query._refs import FieldRef

if TYPE_CHECKING:
    from typedis._query._planner import Compiler, Node
    from typedis._spec import FieldSpec, IndexSpec, ModelSpec

M = TypeVar("M", bound=Model)


@dataclass(frozen=True, slots=True)
class LengthMarker(Marker):
    kind: ClassVar[str] = "length"
    scale: float = 1.0  # an option of the kind, carried to the server


Length = Annotated[str, LengthMarker()]


@dataclass(frozen=True, slots=True, eq=False)
class Longer(Cond[M]):
    ref: FieldRef[M, Any]
    than: int


class LengthRef(FieldRef[M, str]):
    __slots__ = ()

    def longer_than(self, n: int) -> Cond[M]:
        return Longer(self, n)


LENGTH_LUA = """
-- Index kind "length": a sorted set of ids scored by the byte length of the value.
local function put(tag, ix, id, v)
  local t = v[ix.fields[1]]
  if t then redis.call('ZADD', index_key(tag, ix), #t * ix.opts.scale, id) end
end
KINDS.length = {
  keys = one_key('zset'),
  add = function(tag, ix, id, v) put(tag, ix, id, v) end,
  remove = function(tag, ix, id) redis.call('ZREM', index_key(tag, ix), id) end,
  move = function(tag, ix, id, old, new)
    if new[ix.fields[1]] == nil then redis.call('ZREM', index_key(tag, ix), id) end
    put(tag, ix, id, new)
  end,
}
NODES.longer = function(node, key, scratch)
  local out = scratch()
  redis.call('ZRANGESTORE', out, key(node[2]), '(' .. node[3], '+inf', 'BYSCORE')
  return out
end
"""


class LengthKind(IndexKind):
    name = "length"
    letter = "n"
    redis_type = "zset"
    markers = (LengthMarker,)
    conditions: ClassVar[tuple[type[Cond[Any]], ...]] = (Longer,)
    nodes = ("longer",)
    reports = ("length",)
    checks_scores = True

    def check_field(self, where: str, field: FieldSpec) -> None:
        if field.annotation is not str:
            raise TypeError(f"{where}: Length fields need a str")

    def ref(self, field: FieldSpec) -> type[FieldRef[Any, Any]]:
        return LengthRef

    def options(self, field: FieldSpec) -> Mapping[str, str | float]:
        assert isinstance(field.marker, LengthMarker)
        return {"scale": field.marker.scale}

    def compile(self, ctx: Compiler, cond: Cond[Any], field: FieldSpec) -> Node:
        assert isinstance(cond, Longer)
        return ["longer", ctx.index(self, field).suffix, str(int(cond.than))]

    def describe(self, node: Node) -> str:
        return f"length index {node[1]} above {node[2]}"

    def entries(
        self, spec: ModelSpec, tag: str, index: IndexSpec, records: Records, now_ms: float
    ) -> Counter[Any]:
        key, name = f"{tag}:{index.suffix}", index.fields[0]
        scale = float(index.options["scale"])
        return Counter(
            (key, rid, len(v[name].encode()) * scale) for rid, v in records.items() if name in v
        )

    def lua(self) -> str:
        return LENGTH_LUA


LENGTH = _index.register(LengthKind())

RENAME = _lua.operation(
    "test_rename",
    """
-- KEYS[1]: record hash   ARGV[1]: tag   ARGV[2]: id   ARGV[3]: field   ARGV[4]: new text
-- returns: {"ok"} | {"missing"} (no live record; nothing written)
local spec = SPEC
local tag, id, field, text = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
expect_type(KEYS[1], 'hash')
local old, live = read_record(KEYS[1])
if not live then return {'missing'} end
local new = {}
for f, t in pairs(old) do new[f] = t end
new[field] = text
local clash = conflict(spec, tag, old, new, {[id] = true})
if clash then return {'unique', clash} end
expect_types(index_keys(spec, tag, new, index_keys(spec, tag, old, {})))
redis.call('HSET', KEYS[1], field, text)
reindex(spec, tag, id, old, new, {}, {[field] = true})
return {'ok'}
""",
)


def rename_call(record: Model, field: str, text: str) -> _scripts.Call[None]:
    spec = record.__typedis_spec__
    tag, rid = spec.locate(vars(record))

    def done(reply: list[bytes]) -> None:
        if reply[0] != b"ok":
            raise NotFound(f"{spec.name}({rid!r}) is not stored")
        object.__setattr__(record, field, text)

    function = _lua.library(spec).function("test_rename")
    return _scripts.Call(function, (record.redis_key,), (tag, rid, field, text), done, write=True)


class ExtNote(Model):
    name: Key[str]
    title: Length
    topic: Indexed[str] = "general"


class ExtScaled(Model):
    name: Key[str]
    title: Annotated[str, LengthMarker(scale=0.5)]


def test_a_registered_kind_is_part_of_the_model() -> None:
    spec = ExtNote.__typedis_spec__
    assert [(ix.kind, ix.fields) for ix in spec.indexes if ix.kind is LENGTH] == [
        (LENGTH, ("title",))
    ]
    assert isinstance(ExtNote.title, LengthRef)
    assert "KINDS.length" in _lua.library(spec).source
    assert "length" in ExtNote.check_indexes()


def test_a_registered_kind_is_written_queried_and_checked(redis_client: redis.Redis) -> None:
    ExtNote(name="a", title="hi").save()
    ExtNote(name="b", title="hello there").save()
    c = ExtNote(name="c", title="élan").save()  # 5 bytes
    key = "{td:ExtNote}:n:title"
    assert redis_client.zrange(key, 0, -1, withscores=True) == [
        (b"a", 2.0),
        (b"c", 5.0),
        (b"b", 11.0),
    ]
    # (for the type checkers, a kind shipped as a package gives its marker a descriptor
    # under TYPE_CHECKING, as typedis._markers does for the built-in ones)
    longer = ExtNote.query.filter(ExtNote.title.longer_than(4))
    assert sorted(n.name for n in longer.all()) == ["b", "c"]
    assert "length index n:title above 4" in longer.explain()
    c.title = "é"
    c.save()
    assert redis_client.zscore(key, "c") == 2.0
    assert sorted(n.name for n in longer.all()) == ["b"]
    ExtNote.load("b").delete()
    assert redis_client.zrange(key, 0, -1) == [b"a", b"c"]
    assert ExtNote.check_indexes()["total"] == 0
    redis_client.zadd(key, {"a": 99})
    assert ExtNote.check_indexes()["length"] == 2  # a wrong score: one missing, one extra entry


def test_a_kind_option_reaches_the_server(redis_client: redis.Redis) -> None:
    ExtScaled(name="a", title="four").save()
    assert redis_client.zscore("{td:ExtScaled}:n:title", "a") == 2.0
    assert ExtScaled.check_indexes()["total"] == 0


def test_a_registered_operation_runs_atomically_through_the_kinds(
    redis_client: redis.Redis,
) -> None:
    note = ExtNote(name="a", title="hi", topic="x").save()
    _scripts.run(rename_call(note, "title", "a longer title"))
    _scripts.run(rename_call(note, "topic", "y"))
    assert ExtNote.load("a").title == "a longer title" and note.topic == "y"
    assert redis_client.zscore("{td:ExtNote}:n:title", "a") == 14.0
    assert ExtNote.query.filter(ExtNote.topic == "y").count() == 1
    assert ExtNote.query.filter(ExtNote.topic == "x").count() == 0
    assert ExtNote.check_indexes()["total"] == 0
    ghost = ExtNote(name="ghost", title="t")
    before = redis_client.dbsize()
    with pytest.raises(NotFound):
        _scripts.run(rename_call(ghost, "title", "x"))
    assert redis_client.dbsize() == before  # checked first: nothing written


def test_a_registered_operation_is_a_model_function_sent_as_a_write() -> None:
    note = ExtNote(name="a", title="hi")
    call = rename_call(note, "title", "x")
    library = _lua.library(ExtNote.__typedis_spec__)
    assert call.code == library.function("test_rename")
    assert call.write  # the writer client: sent once, a lost reply raises OutcomeUnknown
    assert library.function("save").library == library.name  # one library for all operations
