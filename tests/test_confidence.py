"""Bayesian confidence (typedis.memory): the update formula on the server, its evidence in
hidden fields of the record's hash, and its sorted index kept in step through every write."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule, run_state_machine_as_test
from pydantic import ValidationError

from _lifecycle import AGENTS, NAMES, Lifecycle
from typedis import (
    Confidence,
    CorruptRecord,
    Key,
    Model,
    ModelError,
    NotFound,
    Sorted,
    field,
)
from typedis._connection import Connection
from typedis.memory import (
    ConfidenceData,
    aget_confidence,
    aget_confidence_data,
    aupdate_confidence,
    get_confidence,
    get_confidence_data,
    update_confidence,
)
from typedis.memory._confidence import bayesian_update


class Belief(Model, partition="agent"):
    agent: Key[str]
    name: Key[str]
    certainty: Confidence = field(default=0.5)
    trust: Confidence = field(default=0.2)
    rating: Sorted[float] = 0.0


class Other(Model):
    name: Key[str]
    certainty: Confidence = field(default=0.5)


TAG = "{td:Belief:a}"


def reference(prior: float, signals: list[float]) -> float:
    for n, s in enumerate(signals):
        prior = min(1.0, max(0.0, prior + (s - prior) / math.sqrt(n + 1)))
    return prior


def zscore(client: redis.Redis, field: str, rid: str, tag: str = TAG) -> float | None:
    return client.zscore(f"{tag}:z:{field}", rid)


def test_first_update_takes_the_signal_then_evidence_weighs_in(redis_client: redis.Redis) -> None:
    b = Belief(agent="a", name="x").save()
    assert update_confidence(b, Belief.certainty, 0.9) == pytest.approx(0.9)
    assert b.certainty == pytest.approx(0.9)
    second = update_confidence(b, Belief.certainty, 0.1)
    assert second == 0.9 + (0.1 - 0.9) / math.sqrt(2)
    assert Belief.load("a", "x").certainty == second
    assert zscore(redis_client, "certainty", "a:x") == second
    assert get_confidence(b, Belief.certainty) == second
    assert get_confidence_data(b, Belief.certainty) == ConfidenceData(second, 2, 1, 1)
    assert get_confidence_data(b, Belief.trust) == ConfidenceData(0.2, 0, 0, 0)
    assert Belief.check_indexes()["total"] == 0


def test_corroboration_starts_at_half(redis_client: redis.Redis) -> None:
    b = Belief(agent="a", name="x").save()
    for s in (0.5, 0.49999, 1.0, 0.0, 0.5):
        update_confidence(b, Belief.trust, s)
    data = get_confidence_data(b, Belief.trust)
    assert (data.corroborations, data.contradictions, data.evidence_count) == (3, 2, 5)
    assert data.confidence == reference(0.2, [0.5, 0.49999, 1.0, 0.0, 0.5])


def test_queries_rank_by_the_updated_confidence() -> None:
    for name, signal in (("x", 0.2), ("y", 0.9), ("z", 0.5)):
        update_confidence(Belief(agent="a", name=name).save(), Belief.certainty, signal)
    ranked = Belief.query.filter(Belief.agent == "a").order_by(Belief.certainty.desc()).all()
    assert [b.name for b in ranked] == ["y", "z", "x"]
    high = Belief.query.filter(Belief.agent == "a", Belief.certainty >= 0.5).all()
    assert sorted(b.name for b in high) == ["y", "z"]


def test_async_twins(conn: Connection) -> None:
    async def scenario() -> None:
        b = await Belief(agent="a", name="x").asave()
        assert await aupdate_confidence(b, Belief.certainty, 1.0) == 1.0
        assert await aget_confidence(b, Belief.certainty) == 1.0
        assert await aget_confidence_data(b, Belief.certainty) == ConfidenceData(1.0, 1, 1, 0)
        with pytest.raises(NotFound):
            await aupdate_confidence(Belief(agent="a", name="ghost"), Belief.certainty, 0.5)
        await conn.aclose()

    asyncio.run(scenario())


def test_concurrent_updates_each_apply_once(conn: Connection) -> None:
    b = Belief(agent="a", name="x").save()

    async def scenario() -> None:
        await asyncio.gather(*(aupdate_confidence(b, Belief.certainty, 0.75) for _ in range(60)))
        await conn.aclose()

    asyncio.run(scenario())
    assert get_confidence_data(b, Belief.certainty) == ConfidenceData(
        reference(0.5, [0.75] * 60), 60, 60, 0
    )


@pytest.mark.parametrize(
    "signal", [-0.0001, 1.0001, math.nan, math.inf, -math.inf, "0.5", True, None]
)
def test_a_bad_signal_is_refused_before_sending(redis_client: redis.Redis, signal: Any) -> None:
    b = Belief(agent="a", name="x").save()
    before = redis_client.hgetall(f"{TAG}:r:a:x")
    with pytest.raises(ValidationError):
        update_confidence(b, Belief.certainty, signal)
    assert redis_client.hgetall(f"{TAG}:r:a:x") == before


@pytest.mark.parametrize("signal", [0, 1, 0.0, 1.0])
def test_signals_at_the_bounds(signal: float) -> None:
    b = Belief(agent="a", name="x", certainty=1.0 - signal).save()
    assert update_confidence(b, Belief.certainty, signal) == signal
    assert get_confidence_data(b, Belief.certainty).evidence_count == 1


def test_missing_or_expired_records_raise_not_found_and_write_nothing(
    redis_client: redis.Redis,
) -> None:
    with pytest.raises(NotFound, match="update_confidence"):
        update_confidence(Belief(agent="a", name="ghost"), Belief.certainty, 0.5)
    with pytest.raises(NotFound):
        get_confidence_data(Belief(agent="a", name="ghost"), Belief.certainty)
    assert redis_client.dbsize() == 0
    gone = Belief(agent="a", name="x").save(expire_at=datetime.now(UTC) - timedelta(seconds=1))
    before = redis_client.hgetall(f"{TAG}:r:a:x")
    with pytest.raises(NotFound):
        update_confidence(gone, Belief.certainty, 0.9)
    with pytest.raises(NotFound):
        get_confidence(gone, Belief.certainty)
    assert redis_client.hgetall(f"{TAG}:r:a:x") == before


def test_a_wrong_field_is_a_model_error() -> None:
    b = Belief(agent="a", name="x").save()
    other = Other(name="o").save()
    with pytest.raises(ModelError, match="not a Confidence field of Belief"):
        update_confidence(b, Belief.rating, 0.5)  # type: ignore[arg-type]
    with pytest.raises(ModelError):
        update_confidence(b, Other.certainty, 0.5)  # type: ignore[arg-type]
    with pytest.raises(ModelError):
        get_confidence(other, Belief.certainty)  # type: ignore[arg-type]
    with pytest.raises(ModelError):
        update_confidence(b, "certainty", 0.5)  # type: ignore[arg-type]


def test_a_wrong_key_type_is_a_typedis_error_and_writes_nothing(
    redis_client: redis.Redis,
) -> None:
    b = Belief(agent="a", name="x").save()
    redis_client.delete(f"{TAG}:z:certainty")
    redis_client.set(f"{TAG}:z:certainty", "not a zset")
    before = redis_client.hgetall(f"{TAG}:r:a:x")
    with pytest.raises(CorruptRecord) as caught:
        update_confidence(b, Belief.certainty, 0.9)
    assert isinstance(caught.value.__cause__, redis.ResponseError)
    assert redis_client.hgetall(f"{TAG}:r:a:x") == before


def test_a_corrupt_stored_value_is_refused(redis_client: redis.Redis) -> None:
    b = Belief(agent="a", name="x").save()
    redis_client.hset(f"{TAG}:r:a:x", "certainty", "7")
    with pytest.raises(ModelError, match="not a number in"):
        update_confidence(b, Belief.certainty, 0.9)
    assert redis_client.hget(f"{TAG}:r:a:x", "~conf+:certainty") is None


def test_evidence_lives_in_the_record_hash_and_shares_its_life(redis_client: redis.Redis) -> None:
    b = Belief(agent="a", name="x").save()
    update_confidence(b, Belief.certainty, 0.8)
    update_confidence(b, Belief.certainty, 0.3)
    stored = redis_client.hgetall(f"{TAG}:r:a:x")
    assert stored[b"~conf+:certainty"] == b"1" and stored[b"~conf-:certainty"] == b"1"
    assert "~conf+:certainty" not in Belief.load("a", "x").model_dump()
    # a save keeps the evidence; a key migration (to another partition) carries it
    b.rating = 2.0
    b.save()
    b.agent, b.name = "b", "y"
    b.save(migrate_key=True)
    assert not redis_client.exists(f"{TAG}:r:a:x")
    moved = Belief.load("b", "y")
    assert get_confidence_data(moved, Belief.certainty).evidence_count == 2
    assert zscore(redis_client, "certainty", "b:y", "{td:Belief:b}") == moved.certainty
    assert Belief.check_indexes()["total"] == 0
    # delete takes it away: a new record under the key starts without evidence
    moved.delete()
    assert redis_client.keys("*conf*") == [] and not redis_client.exists("{td:Belief:b}:r:b:y")
    fresh = Belief(agent="b", name="y").save()
    assert get_confidence_data(fresh, Belief.certainty).evidence_count == 0


def test_expiry_and_the_sweep_take_the_evidence_away(redis_client: redis.Redis) -> None:
    b = Belief(agent="a", name="x").save()
    update_confidence(b, Belief.certainty, 0.8)
    b.save(expire_at=datetime.now(UTC) - timedelta(seconds=1))
    again = Belief(agent="a", name="x").save()  # over the expired record: a new record
    assert get_confidence_data(again, Belief.certainty) == ConfidenceData(0.5, 0, 0, 0)
    update_confidence(again, Belief.certainty, 0.1)
    again.save(expire_at=datetime.now(UTC) - timedelta(seconds=1))
    assert Belief.sweep_expired() == 1
    assert redis_client.keys() == [b"{td:Belief}:partitions"]  # the registry stays


# ---- properties ------------------------------------------------------------------------------

unit = st.one_of(st.sampled_from([0.0, 1.0, 0.5]), st.floats(0.0, 1.0))


@settings(max_examples=40, deadline=None)
@given(prior=unit, signals=st.lists(unit, max_size=12))
def test_updates_match_the_formula_and_stay_in_range(prior: float, signals: list[float]) -> None:
    Belief.delete_all()
    b = Belief(agent="a", name="p", certainty=prior).save()
    got = [update_confidence(b, Belief.certainty, s) for s in signals]
    expected = [reference(prior, signals[: i + 1]) for i in range(len(signals))]
    assert got == expected  # exactly: the server computes the same doubles
    assert all(0.0 <= c <= 1.0 for c in got)
    data = get_confidence_data(b, Belief.certainty)
    assert data.evidence_count == len(signals)
    assert data.corroborations == sum(s >= 0.5 for s in signals)
    assert data.confidence == (expected[-1] if signals else prior)


@settings(max_examples=40, deadline=None)
@given(history=st.lists(unit, max_size=6), target=unit, repeats=st.integers(1, 8))
def test_a_constant_signal_draws_the_belief_toward_it(
    history: list[float], target: float, repeats: int
) -> None:
    Belief.delete_all()
    b = Belief(agent="a", name="p").save()
    belief = 0.5
    for s in history:
        belief = update_confidence(b, Belief.certainty, s)
    start = abs(belief - target)
    shrink = 1.0  # the distance shrinks by (1 - 1/sqrt(n + 1)) at each update
    for n in range(len(history), len(history) + repeats):
        before = abs(belief - target)
        belief = update_confidence(b, Belief.certainty, target)
        shrink *= 1 - 1 / math.sqrt(n + 1)
        assert abs(belief - target) <= before + 1e-15
        assert abs(belief - target) <= start * shrink + 1e-12
    for n in range(len(history) + repeats, len(history) + repeats + 400):
        belief = bayesian_update(belief, target, n)
    assert abs(belief - target) < 1e-6


# ---- a state machine: updates, saves, deletes, key migration, expiry and the sweep ------------


class ConfidenceMachine(Lifecycle):
    """Records of ``Belief`` against a reference: (certainty, corroborations, contradictions)."""

    model = Belief

    @rule(agent=st.sampled_from(AGENTS), name=st.sampled_from(NAMES), value=unit)
    def save(self, agent: str, name: str, value: float) -> None:
        Belief(agent=agent, name=name, certainty=value).save()
        self.expired.discard((agent, name))
        kept = self.live.get((agent, name), [0.0, 0, 0])
        self.live[(agent, name)] = [value, kept[1], kept[2]]  # an update keeps the evidence

    @rule(agent=st.sampled_from(AGENTS), name=st.sampled_from(NAMES), signal=unit)
    def update(self, agent: str, name: str, signal: float) -> None:
        record = Belief(agent=agent, name=name)
        state = self.live.get((agent, name))
        if state is None:
            with pytest.raises(NotFound):
                update_confidence(record, Belief.certainty, signal)
            return
        state[0] = bayesian_update(state[0], signal, state[1] + state[2])
        state[1 if signal >= 0.5 else 2] += 1
        assert update_confidence(record, Belief.certainty, signal) == state[0]

    @invariant()
    def matches_the_reference(self) -> None:
        for (agent, name), (value, ups, downs) in self.live.items():
            data = get_confidence_data(Belief(agent=agent, name=name), Belief.certainty)
            assert data == ConfidenceData(value, ups + downs, ups, downs)
        for agent, name in self.expired:
            with pytest.raises(NotFound):
                get_confidence(Belief(agent=agent, name=name), Belief.certainty)
        stored = {k.decode() for k in self.client.scan_iter("*:r:*")}
        held = self.live.keys() | self.expired
        assert stored == {Belief(agent=a, name=n).redis_key for a, n in held}
        assert Belief.check_indexes()["total"] == 0


def test_confidence_state_machine(redis_client: redis.Redis) -> None:
    ConfidenceMachine.client = redis_client
    run_state_machine_as_test(
        ConfidenceMachine,
        settings=settings(max_examples=30, stateful_step_count=25, deadline=None),
    )
