"""Cyclic decay: a field whose score is decay + cyclical resonance + homeostatic pressure.

A ``CyclicDecay`` field (index kind ``cyclic``, ``typedis/_index/cyclic_kind.py``) holds a base
value. Its score at a time is the base decayed since its touch, plus each cycle's
``amplitude * cos(2π (t - phase) / period)``, plus ``pressure_rate`` times the days since the
pressure was last resolved. The per-record amplitudes and the last-resolved time are hidden
fields of the record's own hash; each update below is one registered model operation.

Examples:
    >>> from typing import Annotated
    >>> from typedis import Key, Model
    >>> class Habit(Model):
    ...     name: Key[str]
    ...     urge: Annotated[float, CyclicDecay(
    ...         cycles=[Cycle(TemporalPeriod.DAILY, 1.0, 0.375)], pressure_rate=0.5)] = 1.0
    >>> habit = Habit(name="coffee").save()
    >>> get_cycles(habit, Habit.urge)
    [Cycle(period=1.0, amplitude=1.0, phase=0.375)]
    >>> strengthen_cycle(habit, Habit.urge)
    [Cycle(period=1.0, amplitude=1.2, phase=0.375)]
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar, cast

from pydantic import Field, TypeAdapter

from .. import _index, _keys, _lua, _scripts
from .._errors import ModelError
from .._index.cyclic_kind import (
    CYCLIC,
    Cycle,
    CyclicDecay,
    CyclicRef,
    amplitudes,
    cycles_of,
    resolved,
    score,
    touched,
)
from .._scripts import arun, run
from ._hidden import field_of, located, not_live, read_call

if TYPE_CHECKING:
    from .._model import Model
    from .._query._query import Query

M = TypeVar("M", bound="Model")
T = TypeVar("T")

STRENGTHEN_FACTOR = 1.2
WEAKEN_FACTOR = 0.8

_index.register(CYCLIC)
_lua.operation("cyclic_resolve")
_lua.operation("cyclic_scale")
_FACTOR: TypeAdapter[float] = TypeAdapter(
    Annotated[float, Field(strict=True, ge=0.0, allow_inf_nan=False)]
)

if TYPE_CHECKING:
    from typing import overload

    class CyclicDecaying(Generic[T]):
        """A ``CyclicDecay`` field with the defaults (no cycles, no pressure, rate 0.1)."""

        @overload
        def __get__(self, obj: None, owner: type[M]) -> CyclicRef[M, T]: ...
        @overload
        def __get__(self, obj: object, owner: Any) -> T: ...
        def __get__(self, obj: object, owner: Any) -> Any: ...
        def __set__(self, obj: object, value: T) -> None: ...
else:
    CyclicDecaying = Annotated[T, Field(allow_inf_nan=False), CyclicDecay()]


def _marker(record: Model, ref: CyclicRef[Any, Any], caller: str) -> tuple[str, CyclicDecay]:
    name = field_of(record, ref, CyclicDecay, "CyclicDecay", caller)
    marker = record.__typedis_spec__.fields[name].marker
    assert isinstance(marker, CyclicDecay)
    return name, marker


def _ms(at: datetime) -> int:
    return round((at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp() * 1000)


def from_ms(ms: bytes | str) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000, UTC)


def with_amplitudes(marker: CyclicDecay, amps: Sequence[float]) -> list[Cycle]:
    return [c._replace(amplitude=a) for c, a in zip(cycles_of(marker), amps, strict=True)]


def stored_amplitudes(marker: CyclicDecay, stored: bytes | str | None) -> list[float]:
    """The amplitudes a record holds (as ``KINDS.cyclic.amps_of`` reads them)."""
    declared = [c.amplitude for c in cycles_of(marker)]
    if stored is None:
        return declared
    text = stored.decode() if isinstance(stored, bytes) else stored
    values = [float(a) for a in text.split(",") if a]
    return values if len(values) == len(declared) else declared


def _remember(record: Model, name: str, value: str) -> None:
    vars(record)[name] = value  # the kinds' hidden values live under their "~" names


# ---- resolve_pressure ----------------------------------------------------------------------


def _resolve_call(
    record: Model, ref: CyclicRef[Any, Any], at: datetime | None
) -> _scripts.Call[datetime]:
    name, marker = _marker(record, ref, "resolve_pressure")
    spec = record.__typedis_spec__
    if marker.pressure_rate == 0:
        raise ModelError(
            f"resolve_pressure(): {spec.name}.{name} has pressure_rate 0, so it has no pressure "
            "to resolve; declare CyclicDecay(pressure_rate=...) > 0"
        )
    if at is not None and not isinstance(cast(object, at), datetime):
        raise ModelError(f"resolve_pressure(): at= takes a datetime or None, got {at!r}")
    tag, rid = located(record)
    hidden = resolved(name)

    def done(reply: list[bytes]) -> datetime:
        if reply[0] == b"missing":
            raise not_live(record, "resolve_pressure")
        _remember(record, hidden, reply[1].decode())
        return from_ms(reply[1])

    function = _lua.library(spec).function("cyclic_resolve")
    when = "" if at is None else _ms(at)
    return _scripts.Call(function, (_keys.record(tag, rid),), (hidden, when), done, write=True)


def resolve_pressure(record: M, field: CyclicRef[M, Any], at: datetime | None = None) -> datetime:
    """Discharge the homeostatic pressure of a stored record: it restarts from 0 at ``at``.

    Args:
        record: a stored record.
        field: its CyclicDecay field (with ``pressure_rate > 0``), as ``Model.field``.
        at: the resolution time (default: the server's now).

    Returns:
        The resolution time (UTC).

    Raises:
        ModelError: ``field`` is not a CyclicDecay field of the record's model, or its
            pressure_rate is 0.
        NotFound: the record is not stored (or expired); nothing was written.
        OutcomeUnknown: the reply was lost; the write happened once or not at all.

    Examples:
        >>> resolve_pressure(habit, Habit.urge)
        datetime.datetime(...)
    """
    return run(_resolve_call(record, field, at))


async def aresolve_pressure(
    record: M, field: CyclicRef[M, Any], at: datetime | None = None
) -> datetime:
    """``resolve_pressure()`` on the asyncio client."""
    return await arun(_resolve_call(record, field, at))


# ---- strengthen / weaken -------------------------------------------------------------------


def _scale_call(
    record: Model, ref: CyclicRef[Any, Any], factor: float, caller: str
) -> _scripts.Call[list[Cycle]]:
    name, marker = _marker(record, ref, caller)
    spec = record.__typedis_spec__
    value = _FACTOR.validate_python(factor)
    cycles = cycles_of(marker)
    if not cycles:
        raise ModelError(
            f"{caller}(): {spec.name}.{name} declares no cycles; pass CyclicDecay(cycles=[...])"
        )
    tag, rid = located(record)
    hidden = amplitudes(name)

    def done(reply: list[bytes]) -> list[Cycle]:
        if reply[0] == b"missing":
            raise not_live(record, caller)
        text = reply[1].decode()
        _remember(record, hidden, text)
        return with_amplitudes(marker, stored_amplitudes(marker, text))

    args = (hidden, repr(value), *(repr(c.amplitude) for c in cycles))
    function = _lua.library(spec).function("cyclic_scale")
    return _scripts.Call(function, (_keys.record(tag, rid),), args, done, write=True)


def strengthen_cycle(
    record: M, field: CyclicRef[M, Any], factor: float = STRENGTHEN_FACTOR
) -> list[Cycle]:
    """Multiply a stored record's cycle amplitudes by ``factor``, atomically.

    Each amplitude becomes ``amplitude * factor`` clamped to [0, 100], and 0 below 0.01.

    Args:
        record: a stored record.
        field: its CyclicDecay field, as ``Model.field``; it must declare cycles.
        factor: a finite number >= 0 (default 1.2).

    Returns:
        The record's cycles with their new amplitudes.

    Raises:
        ValidationError: ``factor`` is not a finite number >= 0 (nothing sent).
        ModelError: ``field`` is not a CyclicDecay field of the record's model, or declares
            no cycles.
        NotFound: the record is not stored (or expired); nothing was written.
        OutcomeUnknown: the reply was lost; the write happened once or not at all.

    Examples:
        >>> strengthen_cycle(habit, Habit.urge, 1.5)
        [Cycle(period=1.0, amplitude=1.5, phase=0.375)]
    """
    return run(_scale_call(record, field, factor, "strengthen_cycle"))


async def astrengthen_cycle(
    record: M, field: CyclicRef[M, Any], factor: float = STRENGTHEN_FACTOR
) -> list[Cycle]:
    """``strengthen_cycle()`` on the asyncio client."""
    return await arun(_scale_call(record, field, factor, "strengthen_cycle"))


def weaken_cycle(record: M, field: CyclicRef[M, Any], factor: float = WEAKEN_FACTOR) -> list[Cycle]:
    """``strengthen_cycle()`` with a default factor of 0.8."""
    return run(_scale_call(record, field, factor, "weaken_cycle"))


async def aweaken_cycle(
    record: M, field: CyclicRef[M, Any], factor: float = WEAKEN_FACTOR
) -> list[Cycle]:
    """``weaken_cycle()`` on the asyncio client."""
    return await arun(_scale_call(record, field, factor, "weaken_cycle"))


# ---- reads -----------------------------------------------------------------------------------


class _State:
    __slots__ = ("amps", "base", "resolved", "touched")

    def __init__(self, values: list[bytes | None], marker: CyclicDecay) -> None:
        base, stamp, since, amps = values
        self.base = None if base is None else float(base)
        self.touched = None if stamp is None else int(stamp)
        self.resolved = None if since is None else int(since)
        self.amps = stored_amplitudes(marker, amps)


def _state_call(
    record: Model, ref: CyclicRef[Any, Any], caller: str
) -> tuple[_scripts.Call[_State], CyclicDecay]:
    name, marker = _marker(record, ref, caller)
    names = (name, touched(name), resolved(name), amplitudes(name))
    return read_call(record, names, lambda values: _State(values, marker), caller), marker


def get_cycles(record: M, field: CyclicRef[M, Any]) -> list[Cycle]:
    """A stored record's cycles, with its own amplitudes (read from the server).

    Raises:
        NotFound: the record is not stored (or expired).
        ModelError: ``field`` is not a CyclicDecay field of the record's model.
    """
    call, marker = _state_call(record, field, "get_cycles")
    return with_amplitudes(marker, run(call).amps)


async def aget_cycles(record: M, field: CyclicRef[M, Any]) -> list[Cycle]:
    """``get_cycles()`` on the asyncio client."""
    call, marker = _state_call(record, field, "get_cycles")
    return with_amplitudes(marker, (await arun(call)).amps)


def _score(record: Model, marker: CyclicDecay, state: _State, at: datetime | None) -> float:
    spec = record.__typedis_spec__
    if state.base is None or state.touched is None:
        raise ModelError(f"cyclic_score(): {spec.name}({located(record)[1]!r}) holds None")
    at_ms = _ms(datetime.now(UTC) if at is None else at)
    return score(
        state.base,
        state.touched,
        at_ms if state.resolved is None else state.resolved,
        state.amps,
        cycles_of(marker),
        float(marker.rate),
        float(marker.pressure_rate),
        at_ms,
    )


def cyclic_score(record: M, field: CyclicRef[M, Any], at: datetime | None = None) -> float:
    """A stored record's score at ``at`` (default: now, by this machine's clock).

    ``base * e^(-rate * d) + sum(amplitude * cos(2π (t - phase) / period)) + pressure_rate * r``
    with ``d`` the days since the touch, ``t`` the days since the Unix epoch and ``r`` the days
    since the pressure was last resolved. The state is read from the server in one call.

    Raises:
        NotFound: the record is not stored (or expired).
        ModelError: ``field`` is not a CyclicDecay field of the record's model, or it holds
            None.
    """
    call, marker = _state_call(record, field, "cyclic_score")
    return _score(record, marker, run(call), at)


async def acyclic_score(record: M, field: CyclicRef[M, Any], at: datetime | None = None) -> float:
    """``cyclic_score()`` on the asyncio client."""
    call, marker = _state_call(record, field, "cyclic_score")
    return _score(record, marker, await arun(call), at)


def _top(query: Query[M], field: CyclicRef[M, Any], n: int, at: datetime | None) -> Query[M]:
    if not isinstance(cast(object, field), CyclicRef) or field.model is not query.model:
        raise ModelError(
            f"top_by_cyclic(): {field!r} is not a CyclicDecay field of {query.model.__name__}"
        )
    if isinstance(cast(object, n), bool) or not isinstance(cast(object, n), int) or n < 0:
        raise ModelError(f"top_by_cyclic(): n must be an int >= 0, got {n!r}")
    return query.order_by(field.decayed(at)).limit(n)


def top_by_cyclic(
    query: Query[M], field: CyclicRef[M, Any], n: int = 10, at: datetime | None = None
) -> list[M]:
    """The ``n`` matches of ``query`` with the highest score at ``at`` (default: server now).

    Exact, in one script call: every record of the field (in the query's tag) is scored on the
    server, O(N log N). Records whose value is None come last, by id.

    Examples:
        >>> top_by_cyclic(Habit.query, Habit.urge, n=3)
        [Habit(name='coffee', urge=1.0)]
    """
    return _top(query, field, n, at).all()


async def atop_by_cyclic(
    query: Query[M], field: CyclicRef[M, Any], n: int = 10, at: datetime | None = None
) -> list[M]:
    """``top_by_cyclic()`` on the asyncio client."""
    return await _top(query, field, n, at).aall()
