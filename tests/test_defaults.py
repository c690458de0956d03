"""``Defaults``, ``InteractionWeight`` and the write filter (``typedis.memory``).

The registry holds the shipped values; each primitive reads it when a field or a call is
declared (a model class created before a change keeps its values), and explicit arguments
always win. The write filter decides from a score and stores it in a sorted ``Priority`` field.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis
from pydantic import ValidationError

from typedis import Confidence, Decaying, Key, Model, ModelError, field
from typedis._connection import Connection
from typedis._index import access_kind, bloom_kind, cooccurrence_kind, decay_kind
from typedis.memory import (
    AccessCount,
    Associations,
    CoOccurrence,
    Defaults,
    Fingerprint,
    Fingerprinted,
    InteractionWeight,
    Predictions,
    Priority,
    WriteDecision,
    access_log,
    afiltered_save,
    confirm_access,
    decide_write,
    filtered_save,
    get_confidence,
    link,
    update_confidence,
)
from typedis.memory._confidence import DEFAULT_CONFIDENCE, bayesian_update

SHIPPED = {
    "DECAY_RATE": 0.1,
    "DECAY_CURVE": "exponential",
    "INITIAL_CONFIDENCE": 0.5,
    "ACTED_CONFIDENCE_SIGNAL": 0.9,
    "CONTRADICTED_CONFIDENCE_SIGNAL": 0.1,
    "ACTED_CYCLE_STRENGTHEN_FACTOR": 1.2,
    "DISMISSED_CYCLE_WEAKEN_FACTOR": 0.8,
    "CONTRADICTED_CYCLE_WEAKEN_FACTOR": 0.5,
    "AUTO_DISCHARGE_CONFIDENCE_THRESHOLD": 0.1,
    "WF_MIN_THRESHOLD": 0.2,
    "WF_PRIORITY_THRESHOLD": 0.7,
    "CO_OCCURRENCE_DECAY_FACTOR": 0.95,
    "CO_OCCURRENCE_INITIAL_WEIGHT": 1.0,
    "CO_OCCURRENCE_DECAY_PER_HOP": 0.5,
    "PL_CONFIDENCE_ERROR_THRESHOLD": 0.7,
    "PL_CONFIDENCE_LOW_SIGNAL": 0.2,
    "PL_AUTO_RESOLVE_ACTED": 0.1,
    "PL_AUTO_RESOLVE_DISMISSED": 0.5,
    "PL_AUTO_RESOLVE_CONTRADICTED": 0.9,
    "PL_AUTO_RESOLVE_USED": 0.3,
    "BLOOM_ERROR_RATE": 0.01,
    "BLOOM_CAPACITY": 100_000,
    "ACCESS_LOG_SIZE": 100,
}


@pytest.fixture(autouse=True)
def _restore_defaults() -> Iterator[None]:
    saved = {name: getattr(Defaults, name) for name in SHIPPED}
    yield
    for name, value in saved.items():
        setattr(Defaults, name, value)


def test_the_registry_holds_the_shipped_values() -> None:
    assert {name: getattr(Defaults, name) for name in SHIPPED} == SHIPPED
    assert {n for n in vars(Defaults) if n.isupper()} == set(SHIPPED)
    # the modules' own constants are the same values
    assert (decay_kind.DEFAULT_RATE, decay_kind.DEFAULT_CURVE) == (0.1, "exponential")
    assert (bloom_kind.DEFAULT_ERROR_RATE, bloom_kind.DEFAULT_CAPACITY) == (0.01, 100_000)
    assert (
        cooccurrence_kind.DECAY_FACTOR,
        cooccurrence_kind.INITIAL_WEIGHT,
        cooccurrence_kind.DECAY_PER_HOP,
    ) == (0.95, 1.0, 0.5)
    assert access_kind.LOG_SIZE == 100 and DEFAULT_CONFIDENCE == 0.5


def _decay_options(model: type[Model]) -> dict[str, object]:
    (index,) = [i for i in model.__typedis_spec__.indexes if i.kind.name == "decay"]
    return dict(index.options)


def test_decay_defaults_are_read_when_the_class_is_created() -> None:
    class Before(Model):
        id: Key[str]
        score: Decaying[float] = field(default=1.0)

    Defaults.DECAY_RATE, Defaults.DECAY_CURVE = 0.5, "power"

    class After(Model):
        id: Key[str]
        score: Decaying[float] = field(default=1.0)

    class Explicit(Model):
        id: Key[str]
        score: Decaying[float] = field(default=1.0, rate=0.3, curve="exponential")

    assert _decay_options(Before) == {"rate": 0.1, "curve": "exponential"}  # unchanged
    assert _decay_options(After) == {"rate": 0.5, "curve": "power"}
    assert _decay_options(Explicit) == {"rate": 0.3, "curve": "exponential"}  # explicit wins


def test_marker_defaults_are_read_when_the_marker_is_made() -> None:
    Defaults.BLOOM_ERROR_RATE, Defaults.BLOOM_CAPACITY = 0.05, 1000
    Defaults.CO_OCCURRENCE_DECAY_FACTOR, Defaults.CO_OCCURRENCE_DECAY_PER_HOP = 0.8, 0.25
    assert (Fingerprint().error_rate, Fingerprint().capacity) == (0.05, 1000)
    assert Fingerprint(error_rate=0.2, capacity=7) == Fingerprint(error_rate=0.2, capacity=7)
    assert (CoOccurrence().decay, CoOccurrence().hop_decay) == (0.8, 0.25)
    assert CoOccurrence(decay=0.5).decay == 0.5
    # the shorthands were made at import: they keep the shipped values
    assert Fingerprinted.__metadata__[0].error_rate == 0.01  # type: ignore[attr-defined]


class Edge(Model):
    id: Key[str]
    related: Associations = field(default=None)


def test_link_reads_its_default_weight_at_the_call() -> None:
    a, b, c = (Edge(id=i).save() for i in "abc")
    assert link(Edge.related, a, b) == 1.0
    Defaults.CO_OCCURRENCE_INITIAL_WEIGHT = 3.0
    assert link(Edge.related, a, c) == 3.0
    assert link(Edge.related, b, c, weight=2.0) == 2.0  # explicit wins


def test_access_log_size_is_read_when_the_class_is_created() -> None:
    Defaults.ACCESS_LOG_SIZE = 2

    class Seen(Model):
        id: Key[str]
        hits: AccessCount = field(default=0)

    Defaults.ACCESS_LOG_SIZE = 100  # later changes do not reach Seen
    s = Seen(id="s").save()
    for _ in range(3):
        Seen.load("s")
    assert confirm_access(s) == 3
    assert len(access_log(s)) == 2


def test_initial_confidence_is_the_prior_without_a_value(redis_client: redis.Redis) -> None:
    class DfBelief(Model):
        id: Key[str]
        sure: Confidence  # no default

    b = DfBelief(id="b", sure=0.3).save()
    key = "{td:DfBelief}:r:b"
    redis_client.hdel(key, "sure")  # e.g. stored before the field existed
    redis_client.hset(key, "~conf+:sure", 1)
    Defaults.INITIAL_CONFIDENCE = 0.9  # read at the call
    assert get_confidence(b, DfBelief.sure) == 0.9
    assert update_confidence(b, DfBelief.sure, 0.1) == bayesian_update(0.9, 0.1, 1)


# ---- interaction weights ---------------------------------------------------------------------


def test_interaction_weights() -> None:
    w = InteractionWeight
    assert (w.HUMAN, w.AGENT, w.SYSTEM) == (6.0, 1.0, 0.2)
    assert (w.EXECUTIVE, w.MANAGER, w.PEER, w.SUBORDINATE) == (44.0, 16.0, 6.0, 1.0)
    assert w.combine(w.HUMAN, w.EXECUTIVE) == 50.0
    assert w.combine(w.AGENT, w.PEER) == 7.0
    assert w.combine(w.SYSTEM, w.SUBORDINATE) == 1.2
    for bad in (-1.0, float("nan"), float("inf"), True, "1"):
        with pytest.raises(ModelError, match="source must be a finite number >= 0"):
            w.combine(bad, 1.0)  # type: ignore[arg-type]


# ---- write filter ----------------------------------------------------------------------------


def test_decide_write_thresholds() -> None:
    assert decide_write(0.1) == WriteDecision(0.1, False, False)
    assert decide_write(0.2) == WriteDecision(0.2, True, False)  # at the minimum: written
    assert decide_write(0.7) == WriteDecision(0.7, True, False)  # at the priority: not above
    assert decide_write(0.71) == WriteDecision(0.71, True, True)
    Defaults.WF_MIN_THRESHOLD, Defaults.WF_PRIORITY_THRESHOLD = 0.5, 0.9
    assert decide_write(0.4).write is False and decide_write(0.8).priority is False
    decision = decide_write(0.4, min_threshold=0.3, priority_threshold=0.35)  # explicit wins
    assert decision == WriteDecision(0.4, True, True)
    with pytest.raises(ValidationError):
        decide_write(1.5)
    with pytest.raises(ValidationError):
        decide_write("0.5")  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="min_threshold must be"):
        decide_write(0.5, min_threshold=-1)
    with pytest.raises(ModelError, match="exceeds priority_threshold"):
        decide_write(0.5, min_threshold=0.8, priority_threshold=0.6)


class DfNote(Model):
    id: Key[str]
    priority: Priority = field(default=0.0)
    predictions: Predictions = field(default=None)


def test_filtered_save_writes_only_what_passes(redis_client: redis.Redis) -> None:
    low = filtered_save(DfNote(id="low"), DfNote.priority, 0.1)
    assert low == WriteDecision(0.1, False, False)
    assert redis_client.keys("*") == []
    assert filtered_save(DfNote(id="mid"), DfNote.priority, 0.5).priority is False
    assert filtered_save(DfNote(id="top"), DfNote.priority, 0.9).priority is True
    assert DfNote.load("top").priority == 0.9
    ranked = DfNote.query.order_by(DfNote.priority.desc()).all()
    assert [n.id for n in ranked] == ["top", "mid"]
    assert [n.id for n in DfNote.query.filter(DfNote.priority > 0.7).all()] == ["top"]
    assert DfNote.check_indexes()["total"] == 0
    with pytest.raises(ModelError, match="Priority"):
        filtered_save(DfNote(id="x"), DfNote.id, 0.5)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        DfNote(id="x", priority=1.5)


def test_afiltered_save(conn: Connection) -> None:
    async def main() -> None:
        assert (await afiltered_save(DfNote(id="a"), DfNote.priority, 0.8)).priority
        assert not (await afiltered_save(DfNote(id="b"), DfNote.priority, 0.0)).write
        await conn.aclose()

    asyncio.run(main())
    assert [n.id for n in DfNote.query.all()] == ["a"]
