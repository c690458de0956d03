"""Kind ``sorted``: one sorted set of record ids scored by value (``Sorted``, ``Confidence``).

Key ``<tag>:z:<field>``. The client sends each written value's score (numbers as they are,
dates as days and datetimes as seconds since the epoch; "" for None, which leaves the index).
Serves ranges and ``is_none()``, and orders query results.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from .._errors import ModelError, QueryError
from .._markers import ConfidenceMarker, Marker, SortedMarker
from .._query import _conditions as c
from .._query._refs import ConfidenceRef, FieldRef, SortedRef
from ._kind import AddLua, Arg, IndexKind, Records

if TYPE_CHECKING:
    from .._codegen import Fresh
    from .._query._planner import Compiler, Node
    from .._spec import FieldSpec, IndexSpec, ModelSpec

_RANKABLE = (int, float, Decimal, date, datetime)


class SortedKind(IndexKind):
    name = "sorted"
    letter = "z"
    redis_type = "zset"
    markers: ClassVar[tuple[type[Marker], ...]] = (SortedMarker, ConfidenceMarker)
    orders = True
    checks_scores = True
    conditions: ClassVar[tuple[type[c.Cond[Any]], ...]] = (c.Range,)
    needs = "ranges need a Sorted field"
    nodes = ("range",)
    reports = ("sorted",)

    def check_field(self, where: str, field: FieldSpec) -> None:
        base = field.annotation
        if base is bool or base not in _RANKABLE:
            raise ModelError(
                f"{where}: Sorted fields need a numeric or date type (int, float, Decimal, date, "
                f"datetime), got {getattr(base, '__name__', base)}"
            )

    def add_lua(self, index: IndexSpec, fresh: Fresh) -> AddLua:
        key, score = fresh.index_key(index), fresh.argument(index)
        write = f"if {score} ~= '' then redis.call('ZADD', {key}, {score}, id) end"
        return AddLua(fresh.want(key, "zset"), write)

    def argument(self, field: FieldSpec) -> Callable[[Any], Arg]:
        score = field.codec.score
        assert score is not None  # check_field admits rankable types only
        return lambda v: "" if v is None else score(v)

    def ref(self, field: FieldSpec) -> type[FieldRef[Any, Any]]:
        return ConfidenceRef if isinstance(field.marker, ConfidenceMarker) else SortedRef

    def compile(self, ctx: Compiler, cond: c.Cond[Any], field: FieldSpec) -> Node:
        assert isinstance(cond, c.Range)
        score = field.codec.score
        if score is None:
            raise QueryError(f"{cond.ref!r}: ranges need a Sorted field")

        def bound(value: Any, open_: bool, infinite: str) -> str:
            if value is None:
                return infinite
            number = repr(score(ctx.validated(cond.ref, value)))
            return f"({number}" if open_ else number

        return [
            "range",
            ctx.index(self, field).suffix,
            bound(cond.low, cond.low_open, "-inf"),
            bound(cond.high, cond.high_open, "+inf"),
        ]

    def describe(self, node: Node) -> str:
        return f"sorted set {node[1]} scores {node[2]}..{node[3]}"

    def entries(
        self, spec: ModelSpec, tag: str, index: IndexSpec, records: Records, now_ms: float
    ) -> Counter[Any]:
        key = f"{tag}:{index.suffix}"
        name = index.fields[0]
        score = spec.fields[name].codec.score
        parse = spec.validator(name).validate_python
        assert score is not None
        return Counter((key, rid, score(parse(v[name]))) for rid, v in records.items() if name in v)


SORTED = SortedKind()
