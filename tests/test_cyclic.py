"""Cyclic decay (typedis.memory): the score (decay + resonance + pressure) against a plain
Python reference, amplitude scaling at its edges, the exact top-N at arbitrary times against
brute force, and the hidden state through delete, expiry, the sweep and key migration."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule, run_state_machine_as_test
from pydantic import ValidationError

from _lifecycle import AGENTS, NAMES, Lifecycle
from typedis import Indexed, Key, Model, ModelError, NotFound
from typedis._connection import Connection
from typedis.memory import (
    Cycle,
    CyclicDecay,
    CyclicDecaying,
    TemporalPeriod,
    acyclic_score,
    aget_cycles,
    aresolve_pressure,
    astrengthen_cycle,
    atop_by_cyclic,
    aweaken_cycle,
    cyclic_score,
    get_cycles,
    resolve_pressure,
    strengthen_cycle,
    top_by_cyclic,
    weaken_cycle,
)

CYCLES = [Cycle(TemporalPeriod.DAILY, 1.0, 0.375), Cycle(TemporalPeriod.WEEKLY, 2.5, 3.0)]
RATE, PRESSURE = 0.2, 0.5


class Habit(Model, partition="agent"):
    agent: Key[str]
    name: Key[str]
    topic: Indexed[str] = "x"
    urge: Annotated[float | None, CyclicDecay(cycles=CYCLES, pressure_rate=PRESSURE, rate=RATE)] = (
        1.0
    )


class CyPlain(Model):
    name: Key[str]
    level: CyclicDecaying[float] = 2.0


TAG = "{td:Habit:a}"
DAY = 86_400_000
T0 = datetime(2026, 1, 5, 12, tzinfo=UTC)


def ms(at: datetime) -> int:
    return round(at.timestamp() * 1000)


def reference(
    base: float, touched: int, since: int, amps: list[float], at: int, cycles: list[Cycle] = CYCLES
) -> float:
    """The documented formula, written out independently of the package."""
    value = base * math.exp(-RATE * (max(at - touched, 0) / DAY))
    t = at / DAY
    for c, a in zip(cycles, amps, strict=True):
        value = value + a * math.cos(2 * math.pi * (t - c.phase) / c.period)
    return value + PRESSURE * max(at - since, 0) / DAY


def scaled(a: float, factor: float) -> float:
    v = min(100.0, max(0.0, a * factor))
    return 0.0 if v < 0.01 else v


def amps(record: Model) -> list[float]:
    return [c.amplitude for c in get_cycles(record, Habit.urge)]


# ---- the operations --------------------------------------------------------------------------


def test_strengthen_and_weaken_scale_every_amplitude(redis_client: redis.Redis) -> None:
    h = Habit(agent="a", name="x").save()
    assert get_cycles(h, Habit.urge) == CYCLES
    stronger = [c._replace(amplitude=c.amplitude * 1.2) for c in CYCLES]
    assert strengthen_cycle(h, Habit.urge) == stronger
    assert amps(h) == [1.2, 2.5 * 1.2]
    assert weaken_cycle(h, Habit.urge) == [
        c._replace(amplitude=c.amplitude * 1.2 * 0.8) for c in CYCLES
    ]
    assert Habit.load("a", "x").urge == 1.0  # the value is untouched
    assert Habit.check_indexes()["total"] == 0


def test_amplitudes_clamp_at_100_and_snap_to_zero_below_001() -> None:
    h = Habit(agent="a", name="x").save()
    assert amps(h) == [1.0, 2.5]
    assert amps_after(h, 1000.0) == [100.0, 100.0]
    assert amps_after(h, 0.0001) == [0.01, 0.01]  # 100 * 0.0001 = 0.01: kept
    assert amps_after(h, 0.99) == [0.0, 0.0]  # 0.0099 snaps to 0
    assert amps_after(h, 5.0) == [0.0, 0.0]  # a snapped cycle stays off
    assert amps_after(h, 0.0) == [0.0, 0.0]


def amps_after(h: Habit, factor: float) -> list[float]:
    return [c.amplitude for c in strengthen_cycle(h, Habit.urge, factor)]


@settings(max_examples=40, deadline=None)
@given(factors=st.lists(st.floats(0.0, 50.0), max_size=8))
def test_scaling_matches_the_reference(factors: list[float]) -> None:
    Habit.delete_all()
    h = Habit(agent="a", name="p").save()
    expected = [c.amplitude for c in CYCLES]
    for f in factors:
        expected = [scaled(a, f) for a in expected]
        assert amps_after(h, f) == expected  # exactly: the server computes the same doubles
    assert amps(h) == expected


@pytest.mark.parametrize("factor", [-0.1, math.nan, math.inf, "2", None, True])
def test_bad_factors_are_refused_before_anything_is_sent(
    redis_client: redis.Redis, factor: Any
) -> None:
    h = Habit(agent="a", name="x").save()
    before = redis_client.hgetall(h.redis_key)
    with pytest.raises(ValidationError):
        strengthen_cycle(h, Habit.urge, factor)
    assert redis_client.hgetall(h.redis_key) == before


def test_refusals_name_the_problem_and_write_nothing(redis_client: redis.Redis) -> None:
    h = Habit(agent="a", name="x").save()
    with pytest.raises(ModelError, match="not a CyclicDecay field"):
        strengthen_cycle(h, Habit.topic)  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="not a CyclicDecay field"):
        cyclic_score(h, CyPlain.level)  # type: ignore[arg-type]
    p = CyPlain(name="p").save()
    with pytest.raises(ModelError, match="declares no cycles"):
        strengthen_cycle(p, CyPlain.level)
    with pytest.raises(ModelError, match="pressure_rate 0"):
        resolve_pressure(p, CyPlain.level)
    ghost = Habit(agent="a", name="ghost")
    for call in (
        lambda: strengthen_cycle(ghost, Habit.urge),
        lambda: resolve_pressure(ghost, Habit.urge),
        lambda: get_cycles(ghost, Habit.urge),
        lambda: cyclic_score(ghost, Habit.urge),
    ):
        with pytest.raises(NotFound):
            call()
    gone = Habit(agent="a", name="gone").save(expire_at=datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(NotFound):
        weaken_cycle(gone, Habit.urge)
    assert not redis_client.exists(ghost.redis_key)
    assert b"~cy:a:urge" not in redis_client.hgetall(gone.redis_key)
    with pytest.raises(ModelError, match="n must be an int"):
        top_by_cyclic(Habit.query.filter(Habit.agent == "a"), Habit.urge, n=-1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rate": 0}, "rate"),
        ({"rate": math.inf}, "rate"),
        ({"pressure_rate": -1}, "pressure_rate"),
        ({"cycles": [(1.0, 101.0, 0.0)]}, "amplitude in"),
        ({"cycles": [(0.0, 1.0, 0.0)]}, "period > 0"),
        ({"cycles": [(1.0, "big", 0.0)]}, "triples"),
    ],
)
def test_bad_declarations_raise_model_error(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ModelError, match=message):

        class Bad(Model):
            name: Key[str]
            v: Annotated[float, CyclicDecay(**options)] = 1.0


def test_a_cyclic_field_needs_a_number() -> None:
    with pytest.raises(ModelError, match="int or float"):

        class Bad(Model):
            name: Key[str]
            v: Annotated[str, CyclicDecay()] = ""


def test_the_score_follows_the_formula(redis_client: redis.Redis) -> None:
    h = Habit(agent="a", name="x", urge=3.0).save()
    h.touch(Habit.urge, at=T0)
    assert resolve_pressure(h, Habit.urge, at=T0 + timedelta(hours=6)) == T0 + timedelta(hours=6)
    strengthen_cycle(h, Habit.urge, 2.0)
    for days in (0.0, 0.25, 1.0, 3.5, 40.0, -1.0):
        at = T0 + timedelta(days=days)
        expected = reference(3.0, ms(T0), ms(T0) + DAY // 4, [2.0, 5.0], ms(at))
        assert cyclic_score(h, Habit.urge, at) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    # resolving discharges the pressure: right after, only decay and resonance are left
    resolve_pressure(h, Habit.urge, at=T0 + timedelta(days=2))
    at = T0 + timedelta(days=2)
    assert cyclic_score(h, Habit.urge, at) == pytest.approx(
        reference(3.0, ms(T0), ms(at), [2.0, 5.0], ms(at)), rel=1e-12
    )
    # the default field: plain exponential decay
    p = CyPlain(name="p").save()
    p.touch(CyPlain.level, at=T0)
    assert cyclic_score(p, CyPlain.level, T0 + timedelta(days=3)) == pytest.approx(
        2.0 * math.exp(-0.1 * 3)
    )


def test_a_new_value_restarts_the_decay_but_keeps_cycles_and_pressure(
    redis_client: redis.Redis,
) -> None:
    h = Habit(agent="a", name="x").save()
    resolve_pressure(h, Habit.urge, at=T0)
    strengthen_cycle(h, Habit.urge, 3.0)
    h.urge = 5.0
    h.save()
    stored = redis_client.hgetall(h.redis_key)
    assert stored[b"~cy:r:urge"] == str(ms(T0)).encode()
    assert abs(int(stored[b"~t:urge"]) - ms(datetime.now(UTC))) < 60_000
    assert amps(h) == [3.0, 7.5]
    assert redis_client.zscore(f"{TAG}:y:urge", "a:x") == 5.0
    h.urge = None
    h.save()
    assert redis_client.zscore(f"{TAG}:y:urge", "a:x") is None
    assert b"~t:urge" not in redis_client.hgetall(h.redis_key)
    with pytest.raises(ModelError, match="holds None"):
        cyclic_score(h, Habit.urge)
    assert Habit.check_indexes()["total"] == 0


# ---- ranking ---------------------------------------------------------------------------------

record_st = st.tuples(
    st.one_of(st.none(), st.floats(0.0, 10.0)),  # base
    st.floats(-20.0, 0.0),  # touched, days before T0
    st.floats(-20.0, 0.0),  # resolved, days before T0
    st.floats(0.0, 5.0),  # amplitude factor
)


@settings(max_examples=30, deadline=None)
@given(
    records=st.lists(record_st, min_size=1, max_size=12),
    later=st.floats(-5.0, 60.0),
    n=st.integers(0, 14),
)
def test_top_n_matches_brute_force_at_any_time(
    records: list[tuple[float | None, float, float, float]], later: float, n: int
) -> None:
    Habit.delete_all()
    at = T0 + timedelta(days=later)
    scores: dict[str, float] = {}
    for i, (base, touched, since, factor) in enumerate(records):
        h = Habit(agent="a", name=f"r{i:02d}", urge=base).save()
        touched_at = T0 + timedelta(days=touched)
        resolve_pressure(h, Habit.urge, at=T0 + timedelta(days=since))
        amplitudes = [c.amplitude for c in strengthen_cycle(h, Habit.urge, factor)]
        if base is not None:
            h.touch(Habit.urge, at=touched_at)
            scores[h.name] = reference(
                base, ms(touched_at), ms(T0 + timedelta(days=since)), amplitudes, ms(at)
            )
    got = [h.name for h in top_by_cyclic(Habit.query.filter(Habit.agent == "a"), Habit.urge, n, at)]
    ranked = sorted(scores, key=lambda k: (-scores[k], k))
    nones = sorted({f"r{i:02d}" for i in range(len(records))} - scores.keys())
    expected = (ranked + nones)[:n]
    assert len(got) == len(expected)
    assert [scores.get(k) for k in got] == pytest.approx([scores.get(k) for k in expected])
    assert got[len(ranked) :] == expected[len(ranked) :]  # no value: last, by id
    # pages of the same order: offset and limit slice it
    everything = [*ranked, *nones]
    query = Habit.query.filter(Habit.agent == "a").order_by(Habit.urge.decayed(at))
    page = [h.name for h in query.offset(n // 2).limit(3).all()]
    assert [scores.get(k) for k in page] == pytest.approx(
        [scores.get(k) for k in everything[n // 2 : n // 2 + 3]]
    )


def test_top_n_composes_with_filters_and_changes_with_time() -> None:
    quiet = Habit(agent="a", name="quiet", topic="t", urge=5.0).save()
    pushy = Habit(agent="a", name="pushy", topic="t", urge=1.0).save()
    Habit(agent="a", name="other", topic="u", urge=100.0).save()
    for h in (quiet, pushy):
        h.touch(Habit.urge, at=T0)
        resolve_pressure(h, Habit.urge, at=T0)
    strengthen_cycle(quiet, Habit.urge, 0.0)
    strengthen_cycle(pushy, Habit.urge, 0.0)
    query = Habit.query.filter(Habit.agent == "a", Habit.topic == "t")
    assert [h.name for h in top_by_cyclic(query, Habit.urge, 1, T0)] == ["quiet"]
    # 30 days on, the base has decayed away and the unresolved pressure dominates
    far = T0 + timedelta(days=30)
    resolve_pressure(quiet, Habit.urge, at=T0 + timedelta(days=29))
    assert [h.name for h in top_by_cyclic(query, Habit.urge, 2, far)] == ["pushy", "quiet"]
    assert [h.name for h in query.top_by_decay(Habit.urge, n=2, at=far)] == ["pushy", "quiet"]
    assert "cyclic score" in query.order_by(Habit.urge.decayed(far)).explain()


# ---- where the state lives -------------------------------------------------------------------


def test_delete_expiry_sweep_and_migration(redis_client: redis.Redis) -> None:
    h = Habit(agent="a", name="x").save()
    strengthen_cycle(h, Habit.urge, 2.0)
    resolve_pressure(h, Habit.urge, at=T0)
    h.agent, h.name = "b", "y"
    h.save(migrate_key=True)
    assert amps(h) == [2.0, 5.0]
    assert redis_client.hget(h.redis_key, "~cy:r:urge") == str(ms(T0)).encode()
    assert redis_client.zscore("{td:Habit:b}:y:urge", "b:y") == 1.0
    assert redis_client.zscore(f"{TAG}:y:urge", "a:x") is None
    assert Habit.check_indexes()["total"] == 0
    assert h.delete()
    assert not redis_client.exists("{td:Habit:b}:y:urge")
    e = Habit(agent="a", name="e").save()
    strengthen_cycle(e, Habit.urge, 3.0)
    e.save(expire_at=datetime.now(UTC) - timedelta(seconds=1))
    again = Habit(agent="a", name="e").save()  # over the expired record: a new record
    assert amps(again) == [1.0, 2.5]
    again.save(expire_at=datetime.now(UTC) - timedelta(seconds=1))
    assert Habit.sweep_expired() == 1
    assert redis_client.keys("*") == [b"{td:Habit}:partitions"]  # the registry stays
    assert Habit.check_indexes()["total"] == 0


def test_async_twins(conn: Connection) -> None:
    h = Habit(agent="a", name="x").save()
    h.touch(Habit.urge, at=T0)

    async def scenario() -> None:
        assert await astrengthen_cycle(h, Habit.urge, 2.0) == get_cycles(h, Habit.urge)
        assert [c.amplitude for c in await aweaken_cycle(h, Habit.urge)] == [1.6, 4.0]
        assert await aget_cycles(h, Habit.urge) == get_cycles(h, Habit.urge)
        assert await aresolve_pressure(h, Habit.urge, at=T0) == T0
        at = T0 + timedelta(days=1)
        assert await acyclic_score(h, Habit.urge, at) == cyclic_score(h, Habit.urge, at)
        query = Habit.query.filter(Habit.agent == "a")
        assert [r.name for r in await atop_by_cyclic(query, Habit.urge, 5, at)] == ["x"]
        await conn.aclose()

    asyncio.run(scenario())


# ---- a state machine -------------------------------------------------------------------------


class CyclicMachine(Lifecycle):
    """``Habit`` records against a reference: (value, amplitudes, resolved ms or None)."""

    model = Habit

    @rule(
        agent=st.sampled_from(AGENTS),
        name=st.sampled_from(NAMES),
        value=st.one_of(st.none(), st.floats(0, 10)),
    )
    def save(self, agent: str, name: str, value: float | None) -> None:
        Habit(agent=agent, name=name, urge=value).save()
        self.expired.discard((agent, name))
        kept = self.live.get((agent, name), [None, [1.0, 2.5], None])
        self.live[(agent, name)] = [value, kept[1], kept[2]]

    @rule(
        agent=st.sampled_from(AGENTS),
        name=st.sampled_from(NAMES),
        factor=st.sampled_from([0.0, 0.5, 0.8, 1.2, 3.0, 200.0]),
    )
    def scale(self, agent: str, name: str, factor: float) -> None:
        record = Habit(agent=agent, name=name)
        state = self.live.get((agent, name))
        if state is None:
            with pytest.raises(NotFound):
                strengthen_cycle(record, Habit.urge, factor)
            return
        state[1] = [scaled(a, factor) for a in state[1]]
        assert [c.amplitude for c in strengthen_cycle(record, Habit.urge, factor)] == state[1]

    @rule(agent=st.sampled_from(AGENTS), name=st.sampled_from(NAMES), day=st.integers(0, 30))
    def resolve(self, agent: str, name: str, day: int) -> None:
        record = Habit(agent=agent, name=name)
        state = self.live.get((agent, name))
        at = T0 + timedelta(days=day)
        if state is None:
            with pytest.raises(NotFound):
                resolve_pressure(record, Habit.urge, at=at)
            return
        assert resolve_pressure(record, Habit.urge, at=at) == at
        state[2] = ms(at)

    @invariant()
    def matches_the_reference(self) -> None:
        for (agent, name), (value, amplitudes, since) in self.live.items():
            record = Habit(agent=agent, name=name)
            assert [c.amplitude for c in get_cycles(record, Habit.urge)] == amplitudes
            stored = self.client.hget(record.redis_key, "~cy:r:urge")
            if since is not None:
                assert stored == str(since).encode()
            else:  # set when the record first got a value (or never, if it never had one)
                assert (stored is None) == (value is None) or stored is not None
        for agent, name in self.expired:
            with pytest.raises(NotFound):
                get_cycles(Habit(agent=agent, name=name), Habit.urge)
        assert Habit.check_indexes()["total"] == 0


def test_cyclic_state_machine(redis_client: redis.Redis) -> None:
    CyclicMachine.client = redis_client
    run_state_machine_as_test(
        CyclicMachine,
        settings=settings(max_examples=25, stateful_step_count=25, deadline=None),
    )
