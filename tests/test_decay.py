"""Decaying fields: the stored form, touch(), decayed(), and top_by_decay() on both curves.

The ranking property checks top_by_decay() against a brute-force Python reference at arbitrary
times, for records touched at arbitrary times (``touch(at=...)``), with and without filters.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import typedis
from typedis import Decaying, Indexed, Key, Model, ModelError, NotFound, QueryError, field
from typedis._index.decay_kind import DAY_MS, decayed, rank_score
from typedis._keys import escape


class DcExp(Model):
    name: Key[str]
    topic: Indexed[str] = "a"
    relevance: Decaying[float | None] = field(default=1.0, rate=0.3)


class DcPow(Model):
    name: Key[str]
    topic: Indexed[str] = "a"
    relevance: Decaying[float | None] = field(default=1.0, rate=0.3, curve="power")


class DcAgent(Model, partition="agent"):
    agent: Key[str]
    name: Key[str]
    relevance: Decaying[float] = field(default=1.0)


class DcTwo(Model):
    name: Key[str]
    a: Decaying[float] = 1.0
    b: Decaying[float] = 1.0


class DcNone(Model):
    name: Key[str]


MODELS = {"exponential": DcExp, "power": DcPow}
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def stamp(redis_client: redis.Redis, model: type[Model], name: str) -> int:
    return int(redis_client.hget(f"{{td:{model.__name__}}}:r:{name}", "~t:relevance") or -1)


# ---- the stored form ------------------------------------------------------------------------


def test_exponential_scores_are_time_invariant(redis_client: redis.Redis) -> None:
    record = DcExp(name="a", relevance=2.0).save()
    record.touch(DcExp.relevance, at=T0)
    assert stamp(redis_client, DcExp, "a") == ms(T0)
    assert redis_client.zscore("{td:DcExp}:z:relevance", "a") == rank_score(2.0, ms(T0), 0.3)
    DcExp(name="z", relevance=0.0).save()
    assert redis_client.zscore("{td:DcExp}:z:relevance", "z") == -math.inf


def test_power_keeps_one_sorted_set_per_touch_day(redis_client: redis.Redis) -> None:
    record = DcPow(name="a", relevance=2.5).save()
    record.touch(DcPow.relevance, at=T0)
    day = ms(T0) // DAY_MS
    key = "{td:DcPow}:z:relevance"
    assert redis_client.zscore(key, "a") == ms(T0)
    assert redis_client.zrange(f"{key}:{day}", 0, -1, withscores=True) == [(b"a", 2.5)]
    assert redis_client.zrange(f"{key}:days", 0, -1) == [str(day).encode()]
    record.touch(DcPow.relevance, at=T0 + timedelta(days=3))
    assert not redis_client.exists(f"{key}:{day}")
    assert redis_client.zrange(f"{key}:days", 0, -1) == [str(day + 3).encode()]
    record.delete()
    assert not [k for k in redis_client.scan_iter("{td:DcPow}:z:*")]


@pytest.mark.parametrize("curve", ["exponential", "power"])
def test_the_clock_follows_value_changes_only(redis_client: redis.Redis, curve: str) -> None:
    model = MODELS[curve]
    record = model(name="a", relevance=1.0).save()
    record.touch(model.relevance, at=T0)
    record.topic = "b"
    record.save()  # the value is unchanged: the clock stays
    assert stamp(redis_client, model, "a") == ms(T0)
    record.save(update_fields=["relevance"])
    assert stamp(redis_client, model, "a") == ms(T0)
    record.name = "moved"
    record.save(migrate_key=True)  # a moving record keeps its clock
    assert stamp(redis_client, model, "moved") == ms(T0)
    record.relevance = 2.0
    record.save()
    assert stamp(redis_client, model, "moved") > ms(T0) + DAY_MS
    record.touch(model.relevance, at=T0)
    record.atomic_increment("relevance", 1.0)  # an increment changes the value: a new clock
    assert stamp(redis_client, model, "moved") > ms(T0) + DAY_MS
    record.relevance = None
    record.save()
    assert stamp(redis_client, model, "moved") == -1
    assert model.check_indexes()["total"] == 0


def test_a_base_must_be_a_number_at_least_zero() -> None:
    for bad in (-1.0, math.nan):
        with pytest.raises(ValidationError):
            DcExp(name="a", relevance=bad)
    record = DcExp(name="a", relevance=0.5).save()
    before = record.relevance
    with pytest.raises(ModelError):
        record.atomic_increment("relevance", -1.0)  # the bound ge=0 holds on the server too
    assert DcExp.load("a").relevance == before


# ---- touch() and decayed() --------------------------------------------------------------------


@pytest.mark.parametrize("curve", ["exponential", "power"])
def test_decayed_value_on_read(curve: str) -> None:
    model = MODELS[curve]
    model(name="a", relevance=4.0).save().touch(model.relevance, at=T0)
    loaded = model.load("a")
    later = T0 + timedelta(days=10)
    assert loaded.decayed(model.relevance, later) == decayed(4.0, ms(T0), ms(later), 0.3, curve)
    assert loaded.decayed(model.relevance, T0 - timedelta(days=1)) == 4.0  # no growth before
    (queried,) = model.query.filter(model.name == "a").all()
    assert queried.decayed(model.relevance, later) == loaded.decayed(model.relevance, later)
    fresh = model(name="b", relevance=4.0).save()  # a save tells the touch time
    assert 0 < fresh.decayed(model.relevance) <= 4.0


def test_touch_reports_and_refuses() -> None:
    record = DcExp(name="a", relevance=1.0)
    with pytest.raises(NotFound):
        record.touch(DcExp.relevance)  # never saved
    with pytest.raises(ModelError, match="touch time is known once"):
        record.decayed(DcExp.relevance)
    record.save()
    when = record.touch(DcExp.relevance)
    assert when.tzinfo is UTC and abs((datetime.now(UTC) - when).total_seconds()) < 60
    record.relevance = None
    record.save()
    with pytest.raises(ModelError, match="holds None"):
        record.touch(DcExp.relevance)
    with pytest.raises(ModelError, match="holds None"):
        record.decayed(DcExp.relevance)
    DcExp.load("a").delete()
    with pytest.raises(NotFound):
        record.touch(DcExp.relevance)
    with pytest.raises(ModelError, match="not a Decaying field"):
        record.touch(DcExp.topic)  # type: ignore[arg-type]


def test_async_twins() -> None:
    async def body() -> tuple[datetime, list[str]]:
        try:
            record = await DcPow(name="a", relevance=1.0).asave()
            when = await record.atouch(DcPow.relevance, at=T0)
            return when, [r.name for r in await DcPow.query.atop_by_decay(n=3)]
        finally:
            await typedis._connection.get_connection().aclose()

    assert asyncio.run(body()) == (T0, ["a"])


# ---- top_by_decay() ---------------------------------------------------------------------------


def test_top_by_decay_names_the_field_when_needed() -> None:
    DcTwo(name="x").save()
    with pytest.raises(QueryError, match="2 Decaying fields"):
        DcTwo.query.top_by_decay()
    assert [r.name for r in DcTwo.query.top_by_decay(DcTwo.b)] == ["x"]
    with pytest.raises(QueryError, match="0 Decaying fields"):
        DcNone.query.top_by_decay()
    with pytest.raises(QueryError, match="partitioned"):
        DcAgent.query.top_by_decay()
    DcAgent(agent="a1", name="m").save()
    assert [r.name for r in DcAgent.query.filter(DcAgent.agent == "a1").top_by_decay()] == ["m"]


def test_explain_names_the_curve() -> None:
    assert (
        "ordered by sorted set z:relevance descending"
        in DcExp.query._decaying(None, 3, None).explain()
    )
    assert "power decay (rate 0.3) of z:relevance" in DcPow.query._decaying(None, 3, T0).explain()


def reference(
    rows: list[tuple[str, str, float | None, int]],
    curve: str,
    at_ms: int,
    topic: str | None,
) -> list[str]:
    """Names in top_by_decay order: valued records by decayed value, then the rest by id."""
    found = [r for r in rows if topic is None or r[1] == topic]
    valued = [r for r in found if r[2] is not None]
    if curve == "power":
        ranked = sorted(
            valued, key=lambda r: (-decayed(r[2] or 0.0, r[3], at_ms, 0.3, curve), escape(r[0]))
        )
    else:  # the sorted set's order: its scores, equal ones by id, descending
        ranked = sorted(
            valued, key=lambda r: (rank_score(r[2] or 0.0, r[3], 0.3), escape(r[0])), reverse=True
        )
    empty = sorted((r for r in found if r[2] is None), key=lambda r: escape(r[0]))
    return [r[0] for r in ranked + empty]


BASES = st.none() | st.sampled_from([0.0, 0.5, 1.0, 2.0, 1e6]) | st.floats(0, 100)
ROWS = st.lists(
    st.tuples(
        st.text("abz:%", min_size=1, max_size=3),
        st.sampled_from(["a", "b"]),
        BASES,
        st.integers(0, 400 * DAY_MS),  # touched up to 400 days after T0
    ),
    max_size=25,
    unique_by=lambda row: row[0],
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=ROWS,
    curve=st.sampled_from(["exponential", "power"]),
    at_days=st.floats(-10, 2000),
    n=st.integers(1, 12),
    offset=st.integers(0, 4),
    topic=st.none() | st.sampled_from(["a", "b"]),
)
def test_top_by_decay_matches_a_brute_force_reference(
    redis_client: redis.Redis,
    rows: list[tuple[str, str, float | None, int]],
    curve: str,
    at_days: float,
    n: int,
    offset: int,
    topic: str | None,
) -> None:
    redis_client.flushdb()
    model: Any = MODELS[curve]
    stored = []
    for name, group, base, after_ms in rows:
        record = model(name=name, topic=group, relevance=base).save()
        touched = T0 + timedelta(milliseconds=after_ms)
        if base is not None:
            record.touch(model.relevance, at=touched)
        stored.append((name, group, base, ms(touched)))
    at = T0 + timedelta(days=at_days)
    query = model.query if topic is None else model.query.filter(model.topic == topic)
    found = [r.name for r in query.offset(offset).top_by_decay(n=n, at=at)]
    expected = reference(stored, curve, ms(at), topic)[offset : offset + n]
    assert found == expected
    assert model.check_indexes()["total"] == 0
