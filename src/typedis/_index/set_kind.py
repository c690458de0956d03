"""Kind ``set``: one set of record ids per value (``Indexed``, ``Link``, composite ``Index``).

Also the Key fields of a model with several free key fields, so each can be filtered alone.
Key ``<tag>:i:<field>:<text>`` (``<tag>:c:<f1>+<f2>:<t1>:<t2>`` for a composite index); a
missing value is written ``%``. Serves ``==``, ``!=``, ``in_`` and ``is_none()``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, get_args

from .. import _keys
from .._errors import ModelError
from .._markers import IndexedMarker, KeyMarker, LinkMarker
from .._query import _conditions as c
from .._query._refs import FieldRef, IndexedRef, LinkRef, OptionalLinkRef
from ._kind import AddLua, IndexKind, Records, Shape

if TYPE_CHECKING:
    from .._codegen import Fresh
    from .._query._planner import Compiler, Node
    from .._spec import FieldSpec, IndexSpec, ModelSpec


class SetKind(IndexKind):
    name = "set"
    letter = "i"
    redis_type = "set"
    markers = (IndexedMarker, LinkMarker)
    composite = True
    by_text = True
    conditions: ClassVar[tuple[type[c.Cond[Any]], ...]] = (c.Eq, c.In)
    needs = "equality needs a Key, Indexed or Unique field"
    nodes = ("set",)
    reports = ("indexed", "key", "composite")

    def applies(self, field: FieldSpec, shape: Shape) -> bool:
        if isinstance(field.marker, KeyMarker):  # one of several key fields: filterable alone
            return len(shape.free_keys) > 1 and field.name not in shape.partition
        return self.accepts(field)

    def check_field(self, where: str, field: FieldSpec) -> None:
        if isinstance(field.marker, LinkMarker):
            args = get_args(field.annotation)
            target_spec = getattr(args[0], "__typedis_spec__", None) if args else None
            if target_spec is None:
                raise ModelError(f"{where}: Link[...] and OptionalLink[...] take a typedis model")
            if target_spec.partition:
                raise ModelError(f"{where}: a link cannot point at partitioned {target_spec.name}")
        elif not field.codec.plain or field.annotation is bytes:
            raise ModelError(
                f"{where}: Indexed fields need a str, int, float, bool, Decimal, date or "
                f"datetime (optionally | None), got {field.annotation!r}"
            )

    def suffix(self, fields: tuple[str, ...]) -> str:
        letter = "i" if len(fields) == 1 else "c"
        return f"{letter}:{'+'.join(_keys.escape(f) for f in fields)}:"

    def add_lua(self, index: IndexSpec, fresh: Fresh) -> AddLua:
        parts = " .. ':' .. ".join(f"({fresh.escaped(f)} or '%')" for f in index.fields)
        key = fresh.derive(f"{fresh.key_prefix(index)} .. {parts}")
        return AddLua(fresh.want(key, "set"), f"redis.call('SADD', {key}, id)")

    def ref(self, field: FieldSpec) -> type[FieldRef[Any, Any]]:
        if isinstance(field.marker, LinkMarker):
            return OptionalLinkRef if field.nullable else LinkRef
        return IndexedRef

    def report(self, index: IndexSpec) -> str:
        if len(index.fields) > 1:
            return "composite"
        return "key" if index.source == "key" else "indexed"

    def compile(self, ctx: Compiler, cond: c.Cond[Any], field: FieldSpec) -> Node:
        assert isinstance(cond, c.Eq | c.In)
        texts = ctx.texts(cond)
        index = ctx.index(self, field)
        sets: list[Node] = [["set", _keys.set_index_suffix(index.suffix, [t])] for t in texts]
        return sets[0] if len(sets) == 1 else ["or", sets]

    def describe(self, node: Node) -> str:
        return f"set {node[1]}"

    def stored_keys(self, tag: str, index: IndexSpec, keys: Iterable[str]) -> list[str]:
        prefix = f"{tag}:{index.suffix}"
        return [k for k in keys if k.startswith(prefix)]

    def entries(
        self, spec: ModelSpec, tag: str, index: IndexSpec, records: Records, now_ms: float
    ) -> Counter[Any]:
        return Counter(
            (_keys.set_index(tag, index.suffix, [v.get(f) for f in index.fields]), rid)
            for rid, v in records.items()
        )


SET = SetKind()
