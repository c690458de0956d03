"""Kind ``decay``: a sorted set of ids scored by when the value last changed (``Decaying``).

Key ``<tag>:z:<field>``; the score is the server's clock, in seconds, at the write that changed
the value (the client sends nothing), carried along when the record moves to another key. The
field's decay rate is the index's ``rate`` option. Orders query results (newest first with
``desc()``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from .._errors import ModelError
from .._markers import DecayingMarker
from .._query._refs import DecayRef, FieldRef
from ._kind import IndexKind

if TYPE_CHECKING:
    from .._spec import FieldSpec

DEFAULT_RATE = 0.1


class DecayKind(IndexKind):
    name = "decay"
    letter = "z"
    redis_type = "zset"
    markers = (DecayingMarker,)
    orders = True
    reports = ("sorted",)
    option_names: ClassVar[Mapping[str, str]] = {"rate": "Decaying fields"}

    def check_field(self, where: str, field: FieldSpec) -> None:
        if field.annotation not in (int, float):
            raise ModelError(f"{where}: Decaying fields need an int or float base score")
        rate = rate_of(field)
        if not rate > 0:
            raise ModelError(f"{where}: the decay rate must be > 0, got {rate}")

    def options(self, field: FieldSpec) -> Mapping[str, str | float]:
        return {"rate": rate_of(field)}

    def ref(self, field: FieldSpec) -> type[FieldRef[Any, Any]]:
        return DecayRef


def rate_of(field: FieldSpec) -> float:
    """A Decaying field's rate (``field(rate=...)``, default 0.1)."""
    return DEFAULT_RATE if field.options.rate is None else field.options.rate


DECAY = DecayKind()
