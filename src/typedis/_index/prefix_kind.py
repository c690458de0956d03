"""Kind ``prefix``: a lexicographic sorted set serving ``startswith()``.

Every str ``Key``, ``Indexed`` and ``Unique`` field gets one unless it says
``field(prefix_index=False)``. Key ``<tag>:l:<field>``, members ``<text>\\0<id>``, all scored 0
(record ids never hold NUL, so the last NUL ends the text).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from .. import _keys
from .._errors import QueryError
from .._markers import IndexedMarker, KeyMarker, UniqueMarker
from .._query import _conditions as c
from ._kind import AddLua, IndexKind, Records, Shape

if TYPE_CHECKING:
    from .._codegen import Fresh
    from .._query._planner import Compiler, Node
    from .._spec import FieldSpec, IndexSpec, ModelSpec


class PrefixKind(IndexKind):
    name = "prefix"
    letter = "l"
    redis_type = "zset"
    by_text = True
    conditions: ClassVar[tuple[type[c.Cond[Any]], ...]] = (c.Prefix,)
    needs = "startswith() needs a str Key, Indexed or Unique field"
    nodes = ("lex",)
    reports = ("prefix",)
    option_names: ClassVar[Mapping[str, str]] = {
        "prefix_index": "str Key, Indexed and Unique fields"
    }
    derived = True

    def accepts(self, field: FieldSpec) -> bool:
        searchable = (KeyMarker, IndexedMarker, UniqueMarker)
        return isinstance(field.marker, searchable) and field.annotation is str

    def applies(self, field: FieldSpec, shape: Shape) -> bool:
        return (
            self.accepts(field) and field.options.prefix_index and field.name not in shape.partition
        )

    def check_field(self, where: str, field: FieldSpec) -> None:
        """Nothing to refuse: it indexes the str fields that other kinds accept."""

    def add_lua(self, index: IndexSpec, fresh: Fresh) -> AddLua:
        key, text = fresh.index_key(index), fresh.text(index.fields[0])
        return AddLua(
            fresh.want(key, "zset"),
            f"if {text} then redis.call('ZADD', {key}, 0, {text} .. '\\0' .. id) end",
        )

    def compile(self, ctx: Compiler, cond: c.Cond[Any], field: FieldSpec) -> Node:
        assert isinstance(cond, c.Prefix)
        index = ctx.spec.index_of(self.name, field.name)
        if index is None:
            raise QueryError(
                f"{cond.ref!r}: startswith() needs a str Key, Indexed or Unique field with its "
                "prefix index (not field(prefix_index=False))"
            )
        return ["lex", index.suffix, cond.prefix]

    def describe(self, node: Node) -> str:
        return f"lexicographic index {node[1]} prefix {node[2]!r}"

    def entries(
        self, spec: ModelSpec, tag: str, index: IndexSpec, records: Records, now_ms: float
    ) -> Counter[Any]:
        key, name = f"{tag}:{index.suffix}", index.fields[0]
        return Counter(
            (key, _keys.prefix_member(v[name], rid)) for rid, v in records.items() if name in v
        )

    def target(self, entry: tuple[Any, ...]) -> str:
        return str(entry[1]).rpartition("\0")[2]  # '<text>\0<id>'


PREFIX = PrefixKind()
