"""Kind ``cooccurrence``: weighted, symmetric edges between records of one tag.

Declared by a field that holds no value (``related: Associations = field(default=None)``);
``link()`` (``typedis.memory``) adds the edges. Keys ``<tag>:e:<field>``, a sorted set of
``"<a>\\0<b>"`` members all scored 0 (each record's edges by one lexicographic range), and
``<tag>:e:<field>:w``, the same members scored by weight. Both directions of an edge are kept
with the same weight. Deleting or sweeping a record removes its edges, in both directions, in
the same script (the kinds' loop of ``lua/_lib.lua``); a record that moves to another key
starts with no edges, as its id changes. ``check_indexes()`` verifies that every edge has its
twin with the same weight, is in both keys, and joins two stored records.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as declared
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from .._defaults import Defaults
from .._markers import Marker
from .._query._refs import FieldRef
from ._kind import (
    AddLua,
    Held,
    IndexKind,
    Records,
    Stale,
    check_fractions,
    check_valueless,
    orphans,
)

if TYPE_CHECKING:
    from .._codegen import Fresh
    from .._model import Model
    from .._spec import FieldSpec, IndexSpec, ModelSpec

M = TypeVar("M", bound="Model")

# The shipped defaults; markers and link() read Defaults when they are made or called.
DECAY_FACTOR = Defaults.CO_OCCURRENCE_DECAY_FACTOR  # an edge's old weight times it at each link()
INITIAL_WEIGHT = Defaults.CO_OCCURRENCE_INITIAL_WEIGHT  # the weight link() adds by default
DECAY_PER_HOP = Defaults.CO_OCCURRENCE_DECAY_PER_HOP  # propagate(): each hop beyond the first


@dataclass(frozen=True, slots=True)
class CoOccurrence(Marker):
    """Weighted edges between records (``Annotated[None, CoOccurrence(...)]``).

    Args:
        decay: each ``link()`` sets an edge to ``old * decay + weight``, in (0, 1].
        hop_decay: ``propagate()`` multiplies scores by it at each hop beyond the first,
            in (0, 1].
    """

    kind: ClassVar[str] = "cooccurrence"
    decay: float = declared(default_factory=lambda: Defaults.CO_OCCURRENCE_DECAY_FACTOR)
    hop_decay: float = declared(default_factory=lambda: Defaults.CO_OCCURRENCE_DECAY_PER_HOP)


class CoOccurrenceRef(FieldRef[M, None]):
    """A ``CoOccurrence`` field: the edges ``link()``, ``neighbors()`` and ``propagate()`` use."""

    __slots__ = ()


class CoOccurrenceKind(IndexKind):
    name = "cooccurrence"
    per_tag = True
    letter = "e"
    redis_type = "zset"
    markers = (CoOccurrence,)
    companions = (":w",)
    reports = ("cooccurrence",)

    def add_lua(self, index: IndexSpec, fresh: Fresh) -> AddLua:
        return fresh.delegated(index)

    def check_field(self, where: str, field: FieldSpec) -> None:
        assert isinstance(field.marker, CoOccurrence)
        check_valueless(where, field, "Associations")
        check_fractions(where, field.marker, ("decay", "hop_decay"), open_low=True)

    def options(self, field: FieldSpec) -> Mapping[str, str | float]:
        marker = field.marker
        assert isinstance(marker, CoOccurrence)
        return {"decay": marker.decay, "hop_decay": marker.hop_decay}

    def ref(self, field: FieldSpec) -> type[FieldRef[Any, Any]]:
        return CoOccurrenceRef

    def check(
        self,
        spec: ModelSpec,
        tag: str,
        index: IndexSpec,
        records: Records,
        held: Held,
        now_ms: float,
    ) -> int:
        """Edges without their twin, of another weight, in one key only, or to a missing record."""
        own = f"{tag}:{index.suffix}"
        lex: Mapping[str, float] = held.get(own, {})
        weights: Mapping[str, float] = held.get(own + ":w", {})
        faults = len(lex.keys() ^ weights.keys()) + sum(1 for s in lex.values() if s != 0)
        for member, weight in weights.items():
            a, _, b = member.partition("\0")
            twin = weights.get(f"{b}\0{a}")
            if (
                a not in records
                or b not in records
                or a == b
                or twin != weight
                or not math.isfinite(weight)
                or weight <= 0
            ):
                faults += 1
        return faults

    def stale(
        self,
        spec: ModelSpec,
        tag: str,
        index: IndexSpec,
        records: Records,
        held: Held,
        now_ms: float,
    ) -> list[Stale]:
        """The edges (in both keys) to a record that is not stored."""
        own = f"{tag}:{index.suffix}"
        return orphans(held, (own, own + ":w"), records, lambda edge: edge.partition("\0")[::2])


COOCCURRENCE = CoOccurrenceKind()
