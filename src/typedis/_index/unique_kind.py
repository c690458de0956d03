"""Kind ``unique``: a hash of value text -> record id (``Unique``, ``Index(unique=True)``).

Key ``<tag>:u:<field>`` (``<tag>:u:<f1>+<f2>``, field ``<t1>:<t2>``, for a composite index). A
record with a missing (None) part has no entry: None is never unique. The write scripts refuse
a value that another live record holds before their first write. Serves ``==``, ``!=``,
``in_`` and ``is_none()``.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, ClassVar

from .. import _keys
from .._errors import ModelError
from .._markers import UniqueMarker
from .._query import _conditions as c
from .._query._refs import FieldRef, UniqueRef
from ._kind import Held, IndexKind, Records

if TYPE_CHECKING:
    from .._query._planner import Compiler, Node
    from .._spec import FieldSpec, IndexSpec, ModelSpec


class UniqueKind(IndexKind):
    name = "unique"
    letter = "u"
    redis_type = "hash"
    markers = (UniqueMarker,)
    composite = True
    by_text = True
    conditions: ClassVar[tuple[type[c.Cond[Any]], ...]] = (c.Eq, c.In)
    nodes = ("uniq", "uniqnone")
    reports = ("unique", "composite")

    def check_field(self, where: str, field: FieldSpec) -> None:
        if not field.codec.plain or field.annotation is bytes:
            raise ModelError(
                f"{where}: Unique fields need a str, int, float, bool, Decimal, date or "
                f"datetime (optionally | None), got {field.annotation!r}"
            )

    def ref(self, field: FieldSpec) -> type[FieldRef[Any, Any]]:
        return UniqueRef

    def report(self, index: IndexSpec) -> str:
        return "composite" if len(index.fields) > 1 else "unique"

    def compile(self, ctx: Compiler, cond: c.Cond[Any], field: FieldSpec) -> Node:
        assert isinstance(cond, c.Eq | c.In)
        texts = ctx.texts(cond)
        index = ctx.index(self, field)
        held = [_keys.escape(t) for t in texts if t is not None]
        nodes: list[Node] = [["uniq", index.suffix, held]] if held else []
        if None in texts:
            nodes.append(["uniqnone", index.suffix])
        return nodes[0] if len(nodes) == 1 else ["or", nodes]

    def describe(self, node: Node) -> str:
        if node[0] == "uniqnone":
            return f"records missing from unique hash {node[1]}"
        return f"unique hash {node[1]} at {node[2]}"

    def entries(
        self, spec: ModelSpec, tag: str, index: IndexSpec, records: Records, now_ms: float
    ) -> Counter[Any]:
        key = f"{tag}:{index.suffix}"
        return Counter(
            (key, _keys.unique_field([v[f] for f in index.fields]), rid)
            for rid, v in records.items()
            if all(f in v for f in index.fields)
        )

    def check(
        self,
        spec: ModelSpec,
        tag: str,
        index: IndexSpec,
        records: Records,
        held: Held,
        now_ms: float,
    ) -> int:
        # An expired record not yet swept may keep its entry, or may have lost it to a new
        # holder of the value: its entry is allowed, not required.
        allowed = self.entries(spec, tag, index, records, now_ms)
        required = self.entries(spec, tag, index, _live(records, now_ms), now_ms)
        present = self.held(held)
        return len(required - present) + len(present - allowed)


def _live(records: Records, now_ms: float) -> Records:
    return {rid: v for rid, v in records.items() if "~exp" not in v or float(v["~exp"]) > now_ms}


UNIQUE = UniqueKind()
