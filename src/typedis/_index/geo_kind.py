"""Kind ``geo``: one geo set of record ids (``Geo``).

Key ``<tag>:g:<field>``. The client sends ``<lon>,<lat>`` for each written point ("" for None,
which leaves the index). Serves ``within()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from .._errors import ModelError
from .._markers import GeoMarker, GeoPoint
from .._query import _conditions as c
from .._query._refs import FieldRef, GeoRef
from ._kind import AddLua, Arg, IndexKind

if TYPE_CHECKING:
    from .._codegen import Fresh
    from .._query._planner import Compiler, Node
    from .._spec import FieldSpec, IndexSpec


class GeoKind(IndexKind):
    name = "geo"
    letter = "g"
    redis_type = "zset"
    markers = (GeoMarker,)
    conditions: ClassVar[tuple[type[c.Cond[Any]], ...]] = (c.Within,)
    needs = "within() needs a Geo field"
    nodes = ("geo",)
    reports = ("geo",)

    def check_field(self, where: str, field: FieldSpec) -> None:
        if field.annotation is not GeoPoint:
            raise ModelError(
                f"{where}: Geo fields need a GeoPoint (or GeoPoint | None), "
                f"got {field.annotation!r}"
            )

    def add_lua(self, index: IndexSpec, fresh: Fresh) -> AddLua:
        key, point = fresh.index_key(index), fresh.argument(index)
        return AddLua(
            fresh.want(key, "zset"), f"if {point} ~= '' then KINDS.geo.put({key}, id, {point}) end"
        )

    def argument(self, field: FieldSpec) -> Callable[[Any], Arg]:
        return _point

    def ref(self, field: FieldSpec) -> type[FieldRef[Any, Any]]:
        return GeoRef

    def compile(self, ctx: Compiler, cond: c.Cond[Any], field: FieldSpec) -> Node:
        assert isinstance(cond, c.Within)  # its arguments were checked by GeoRef.within()
        suffix = ctx.index(self, field).suffix
        return ["geo", suffix, repr(cond.lon), repr(cond.lat), repr(cond.radius), cond.unit]

    def describe(self, node: Node) -> str:
        return f"geo set {node[1]} within {node[4]} {node[5]} of lon {node[2]}, lat {node[3]}"


def _point(value: GeoPoint | None) -> str:
    return "" if value is None else f"{value.lon!r},{value.lat!r}"


GEO = GeoKind()
