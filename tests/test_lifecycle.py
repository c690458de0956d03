"""MemoryLifecycle (typedis.memory): promotion and auto-forget by their thresholds, a tick that
reads only candidates found through the indexes, and decisions applied only to records that
still hold what the tick read."""

from __future__ import annotations

import asyncio
import math
import threading
from datetime import UTC, datetime, timedelta

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from _util import command_calls
from typedis import (
    AutoKey,
    ChangeLog,
    Confidence,
    Decaying,
    Indexed,
    Key,
    Model,
    ModelError,
    NotFound,
    Sorted,
    field,
    new_id,
)
from typedis._connection import Connection
from typedis.memory import (
    AccessCount,
    LifecycleState,
    MemoryLifecycle,
    TickResult,
    confirm_access,
    update_confidence,
)


class LifeMemory(Model, partition="agent"):
    agent: Key[str]
    id: AutoKey = field(default_factory=new_id)
    content: str = ""
    tier: Indexed[str] = field(default="episodic")
    relevance: Decaying[float] = field(default=1.0, rate=0.5)
    certainty: Confidence = field(default=0.5)
    hits: AccessCount = field(default=0)
    created: Sorted[datetime | None] = field(default=None, auto_now_add=True)


def lifecycle(agent: str = "a1", **hooks: object) -> MemoryLifecycle[LifeMemory]:
    return MemoryLifecycle(
        LifeMemory,
        tier=LifeMemory.tier,
        importance=LifeMemory.relevance,
        confidence=LifeMemory.certainty,
        access=LifeMemory.hits,
        created=LifeMemory.created,
        partition=agent,
        **hooks,  # type: ignore[arg-type]
    )


NOW = datetime.now(UTC)
LATER = NOW + timedelta(minutes=10)


def accessed(m: LifeMemory, times: int) -> LifeMemory:
    for _ in range(times):
        LifeMemory.load(m.agent, m.id)
    confirm_access(m)
    return m


def eligible(content: str = "x", agent: str = "a1") -> LifeMemory:
    m = LifeMemory(agent=agent, content=content).save()
    update_confidence(m, LifeMemory.certainty, 0.9)
    return accessed(m, 3)


def test_defaults_by_value() -> None:
    assert MemoryLifecycle.PROMOTION_ACCESS_COUNT == 3
    assert MemoryLifecycle.PROMOTION_CONFIDENCE_THRESHOLD == 0.6
    assert MemoryLifecycle.PROMOTION_MIN_AGE_SECONDS == 300.0
    assert MemoryLifecycle.FORGET_IMPORTANCE_FLOOR == 0.1
    assert MemoryLifecycle.FORGET_IDLE_SECONDS == 86_400.0
    assert MemoryLifecycle.TICK_BATCH_SIZE == 100


def test_promotion_thresholds() -> None:
    life = lifecycle()
    ok = eligible("ok")
    few = LifeMemory(agent="a1", content="few").save()
    update_confidence(few, LifeMemory.certainty, 0.9)
    accessed(few, 2)
    unsure = accessed(LifeMemory(agent="a1", content="unsure").save(), 3)  # confidence 0.5
    assert life.assess(ok, at=LATER).verdict == "promote"
    assert life.assess(ok, at=NOW).verdict == "keep"  # younger than 300 s
    assert life.tick(at=NOW).promoted == 0
    result = life.tick(at=LATER)
    assert (result.promoted, result.forgotten, result.skipped) == (1, 0, 0)
    assert LifeMemory.load("a1", ok.id).tier == "semantic"
    assert LifeMemory.load("a1", few.id).tier == "episodic"
    assert LifeMemory.load("a1", unsure.id).tier == "episodic"
    assert LifeMemory.query.filter(
        LifeMemory.agent == "a1", LifeMemory.tier == "semantic"
    ).keys() == [LifeMemory.load("a1", ok.id).redis_key]
    assert life.tick(at=LATER).promoted == 0  # promoted once


def test_forget_thresholds() -> None:
    life = lifecycle()
    faded = LifeMemory(agent="a1", content="faded", relevance=1.0).save()
    strong = LifeMemory(agent="a1", content="strong", relevance=1000.0).save()
    kept = LifeMemory(agent="a1", content="kept", relevance=1.0, tier="semantic").save()
    # rate 0.5/day: 1.0 decays below 0.1 after ln(10)/0.5 = 4.6 days
    soon = NOW + timedelta(days=4)
    assert life.assess(faded, at=soon).forget_eligible is False
    state = life.assess(faded, at=NOW + timedelta(days=5))
    assert state.forget_eligible and state.importance is not None and state.importance < 0.1
    assert life.tick(at=soon).forgotten == 0
    assert life.tick(at=NOW + timedelta(days=5)).forgotten == 1
    with pytest.raises(NotFound):
        LifeMemory.load("a1", faded.id)
    assert LifeMemory.load("a1", strong.id).content == "strong"
    assert LifeMemory.load("a1", kept.id).tier == "semantic"
    assert LifeMemory.check_indexes().total == 0


def test_hooks_replace_the_default_rules() -> None:
    life = lifecycle(
        should_promote=lambda r, s: r.content.startswith("confirmed:"),
        should_forget=lambda r, s: s.forget_eligible and not r.content.startswith("[keep]"),
    )
    fact = LifeMemory(agent="a1", content="confirmed: sky").save()
    keep = LifeMemory(agent="a1", content="[keep] me", relevance=0.01).save()
    drop = LifeMemory(agent="a1", content="drop me", relevance=0.01).save()
    later = NOW + timedelta(days=2)
    # the hook promotes without the default criteria; but candidates come from the indexes,
    # so only records meeting the index ranges are judged by a tick
    assert life.assess(fact, at=later).verdict == "promote"
    result = life.tick(at=later)
    assert result.forgotten == 1
    assert {m.content for m in LifeMemory.query.filter(LifeMemory.agent == "a1").all()} == {
        "confirmed: sky",
        "[keep] me",
    }
    assert keep.id != drop.id


def test_partition_scope() -> None:
    eligible("mine", agent="a1")
    other = eligible("theirs", agent="a2")
    assert lifecycle("a1").tick(at=LATER).promoted == 1
    assert LifeMemory.load("a2", other.id).tier == "episodic"


def test_a_write_during_the_tick_is_never_lost() -> None:
    target = eligible("before")

    def writer(record: LifeMemory, state: LifecycleState) -> bool:
        fresh = LifeMemory.load("a1", target.id)
        fresh.content = "written during the tick"
        fresh.save(update_fields=["content"])
        return state.promotion_eligible

    result = lifecycle(should_promote=writer).tick(at=LATER)
    assert (result.promoted, result.skipped) == (0, 1)
    stored = LifeMemory.load("a1", target.id)
    assert (stored.content, stored.tier) == ("written during the tick", "episodic")
    assert lifecycle().tick(at=LATER).promoted == 1


def test_concurrent_ticks_promote_once(conn: Connection) -> None:
    for i in range(30):
        eligible(f"m{i}")
    results: list[TickResult] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        barrier.wait()
        results.append(lifecycle().tick(at=LATER))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.promoted for r in results) == 30
    assert (
        LifeMemory.query.filter(LifeMemory.agent == "a1", LifeMemory.tier == "semantic").count()
        == 30
    )


def test_reads_are_bounded_by_candidates(redis_client: redis.Redis) -> None:
    LifeMemory.bulk_create(LifeMemory(agent="a1", content=f"n{i}") for i in range(300))
    eligible("one")
    before = command_calls(redis_client)
    result = lifecycle().tick(at=LATER)
    after = command_calls(redis_client)
    assert result.promoted == 1

    def calls(name: str) -> int:
        return after.get(name, 0) - before.get(name, 0)

    assert calls("hgetall") == 2  # the one candidate: read, then checked by the apply
    assert calls("sscan") == 0  # the episodic set (301 ids) is not listed: access >= 3 is smaller


def test_bad_fields_are_refused() -> None:
    with pytest.raises(ModelError, match="not a Decaying"):
        MemoryLifecycle(
            LifeMemory,
            tier=LifeMemory.tier,
            importance=LifeMemory.certainty,  # type: ignore[arg-type]
            confidence=LifeMemory.certainty,
            access=LifeMemory.hits,
            created=LifeMemory.created,
            partition="a1",
        )
    with pytest.raises(ModelError, match="partition"):
        MemoryLifecycle(
            LifeMemory,
            tier=LifeMemory.tier,
            importance=LifeMemory.relevance,
            confidence=LifeMemory.certainty,
            access=LifeMemory.hits,
            created=LifeMemory.created,
        )


def test_tag_new_and_assess_a_missing_record() -> None:
    life = lifecycle()
    m = life.tag_new(LifeMemory(agent="a1", tier="semantic"))
    assert LifeMemory.load("a1", m.id).tier == "episodic"
    m.tier = "semantic"
    m.save()
    assert life.tag_new(m).tier == "episodic"
    assert LifeMemory.load("a1", m.id).tier == "episodic"
    with pytest.raises(NotFound):
        life.assess(LifeMemory(agent="a1"))


def test_a_write_during_the_tick_saves_a_record_from_forgetting() -> None:
    doomed = LifeMemory(agent="a1", content="faded", relevance=0.01).save()
    later = NOW + timedelta(days=2)

    def writer(record: LifeMemory, state: LifecycleState) -> bool:
        fresh = LifeMemory.load("a1", doomed.id)
        fresh.relevance = 5.0  # the agent found it important again, mid-tick
        fresh.save(update_fields=["relevance"])
        return state.forget_eligible

    result = lifecycle(should_forget=writer).tick(at=later)
    assert (result.forgotten, result.skipped) == (0, 1)
    assert LifeMemory.load("a1", doomed.id).relevance == 5.0
    assert lifecycle().tick(at=later).forgotten == 0  # touched now: no longer faded


def test_concurrent_writers_and_ticks(conn: Connection) -> None:
    records = [eligible(f"m{i}") for i in range(40)]
    stop = threading.Event()
    written: dict[str, str] = {}
    results: list[TickResult] = []

    def write() -> None:
        n = 0
        while not stop.is_set() or n < 40:
            r = records[n % len(records)]
            text = f"write {n}"
            fresh = LifeMemory(agent="a1", id=r.id, content=text)
            fresh.save(update_fields=["content"])
            written[r.id] = text
            n += 1

    def tick() -> None:
        for _ in range(3):
            results.append(lifecycle().tick(at=LATER))

    writer = threading.Thread(target=write)
    tickers = [threading.Thread(target=tick) for _ in range(2)]
    writer.start()
    for t in tickers:
        t.start()
    for t in tickers:
        t.join()
    stop.set()
    writer.join()
    results.append(lifecycle().tick(at=LATER))  # what the writes held back, once they stopped
    stored = {m.id: m for m in LifeMemory.query.filter(LifeMemory.agent == "a1").all()}
    assert {i: m.content for i, m in stored.items()} == written  # no write lost
    assert all(m.tier == "semantic" for m in stored.values())
    assert sum(r.promoted for r in results) == len(records)  # each promoted exactly once
    assert LifeMemory.check_indexes().total == 0


def test_async_twins(conn: Connection) -> None:
    life = lifecycle()

    async def main() -> tuple[TickResult, LifecycleState, LifeMemory]:
        m = await life.atag_new(LifeMemory(agent="a1", content="async"))
        state = await life.aassess(m, at=LATER)
        return await life.atick(at=LATER), state, m

    result, state, m = asyncio.run(main())
    assert state.verdict == "keep" and state.tier == "episodic"
    assert (result.promoted, result.forgotten) == (0, 0)
    assert LifeMemory.load("a1", m.id).tier == "episodic"


def test_limit_and_bad_arguments() -> None:
    for i in range(5):
        eligible(f"m{i}")
    life = lifecycle()
    assert life.tick(at=LATER, limit=2).promoted == 2
    life.TICK_BATCH_SIZE = 1  # one record per read and per apply
    assert life.tick(at=LATER).promoted == 3
    with pytest.raises(ModelError, match="limit"):
        life.tick(limit=0)
    life.TICK_BATCH_SIZE = 0
    with pytest.raises(ModelError, match="TICK_BATCH_SIZE"):
        life.tick()
    with pytest.raises(ModelError, match="not partitioned"):
        MemoryLifecycle(
            Flat,
            tier=Flat.tier,
            importance=Flat.relevance,
            confidence=Flat.certainty,
            access=Flat.hits,
            created=Flat.created,
            partition="x",
        )


def test_instance_overrides_of_the_constants() -> None:
    m = LifeMemory(agent="a1", content="twice").save()
    update_confidence(m, LifeMemory.certainty, 0.9)
    accessed(m, 2)
    life = lifecycle()
    assert life.assess(m, at=LATER).verdict == "keep"
    life.PROMOTION_ACCESS_COUNT = 2
    assert life.assess(m, at=LATER).verdict == "promote"
    assert life.tick(at=LATER).promoted == 1
    assert MemoryLifecycle.PROMOTION_ACCESS_COUNT == 3


class Flat(Model):
    id: AutoKey = field(default_factory=new_id)
    tier: Indexed[str] = field(default="episodic")
    relevance: Decaying[float] = field(default=1.0, rate=0.1)
    certainty: Confidence = field(default=0.5)
    hits: AccessCount = field(default=0)
    created: Sorted[datetime | None] = field(default=None, auto_now_add=True)


def test_an_unpartitioned_model() -> None:
    life = MemoryLifecycle(
        Flat,
        tier=Flat.tier,
        importance=Flat.relevance,
        confidence=Flat.certainty,
        access=Flat.hits,
        created=Flat.created,
    )
    gone = Flat(relevance=0.001).save()
    Flat(hits=3, certainty=0.95).save()
    result = life.tick(at=NOW + timedelta(days=3))
    assert (result.promoted, result.forgotten) == (1, 1)
    assert Flat.query.filter(Flat.tier == "semantic").count() == 1
    assert not Flat.query.filter(Flat.tier == "episodic").exists()
    assert gone.id not in {f.id for f in Flat.query.all()}


@settings(max_examples=40)
@given(
    hits=st.integers(0, 5),
    certainty=st.sampled_from([0.0, 0.59, 0.6, 0.61, 1.0]),
    age=st.sampled_from([0.0, 299.0, 301.0, 86_400.0 * 3]),
    relevance=st.sampled_from([0.0, 0.05, 0.1, 0.11, 2.0]),
    tier=st.sampled_from(["episodic", "semantic", "other"]),
)
def test_tick_matches_the_rules(
    hits: int, certainty: float, age: float, relevance: float, tier: str
) -> None:
    Flat.delete_all()
    life = MemoryLifecycle(
        Flat,
        tier=Flat.tier,
        importance=Flat.relevance,
        confidence=Flat.certainty,
        access=Flat.hits,
        created=Flat.created,
    )
    m = Flat(hits=hits, certainty=certainty, relevance=relevance, tier=tier).save()
    assert m.created is not None
    at = m.created + timedelta(seconds=age)
    # the reference: Popoto's rules, on the values as saved (importance decays 0.1 per day)
    importance = relevance * math.exp(-0.1 * age / 86_400)
    promote = tier == "episodic" and hits >= 3 and certainty >= 0.6 and age >= 300
    forget = not promote and tier != "semantic" and importance < 0.1 and age > 86_400
    state = life.assess(m, at=at)
    assert state.verdict == ("promote" if promote else "forget" if forget else "keep")
    result = life.tick(at=at)
    assert (result.promoted, result.forgotten, result.skipped) == (int(promote), int(forget), 0)


def test_edge_thresholds() -> None:
    zero = LifeMemory(agent="a1", content="zero", relevance=0.0).save()
    life = lifecycle()
    life.FORGET_IMPORTANCE_FLOOR = 0.0  # nothing is below 0: nothing is forgotten
    assert life.tick(at=NOW + timedelta(days=30)).forgotten == 0
    life.FORGET_IMPORTANCE_FLOOR = math.inf  # everything idle is below
    life.FORGET_IDLE_SECONDS = 0.0
    assert life.assess(zero, at=LATER).verdict == "forget"
    assert life.tick(at=LATER).forgotten == 1


def test_at_must_be_a_datetime() -> None:
    with pytest.raises(ModelError, match="at="):
        lifecycle().tick(at="tomorrow")  # type: ignore[arg-type]


class LoggedMemory(Model, changes=True):
    id: AutoKey = field(default_factory=new_id)
    tier: Indexed[str] = field(default="episodic")
    relevance: Decaying[float] = field(default=1.0, rate=0.1)
    certainty: Confidence = field(default=0.5)
    hits: AccessCount = field(default=0)
    created: Sorted[datetime | None] = field(default=None, auto_now_add=True)


def test_a_tick_writes_the_change_log() -> None:
    log = ChangeLog(LoggedMemory, "g", "c")
    log.create_group()
    up = LoggedMemory(hits=3, certainty=0.9).save()
    gone = LoggedMemory(relevance=0.001).save()
    log.ack(*log.read(count=10))
    life = MemoryLifecycle(
        LoggedMemory,
        tier=LoggedMemory.tier,
        importance=LoggedMemory.relevance,
        confidence=LoggedMemory.certainty,
        access=LoggedMemory.hits,
        created=LoggedMemory.created,
    )
    result = life.tick(at=NOW + timedelta(days=3))
    assert (result.promoted, result.forgotten, result.skipped) == (1, 1, 0)
    events = {(c.op, c.id, c.fields) for c in log.read(count=10)}
    assert events == {("update", up.id, ("tier",)), ("delete", gone.id, ())}
