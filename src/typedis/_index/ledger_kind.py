"""Kind ``ledger``: predictions attached to records, and the errors of the resolved ones.

Declared by a field that holds no value (``predictions: Predictions = field(default=None)``);
``record_prediction()`` and ``resolve_prediction()`` (``typedis.memory``) write it. Two sorted
sets per tag (so per partition) and field:

* ``<tag>:p:<field>``: one member per prediction, all scored 0 so that a record's predictions
  are one lexicographic range: ``"<id>\\0<key>\\0<data>"``, ``data`` being the lines
  ``recorded_ms``, ``resolved_ms``, ``mode``, ``error`` (the last three empty until resolved),
  the predicted values (JSON: ``[[name, value], ...]`` sorted by name) and the actual values
  (a JSON object, or empty).
* ``<tag>:p:<field>:e``: ``"<id>\\0<key>"`` scored by the error, for resolved predictions only
  (highest errors, summaries).

Deleting or sweeping a record removes its predictions (the kinds' loop of ``lua/_lib.lua``); a
record moved to another key takes them along (``carry``). ``check_indexes()`` (entry
``ledger``) counts members that are malformed, belong to no stored record, or whose error
entry is missing, extra or different.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as declared
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, TypeVar, cast

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

Value = str | int | float | bool  # a predicted or actual value


@dataclass(frozen=True, slots=True)
class PredictionLedger(Marker):
    """Predictions on records, resolved into errors (``Annotated[None, PredictionLedger(...)]``).

    Args:
        confidence: the name of the model's Confidence field that high errors lower; None:
            the model's only Confidence field, if it has exactly one (else no feedback).
        threshold: a resolution whose error exceeds it feeds ``low_signal`` into that field
            (default ``Defaults.PL_CONFIDENCE_ERROR_THRESHOLD``, read when the marker is made).
        low_signal: the contradicting signal, in [0, 1] (``Defaults.PL_CONFIDENCE_LOW_SIGNAL``).
    """

    kind: ClassVar[str] = "ledger"
    confidence: str | None = None
    threshold: float = declared(default_factory=lambda: Defaults.PL_CONFIDENCE_ERROR_THRESHOLD)
    low_signal: float = declared(default_factory=lambda: Defaults.PL_CONFIDENCE_LOW_SIGNAL)


class LedgerRef(FieldRef[M, None]):
    """A ``PredictionLedger`` field: the predictions ``record_prediction()`` and others use."""

    __slots__ = ()


class Entry(NamedTuple):
    """One prediction, decoded from its member of ``<tag>:p:<field>``."""

    id: str
    key: str
    recorded_ms: int
    resolved_ms: int | None
    mode: str | None
    error: float | None
    predicted: dict[str, Value]
    actual: dict[str, Value] | None


def parse(member: str) -> Entry:
    """Decode a member (``ValueError`` if it is not one typedis wrote)."""
    rid, key, data = member.split("\0")
    recorded, resolved, mode, error, predicted, actual = data.split("\n")
    pairs = cast(list[list[Any]], json.loads(predicted))
    return Entry(
        rid,
        key,
        int(recorded),
        int(resolved) if resolved else None,
        mode or None,
        float(error) if error else None,
        {str(k): cast(Value, v) for k, v in pairs},
        cast(dict[str, Value], json.loads(actual)) if actual else None,
    )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def prediction_error(predicted: Mapping[str, Value], actual: Mapping[str, Value]) -> float:
    """The error of a prediction, in [0, 1]: the mean of one term per predicted name.

    In name order (code points), a term is: ``min(1, |p - a| / max(|p|, |a|, 1))`` when both
    values are numbers (bools are not), 0.0 when they are equal values of one type, 1.0
    otherwise or when ``actual`` lacks the name; names only in ``actual`` are ignored. The sum
    runs left to right in doubles, exactly as the server computes it.

    Examples:
        >>> prediction_error({"eta": 10, "mood": "calm"}, {"eta": 12, "mood": "calm"})
        0.08333333333333333
    """
    total = 0.0
    for name in sorted(predicted):
        p = predicted[name]
        if name not in actual:
            total += 1.0
            continue
        a = actual[name]
        if _is_number(p) and _is_number(a):
            x, y = float(p), float(a)
            total += min(1.0, abs(x - y) / max(abs(x), abs(y), 1.0))
        else:
            total += 0.0 if type(p) is type(a) and p == a else 1.0
    return total / len(predicted)


class LedgerKind(IndexKind):
    name = "ledger"
    per_tag = True
    letter = "p"
    redis_type = "zset"
    markers = (PredictionLedger,)
    companions = (":e",)
    reports = ("ledger",)

    def add_lua(self, index: IndexSpec, fresh: Fresh) -> AddLua:
        return fresh.delegated(index)

    def check_field(self, where: str, field: FieldSpec) -> None:
        assert isinstance(field.marker, PredictionLedger)
        check_valueless(where, field, "Predictions")
        check_fractions(where, field.marker, ("threshold", "low_signal"), open_low=False)

    def options(self, field: FieldSpec) -> Mapping[str, str | float]:
        marker = field.marker
        assert isinstance(marker, PredictionLedger)
        return {
            "confidence": marker.confidence or "",
            "threshold": marker.threshold,
            "low_signal": marker.low_signal,
        }

    def ref(self, field: FieldSpec) -> type[FieldRef[Any, Any]]:
        return LedgerRef

    def check(
        self,
        spec: ModelSpec,
        tag: str,
        index: IndexSpec,
        records: Records,
        held: Held,
        now_ms: float,
    ) -> int:
        """Malformed members, predictions of no stored record, wrong or stray error entries."""
        own = f"{tag}:{index.suffix}"
        members: Mapping[str, float] = held.get(own, {})
        errors: Mapping[str, float] = held.get(own + ":e", {})
        expected: Counter[tuple[str, float]] = Counter()
        faults = 0
        seen: set[tuple[str, str]] = set()
        for member, score in members.items():
            try:
                entry = parse(member)
            except ValueError:
                faults += 1
                continue
            if (
                score != 0
                or entry.id not in records
                or (entry.id, entry.key) in seen
                or (entry.error is not None and not 0 <= entry.error <= 1)
            ):
                faults += 1
            seen.add((entry.id, entry.key))
            if entry.error is not None and math.isfinite(entry.error):
                expected[(f"{entry.id}\0{entry.key}", entry.error)] += 1
        actual = Counter(errors.items())
        return faults + sum(((expected - actual) + (actual - expected)).values())

    def stale(
        self,
        spec: ModelSpec,
        tag: str,
        index: IndexSpec,
        records: Records,
        held: Held,
        now_ms: float,
    ) -> list[Stale]:
        """The predictions, and error entries, of a record that is not stored."""
        own = f"{tag}:{index.suffix}"  # members '<id>\0<key>[\0<data>]'
        return orphans(held, (own, own + ":e"), records, lambda m: (m.partition("\0")[0],))


LEDGER = LedgerKind()
