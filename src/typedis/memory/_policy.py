"""PolicyCache: an action-selection cache learned from outcomes (Popoto's recipe, typed).

Agents log state-action-outcome events (``PolicyOutcome``, a model keeping a change log);
``crystallization_handler`` reads a batch of those changes, counts each touched (state
fingerprint, action) pair's successes through the indexes and creates a ``PolicyEntry`` when the
Wilson lower bound of its success rate is high enough, a Bloom filter skipping pairs that
already have one. ``update_q_value`` moves an entry's Q-value by one TD(0) step, atomically on
the server (``lua/policy_td.lua``). ``temporal_discovery_handler`` tests event times for weekly,
monthly and yearly rhythms (chi-squared, scipy) and returns them as ``Cycle`` values for a
``CyclicDecay`` field.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, cast

from pydantic import Field, TypeAdapter, model_validator

from .. import _keys, _lua, _maintenance, _scripts
from .._errors import ModelError
from .._index.bloom_kind import Fingerprint, FingerprintRef
from .._index.cyclic_kind import Cycle, TemporalPeriod
from .._markers import AutoKey, Confidence, Indexed, Key, Sorted, field, new_id
from .._model import Model
from .._query._query import (
    Steps,
    _adrive,  # pyright: ignore[reportPrivateUsage]
    _drive,  # pyright: ignore[reportPrivateUsage]
    query_call,
)
from .._scripts import arun, run
from ._bloom import filter_at, probe_call
from ._hidden import located, not_live

if TYPE_CHECKING:
    from .._changes import Change

_lua.operation("policy_td")
_FINITE: TypeAdapter[float] = TypeAdapter(Annotated[float, Field(allow_inf_nan=False)])
_RATE: TypeAdapter[float] = TypeAdapter(Annotated[float, Field(ge=0.0, le=1.0)])
_Z = 1.959963984540054  # the standard normal's 97.5% quantile: a 95% two-sided interval


def _whole(text: str) -> list[str]:
    return [text]


def _pair(fingerprint: str, action_type: str) -> str:
    return f"{fingerprint} {action_type}"


def _now() -> datetime:
    return datetime.now(UTC)


def compute_fingerprint(features: Mapping[str, Any]) -> str:
    """A stable fingerprint of a state's features: SHA-256 of their canonical JSON, 16 hex digits.

    Key order does not matter; values must be JSON-ready (str, numbers, bools, None, lists,
    dicts).

    Raises:
        ModelError: a value is not JSON-ready.

    Examples:
        >>> compute_fingerprint({"task": "deploy", "env": "staging"})
        '8a9ba4b4da0a9bc1'
    """
    try:
        canonical = json.dumps(features, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"compute_fingerprint(): features are not JSON-ready: {exc}") from exc
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class PolicyEntry(Model, partition="agent_id", name="memory.PolicyEntry"):
    """A learned policy: in states with this fingerprint, take this action; its Q-value.

    ``pair`` (the fingerprint and action, set from them) feeds the partition's Bloom filter,
    which ``crystallization_handler`` reads to skip pairs that already have an entry. The
    tuning constants are class attributes. Its keys and registry name are
    ``memory.PolicyEntry`` (``{td:memory.PolicyEntry:<agent_id>}``), leaving the name
    ``PolicyEntry`` to the application's own models.

    Examples:
        >>> fp = compute_fingerprint({"task": "deploy", "env": "staging"})
        >>> policy = PolicyEntry(agent_id="agent-1", state_fingerprint=fp,
        ...     state_features={"task": "deploy", "env": "staging"},
        ...     action_type="run_playbook", action_spec={"playbook": "deploy.yml"}).save()
        >>> PolicyEntry.query.filter(PolicyEntry.agent_id == "agent-1",
        ...     PolicyEntry.state_fingerprint == fp).order_by(PolicyEntry.q_value.desc()).first()
    """

    MIN_EVENTS_FOR_CRYSTALLIZATION: ClassVar[int] = 3
    WILSON_CI_THRESHOLD: ClassVar[float] = 0.6
    TD_ALPHA: ClassVar[float] = 0.1
    TD_GAMMA: ClassVar[float] = 0.95
    CHI_SQUARED_P_THRESHOLD: ClassVar[float] = 0.05
    INITIAL_CYCLE_AMPLITUDE: ClassVar[float] = 0.5

    agent_id: Key[str]
    id: AutoKey = field(default_factory=new_id)
    state_fingerprint: Indexed[str]
    action_type: Indexed[str]
    state_features: dict[str, Any] = field(default_factory=dict)
    action_spec: dict[str, Any] = field(default_factory=dict)
    q_value: Sorted[float] = field(default=0.0)
    confidence: Confidence = field(default=0.5)
    visits: int = 0
    pair: Annotated[str, Fingerprint(tokenize=_whole)] = ""

    @model_validator(mode="before")
    @classmethod
    def _fill_pair(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        values = cast("dict[str, object]", data)
        fp, action = values.get("state_fingerprint"), values.get("action_type")
        if values.get("pair") or not isinstance(fp, str) or not isinstance(action, str):
            return values
        return {**values, "pair": _pair(fp, action)}


_PAIR = cast("FingerprintRef[PolicyEntry]", PolicyEntry.pair)
_ENTRY = PolicyEntry.__typedis_spec__


class PolicyOutcome(Model, partition="agent_id", changes=True, name="memory.PolicyOutcome"):
    """One observed outcome: in a state, an agent took an action and it succeeded or not.

    Its change log feeds ``crystallization_handler``; ``occurred_at`` feeds
    ``temporal_discovery_handler``.

    Examples:
        >>> PolicyOutcome(agent_id="agent-1", state_fingerprint=fp, action_type="run_playbook",
        ...     success=True).save()
    """

    agent_id: Key[str]
    id: AutoKey = field(default_factory=new_id)
    state_fingerprint: Indexed[str]
    action_type: Indexed[str]
    success: Indexed[bool]
    state_features: dict[str, Any] = field(default_factory=dict)
    action_spec: dict[str, Any] = field(default_factory=dict)
    occurred_at: datetime = field(default_factory=_now)


_OUTCOME = PolicyOutcome.__typedis_spec__


def wilson_lower_bound(successes: int, total: int, z: float = _Z) -> float:
    """The lower end of the Wilson score interval of a success rate (95% by default).

    ``(p + z²/2n - z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)`` with ``p = successes / n``; 0.0 for
    no trials. Conservative for few trials: 3 successes out of 3 give 0.44, 20 out of 20 give
    0.84.

    Examples:
        >>> round(wilson_lower_bound(3, 3), 4)
        0.4385
    """
    if total <= 0:
        return 0.0
    p, n = successes / total, total
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (p + z * z / (2 * n) - spread) / (1 + z * z / n))  # 0 wins: rounding


def initialize_q_value(policy: PolicyEntry, initial_q: float = 0.5) -> float:
    """Set a stored entry's Q-value (and its index) to ``initial_q``; returns it.

    Raises:
        ValidationError: ``initial_q`` is not a finite number.
        NotFound: the entry is not stored.

    Examples:
        >>> initialize_q_value(policy, initial_q=0.5)
        0.5
    """
    policy.q_value = _FINITE.validate_python(initial_q)
    policy.save(update_fields=[PolicyEntry.q_value])
    return policy.q_value


def _td_call(
    policy: PolicyEntry, reward: float, next_max_q: float, alpha: float | None, gamma: float | None
) -> _scripts.Call[float]:
    if not isinstance(cast(object, policy), PolicyEntry):
        raise ModelError(f"update_q_value(): {policy!r} is not a PolicyEntry")
    a = _RATE.validate_python(PolicyEntry.TD_ALPHA if alpha is None else alpha)
    g = _RATE.validate_python(PolicyEntry.TD_GAMMA if gamma is None else gamma)
    r, nxt = _FINITE.validate_python(reward), _FINITE.validate_python(next_max_q)
    tag, rid = located(policy)
    args: list[_scripts.Arg] = [tag, rid, "q_value", "visits", repr(r), repr(nxt), repr(a), repr(g)]

    def done(reply: list[bytes]) -> float:
        if reply[0] == b"ok":
            policy.q_value, policy.visits = float(reply[1]), policy.visits + 1
            return float(reply[2])
        if reply[0] == b"missing":
            raise not_live(policy, "update_q_value")
        raise ModelError(f"PolicyEntry({rid!r}).q_value: the stored value is not a number")

    function = _lua.library(PolicyEntry.__typedis_spec__).function("policy_td")
    return _scripts.Call(function, (_keys.record(tag, rid),), args, done, write=True)


def update_q_value(
    policy: PolicyEntry,
    reward: float,
    *,
    next_max_q: float = 0.0,
    alpha: float | None = None,
    gamma: float | None = None,
) -> float:
    """One TD(0) update of a stored entry's Q-value, atomically on the server; the TD error.

    ``Q <- Q + alpha * (reward + gamma * next_max_q - Q)``: one script reads Q and writes the
    new value (and its index, and one more visit), so concurrent updates are never lost.
    ``policy`` gets the new Q-value.

    Args:
        policy: a stored PolicyEntry.
        reward: the observed reward, a finite number.
        next_max_q: the best Q-value of the next state (0.0: a terminal step).
        alpha: the learning rate in [0, 1] (default ``PolicyEntry.TD_ALPHA``, 0.1).
        gamma: the discount factor in [0, 1] (default ``PolicyEntry.TD_GAMMA``, 0.95).

    Returns:
        The TD error ``reward + gamma * next_max_q - Q`` (positive: better than expected).

    Raises:
        ValidationError: a number is not finite, or a rate is outside [0, 1] (nothing sent).
        NotFound: the entry is not stored (or expired).
        OutcomeUnknown: the reply was lost; the update happened once or not at all.

    Examples:
        >>> update_q_value(policy, reward=1.0)
        0.5
    """
    return run(_td_call(policy, reward, next_max_q, alpha, gamma))


async def aupdate_q_value(
    policy: PolicyEntry,
    reward: float,
    *,
    next_max_q: float = 0.0,
    alpha: float | None = None,
    gamma: float | None = None,
) -> float:
    """``update_q_value()`` on the asyncio client."""
    return await arun(_td_call(policy, reward, next_max_q, alpha, gamma))


def _crystallize(changes: Iterable[Change[PolicyOutcome]]) -> Steps[list[PolicyEntry]]:
    """The entries a batch justifies, not yet saved: one pipeline of Bloom probes (one per
    agent), then one of counts (two per pair the filters do not know)."""
    groups: dict[tuple[str, str, str], PolicyOutcome] = {}
    for change in changes:
        if change.op == "create" and isinstance(change.record, PolicyOutcome):
            o = change.record
            groups.setdefault((o.agent_id, o.state_fingerprint, o.action_type), o)
    if not groups:
        return []
    agents = sorted({agent for agent, _, _ in groups})
    probes = [
        probe_call(
            filter_at(_PAIR, _maintenance.tag_for(_ENTRY, (a,)), "crystallization_handler"),
            [_pair(fp, act) for agent, fp, act in groups if agent == a],
        )
        for a in agents
    ]
    known: dict[str, dict[str, bool]] = dict(zip(agents, (yield probes), strict=True))
    fresh = [g for g in groups if not known[g[0]][_pair(g[1], g[2])]]
    counts: list[_scripts.Call[Any]] = []
    for agent, fp, action in fresh:
        query = PolicyOutcome.query.filter(
            PolicyOutcome.agent_id == agent,
            PolicyOutcome.state_fingerprint == fp,
            PolicyOutcome.action_type == action,
        )
        won = query.filter(PolicyOutcome.success == True)  # noqa: E712
        counts += [query_call(_OUTCOME, q.plan("count"), int) for q in (query, won)]
    totals: list[int] = (yield counts) if counts else []
    entries: list[PolicyEntry] = []
    for n, group in enumerate(fresh):
        total, wins = totals[2 * n], totals[2 * n + 1]
        bound = wilson_lower_bound(wins, total)
        if total < PolicyEntry.MIN_EVENTS_FOR_CRYSTALLIZATION:
            continue
        if bound <= PolicyEntry.WILSON_CI_THRESHOLD:
            continue
        sample = groups[group]
        entries.append(
            PolicyEntry(
                agent_id=group[0],
                state_fingerprint=group[1],
                action_type=group[2],
                state_features=sample.state_features,
                action_spec=sample.action_spec,
                q_value=wins / total,
                confidence=bound,
                visits=total,
            )
        )
    return entries


def crystallization_handler(changes: Iterable[Change[PolicyOutcome]]) -> list[PolicyEntry]:
    """Create the PolicyEntry records a batch of outcome events justifies; returns them.

    For each (agent, state fingerprint, action) a created outcome of the batch names, the
    outcomes stored for it are counted through the indexes (all of them, not only the batch's);
    an entry is created when there are at least ``MIN_EVENTS_FOR_CRYSTALLIZATION`` and the
    Wilson lower bound of the success rate exceeds ``WILSON_CI_THRESHOLD``, unless the agent's
    Bloom filter says the pair may already have one (about 1% of new pairs are skipped so). The
    entry starts with the success rate as its Q-value and the lower bound as its confidence.
    Three round trips whatever the batch: the Bloom probes, the counts, the saves.

    Examples:
        >>> log = ChangeLog(PolicyOutcome, "crystallizer", "worker-1", partition=("agent-1",))
        >>> batch = log.read(count=100)
        >>> crystallization_handler(batch)
        [PolicyEntry(agent_id='agent-1', ...)]
        >>> log.ack(*batch)
    """
    entries = _drive(_crystallize(changes))
    PolicyEntry.save_many(entries)
    return entries


async def acrystallization_handler(
    changes: Iterable[Change[PolicyOutcome]],
) -> list[PolicyEntry]:
    """``crystallization_handler()`` on the asyncio client."""
    entries = await _adrive(_crystallize(changes))
    await PolicyEntry.asave_many(entries)
    return entries


# (name, period in days, buckets, the bucket of a datetime, the phase of a bucket's middle)
_Rhythm = tuple[str, float, int, Callable[[datetime], int], Callable[[int], float]]
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)
_RHYTHMS: tuple[_Rhythm, ...] = (
    (
        "day_of_week",
        TemporalPeriod.WEEKLY,
        7,
        datetime.weekday,
        lambda b: (b - _EPOCH_WEEKDAY) % 7 + 0.5,
    ),
    (
        "week_of_month",
        TemporalPeriod.MONTHLY,
        4,
        lambda t: min((t.day - 1) // 7, 3),
        lambda b: (b + 0.5) * TemporalPeriod.MONTHLY / 4,
    ),
    (
        "month_of_year",
        TemporalPeriod.YEARLY,
        12,
        lambda t: t.month - 1,
        lambda b: (b + 0.5) * TemporalPeriod.YEARLY / 12,
    ),
)


def _chisquare() -> Callable[[Sequence[int]], tuple[float, float]]:
    try:
        stats = importlib.import_module("scipy.stats")
    except ImportError as exc:
        raise ModelError(
            "temporal_discovery_handler() needs scipy: pip install 'typedis[policy]'"
        ) from exc
    test = cast("Callable[[Sequence[int]], Any]", stats.chisquare)
    return lambda counts: (lambda r: (float(r[0]), float(r[1])))(test(counts))


def temporal_discovery_handler(
    times: Iterable[datetime], *, min_events: int | None = None
) -> list[Cycle]:
    """The weekly, monthly and yearly rhythms of event times, as cycles for a CyclicDecay field.

    Times are counted by day of week (7 buckets), week of month (days 1-7, 8-14, 15-21, 22 on:
    4 buckets) and month of year (12); each histogram is tested against the uniform one by
    Pearson's chi-squared test (scipy). A histogram whose p-value is below
    ``PolicyEntry.CHI_SQUARED_P_THRESHOLD`` gives a ``Cycle`` with that period, amplitude
    ``INITIAL_CYCLE_AMPLITUDE`` and the phase of its busiest bucket's middle (days from the
    epoch, as ``Cycle`` counts them). Naive datetimes are taken as UTC.

    Args:
        times: the events' times.
        min_events: test only with at least this many times (default
            ``MIN_EVENTS_FOR_CRYSTALLIZATION``).

    Raises:
        ModelError: a time is not a datetime, or scipy is not installed.

    Examples:
        >>> mondays = [datetime(2026, 1, 5, tzinfo=UTC) + timedelta(weeks=k) for k in range(8)]
        >>> temporal_discovery_handler(mondays)[0]
        Cycle(period=7.0, amplitude=0.5, phase=4.5)
    """
    given = list(times)
    wrong = [t for t in given if not isinstance(cast(object, t), datetime)]
    if wrong:
        raise ModelError(f"temporal_discovery_handler(): times must be datetimes, got {wrong[0]!r}")
    moments = [t if t.tzinfo else t.replace(tzinfo=UTC) for t in given]
    moments = [t.astimezone(UTC) for t in moments]
    least = PolicyEntry.MIN_EVENTS_FOR_CRYSTALLIZATION if min_events is None else min_events
    if len(moments) < max(least, 1):
        return []
    chisquare = _chisquare()
    cycles: list[Cycle] = []
    for _name, period, buckets, bucket, phase in _RHYTHMS:
        counts = Counter(bucket(t) for t in moments)
        histogram = [counts.get(b, 0) for b in range(buckets)]
        _stat, p = chisquare(histogram)
        if p < PolicyEntry.CHI_SQUARED_P_THRESHOLD:
            peak = max(range(buckets), key=lambda b: (histogram[b], -b))
            cycles.append(Cycle(period, PolicyEntry.INITIAL_CYCLE_AMPLITUDE, phase(peak)))
    return cycles
