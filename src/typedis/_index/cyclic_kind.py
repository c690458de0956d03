"""Kind ``cyclic``: a ``CyclicDecay`` field's score is decay + cyclical resonance + pressure.

Stored form: the field holds the base value; hidden fields of the record's hash hold the rest,
so it moves with a key migration and goes with delete, expiry and the sweep:

* ``~t:<field>``: the touch time (epoch ms): the write that last changed the value, or
  ``touch()`` (as a ``Decaying`` field's);
* ``~cy:r:<field>``: when pressure was last resolved (epoch ms; set when the record first gets
  a value, then by ``resolve_pressure``);
* ``~cy:a:<field>``: the record's cycle amplitudes, comma-separated, one per declared cycle
  (absent: the declared amplitudes; set by ``strengthen_cycle`` / ``weaken_cycle``).

At time ``t`` (days since the Unix epoch), with ``d`` the days since the touch and ``r`` the
days since the last resolution::

    score = base * e^(-rate * d)
          + sum(amplitude_i * cos(2 * pi * (t - phase_i) / period_i))
          + pressure_rate * r

The sorted set ``<tag>:y:<field>`` scores each record by its base (``asc()``/``desc()`` order by
the base); ``ORDERS.cyclic`` ranks by the score at a time, visiting every record of the field
(resonance and pressure reorder records as time passes).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, TypeVar, cast

from .. import _keys
from .._errors import ModelError
from .._markers import Marker
from .._query._refs import DecayRef, FieldRef
from ._kind import AddLua, IndexKind, Records

if TYPE_CHECKING:
    from .._codegen import Fresh
    from .._model import Model
    from .._spec import FieldSpec, IndexSpec, ModelSpec

M = TypeVar("M", bound="Model")
T = TypeVar("T")

DEFAULT_RATE = 0.1  # per day, as a Decaying field's
MAX_AMPLITUDE = 100.0
SNAP_BELOW = 0.01  # an amplitude scaled below this becomes 0
DAY_MS = 86_400_000


class TemporalPeriod:
    """Cycle periods, in days (the unit of ``Cycle.period`` and ``Cycle.phase``)."""

    HOURLY: ClassVar[float] = 1 / 24
    DAILY: ClassVar[float] = 1.0
    WEEKLY: ClassVar[float] = 7.0
    MONTHLY: ClassVar[float] = 365.2425 / 12  # the mean Gregorian month
    QUARTERLY: ClassVar[float] = 365.2425 / 4
    YEARLY: ClassVar[float] = 365.2425


class Cycle(NamedTuple):
    """One cycle of a ``CyclicDecay`` field: it adds ``amplitude * cos(2π (t - phase) / period)``.

    ``period`` and ``phase`` are in days, ``t`` counted from the Unix epoch (1970-01-01 UTC): a
    daily cycle with phase 9/24 peaks at 09:00 UTC every day.
    """

    period: float
    amplitude: float
    phase: float = 0.0


@dataclass(frozen=True, slots=True)
class CyclicDecay(Marker):
    """A number whose score decays, resonates with cycles and grows with unresolved pressure.

    ``Annotated[float, CyclicDecay(cycles=[Cycle(TemporalPeriod.DAILY, 1.0, 0.375)],
    pressure_rate=0.5)]``; ``CyclicDecaying[float]`` for the defaults.

    Args:
        cycles: ``(period, amplitude, phase)`` triples (``Cycle``); periods > 0 in days,
            amplitudes in [0, 100], phases in days.
        pressure_rate: score added per day since the pressure was last resolved (>= 0).
        rate: the exponential decay rate of the base, per day (> 0).
    """

    kind: ClassVar[str] = "cyclic_decay"
    cycles: Sequence[Cycle | tuple[float, float, float]] = ()
    pressure_rate: float = 0.0
    rate: float = DEFAULT_RATE

    def __post_init__(self) -> None:
        given = cast(object, self.cycles)
        if isinstance(given, Iterable) and not isinstance(given, str | bytes):
            items = list(cast(Iterable[object], given))
            if all(isinstance(c, tuple) and len(cast(tuple[object, ...], c)) == 3 for c in items):
                triples = cast(list[tuple[Any, Any, Any]], items)
                object.__setattr__(self, "cycles", tuple(Cycle(*c) for c in triples))


class CyclicRef(DecayRef[M, T]):
    """A ``CyclicDecay`` field. ``decayed(at)`` (and ``top_by_decay``) order by the full score
    (decay + resonance + pressure); ``asc()``/``desc()`` by the base value."""

    __slots__ = ()


class CyclicKind(IndexKind):
    name = "cyclic"
    letter = "y"
    redis_type = "zset"
    markers = (CyclicDecay,)
    orders = True
    checks_scores = True
    touchable = True
    reports = ("sorted",)

    def add_lua(self, index: IndexSpec, fresh: Fresh) -> AddLua:
        return fresh.delegated(index)

    def check_field(self, where: str, field: FieldSpec) -> None:
        if field.annotation not in (int, float):
            raise ModelError(f"{where}: CyclicDecay fields need an int or float base value")
        marker = field.marker
        assert isinstance(marker, CyclicDecay)
        rate, pressure = cast(object, marker.rate), cast(object, marker.pressure_rate)
        if not _number(rate) or not cast(float, rate) > 0:
            raise ModelError(
                f"{where}: CyclicDecay(rate=...) must be a finite number > 0, got {rate!r}"
            )
        if not _number(pressure) or not cast(float, pressure) >= 0:
            raise ModelError(
                f"{where}: CyclicDecay(pressure_rate=...) must be a finite number >= 0, "
                f"got {pressure!r}"
            )
        for cycle in cast(Iterable[object], marker.cycles):
            if not isinstance(cycle, Cycle) or not all(_number(x) for x in cycle):
                raise ModelError(
                    f"{where}: CyclicDecay(cycles=...) takes (period, amplitude, phase) triples "
                    f"of finite numbers, got {cycle!r}"
                )
            if not cycle.period > 0 or not 0 <= cycle.amplitude <= MAX_AMPLITUDE:
                raise ModelError(
                    f"{where}: a cycle needs a period > 0 and an amplitude in [0, 100], got "
                    f"{cycle!r}"
                )

    def options(self, field: FieldSpec) -> Mapping[str, str | float]:
        marker = marker_of(field)
        return {
            "rate": float(marker.rate),
            "pressure_rate": float(marker.pressure_rate),
            "cycles": ";".join(",".join(repr(float(x)) for x in c) for c in cycles_of(marker)),
        }

    def hidden(self, index: IndexSpec) -> tuple[str, ...]:
        name = index.fields[0]
        return (touched(name), resolved(name), amplitudes(name))

    def ref(self, field: FieldSpec) -> type[FieldRef[Any, Any]]:
        return CyclicRef

    def order(self, index: IndexSpec, at_ms: int | None) -> dict[str, Any] | None:
        cycles = parse_cycles(str(index.options["cycles"]))
        stamp, since, amps = self.hidden(index)
        return {
            "kind": self.name,
            "suffix": index.suffix,
            "rate": index.options["rate"],
            "pressure_rate": index.options["pressure_rate"],
            "periods": [c.period for c in cycles],
            "phases": [c.phase for c in cycles],
            "amplitudes": [c.amplitude for c in cycles],
            "stamp": stamp,
            "resolved": since,
            "amps": amps,
            "at": at_ms,
        }

    def describe_order(self, order: dict[str, Any]) -> str:
        at = "now" if order["at"] is None else f"epoch ms {order['at']}"
        return (
            f"ordered by the cyclic score (decay + resonance + pressure) of {order['suffix']} at "
            f"{at}, every record of the field scored (O(N log N))"
        )

    def entries(
        self, spec: ModelSpec, tag: str, index: IndexSpec, records: Records, now_ms: float
    ) -> Counter[Any]:
        key, name = f"{tag}:{index.suffix}", index.fields[0]
        return Counter((key, rid, float(v[name])) for rid, v in records.items() if name in v)


def _number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def marker_of(field: FieldSpec) -> CyclicDecay:
    marker = field.marker
    assert isinstance(marker, CyclicDecay)
    return marker


def cycles_of(marker: CyclicDecay) -> tuple[Cycle, ...]:
    """The declared cycles, as floats."""
    return tuple(Cycle(*(float(x) for x in c)) for c in marker.cycles)


def parse_cycles(text: str) -> tuple[Cycle, ...]:
    """The cycles of an index's ``cycles`` option (``period,amplitude,phase;...``)."""
    return tuple(Cycle(*(float(x) for x in c.split(","))) for c in text.split(";") if c)


def touched(name: str) -> str:
    """The hidden hash field holding the touch time of field ``name``."""
    return f"~t:{_keys.escape(name)}"


def resolved(name: str) -> str:
    """The hidden hash field holding when the pressure of field ``name`` was last resolved."""
    return f"~cy:r:{_keys.escape(name)}"


def amplitudes(name: str) -> str:
    """The hidden hash field holding the cycle amplitudes of field ``name``."""
    return f"~cy:a:{_keys.escape(name)}"


def scaled(amplitude: float, factor: float) -> float:
    """An amplitude times ``factor``, clamped to [0, 100]; below 0.01 it snaps to 0."""
    value = min(MAX_AMPLITUDE, max(0.0, amplitude * factor))
    return 0.0 if value < SNAP_BELOW else value


def score(
    base: float,
    touched_ms: float,
    resolved_ms: float,
    amps: Sequence[float],
    cycles: Sequence[Cycle],
    rate: float,
    pressure_rate: float,
    at_ms: float,
) -> float:
    """The score at ``at_ms``, computed as ``lua/index/cyclic.lua`` does (same operations)."""
    total = base * math.exp(-rate * (max(at_ms - touched_ms, 0) / DAY_MS))
    t = at_ms / DAY_MS
    for cycle, amplitude in zip(cycles, amps, strict=True):
        total = total + amplitude * math.cos(2 * math.pi * (t - cycle.phase) / cycle.period)
    return total + pressure_rate * max(at_ms - resolved_ms, 0) / DAY_MS


CYCLIC = CyclicKind()
