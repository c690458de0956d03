"""Kind ``decay``: a ``Decaying`` field's value (its base) decays with the time since its touch.

Stored form: the field holds the base value; the hidden hash field ``~t:<field>`` holds the
server time (epoch ms) of the write that last changed the value or of the last ``touch()``.
Two curves, chosen with ``field(curve=...)``, both ranked without a scan:

* ``exponential`` (default): value = base * e^(-rate*days). Its order never changes with time,
  so the sorted set ``<tag>:z:<field>`` scores each record ln(base) + rate*t (t in days): top-N
  is one ``ZRANGE ... REV LIMIT``, O(log N + n), and composes with filters like any order.
* ``power`` (Popoto's curve): value = base * (1 + days)^-rate, whose order does change with
  time. ``<tag>:z:<field>`` scores each record by t; each touch day has a sorted set
  ``<tag>:z:<field>:<day>`` of id → base, listed in ``<tag>:z:<field>:days``. Top-N visits days
  best upper bound first (the day's largest base at the day's youngest age) and stops once the
  n-th exact score beats every bound left: exact, and O(days + visited) instead of O(N).

The rate is per day (default 0.1).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, get_args

from .. import _keys
from .._defaults import Defaults
from .._errors import ModelError
from .._markers import DecayCurve, DecayingMarker
from .._query._refs import DecayRef, FieldRef
from ._kind import AddLua, IndexKind, Records

if TYPE_CHECKING:
    from .._codegen import Fresh
    from .._spec import FieldSpec, IndexSpec, ModelSpec

DEFAULT_RATE = Defaults.DECAY_RATE  # the shipped defaults; rate_of / curve_of read Defaults
DEFAULT_CURVE: DecayCurve = Defaults.DECAY_CURVE
CURVES: tuple[DecayCurve, ...] = get_args(DecayCurve)
DAY_MS = 86_400_000


class DecayKind(IndexKind):
    name = "decay"
    letter = "z"
    redis_type = "zset"
    markers = (DecayingMarker,)
    orders = True
    checks_scores = True
    touchable = True
    reports = ("sorted",)
    option_names: ClassVar[Mapping[str, str]] = {
        "rate": "Decaying fields",
        "curve": "Decaying fields",
    }

    def check_field(self, where: str, field: FieldSpec) -> None:
        if field.annotation not in (int, float):
            raise ModelError(f"{where}: Decaying fields need an int or float base score")
        rate = rate_of(field)
        if not (rate > 0 and math.isfinite(rate)):
            raise ModelError(f"{where}: the decay rate must be a finite number > 0, got {rate}")
        if curve_of(field) not in CURVES:
            raise ModelError(
                f"{where}: curve= takes {' or '.join(map(repr, CURVES))}, got {curve_of(field)!r}"
            )

    def options(self, field: FieldSpec) -> Mapping[str, str | float]:
        return {"rate": rate_of(field), "curve": curve_of(field)}

    def add_lua(self, index: IndexSpec, fresh: Fresh) -> AddLua:
        return fresh.delegated(index)  # a fresh record holds no touch time yet

    def hidden(self, index: IndexSpec) -> tuple[str, ...]:
        return (touched(index.fields[0]),)

    def ref(self, field: FieldSpec) -> type[FieldRef[Any, Any]]:
        return DecayRef

    def order(self, index: IndexSpec, at_ms: int | None) -> dict[str, Any] | None:
        if index.options["curve"] != "power":
            return None  # the sorted set's scores are the exponential curve's order
        return {
            "kind": self.name,
            "suffix": index.suffix,
            "rate": index.options["rate"],
            "stamp": touched(index.fields[0]),
            "at": at_ms,
        }

    def describe_order(self, order: dict[str, Any]) -> str:
        at = "now" if order["at"] is None else f"epoch ms {order['at']}"
        return (
            f"ordered by the power decay (rate {order['rate']!r}) of {order['suffix']} at {at}, "
            "touch days visited best bound first"
        )

    def stored_keys(self, tag: str, index: IndexSpec, keys: Any) -> list[str]:
        own = f"{tag}:{index.suffix}"
        return [k for k in keys if k == own or k.startswith(own + ":")]

    def entries(
        self, spec: ModelSpec, tag: str, index: IndexSpec, records: Records, now_ms: float
    ) -> Counter[Any]:
        key, name = f"{tag}:{index.suffix}", index.fields[0]
        rate, power = float(index.options["rate"]), index.options["curve"] == "power"
        out: Counter[Any] = Counter()
        for rid, v in records.items():
            if name not in v:
                continue
            t = int(v.get(touched(name), "0"))
            base = float(v[name])
            if power:
                day = t // DAY_MS
                out[(key, rid, float(t))] += 1
                out[(f"{key}:{day}", rid, base)] += 1
                out[(f"{key}:days", str(day), float(day))] = 1
            else:
                out[(key, rid, rank_score(base, t, rate))] += 1
        return out

    def target(self, entry: tuple[Any, ...]) -> str | None:
        return None if str(entry[0]).endswith(":days") else str(entry[1])  # a day: no record

    def value(self, index: IndexSpec, base: float, touched_ms: int, at_ms: float) -> float:
        """A base value touched at ``touched_ms``, decayed to ``at_ms`` on the index's curve."""
        rate, curve = float(index.options["rate"]), str(index.options["curve"])
        return decayed(base, touched_ms, at_ms, rate, curve)


def rank_score(base: float, touched_ms: int, rate: float) -> float:
    """The exponential curve's time-invariant sort key: ln(base) + rate*days (as Lua has it)."""
    return (math.log(base) if base > 0 else -math.inf) + rate * touched_ms / DAY_MS


def decayed(base: float, touched_ms: int, at_ms: float, rate: float, curve: str) -> float:
    """A base value decayed from ``touched_ms`` to ``at_ms`` (no growth before the touch)."""
    days = max(at_ms - touched_ms, 0) / DAY_MS
    if curve == "power":
        return float(base * (1 + days) ** -rate)
    return base * math.exp(-rate * days)


def touched(name: str) -> str:
    """The hidden hash field holding the touch time of Decaying field ``name``."""
    return f"~t:{_keys.escape(name)}"


def rate_of(field: FieldSpec) -> float:
    """A Decaying field's rate (``field(rate=...)``, default ``Defaults.DECAY_RATE``: 0.1/day)."""
    return Defaults.DECAY_RATE if field.options.rate is None else field.options.rate


def curve_of(field: FieldSpec) -> DecayCurve:
    """A Decaying field's curve (``field(curve=...)``, default ``Defaults.DECAY_CURVE``)."""
    return Defaults.DECAY_CURVE if field.options.curve is None else field.options.curve


DECAY = DecayKind()
