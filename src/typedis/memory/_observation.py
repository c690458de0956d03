"""The observation protocol: lifecycle hooks that turn how an agent used memories into effects.

``on_read`` stages a read (for models with an ``AccessCount`` field), ``on_surfaced`` leaves a
pending ``RecallProposal`` on each record pushed into an agent's context, and
``on_context_used`` applies the outcome the application reports for each record, in one atomic
server step per record (``lua/observe.lua``): the Bayesian confidence update of its
``Confidence`` fields, the scaling of its ``CyclicDecay`` fields' amplitudes, the discharge of
their pressure when the confidence falls below 0.1, and the resolution of its proposal.

Examples:
    >>> from typing import Annotated
    >>> from typedis import Confidence, Key, Model, field
    >>> class Tip(Model):
    ...     name: Key[str]
    ...     certainty: Confidence = field(default=0.5)
    >>> tip = Tip(name="use uv").save()
    >>> [p.reason for p in on_surfaced([tip], reason="proactive")]
    ['proactive']
    >>> [o.confidence for o in on_context_used([tip], {tip.redis_key: "acted"})]
    [{'certainty': 0.9}]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from pydantic import TypeAdapter

from .. import _keys, _lua, _scripts
from .._errors import ModelError
from .._index.cyclic_kind import Cycle, CyclicDecay, amplitudes, cycles_of, resolved
from .._markers import ConfidenceMarker
from .._scripts import arun, run
from ._confidence import DEFAULT_CONFIDENCE
from ._cyclic import from_ms, stored_amplitudes, with_amplitudes
from ._hidden import located, not_live, read_call

if TYPE_CHECKING:
    from .._model import Model

M = TypeVar("M", bound="Model")

Outcome = Literal["acted", "used", "dismissed", "deferred", "contradicted"]

ACTED_CONFIDENCE_SIGNAL = 0.9
CONTRADICTED_CONFIDENCE_SIGNAL = 0.1
ACTED_CYCLE_STRENGTHEN_FACTOR = 1.2
DISMISSED_CYCLE_WEAKEN_FACTOR = 0.8
CONTRADICTED_CYCLE_WEAKEN_FACTOR = 0.5
AUTO_DISCHARGE_CONFIDENCE_THRESHOLD = 0.1
PROPOSAL_TTL = timedelta(hours=1)  # Popoto's RecallProposal TTL (3600 s)
PROPOSAL = "~rp"  # the hidden hash field of a record's pending proposal

_lua.operation("observe")
_lua.operation("observe_surface")
_lua.operation("observe_read")
_OUTCOMES: TypeAdapter[dict[str, Outcome]] = TypeAdapter(dict[str, Outcome])


@dataclass(frozen=True, slots=True)
class Effect:
    """What one outcome does: a confidence signal, an amplitude factor, a pressure discharge
    threshold (each None: nothing) and whether it resolves the pending proposal."""

    signal: float | None
    factor: float | None
    discharge_below: float | None
    resolves: bool


EFFECTS: Mapping[Outcome, Effect] = {
    "acted": Effect(ACTED_CONFIDENCE_SIGNAL, ACTED_CYCLE_STRENGTHEN_FACTOR, None, True),
    "used": Effect(None, None, None, True),
    "dismissed": Effect(None, DISMISSED_CYCLE_WEAKEN_FACTOR, None, True),
    "deferred": Effect(None, None, None, False),
    "contradicted": Effect(
        CONTRADICTED_CONFIDENCE_SIGNAL,
        CONTRADICTED_CYCLE_WEAKEN_FACTOR,
        AUTO_DISCHARGE_CONFIDENCE_THRESHOLD,
        True,
    ),
}


@dataclass(frozen=True, slots=True)
class RecallProposal:
    """A record surfaced into an agent's context, pending an outcome until ``expires_at``."""

    key: str  # the record's Redis key (``record.redis_key``)
    reason: str
    surfaced_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Observed:
    """What ``on_context_used`` did to one record."""

    key: str
    outcome: Outcome
    confidence: dict[str, float]  # the new value of each Confidence field it updated
    cycles: dict[str, list[Cycle]]  # the new cycles of each CyclicDecay field it scaled
    discharged: datetime | None  # when its pressure was discharged, if it was


def _key(record: Model) -> str:
    return _keys.record(*located(record))


def _proposal(key: str, text: str) -> RecallProposal:
    surfaced, expires, reason = text.split(",", 2)
    return RecallProposal(key, reason, from_ms(surfaced), from_ms(expires))


def _prior(record: Model, name: str) -> float:
    """A Confidence field's prior when the record holds no value (as update_confidence)."""
    default: object = type(record).model_fields[name].get_default(call_default_factory=True)
    return float(default) if isinstance(default, int | float) else DEFAULT_CONFIDENCE


# ---- on_read -----------------------------------------------------------------------------------


def _read_call(record: Model) -> _scripts.Call[int]:
    tag, rid = located(record)

    def done(reply: list[Any]) -> int:
        if reply[0] == b"missing":
            raise not_live(record, "on_read")
        return int(reply[1])

    function = _lua.library(record.__typedis_spec__).function("observe_read")
    return _scripts.Call(function, (_keys.record(tag, rid),), (tag, rid), done, write=True)


def on_read(record: Model) -> int:
    """Run a stored record's read hooks, as a query or load does (an ``AccessCount`` field
    stages one read); returns how many ran (0 for a model without such a field).

    Queries and loads already do this for every record they return; call it for a record
    obtained another way (a cache) that the agent did read.

    Raises:
        NotFound: the record is not stored (or expired); nothing was written.
    """
    return run(_read_call(record))


async def aon_read(record: Model) -> int:
    """``on_read()`` on the asyncio client."""
    return await arun(_read_call(record))


# ---- on_surfaced -------------------------------------------------------------------------------


def _surface_calls(
    records: Sequence[Model], reason: str, ttl: timedelta
) -> list[_scripts.Call[RecallProposal]]:
    if not isinstance(cast(object, reason), str):
        raise ModelError(f"on_surfaced(): reason must be a str, got {reason!r}")
    if not isinstance(cast(object, ttl), timedelta) or ttl <= timedelta(0):
        raise ModelError(f"on_surfaced(): ttl must be a positive timedelta, got {ttl!r}")
    ttl_ms = max(1, round(ttl.total_seconds() * 1000))
    calls: list[_scripts.Call[RecallProposal]] = []
    for record in _records(records, "on_surfaced"):
        tag, rid = located(record)
        key = _keys.record(tag, rid)

        def done(reply: list[bytes], record: Model = record, key: str = key) -> RecallProposal:
            if reply[0] == b"missing":
                raise not_live(record, "on_surfaced")
            return _proposal(key, reply[1].decode())

        function = _lua.library(record.__typedis_spec__).function("observe_surface")
        calls.append(_scripts.Call(function, (key,), (reason, ttl_ms), done, write=True))
    return calls


def on_surfaced(
    records: Sequence[Model], reason: str = "proactive", ttl: timedelta = PROPOSAL_TTL
) -> list[RecallProposal]:
    """Leave a pending ``RecallProposal`` on each stored record pushed into an agent's context.

    The proposal is a hidden field of the record (it goes with the record and moves with it)
    and expires after ``ttl``; a later ``on_surfaced`` replaces it. Nothing else of the record
    changes. One pipelined round trip; each record is written on its own.

    Args:
        records: stored records (of any models).
        reason: why they were surfaced (default "proactive").
        ttl: how long the proposal stays pending (default one hour).

    Returns:
        The proposals, in the order of ``records``.

    Raises:
        ModelError: ``records`` holds something other than records, or ``ttl`` is not a
            positive timedelta (nothing sent).
        NotFound: a record is not stored (or expired); the others are written.
    """
    calls = _surface_calls(records, reason, ttl)
    return _scripts.run_many(calls) if calls else []


async def aon_surfaced(
    records: Sequence[Model], reason: str = "proactive", ttl: timedelta = PROPOSAL_TTL
) -> list[RecallProposal]:
    """``on_surfaced()`` on the asyncio client (one call per record)."""
    return [await arun(call) for call in _surface_calls(records, reason, ttl)]


def _pending_call(record: Model) -> _scripts.Call[RecallProposal | None]:
    key = _key(record)

    def decode(values: list[bytes | None]) -> RecallProposal | None:
        text = values[0]
        if text is None:
            return None
        proposal = _proposal(key, text.decode())
        return proposal if proposal.expires_at > datetime.now(UTC) else None

    return read_call(record, (PROPOSAL,), decode, "pending_proposal")


def pending_proposal(record: Model) -> RecallProposal | None:
    """A stored record's pending recall proposal, or None (none, resolved or expired).

    Raises:
        NotFound: the record is not stored (or expired).
    """
    return run(_pending_call(record))


async def apending_proposal(record: Model) -> RecallProposal | None:
    """``pending_proposal()`` on the asyncio client."""
    return await arun(_pending_call(record))


# ---- on_context_used ---------------------------------------------------------------------------


def _records(records: Sequence[Model], caller: str) -> list[Model]:
    from .._model import Model  # at run time: _model imports this package

    given = cast(object, records)
    if isinstance(given, Model) or not isinstance(given, Sequence):
        raise ModelError(f"{caller}(): records must be a sequence of records, got {records!r}")
    items = list(cast(Sequence[object], given))
    for item in items:
        if not isinstance(item, Model):
            raise ModelError(f"{caller}(): records must hold model records, got {item!r}")
    return cast(list[Model], items)


def _observe_call(record: Model, outcome: Outcome) -> _scripts.Call[Observed]:
    spec = record.__typedis_spec__
    effect = EFFECTS[outcome]
    confs = [f.name for f in spec.fields.values() if isinstance(f.marker, ConfidenceMarker)]
    for name in confs:
        if any(name in ix.fields for ix in spec.indexes if ix.kind.by_text):
            raise ModelError(
                f"{spec.name}.{name}: a Confidence field in a composite index cannot be updated "
                "on the server (its text would change form); assign it and save() instead"
            )
    cycs: list[tuple[str, CyclicDecay]] = [
        (f.name, f.marker) for f in spec.fields.values() if isinstance(f.marker, CyclicDecay)
    ]
    cycs = [(n, m) for n, m in cycs if cycles_of(m) or m.pressure_rate > 0]
    tag, rid = located(record)
    key = _keys.record(tag, rid)
    args: list[_scripts.Arg] = [
        tag,
        rid,
        "" if effect.signal is None else repr(effect.signal),
        "" if effect.factor is None else repr(effect.factor),
        "" if effect.discharge_below is None else repr(effect.discharge_below),
        "1" if effect.resolves else "0",
        len(confs),
    ]
    for name in confs:
        args += [name, repr(_prior(record, name))]
    args.append(len(cycs))
    for name, marker in cycs:
        declared = [c.amplitude for c in cycles_of(marker)]
        since = resolved(name) if marker.pressure_rate > 0 else ""
        args += [amplitudes(name), since, len(declared), *map(repr, declared)]

    def done(reply: list[Any]) -> Observed:
        if reply[0] == b"missing":
            raise not_live(record, "on_context_used")
        if reply[0] == b"nan":
            raise ModelError(
                f"{spec.name}({rid!r}).{reply[1].decode()}: the stored value is not a number "
                "in [0, 1]; nothing was written (save() a valid value first)"
            )
        beliefs: dict[str, float] = {}
        for name, text in zip(confs, reply[1], strict=False):
            beliefs[name] = vars(record)[name] = float(text)
        cycles: dict[str, list[Cycle]] = {}
        for (name, marker), text in zip(cycs, reply[2], strict=False):
            vars(record)[amplitudes(name)] = text.decode()
            cycles[name] = with_amplitudes(marker, stored_amplitudes(marker, text))
        when = None
        if reply[3]:
            when = from_ms(reply[3])
            for name, marker in cycs:
                if marker.pressure_rate > 0:
                    vars(record)[resolved(name)] = reply[3].decode()
        return Observed(key, outcome, beliefs, cycles, when)

    function = _lua.library(spec).function("observe")
    return _scripts.Call(function, (key,), args, done, write=True)


def _observe_calls(
    records: Sequence[Model], outcome_map: Mapping[str, Outcome]
) -> list[_scripts.Call[Observed]]:
    items = _records(records, "on_context_used")
    if not isinstance(cast(object, outcome_map), Mapping):
        raise ModelError(
            f"on_context_used(): outcome_map must map record keys to outcomes, got {outcome_map!r}"
        )
    outcomes = _OUTCOMES.validate_python(dict(outcome_map))
    keys = [_key(r) for r in items]
    unknown = sorted(set(outcomes) - set(keys))
    if unknown:
        raise ModelError(
            f"on_context_used(): outcome_map names {unknown!r}, which are not the keys of any "
            "of the records (use record.redis_key)"
        )
    return [_observe_call(r, outcomes.get(k, "deferred")) for r, k in zip(items, keys, strict=True)]


def on_context_used(records: Sequence[Model], outcome_map: Mapping[str, Outcome]) -> list[Observed]:
    """Apply how an agent used the records in its context, one atomic step per record.

    ============== ===================== ============ =========================== ==========
    outcome        confidence            cycles       pressure                    proposal
    ============== ===================== ============ =========================== ==========
    "acted"        update, signal 0.9    x 1.2        —                           resolved
    "contradicted" update, signal 0.1    x 0.5        discharged if below 0.1     resolved
    "dismissed"    —                     x 0.8        —                           resolved
    "used"         —                     —            —                           resolved
    "deferred"     —                     —            —                           kept
    ============== ===================== ============ =========================== ==========

    Fields a model lacks are skipped: the confidence update applies to each ``Confidence``
    field, the cycles and pressure to each ``CyclicDecay`` field.

    Args:
        records: the stored records that were in the context.
        outcome_map: ``record.redis_key`` -> outcome; records not in it are "deferred".

    Returns:
        What was done to each record, in the order of ``records``.

    Raises:
        ValidationError: an outcome is not one of the five (nothing sent).
        ModelError: ``outcome_map`` names a key of none of the records, or ``records`` holds
            something other than records (nothing sent).
        NotFound: a record is not stored (or expired); the others are applied.
    """
    calls = _observe_calls(records, outcome_map)
    return _scripts.run_many(calls) if calls else []


async def aon_context_used(
    records: Sequence[Model], outcome_map: Mapping[str, Outcome]
) -> list[Observed]:
    """``on_context_used()`` on the asyncio client (one call per record)."""
    return [await arun(call) for call in _observe_calls(records, outcome_map)]
