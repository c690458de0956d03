"""Interaction weights and the write filter's priority.

``InteractionWeight`` holds Popoto's source and role weights for importance scores (a
``Decaying`` field's base, say). The write filter decides, from a score in [0, 1], whether a
record is worth writing at all (``Defaults.WF_MIN_THRESHOLD``) and whether it is a priority
(``Defaults.WF_PRIORITY_THRESHOLD``); ``filtered_save`` stores the score in a ``Priority``
field, a sorted index in [0, 1] that queries filter on and rank orders weigh.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TypeVar, cast

from pydantic import Field, TypeAdapter

from .. import _scripts, _store
from .._defaults import Defaults
from .._errors import ModelError
from .._markers import SortedMarker
from .._scripts import arun, run
from ._hidden import field_of

if TYPE_CHECKING:
    from typing import TypeAlias

    from .._markers import Sorted
    from .._model import Model
    from .._query._refs import SortedRef

    Priority: TypeAlias = Sorted[float]
else:
    from .._markers import Sorted

    # A write-filter score in [0, 1], kept in a sorted set like any ``Sorted[float]``.
    Priority = Annotated[Sorted[float], Field(ge=0.0, le=1.0, allow_inf_nan=False)]

M = TypeVar("M", bound="Model")

_SCORE: TypeAdapter[float] = TypeAdapter(
    Annotated[float, Field(strict=True, ge=0.0, le=1.0, allow_inf_nan=False)]
)


class InteractionWeight:
    """Importance weights on two axes, combined by addition (Popoto's constants).

    Source: what kind of entity the interaction came from. Role: its authority.

    Examples:
        >>> InteractionWeight.combine(InteractionWeight.HUMAN, InteractionWeight.EXECUTIVE)
        50.0
        >>> InteractionWeight.combine(InteractionWeight.AGENT, InteractionWeight.PEER)
        7.0
    """

    HUMAN: ClassVar[float] = 6.0
    AGENT: ClassVar[float] = 1.0
    SYSTEM: ClassVar[float] = 0.2
    EXECUTIVE: ClassVar[float] = 44.0
    MANAGER: ClassVar[float] = 16.0
    PEER: ClassVar[float] = 6.0
    SUBORDINATE: ClassVar[float] = 1.0

    @staticmethod
    def combine(source: float, role: float) -> float:
        """The importance of an interaction: ``source + role``.

        Raises:
            ModelError: either weight is not a finite number >= 0.
        """
        for name, value in (("source", cast(object, source)), ("role", cast(object, role))):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                raise ModelError(
                    f"InteractionWeight.combine(): {name} must be a finite number >= 0, "
                    f"got {value!r}"
                )
        return float(source) + float(role)


@dataclass(frozen=True, slots=True)
class WriteDecision:
    """What the write filter decided for a score.

    ``write``: the score is at or above the minimum threshold; ``priority``: it is above the
    priority threshold (a priority record is always written).
    """

    score: float
    write: bool
    priority: bool


def _threshold(value: float | None, default: float, name: str) -> float:
    if value is None:
        return default
    try:
        return _SCORE.validate_python(value)
    except ValueError:
        raise ModelError(
            f"write filter: {name} must be a number in [0, 1], got {value!r}"
        ) from None


def decide_write(
    score: float,
    *,
    min_threshold: float | None = None,
    priority_threshold: float | None = None,
) -> WriteDecision:
    """Decide whether a record with this score is written and whether it is a priority.

    A score below ``min_threshold`` (default ``Defaults.WF_MIN_THRESHOLD``, 0.2) is not
    written; one above ``priority_threshold`` (default ``Defaults.WF_PRIORITY_THRESHOLD``,
    0.7) is a priority. The defaults are read at each call; explicit arguments win.

    Raises:
        ValidationError: ``score`` is not a finite number in [0, 1].
        ModelError: a threshold is not a number in [0, 1], or min exceeds priority.

    Examples:
        >>> decide_write(0.1)
        WriteDecision(score=0.1, write=False, priority=False)
        >>> decide_write(0.9)
        WriteDecision(score=0.9, write=True, priority=True)
    """
    value = _SCORE.validate_python(score)
    low = _threshold(min_threshold, Defaults.WF_MIN_THRESHOLD, "min_threshold")
    high = _threshold(priority_threshold, Defaults.WF_PRIORITY_THRESHOLD, "priority_threshold")
    if low > high:
        raise ModelError(f"write filter: min_threshold ({low}) exceeds priority_threshold ({high})")
    return WriteDecision(value, value >= low, value > high)


def _prepare(
    record: Model,
    ref: SortedRef[Any, float],
    score: float,
    min_threshold: float | None,
    priority_threshold: float | None,
) -> WriteDecision:
    name = field_of(record, ref, SortedMarker, "Priority (Sorted[float])", "filtered_save")
    decision = decide_write(
        score, min_threshold=min_threshold, priority_threshold=priority_threshold
    )
    if decision.write:
        setattr(record, name, decision.score)
    return decision


def _save(record: Model) -> _scripts.Call[None]:
    return _store.save_call(
        record, update_fields=None, migrate_key=False, ttl=_store.KEEP, expire_at=None
    )


def filtered_save(
    record: M,
    field: SortedRef[M, float],
    score: float,
    *,
    min_threshold: float | None = None,
    priority_threshold: float | None = None,
) -> WriteDecision:
    """Save ``record`` only if the write filter lets ``score`` through, storing it in ``field``.

    Args:
        record: the record to write.
        field: its ``Priority`` field (any ``Sorted[float]`` field), as ``Model.field``; it
            gets ``score`` before the save, so queries and rank orders can weigh it.
        score: the record's worth, a finite number in [0, 1].
        min_threshold: as ``decide_write``.
        priority_threshold: as ``decide_write``.

    Returns:
        The decision; when ``write`` is false nothing was sent and ``record`` is unchanged.

    Raises:
        ValidationError: ``score`` is not a finite number in [0, 1].
        ModelError: ``field`` is not a sorted field of the record's model, or a bad threshold.
        UniqueViolation, OutcomeUnknown: as ``save()``.

    Examples:
        >>> filtered_save(note, Note.priority, 0.9).priority
        True
    """
    decision = _prepare(record, field, score, min_threshold, priority_threshold)
    if decision.write:
        run(_save(record))
    return decision


async def afiltered_save(
    record: M,
    field: SortedRef[M, float],
    score: float,
    *,
    min_threshold: float | None = None,
    priority_threshold: float | None = None,
) -> WriteDecision:
    """``filtered_save()`` on the asyncio client."""
    decision = _prepare(record, field, score, min_threshold, priority_threshold)
    if decision.write:
        await arun(_save(record))
    return decision
