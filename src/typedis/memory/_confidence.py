"""Bayesian confidence of a ``Confidence`` field, updated atomically on the server.

``update_confidence(record, Memory.certainty, signal)`` moves the stored belief toward the
signal by ``(signal - prior) / sqrt(n + 1)``, where ``n`` counts the earlier updates, in one
script that also moves the field's sorted index entry. The evidence counts live in hidden
fields of the record's own hash (``~conf+:<field>``, ``~conf-:<field>``), so they share the
record's hash tag, move with a key migration and go with delete and the expiry sweep.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from pydantic import Field, TypeAdapter

from .. import _keys, _lua, _scripts
from .._defaults import Defaults
from .._errors import ModelError
from .._markers import ConfidenceMarker
from .._scripts import arun, run
from ._hidden import field_of, located, not_live, read_call

if TYPE_CHECKING:
    from .._model import Model
    from .._query._refs import ConfidenceRef

M = TypeVar("M", bound="Model")

CORROBORATION_THRESHOLD = 0.5  # a signal at or above it corroborates, below it contradicts
# the prior of a record that holds no value and whose field has no default: read at each call
DEFAULT_CONFIDENCE = Defaults.INITIAL_CONFIDENCE

_lua.operation("confidence")
_SIGNAL: TypeAdapter[float] = TypeAdapter(
    Annotated[float, Field(strict=True, ge=0.0, le=1.0, allow_inf_nan=False)]
)


@dataclass(frozen=True, slots=True)
class ConfidenceData:
    """A Confidence field's belief and the evidence behind it.

    ``evidence_count`` is the number of updates; ``corroborations`` counts the signals at or
    above 0.5, ``contradictions`` those below (their sum is ``evidence_count``).
    """

    confidence: float
    evidence_count: int
    corroborations: int
    contradictions: int


def bayesian_update(prior: float, signal: float, evidence_count: int) -> float:
    """The update rule: ``prior + (signal - prior) / sqrt(evidence_count + 1)``, kept in [0, 1].

    Examples:
        >>> bayesian_update(0.5, 1.0, 0)
        1.0
        >>> bayesian_update(1.0, 0.0, 3)
        0.5
    """
    return min(1.0, max(0.0, prior + (signal - prior) / math.sqrt(evidence_count + 1)))


def _field(record: Model, ref: ConfidenceRef[Any], caller: str) -> str:
    return field_of(record, ref, ConfidenceMarker, "Confidence", caller)


def _default(record: Model, name: str) -> float:
    info = type(record).model_fields[name]
    default: object = info.get_default(call_default_factory=True)
    return float(default) if isinstance(default, int | float) else Defaults.INITIAL_CONFIDENCE


def _update_call(record: Model, ref: ConfidenceRef[Any], signal: float) -> _scripts.Call[float]:
    name = _field(record, ref, "update_confidence")
    spec = record.__typedis_spec__
    if any(name in ix.fields for ix in spec.indexes if ix.kind.by_text):
        raise ModelError(
            f"{spec.name}.{name}: a Confidence field in a composite index cannot be updated on "
            "the server (its text would change form); assign it and save() instead"
        )
    value = _SIGNAL.validate_python(signal)
    tag, rid = located(record)
    args: list[_scripts.Arg] = [tag, rid, name, repr(value), repr(_default(record, name))]

    def done(reply: list[bytes]) -> float:
        status = reply[0]
        if status == b"ok":
            belief = float(reply[1])
            vars(record)[name] = belief
            return belief
        if status == b"missing":
            raise not_live(record, "update_confidence")
        raise ModelError(
            f"{spec.name}({rid!r}).{name}: the stored value is not a number in [0, 1]; "
            "nothing was written (save() a valid value first)"
        )

    function = _lua.library(spec).function("confidence")
    return _scripts.Call(function, (_keys.record(tag, rid),), args, done, write=True)


def update_confidence(record: M, field: ConfidenceRef[M], signal: float) -> float:
    """Update a stored record's confidence with one piece of evidence, atomically.

    ``new = prior + (signal - prior) / sqrt(n + 1)`` with ``n`` the number of earlier updates;
    the field's sorted index moves with it and ``record`` gets the new value.

    Args:
        record: a stored record.
        field: its Confidence field, as ``Model.field``.
        signal: the evidence, a finite number in [0, 1]; 0.5 and above corroborates.

    Returns:
        The new confidence.

    Raises:
        ValidationError: ``signal`` is not a finite number in [0, 1] (nothing sent).
        NotFound: the record is not stored (or expired); nothing was written.
        ModelError: ``field`` is not a Confidence field of the record's model.
        OutcomeUnknown: the reply was lost; the update happened once or not at all.

    Examples:
        >>> update_confidence(memory, Memory.certainty, 0.9)
        0.9
    """
    return run(_update_call(record, field, signal))


async def aupdate_confidence(record: M, field: ConfidenceRef[M], signal: float) -> float:
    """``update_confidence()`` on the asyncio client."""
    return await arun(_update_call(record, field, signal))


def _data_call(
    record: Model, ref: ConfidenceRef[Any], caller: str
) -> _scripts.Call[ConfidenceData]:
    name = _field(record, ref, caller)
    prior = _default(record, name)

    def decode(values: list[bytes | None]) -> ConfidenceData:
        stored, up, down = values
        ups, downs = int(up or 0), int(down or 0)
        belief = prior if stored is None else float(stored)
        return ConfidenceData(belief, ups + downs, ups, downs)

    names = (name, f"~conf+:{name}", f"~conf-:{name}")
    return read_call(record, names, decode, caller)


def get_confidence(record: M, field: ConfidenceRef[M]) -> float:
    """The stored confidence of a record (read from the server).

    Raises:
        NotFound: the record is not stored (or expired).
        ModelError: ``field`` is not a Confidence field of the record's model.
    """
    return run(_data_call(record, field, "get_confidence")).confidence


async def aget_confidence(record: M, field: ConfidenceRef[M]) -> float:
    """``get_confidence()`` on the asyncio client."""
    return (await arun(_data_call(record, field, "get_confidence"))).confidence


def get_confidence_data(record: M, field: ConfidenceRef[M]) -> ConfidenceData:
    """The stored confidence of a record with its evidence counts, read in one call.

    Raises:
        NotFound: the record is not stored (or expired).
        ModelError: ``field`` is not a Confidence field of the record's model.

    Examples:
        >>> get_confidence_data(memory, Memory.certainty)
        ConfidenceData(confidence=0.9, evidence_count=1, corroborations=1, contradictions=0)
    """
    return run(_data_call(record, field, "get_confidence_data"))


async def aget_confidence_data(record: M, field: ConfidenceRef[M]) -> ConfidenceData:
    """``get_confidence_data()`` on the asyncio client."""
    return await arun(_data_call(record, field, "get_confidence_data"))
