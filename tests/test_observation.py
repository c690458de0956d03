"""The observation protocol (typedis.memory): on_read, on_surfaced's pending proposals and
on_context_used's outcome table, each record in one atomic step, against a plain reference."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from pydantic import ValidationError

from typedis import Confidence, Key, KeyMutationError, Model, ModelError, NotFound, field
from typedis._connection import Connection
from typedis.memory import (
    EFFECTS,
    AccessCount,
    ConfidenceData,
    Cycle,
    CyclicDecay,
    Outcome,
    TemporalPeriod,
    aon_context_used,
    aon_read,
    aon_surfaced,
    apending_proposal,
    confirm_access,
    get_confidence_data,
    get_cycles,
    on_context_used,
    on_read,
    on_surfaced,
    pending_proposal,
    resolve_pressure,
)

CYCLES = [Cycle(TemporalPeriod.DAILY, 1.0, 0.0)]


class Memory(Model, partition="agent"):
    agent: Key[str]
    name: Key[str]
    certainty: Confidence = field(default=0.5)
    urge: Annotated[float, CyclicDecay(cycles=CYCLES, pressure_rate=1.0)] = 1.0
    hits: AccessCount = field(default=0)


class OnlyBelief(Model):
    name: Key[str]
    certainty: Confidence = field(default=0.5)


class OnlyCycle(Model):
    name: Key[str]
    urge: Annotated[float, CyclicDecay(cycles=CYCLES)] = 1.0


class Bare(Model):
    name: Key[str]


OUTCOMES: list[Outcome] = ["acted", "used", "dismissed", "deferred", "contradicted"]
SIGNAL = {"acted": 0.9, "contradicted": 0.1}
FACTOR = {"acted": 1.2, "dismissed": 0.8, "contradicted": 0.5}
T0 = datetime(2026, 1, 5, tzinfo=UTC)


def bayes(prior: float, signal: float, n: int) -> float:
    return min(1.0, max(0.0, prior + (signal - prior) / math.sqrt(n + 1)))


def scaled(a: float, factor: float) -> float:
    v = min(100.0, max(0.0, a * factor))
    return 0.0 if v < 0.01 else v


class Reference:
    """What one record should hold after a run of outcomes."""

    def __init__(self, certainty: float = 0.5) -> None:
        self.certainty, self.ups, self.downs, self.amp = certainty, 0, 0, 1.0
        self.discharged = False

    def apply(self, outcome: Outcome) -> None:
        signal = SIGNAL.get(outcome)
        if signal is not None:
            self.certainty = bayes(self.certainty, signal, self.ups + self.downs)
            if signal >= 0.5:
                self.ups += 1
            else:
                self.downs += 1
            self.discharged = outcome == "contradicted" and self.certainty < 0.1
        else:
            self.discharged = False
        if outcome in FACTOR:
            self.amp = scaled(self.amp, FACTOR[outcome])


def test_the_outcome_table(redis_client: redis.Redis) -> None:
    assert {o: (e.signal, e.factor, e.discharge_below, e.resolves) for o, e in EFFECTS.items()} == {
        "acted": (0.9, 1.2, None, True),
        "used": (None, None, None, True),
        "dismissed": (None, 0.8, None, True),
        "deferred": (None, None, None, False),
        "contradicted": (0.1, 0.5, 0.1, True),
    }
    for outcome in OUTCOMES:
        m = Memory(agent="a", name=outcome).save()
        resolve_pressure(m, Memory.urge, at=T0)
        on_surfaced([m], reason="why")
        [done] = on_context_used([m], {m.redis_key: outcome})
        ref = Reference()
        ref.apply(outcome)
        assert done.key == m.redis_key and done.outcome == outcome
        data = get_confidence_data(m, Memory.certainty)
        assert data == ConfidenceData(ref.certainty, ref.ups + ref.downs, ref.ups, ref.downs)
        assert done.confidence == ({"certainty": ref.certainty} if outcome in SIGNAL else {})
        assert m.certainty == ref.certainty
        assert get_cycles(m, Memory.urge) == [CYCLES[0]._replace(amplitude=ref.amp)]
        assert done.cycles == ({"urge": get_cycles(m, Memory.urge)} if outcome in FACTOR else {})
        assert (done.discharged is not None) == ref.discharged  # 0.5 -> 0.0999...: discharged
        assert (pending_proposal(m) is None) == EFFECTS[outcome].resolves
        since = int(redis_client.hget(m.redis_key, "~cy:r:urge") or 0)
        assert (since == round(T0.timestamp() * 1000)) == (not ref.discharged)
    assert Memory.check_indexes()["total"] == 0


def test_a_contradiction_below_01_discharges_the_pressure(redis_client: redis.Redis) -> None:
    m = Memory(agent="a", name="x").save()
    on_context_used([m], {m.redis_key: "acted"})  # one piece of evidence: 0.9
    m.certainty = 0.01
    m.save()  # a save keeps the evidence count
    resolve_pressure(m, Memory.urge, at=T0)
    before = datetime.now(UTC)
    [done] = on_context_used([m], {m.redis_key: "contradicted"})
    assert done.confidence == {"certainty": 0.01 + (0.1 - 0.01) / math.sqrt(2)}
    assert done.discharged is not None and done.discharged >= before - timedelta(seconds=5)
    stored = int(redis_client.hget(m.redis_key, "~cy:r:urge") or 0)
    assert stored == round(done.discharged.timestamp() * 1000)
    # confidence 0.1 or above keeps the pressure
    n = Memory(agent="a", name="y").save()
    on_context_used([n], {n.redis_key: "acted"})
    resolve_pressure(n, Memory.urge, at=T0)
    [kept] = on_context_used([n], {n.redis_key: "contradicted"})
    assert kept.confidence == {"certainty": 0.9 + (0.1 - 0.9) / math.sqrt(2)}
    assert kept.discharged is None


@settings(max_examples=40, deadline=None)
@given(outcomes=st.lists(st.sampled_from(OUTCOMES), max_size=12), prior=st.floats(0.0, 1.0))
def test_runs_of_outcomes_match_the_reference(outcomes: list[Outcome], prior: float) -> None:
    Memory.delete_all()
    m = Memory(agent="a", name="p", certainty=prior).save()
    ref = Reference(prior)
    for outcome in outcomes:
        [done] = on_context_used([m], {m.redis_key: outcome})
        ref.apply(outcome)
        assert (done.discharged is not None) == ref.discharged
    data = get_confidence_data(m, Memory.certainty)
    assert data == ConfidenceData(ref.certainty, ref.ups + ref.downs, ref.ups, ref.downs)
    assert [c.amplitude for c in get_cycles(m, Memory.urge)] == [ref.amp]  # exactly
    assert Memory.check_indexes()["total"] == 0


def test_models_without_the_fields_skip_them() -> None:
    b, c, z = OnlyBelief(name="b").save(), OnlyCycle(name="c").save(), Bare(name="z").save()
    outcome_map: dict[str, Outcome] = {r.redis_key: "acted" for r in (b, c, z)}
    done = on_context_used([b, c, z], outcome_map)
    assert [d.confidence for d in done] == [{"certainty": 0.9}, {}, {}]
    assert [d.cycles for d in done] == [{}, {"urge": [CYCLES[0]._replace(amplitude=1.2)]}, {}]
    assert on_context_used([], {}) == []
    # records left out of the map are deferred: nothing changes
    [deferred] = on_context_used([b], {})
    assert deferred.outcome == "deferred" and deferred.confidence == {}


def test_bad_input_is_refused_before_anything_is_written(redis_client: redis.Redis) -> None:
    m = Memory(agent="a", name="x").save()
    on_surfaced([m])
    before = redis_client.hgetall(m.redis_key)
    with pytest.raises(ValidationError):
        on_context_used([m], {m.redis_key: "liked"})  # type: ignore[dict-item]
    with pytest.raises(ModelError, match="outcome_map names"):
        on_context_used([m], {"{td:Memory:a}:r:nope": "acted"})
    with pytest.raises(ModelError, match="records must"):
        on_context_used(m, {})  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="records must hold"):
        on_context_used([m, "x"], {})  # type: ignore[list-item]
    with pytest.raises(ModelError, match="ttl"):
        on_surfaced([m], ttl=timedelta(0))
    with pytest.raises(ModelError, match="reason"):
        on_surfaced([m], reason=3)  # type: ignore[arg-type]
    assert redis_client.hgetall(m.redis_key) == before


def test_a_missing_record_raises_after_the_others_are_applied(redis_client: redis.Redis) -> None:
    m = Memory(agent="a", name="x").save()
    ghost = Memory(agent="a", name="ghost")
    with pytest.raises(NotFound, match="ghost"):
        on_context_used([ghost, m], {m.redis_key: "acted", ghost.redis_key: "acted"})
    assert get_confidence_data(m, Memory.certainty).evidence_count == 1
    assert not redis_client.exists(ghost.redis_key)
    with pytest.raises(NotFound):
        on_surfaced([ghost])
    with pytest.raises(NotFound):
        on_read(ghost)
    with pytest.raises(NotFound):
        pending_proposal(ghost)


def test_a_corrupt_confidence_refuses_the_whole_step(redis_client: redis.Redis) -> None:
    m = Memory(agent="a", name="x").save()
    redis_client.hset(m.redis_key, "certainty", "7")
    before = redis_client.hgetall(m.redis_key)
    with pytest.raises(ModelError, match="certainty"):
        on_context_used([m], {m.redis_key: "acted"})
    assert redis_client.hgetall(m.redis_key) == before  # the cycles did not move either


def test_proposals_expire_and_live_with_the_record(redis_client: redis.Redis) -> None:
    m = Memory(agent="a", name="x").save()
    [p] = on_surfaced([m], reason="because", ttl=timedelta(minutes=5))
    assert p.key == m.redis_key and p.reason == "because"
    assert p.expires_at - p.surfaced_at == timedelta(minutes=5)
    assert pending_proposal(m) == p
    m.agent = "b"
    m.save(migrate_key=True)
    moved = pending_proposal(m)
    assert moved is not None and moved.key == m.redis_key and moved.reason == "because"
    on_surfaced([m], reason="again", ttl=timedelta(milliseconds=30))
    time.sleep(0.05)
    assert pending_proposal(m) is None  # expired
    assert m.delete()
    assert redis_client.keys("*") == [b"{td:Memory}:partitions"]  # the registry stays


def test_on_read_runs_the_read_hooks() -> None:
    m = Memory(agent="a", name="x").save()
    assert on_read(m) == 1
    assert on_read(m) == 1
    assert confirm_access(m) == 2
    assert on_read(OnlyBelief(name="b").save()) == 0


def test_async_twins(conn: Connection) -> None:
    m = Memory(agent="a", name="x").save()

    async def scenario() -> None:
        [p] = await aon_surfaced([m], reason="r")
        assert await apending_proposal(m) == p
        [done] = await aon_context_used([m], {m.redis_key: "acted"})
        assert done.confidence == {"certainty": 0.9}
        assert await apending_proposal(m) is None
        assert await aon_read(m) == 1
        await conn.aclose()

    asyncio.run(scenario())


# ---- a state machine -------------------------------------------------------------------------

AGENTS = ["a", "b:c"]
NAMES = ["x", "%"]


class ObservationMachine(RuleBasedStateMachine):
    """``Memory`` records against a reference: outcomes, proposals, saves, deletes, moves."""

    client: redis.Redis

    def __init__(self) -> None:
        super().__init__()
        self.client.flushdb()
        self.live: dict[tuple[str, str], Reference] = {}
        self.pending: set[tuple[str, str]] = set()

    @rule(agent=st.sampled_from(AGENTS), name=st.sampled_from(NAMES))
    def save(self, agent: str, name: str) -> None:
        if (agent, name) in self.live:
            return
        Memory(agent=agent, name=name).save()
        self.live[(agent, name)] = Reference()

    @rule(agent=st.sampled_from(AGENTS), name=st.sampled_from(NAMES))
    def surface(self, agent: str, name: str) -> None:
        record = Memory(agent=agent, name=name)
        if (agent, name) not in self.live:
            with pytest.raises(NotFound):
                on_surfaced([record])
            return
        on_surfaced([record])
        self.pending.add((agent, name))

    @rule(
        agent=st.sampled_from(AGENTS),
        name=st.sampled_from(NAMES),
        outcome=st.sampled_from(OUTCOMES),
    )
    def use(self, agent: str, name: str, outcome: Outcome) -> None:
        record = Memory(agent=agent, name=name)
        ref = self.live.get((agent, name))
        if ref is None:
            with pytest.raises(NotFound):
                on_context_used([record], {record.redis_key: outcome})
            return
        on_context_used([record], {record.redis_key: outcome})
        ref.apply(outcome)
        if EFFECTS[outcome].resolves:
            self.pending.discard((agent, name))

    @rule(agent=st.sampled_from(AGENTS), name=st.sampled_from(NAMES))
    def delete(self, agent: str, name: str) -> None:
        assert Memory(agent=agent, name=name).delete() == ((agent, name) in self.live)
        self.live.pop((agent, name), None)
        self.pending.discard((agent, name))

    @rule(
        src=st.tuples(st.sampled_from(AGENTS), st.sampled_from(NAMES)),
        dst=st.tuples(st.sampled_from(AGENTS), st.sampled_from(NAMES)),
    )
    def migrate(self, src: tuple[str, str], dst: tuple[str, str]) -> None:
        if src not in self.live or src == dst:
            return
        record = Memory.load(*src)
        record.agent, record.name = dst
        if dst in self.live:
            with pytest.raises(KeyMutationError):
                record.save(migrate_key=True)
            return
        record.save(migrate_key=True)
        self.live[dst] = self.live.pop(src)
        if src in self.pending:
            self.pending.discard(src)
            self.pending.add(dst)

    @invariant()
    def matches_the_reference(self) -> None:
        for (agent, name), ref in self.live.items():
            record = Memory(agent=agent, name=name)
            data = get_confidence_data(record, Memory.certainty)
            assert data == ConfidenceData(ref.certainty, ref.ups + ref.downs, ref.ups, ref.downs)
            assert [c.amplitude for c in get_cycles(record, Memory.urge)] == [ref.amp]
            assert (pending_proposal(record) is not None) == ((agent, name) in self.pending)
        assert Memory.check_indexes()["total"] == 0


def test_observation_state_machine(redis_client: redis.Redis) -> None:
    ObservationMachine.client = redis_client
    run_state_machine_as_test(
        ObservationMachine,
        settings=settings(max_examples=25, stateful_step_count=25, deadline=None),
    )
