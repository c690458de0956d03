"""Prediction ledger: predictions attached to records, resolved into errors.

``record_prediction(record, Memory.predictions, {"eta": 10})`` stores a prediction (under a
``key``, default ``"default"``) in the kind ``ledger`` index of the record's own hash tag
(``typedis._index.ledger_kind``), so it stays in the record's partition, moves with a key
migration and goes with delete, expiry and the sweep. ``resolve_prediction`` compares it with
the actual values on the server, stores the error, and when the error exceeds the ledger's
threshold lowers the record's Confidence field by the Bayesian update of
``update_confidence``, in the same atomic step. ``auto_resolve`` does the same with the error
an observed outcome stands for (``Defaults.PL_AUTO_RESOLVE_*``): it is what the observation
protocol calls. ``highest_errors`` and ``error_summary`` read a partition's resolved errors.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, TypeVar, cast

from .. import _index, _keys, _lua, _maintenance, _scripts, _store
from .._defaults import Defaults
from .._errors import CorruptRecord, ModelError, NotFound, QueryError
from .._index.ledger_kind import (
    LEDGER,
    Entry,
    LedgerRef,
    PredictionLedger,
    Value,
    parse,
)
from .._markers import ConfidenceMarker
from .._scripts import arun, run
from ._hidden import located, not_live

if TYPE_CHECKING:
    from .._model import Model
    from .._spec import IndexSpec, ModelSpec

M = TypeVar("M", bound="Model")
R = TypeVar("R")

_index.register(LEDGER)
for _name in ("ledger_record", "ledger_resolve", "ledger_read", "ledger_errors"):
    _lua.operation(_name)

if TYPE_CHECKING:
    from typing import overload

    class Predictions:
        """Predictions on the record (``record_prediction``, ``resolve_prediction``...)."""

        @overload
        def __get__(self, obj: None, owner: type[M]) -> LedgerRef[M]: ...
        @overload
        def __get__(self, obj: object, owner: Any) -> None: ...
        def __get__(self, obj: object, owner: Any) -> Any: ...
        def __set__(self, obj: object, value: None) -> None: ...
else:
    Predictions = Annotated[None, PredictionLedger()]

Outcome = Literal["acted", "used", "dismissed", "contradicted", "deferred"]
GroupBy = Literal["key", "hour", "weekday", "day"]
_MAX_INT = 2**53  # ints beyond it have no exact double: the server compares doubles
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True, slots=True)
class PredictionData:
    """One prediction of a record, as stored.

    ``resolution_mode`` is ``"actual"`` (``resolve_prediction``) or the outcome of
    ``auto_resolve``; it, ``resolved_at`` and ``error`` are None while the prediction is open;
    ``actual`` holds the actual values of a resolution by ``resolve_prediction``.
    """

    record_id: str
    key: str
    predicted: dict[str, Value]
    recorded_at: datetime
    resolved: bool
    resolved_at: datetime | None
    resolution_mode: str | None
    error: float | None
    actual: dict[str, Value] | None


@dataclass(frozen=True, slots=True)
class RankedPrediction(Generic[M]):
    """A resolved prediction with its record, as ``highest_errors`` returns them."""

    record: M
    key: str
    error: float


@dataclass(frozen=True, slots=True)
class ErrorStats:
    """Statistics of a list of errors (all 0.0 when ``count`` is 0).

    ``stddev`` is the population standard deviation; ``pXX`` the nearest-rank percentile: the
    value at position ``ceil(XX / 100 * count)`` (1-based) of the errors in ascending order.
    """

    count: int
    mean: float
    stddev: float
    p50: float
    p90: float
    p99: float
    max: float


@dataclass(frozen=True, slots=True)
class ErrorSummary:
    """The statistics of a partition's resolved errors, overall and by group (``group_by``)."""

    overall: ErrorStats
    groups: dict[str, ErrorStats]


def error_stats(errors: Sequence[float]) -> ErrorStats:
    """``ErrorStats`` of ``errors`` (any order).

    Examples:
        >>> error_stats([0.1, 0.5, 0.9]).p50
        0.5
    """
    ordered = sorted(errors)
    n = len(ordered)
    if n == 0:
        return ErrorStats(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    mean = math.fsum(ordered) / n
    stddev = math.sqrt(math.fsum((e - mean) ** 2 for e in ordered) / n)

    def rank(p: int) -> float:
        return ordered[max(1, (p * n + 99) // 100) - 1]  # ceil(p * n / 100), in integers

    return ErrorStats(n, mean, stddev, rank(50), rank(90), rank(99), ordered[-1])


# ---- arguments -------------------------------------------------------------------------------


def _ledger(what: str, ref: object) -> tuple[LedgerRef[Model], ModelSpec, IndexSpec]:
    if not isinstance(ref, LedgerRef):
        raise ModelError(
            f"{what}(): field must be a PredictionLedger field reference such as "
            f"Memory.predictions, got {ref!r}"
        )
    target = cast("LedgerRef[Model]", ref)
    spec = target.model.__typedis_spec__
    index = spec.index_of(LEDGER.name, target.name)
    assert index is not None  # every PredictionLedger field has its index
    return target, spec, index


def _record(what: str, ref: LedgerRef[Model], record: object) -> tuple[Model, str, str]:
    if not isinstance(record, ref.model):
        raise ModelError(f"{what}(): record must be a {ref.model.__name__} record, got {record!r}")
    tag, rid = located(record)
    return record, tag, rid


def _text(what: str, name: str, value: object) -> str:
    if not isinstance(value, str):
        raise ModelError(f"{what}(): {name} must be a str, got {value!r}")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ModelError(f"{what}(): {name} is not valid Unicode text: {value!r}") from None
    return value


def _key(what: str, key: object) -> str:
    text = _text(what, "key", key)
    if not text or "\0" in text:
        raise ModelError(f"{what}(): key must be a non-empty str without NUL, got {key!r}")
    return text


def _values(what: str, name: str, given: object) -> dict[str, Value]:
    kinds = "str, bool, int (|n| <= 2**53) or finite float"
    if not isinstance(given, Mapping):
        raise ModelError(f"{what}(): {name} must be a dict of names to {kinds}, got {given!r}")
    out: dict[str, Value] = {}
    for k, v in cast(Mapping[object, object], given).items():
        label = _text(what, f"a name of {name}", k)
        if isinstance(v, str):
            out[label] = _text(what, f"{name}[{label!r}]", v)
        elif (
            isinstance(v, bool)
            or (isinstance(v, int) and -_MAX_INT <= v <= _MAX_INT)
            or (isinstance(v, float) and math.isfinite(v))
        ):
            out[label] = v
        else:
            raise ModelError(f"{what}(): {name}[{label!r}] must be a {kinds}, got {v!r}")
    return out


def _keys_of(tag: str, index: IndexSpec) -> tuple[str, str]:
    own = f"{tag}:{index.suffix}"
    return own, own + ":e"


def _ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def _data(entry: Entry) -> PredictionData:
    return PredictionData(
        entry.id,
        entry.key,
        entry.predicted,
        _ms(entry.recorded_ms),
        entry.resolved_ms is not None,
        None if entry.resolved_ms is None else _ms(entry.resolved_ms),
        entry.mode,
        entry.error,
        entry.actual,
    )


def _parsed(where: str, member: bytes) -> Entry:
    try:
        return parse(member.decode())
    except (ValueError, UnicodeDecodeError):
        raise CorruptRecord(
            f"{where}: a prediction entry was not written by typedis: {member[:80]!r}"
        ) from None


def _confidence_field(spec: ModelSpec, index: IndexSpec, what: str) -> str:
    """The Confidence field the ledger lowers, or "" for none."""
    named = str(index.options["confidence"])
    confidences = [n for n, f in spec.fields.items() if isinstance(f.marker, ConfidenceMarker)]
    if named:
        if named not in confidences:
            raise ModelError(
                f"{what}(): {spec.name}.{index.fields[0]}: PredictionLedger(confidence="
                f"{named!r}) does not name a Confidence field of {spec.name}"
            )
    elif len(confidences) > 1:
        raise ModelError(
            f"{what}(): {spec.name} has several Confidence fields {confidences}; name the one "
            f"high errors lower with PredictionLedger(confidence=...)"
        )
    else:
        named = confidences[0] if confidences else ""
    if named and any(named in ix.fields for ix in spec.indexes if ix.kind.by_text):
        raise ModelError(
            f"{what}(): {spec.name}.{named}: a Confidence field in a composite index cannot be "
            "updated on the server; it cannot take the ledger's feedback"
        )
    return named


def _prior(record: Model, name: str) -> float:
    """The prior of Confidence field ``name`` when the record holds no value (as
    ``update_confidence``): its default, else ``Defaults.INITIAL_CONFIDENCE``."""
    default: object = type(record).model_fields[name].get_default(call_default_factory=True)
    return float(default) if isinstance(default, int | float) else Defaults.INITIAL_CONFIDENCE


# ---- calls -----------------------------------------------------------------------------------


def _record_call(
    ref: object, record: object, predicted: object, key: object
) -> _scripts.Call[datetime]:
    what = "record_prediction"
    target, spec, index = _ledger(what, ref)
    rec, tag, rid = _record(what, target, record)
    name = _key(what, key)
    values = _values(what, "predicted", predicted)
    if not values:
        raise ModelError(f"{what}(): predicted is empty; predict at least one value")
    pairs = json.dumps(sorted(values.items()), ensure_ascii=False, allow_nan=False)

    def done(reply: list[bytes]) -> datetime:
        if reply[0] == b"missing":
            raise not_live(rec, what)
        return _ms(int(reply[1]))

    function = _lua.library(spec).function("ledger_record")
    keys = (_keys.record(tag, rid), *_keys_of(tag, index))
    return _scripts.Call(function, keys, (rid, name, pairs), done, write=True)


def _resolve_call(
    what: str, ref: object, record: object, key: object, mode: str, argument: str
) -> _scripts.Call[float | None]:
    target, spec, index = _ledger(what, ref)
    rec, tag, rid = _record(what, target, record)
    name = _key(what, key)
    cf = _confidence_field(spec, index, what)
    prior = _prior(rec, cf) if cf else Defaults.INITIAL_CONFIDENCE
    args: list[_scripts.Arg] = [
        tag,
        rid,
        name,
        mode,
        argument,
        cf,
        repr(float(index.options["threshold"])),
        repr(float(index.options["low_signal"])),
        repr(prior),
    ]

    def done(reply: list[bytes]) -> float | None:
        status = reply[0]
        if status == b"ok":
            if reply[2]:
                vars(rec)[cf] = float(reply[2])
            return float(reply[1])
        if status == b"missing":
            raise not_live(rec, what)
        if status in (b"none", b"resolved") and mode != "actual":
            return None
        if status == b"none":
            raise NotFound(
                f"{what}(): {spec.name}({rid!r}) has no prediction under key {name!r}; "
                "record_prediction() first"
            )
        if status == b"resolved":
            raise NotFound(
                f"{what}(): the prediction of {spec.name}({rid!r}) under key {name!r} is "
                "already resolved; record a new one to resolve again"
            )
        raise ModelError(
            f"{spec.name}({rid!r}).{cf}: the stored confidence is not a number in [0, 1]; "
            "nothing was written (save() a valid value first)"
        )

    function = _lua.library(spec).function("ledger_resolve")
    keys = (_keys.record(tag, rid), *_keys_of(tag, index))
    return _scripts.Call(function, keys, args, done, write=True)


def _resolve(ref: object, record: object, actual: object, key: object) -> _scripts.Call[float]:
    what = "resolve_prediction"
    values = _values(what, "actual", actual)
    text = json.dumps(values, ensure_ascii=False, allow_nan=False)
    return cast("_scripts.Call[float]", _resolve_call(what, ref, record, key, "actual", text))


def auto_resolve_error(outcome: str) -> float | None:
    """The error an observed outcome stands for (``Defaults.PL_AUTO_RESOLVE_*``, read now).

    ``"deferred"`` stands for none (None): the prediction stays open.

    Raises:
        ModelError: ``outcome`` is not one of acted, used, dismissed, contradicted, deferred.
    """
    errors = {
        "acted": Defaults.PL_AUTO_RESOLVE_ACTED,
        "used": Defaults.PL_AUTO_RESOLVE_USED,
        "dismissed": Defaults.PL_AUTO_RESOLVE_DISMISSED,
        "contradicted": Defaults.PL_AUTO_RESOLVE_CONTRADICTED,
        "deferred": None,
    }
    if outcome not in errors:
        raise ModelError(f"auto_resolve(): outcome must be one of {list(errors)}, got {outcome!r}")
    return errors[outcome]


def _auto(
    ref: object, record: object, outcome: object, key: object
) -> _scripts.Call[float | None] | None:
    what = "auto_resolve"
    if not isinstance(outcome, str):
        raise ModelError(f"{what}(): outcome must be a str, got {outcome!r}")
    error = auto_resolve_error(outcome)
    if error is None:
        _ledger(what, ref)  # still check the arguments
        _key(what, key)
        return None
    if not 0 <= error <= 1:
        raise ModelError(f"{what}(): Defaults.PL_AUTO_RESOLVE_* must be in [0, 1], got {error!r}")
    return _resolve_call(what, ref, record, key, outcome, repr(float(error)))


def _data_call(ref: object, record: object, key: object) -> _scripts.Call[PredictionData | None]:
    what = "prediction_data"
    target, spec, index = _ledger(what, ref)
    rec, tag, rid = _record(what, target, record)
    name = _key(what, key)

    def done(reply: list[bytes]) -> PredictionData | None:
        if reply[0] == b"missing":
            raise not_live(rec, what)
        entries = [_parsed(what, m) for m in reply[1:]]
        return _data(entries[0]) if entries else None

    function = _lua.library(spec).function("ledger_read")
    keys = (_keys.record(tag, rid), _keys_of(tag, index)[0])
    return _scripts.Call(function, keys, (rid, name), done, write=False)


def _partition_tag(what: str, spec: ModelSpec, partition: object) -> str:
    if spec.tag is not None:
        if partition != ():
            raise QueryError(f"{what}(): {spec.name} is not partitioned; omit partition=")
        return spec.tag
    values: Sequence[Any] = (
        cast(Sequence[Any], partition) if isinstance(partition, tuple | list) else (partition,)
    )
    if partition == () or len(values) != len(spec.partition):
        raise QueryError(
            f"{what}(): {spec.name} is partitioned by {spec.partition}: pass partition= with "
            "one value for each (a tuple when there are several)"
        )
    checked = [
        spec.validator(name).validate_python(value)
        for name, value in zip(spec.partition, values, strict=True)
    ]
    return _maintenance.tag_for(spec, checked)


def _limit(what: str, limit: object, none_ok: bool) -> int:
    if limit is None and none_ok:
        return 0
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ModelError(f"{what}(): limit must be an int >= 1, got {limit!r}")
    return limit


class _Errors:
    """A read of a partition's resolved predictions (highest error first)."""

    def __init__(self, what: str, ref: object, partition: object, limit: int) -> None:
        target, spec, index = _ledger(what, ref)
        self.model, self.tag = target.model, _partition_tag(what, spec, partition)
        lex, errors = _keys_of(self.tag, index)

        def done(reply: list[bytes]) -> list[Entry]:
            return [_parsed(what, m) for m in reply[1::2]]

        function = _lua.library(spec).function("ledger_errors")
        self.call = _scripts.Call(function, (errors, lex), (self.tag, limit), done, False)

    def load(self, entries: list[Entry]) -> _scripts.Call[list[RankedPrediction[Any]]]:
        load = _store.load_call(self.model, [(self.tag, e.id) for e in entries])

        def done(rows: list[list[bytes | None] | None]) -> list[RankedPrediction[Any]]:
            records = load.decode(rows)
            return [
                RankedPrediction(r, e.key, cast(float, e.error))
                for r, e in zip(records, entries, strict=True)
                if r is not None  # expired since its error was read
            ]

        return _scripts.Call(load.code, load.keys, load.args, done, False)


def _group(group_by: object) -> Callable[[PredictionData], str] | None:
    if group_by is None:
        return None
    if callable(group_by):
        return cast(Callable[[PredictionData], str], group_by)
    at: Callable[[PredictionData], datetime] = lambda d: cast(datetime, d.resolved_at)  # noqa: E731
    builtin: dict[str, Callable[[PredictionData], str]] = {
        "key": lambda d: d.key,
        "hour": lambda d: f"{at(d).hour:02d}",
        "weekday": lambda d: _WEEKDAYS[at(d).weekday()],
        "day": lambda d: at(d).date().isoformat(),
    }
    if not isinstance(group_by, str) or group_by not in builtin:
        raise ModelError(
            f"error_summary(): group_by must be None, one of {list(builtin)} or a callable "
            f"(PredictionData) -> str, got {group_by!r}"
        )
    return builtin[group_by]


def _summary(entries: list[Entry], group: Callable[[PredictionData], str] | None) -> ErrorSummary:
    datas = [_data(e) for e in entries]
    groups: dict[str, list[float]] = {}
    if group is not None:
        for d in datas:
            label = cast(object, group(d))
            if not isinstance(label, str):
                raise ModelError(f"error_summary(): group_by returned {label!r}, not a str")
            groups.setdefault(label, []).append(cast(float, d.error))
    overall = error_stats([cast(float, d.error) for d in datas])
    return ErrorSummary(overall, {k: error_stats(v) for k, v in sorted(groups.items())})


# ---- public functions ------------------------------------------------------------------------


def record_prediction(
    record: M, field: LedgerRef[M], predicted: Mapping[str, Value], *, key: str = "default"
) -> datetime:
    """Store a prediction on a stored record, replacing an earlier one under ``key``.

    Args:
        record: a stored record.
        field: its PredictionLedger field, as ``Model.field``.
        predicted: the predicted values by name: str, bool, int (|n| <= 2**53) or finite float.
        key: names the prediction among the record's (a non-empty str without NUL).

    Returns:
        When it was recorded (server time, UTC).

    Raises:
        ModelError: a bad argument (nothing sent).
        NotFound: the record is not stored (or expired); nothing was written.
        OutcomeUnknown: the reply was lost; the write happened once or not at all.

    Examples:
        >>> record_prediction(memory, Memory.predictions, {"eta": 10, "mood": "calm"})
        datetime.datetime(...)
    """
    return run(_record_call(field, record, predicted, key))


async def arecord_prediction(
    record: M, field: LedgerRef[M], predicted: Mapping[str, Value], *, key: str = "default"
) -> datetime:
    """``record_prediction()`` on the asyncio client."""
    return await arun(_record_call(field, record, predicted, key))


def resolve_prediction(
    record: M, field: LedgerRef[M], actual: Mapping[str, Value], *, key: str = "default"
) -> float:
    """Resolve the record's open prediction with the actual values; returns its error.

    The error (``prediction_error``) is computed and stored on the server; when it exceeds the
    ledger's threshold (``Defaults.PL_CONFIDENCE_ERROR_THRESHOLD``, 0.7) the record's
    Confidence field takes the signal ``low_signal`` (0.2) by the Bayesian update of
    ``update_confidence``, in the same atomic step (``record`` gets the new confidence).

    Raises:
        ModelError: a bad argument, or the ledger's Confidence field cannot take feedback.
        NotFound: the record is not stored, or has no open prediction under ``key`` (never
            recorded or already resolved); nothing was written.
        OutcomeUnknown: the reply was lost; the resolution happened once or not at all.

    Examples:
        >>> resolve_prediction(memory, Memory.predictions, {"eta": 12, "mood": "calm"})
        0.08333333333333333
    """
    return run(_resolve(field, record, actual, key))


async def aresolve_prediction(
    record: M, field: LedgerRef[M], actual: Mapping[str, Value], *, key: str = "default"
) -> float:
    """``resolve_prediction()`` on the asyncio client."""
    return await arun(_resolve(field, record, actual, key))


def auto_resolve(
    record: M, field: LedgerRef[M], outcome: Outcome, *, key: str = "default"
) -> float | None:
    """Resolve the record's open prediction from an observed outcome; returns the error.

    The error is ``Defaults.PL_AUTO_RESOLVE_<OUTCOME>`` (acted 0.1, used 0.3, dismissed 0.5,
    contradicted 0.9), read at the call; the confidence feedback is as ``resolve_prediction``.
    The observation protocol calls this for each record whose outcome it learns.

    Returns:
        The error, or None when nothing was resolved: the outcome is ``"deferred"``, or the
        record has no open prediction under ``key``.

    Raises:
        ModelError: an unknown outcome or another bad argument.
        NotFound: the record is not stored (or expired).
    """
    call = _auto(field, record, outcome, key)
    return None if call is None else run(call)


async def aauto_resolve(
    record: M, field: LedgerRef[M], outcome: Outcome, *, key: str = "default"
) -> float | None:
    """``auto_resolve()`` on the asyncio client."""
    call = _auto(field, record, outcome, key)
    return None if call is None else await arun(call)


def prediction_data(
    record: M, field: LedgerRef[M], *, key: str = "default"
) -> PredictionData | None:
    """The record's prediction under ``key``, open or resolved; None if there is none.

    Raises:
        ModelError: a bad argument.
        NotFound: the record is not stored (or expired).
    """
    return run(_data_call(field, record, key))


async def aprediction_data(
    record: M, field: LedgerRef[M], *, key: str = "default"
) -> PredictionData | None:
    """``prediction_data()`` on the asyncio client."""
    return await arun(_data_call(field, record, key))


def highest_errors(
    field: LedgerRef[M], *, partition: object = (), limit: int = 10
) -> list[RankedPrediction[M]]:
    """The resolved predictions of one partition with the highest errors, highest first.

    Two calls: one reads the errors (skipping records that are not live), one loads records.

    Raises:
        ModelError: a bad argument.
        QueryError: ``partition`` does not fit the model.
    """
    read = _Errors("highest_errors", field, partition, _limit("highest_errors", limit, False))
    return cast("list[RankedPrediction[M]]", run(read.load(run(read.call))))


async def ahighest_errors(
    field: LedgerRef[M], *, partition: object = (), limit: int = 10
) -> list[RankedPrediction[M]]:
    """``highest_errors()`` on the asyncio client."""
    read = _Errors("highest_errors", field, partition, _limit("highest_errors", limit, False))
    return cast("list[RankedPrediction[M]]", await arun(read.load(await arun(read.call))))


def error_summary(
    field: LedgerRef[M],
    *,
    group_by: GroupBy | Callable[[PredictionData], str] | None = None,
    partition: object = (),
    limit: int | None = None,
) -> ErrorSummary:
    """Statistics of one partition's resolved errors, overall and by group.

    Args:
        field: the PredictionLedger field, as ``Model.field``.
        group_by: None; ``"key"`` (the prediction key); ``"hour"`` (``"00"``..``"23"``),
            ``"weekday"`` (``"Monday"``...) or ``"day"`` (``"2026-01-31"``) of the resolution
            time in UTC; or a callable from ``PredictionData`` to a label.
        partition: the partition's value (a tuple for several partition fields).
        limit: only the ``limit`` highest errors (default: all).

    Raises:
        ModelError: a bad argument.
        QueryError: ``partition`` does not fit the model.
    """
    group = _group(group_by)
    read = _Errors("error_summary", field, partition, _limit("error_summary", limit, True))
    return _summary(run(read.call), group)


async def aerror_summary(
    field: LedgerRef[M],
    *,
    group_by: GroupBy | Callable[[PredictionData], str] | None = None,
    partition: object = (),
    limit: int | None = None,
) -> ErrorSummary:
    """``error_summary()`` on the asyncio client."""
    group = _group(group_by)
    read = _Errors("error_summary", field, partition, _limit("error_summary", limit, True))
    return _summary(await arun(read.call), group)
