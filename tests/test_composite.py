"""Composite scoring (``typedis.memory.composite_score``) against the real server.

A property against a plain-Python reference (random records, weights including negatives, each
aggregate, min_score, temperature, limit, filters); scratch keys gone after each call;
partitions; Decaying fields by ln(value now); the co-occurrence boost on a small graph;
post_filter's over-fetch; errors naming the argument; the async twin.
"""

from __future__ import annotations

import asyncio
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from typedis import Decaying, Indexed, Key, Model, QueryError, Sorted, _connection, field
from typedis.memory import (
    AccessCount,
    Associations,
    CoOccurrenceBoost,
    acomposite_score,
    composite_score,
    confirm_access,
    link,
)


class CsNote(Model):
    id: Key[str]
    kind: Indexed[str] = "x"
    a: Sorted[float | None] = None
    b: Sorted[float | None] = None
    c: Sorted[int | None] = None
    text: str = ""


class CsMemory(Model, partition="agent"):
    agent: Key[str]
    id: Key[str]
    relevance: Decaying[float] = field(default=1.0, rate=0.1)
    certainty: Sorted[float] = 0.5
    related: Associations = field(default=None)


class CsPower(Model):
    id: Key[str]
    fading: Decaying[float] = field(default=1.0, curve="power")


class CsHits(Model):
    id: Key[str]
    hits: AccessCount = field(default=0)
    score: Sorted[float] = 0.0


def scratch_keys(client: redis.Redis) -> list[bytes]:
    return list(client.scan_iter(match="*:q:*"))


def scored(pairs: list[tuple[Any, float]]) -> list[tuple[str, float]]:
    return [(r.id, pytest.approx(s)) for r, s in pairs]


# ---- the reference property ---------------------------------------------------------------------

VALUES = st.none() | st.sampled_from([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 4.5])
WEIGHTS = st.sampled_from([-2.0, -0.5, 0.0, 0.25, 0.5, 1.0, 1.5, 3.0])
FIELDS = ("a", "b", "c")


@st.composite
def notes(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(0, 14))
    out = []
    for i in range(n):
        c = draw(st.none() | st.integers(-3, 3))
        out.append(
            {
                "id": f"r{i:02}",
                "kind": draw(st.sampled_from("xy")),
                "a": draw(VALUES),
                "b": draw(VALUES),
                "c": c,
            }
        )
    return out


def reference(
    rows: list[dict[str, Any]],
    weights: dict[str, float],
    kind: str | None,
    aggregate: str,
    min_score: float | None,
    temperature: float,
    limit: int,
) -> list[tuple[str, float]]:
    combine = {"SUM": sum, "MIN": min, "MAX": max}[aggregate]
    found: list[tuple[str, float]] = []
    for row in rows:
        if kind is not None and row["kind"] != kind:
            continue
        parts = [w / temperature * row[f] for f, w in weights.items() if row[f] is not None]
        if not parts:
            continue
        score = float(combine(parts))
        if min_score is None or score >= min_score:
            found.append((row["id"], score))
    # best first; ties as ZRANGE ... REV gives them: by id, descending
    found.sort(key=lambda p: (p[1], p[0]), reverse=True)
    return found[:limit]


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=notes(),
    weights=st.dictionaries(st.sampled_from(FIELDS), WEIGHTS, min_size=1, max_size=3),
    kind=st.none() | st.sampled_from("xy"),
    aggregate=st.sampled_from(["SUM", "MIN", "MAX"]),
    min_score=st.none() | st.sampled_from([-2.0, -0.5, 0.0, 0.5, 1.0, 3.0]),
    temperature=st.sampled_from([0.5, 1.0, 2.0, 4.0]),
    limit=st.integers(1, 8),
)
def test_composite_matches_the_reference(
    redis_client: redis.Redis,
    rows: list[dict[str, Any]],
    weights: dict[str, float],
    kind: str | None,
    aggregate: Any,
    min_score: float | None,
    temperature: float,
    limit: int,
) -> None:
    redis_client.flushdb()
    for row in rows:
        CsNote(**row).save()
    query = CsNote.query if kind is None else CsNote.query.filter(CsNote.kind == kind)
    refs = {"a": CsNote.a, "b": CsNote.b, "c": CsNote.c}
    got = composite_score(
        query,
        {refs[f]: w for f, w in weights.items()},
        limit=limit,
        aggregate=aggregate,
        min_score=min_score,
        temperature=temperature,
    )
    want = reference(rows, weights, kind, aggregate, min_score, temperature, limit)
    assert [(r.id, s) for r, s in got] == want  # exact: every value and weight is dyadic
    assert scratch_keys(redis_client) == []


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=notes(),
    weights=st.dictionaries(st.sampled_from(FIELDS), WEIGHTS, min_size=1, max_size=3),
    picked=st.lists(st.integers(0, 13), max_size=4),
    kind=st.none() | st.sampled_from("xy"),
    limit=st.integers(1, 8),
)
def test_a_rank_over_few_matches_cuts_its_sources_first(
    redis_client: redis.Redis,
    rows: list[dict[str, Any]],
    weights: dict[str, float],
    picked: list[int],
    kind: str | None,
    limit: int,
) -> None:
    # matches fewer than a quarter of a source: the rank stage intersects each source with
    # them before the union (lua/query.lua); the scores must be those of the whole union
    redis_client.flushdb()
    for row in rows:
        CsNote(**row).save()
    for i in range(40):  # make every source much larger than the matches
        CsNote(id=f"z{i:02}", kind="z", a=-9.0, b=-9.0, c=-9).save()
    chosen = sorted({f"r{i:02}" for i in picked})
    query = CsNote.query.filter(CsNote.id.in_(chosen))
    if kind is not None:
        query = query.filter(CsNote.kind == kind)
    refs = {"a": CsNote.a, "b": CsNote.b, "c": CsNote.c}
    got = composite_score(query, {refs[f]: w for f, w in weights.items()}, limit=limit)
    mine = [row for row in rows if row["id"] in chosen]
    want = reference(mine, weights, kind, "SUM", None, 1.0, limit)
    assert [(r.id, s) for r, s in got] == want
    assert scratch_keys(redis_client) == []


def test_a_decaying_source_cut_to_few_matches_keeps_its_shift() -> None:
    for i in range(12):
        CsMemory(agent="a1", id=f"m{i:02}", relevance=float(i + 1)).save()
    mine = CsMemory.query.filter(CsMemory.agent == "a1")
    every = dict((m.id, s) for m, s in composite_score(mine, {CsMemory.relevance: 1.0}, limit=12))
    few = composite_score(mine.filter(CsMemory.id.in_(["m03", "m07"])), {CsMemory.relevance: 1.0})
    assert [(m.id, s) for m, s in few] == [
        ("m07", pytest.approx(every["m07"], abs=1e-6)),
        ("m03", pytest.approx(every["m03"], abs=1e-6)),
    ]


@st.composite
def many_notes(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(0, 260))  # past a batch of the threshold walk (64 per source)
    values = st.none() | st.sampled_from([-2.0, -0.5, 0.0, 0.25, 0.5, 1.0, 3.0])
    return [
        {"id": f"r{i:03}", "kind": "xy"[i % 2], "a": draw(values), "b": draw(values)}
        for i in range(n)
    ]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=many_notes(),
    wa=st.sampled_from([0.25, 0.5, 1.0, 3.0]),
    wb=st.sampled_from([0.25, 0.5, 1.0, 2.0]),
    min_score=st.none() | st.sampled_from([-1.0, 0.0, 0.5, 2.0]),
    limit=st.integers(1, 12),
    offset=st.integers(0, 5),
)
def test_the_threshold_walk_agrees_with_the_whole_rank(
    redis_client: redis.Redis,
    rows: list[dict[str, Any]],
    wa: float,
    wb: float,
    min_score: float | None,
    limit: int,
    offset: int,
) -> None:
    # a rank over every record for a short page walks the sources' tops (lua/query.lua,
    # threshold_top); a filter matching every record takes the whole rank: they must agree
    redis_client.flushdb()
    CsNote.save_many([CsNote(**row) for row in rows])
    weights = {CsNote.a: wa, CsNote.b: wb}
    every = CsNote.query.filter(CsNote.kind.in_(["x", "y"]))
    got = composite_score(CsNote.query.offset(offset), weights, limit=limit, min_score=min_score)
    want = composite_score(every.offset(offset), weights, limit=limit, min_score=min_score)
    assert [(r.id, s) for r, s in got] == [(r.id, s) for r, s in want]
    rank = (CsNote.a * wa + CsNote.b * wb).desc()
    page = CsNote.query.order_by(rank).offset(offset).limit(limit).all()
    assert [r.id for r in page] == [
        r.id for r in every.order_by(rank).offset(offset).limit(limit).all()
    ]
    assert scratch_keys(redis_client) == []


def test_sources_ordered_against_each_other_give_the_union_its_turn() -> None:
    # a = i, b = 400 - i: the walk would read everything; past its budget the union runs
    CsNote.save_many([CsNote(id=f"r{i:03}", a=float(i), b=float(400 - i)) for i in range(400)])
    got = composite_score(CsNote.query, {CsNote.a: 1.0, CsNote.b: 0.5}, limit=3)
    assert scored(got) == [("r399", 399.5), ("r398", 399.0), ("r397", 398.5)]
    got = composite_score(CsNote.query, {CsNote.a: 0.5, CsNote.b: 0.5}, limit=2)
    assert scored(got) == [("r399", 200.0), ("r398", 200.0)]  # all tie: by id, descending


def test_a_record_gone_behind_the_threshold_walk_is_replaced(redis_client: redis.Redis) -> None:
    CsNote.save_many([CsNote(id=f"r{i:03}", a=float(i), b=1.0) for i in range(200)])
    redis_client.delete("{td:CsNote}:r:r199")  # deleted outside typedis: its index entries stay
    got = composite_score(CsNote.query, {CsNote.a: 1.0, CsNote.b: 0.5}, limit=3)
    assert scored(got) == [("r198", 198.5), ("r197", 197.5), ("r196", 196.5)]
    page = CsNote.query.order_by((CsNote.a + CsNote.b * 0.5).desc()).limit(200).all()
    assert len(page) == 199


# ---- behaviour ----------------------------------------------------------------------------------


def test_records_come_with_their_composite_scores(redis_client: redis.Redis) -> None:
    CsNote(id="n1", a=1.0, b=0.0, text="one").save()
    CsNote(id="n2", a=0.5, b=1.0).save()
    CsNote(id="n3").save()  # no score in any source: left out
    got = composite_score(CsNote.query, {CsNote.a: 0.6, CsNote.b: 0.4})
    assert scored(got) == [("n2", 0.7), ("n1", 0.6)]
    assert got[1][0].text == "one"
    assert scratch_keys(redis_client) == []


def test_temperature_scales_scores_and_the_threshold_with_them() -> None:
    CsNote(id="n1", a=1.0).save()
    CsNote(id="n2", a=3.0).save()
    assert scored(composite_score(CsNote.query, {CsNote.a: 1.0}, temperature=0.5)) == [
        ("n2", 6.0),
        ("n1", 2.0),
    ]
    got = composite_score(CsNote.query, {CsNote.a: 1.0}, temperature=0.5, min_score=2.5)
    assert scored(got) == [("n2", 6.0)]


def test_the_query_order_and_limit_are_replaced_its_offset_kept() -> None:
    for i, v in enumerate([1.0, 2.0, 3.0, 4.0]):
        CsNote(id=f"n{i}", a=v).save()
    query = CsNote.query.order_by(CsNote.a.asc()).limit(1).offset(1)
    assert [r.id for r, _ in composite_score(query, {CsNote.a: 1.0}, limit=2)] == ["n2", "n1"]


def test_partitions_keep_to_their_own(redis_client: redis.Redis) -> None:
    CsMemory(agent="a1", id="m1", certainty=0.9).save()
    CsMemory(agent="a2", id="m2", certainty=1.0).save()
    got = composite_score(CsMemory.query.filter(CsMemory.agent == "a1"), {CsMemory.certainty: 1.0})
    assert scored(got) == [("m1", 0.9)]
    with pytest.raises(QueryError, match="partitioned"):
        composite_score(CsMemory.query, {CsMemory.certainty: 1.0})
    assert scratch_keys(redis_client) == []


def test_decaying_fields_score_ln_of_their_value_now(redis_client: redis.Redis) -> None:
    fresh = CsMemory(agent="a", id="fresh", relevance=2.0, certainty=0.0).save()
    old = CsMemory(agent="a", id="old", relevance=2.0, certainty=0.0).save()
    old.touch(CsMemory.relevance, at=datetime.now(UTC) - timedelta(days=10))
    query = CsMemory.query.filter(CsMemory.agent == "a")
    got = composite_score(query, {CsMemory.relevance: 1.0})
    # ln(2 * e^(-0.1 * days)): ln 2 now, ln 2 - 1 after ten days (a little less, as time runs)
    assert [r.id for r, _ in got] == ["fresh", "old"]
    assert got[0][1] == pytest.approx(math.log(2.0), abs=1e-6)
    assert got[1][1] == pytest.approx(math.log(2.0) - 1.0, abs=1e-6)
    assert math.exp(got[1][1]) == pytest.approx(old.decayed(CsMemory.relevance), rel=1e-6)
    assert fresh.relevance == 2.0
    assert scratch_keys(redis_client) == []


def test_access_counts_take_part() -> None:
    a, b = CsHits(id="a", score=1.0).save(), CsHits(id="b", score=1.0).save()
    for _ in range(3):
        CsHits.query.filter(CsHits.id == "b").all()
        confirm_access(b)
    got = composite_score(CsHits.query, {CsHits.hits: 1.0, CsHits.score: 1.0})
    assert [r.id for r, _ in got] == ["b", "a"]
    assert a.id == "a"


def test_post_filter_sees_a_bounded_over_fetch() -> None:
    for i in range(20):
        CsNote(id=f"n{i:02}", a=float(i)).save()
    seen: list[str] = []

    def odd(note: CsNote, score: float) -> bool:
        seen.append(note.id)
        return int(score) % 2 == 1

    got = composite_score(CsNote.query, {CsNote.a: 1.0}, limit=3, post_filter=odd)
    assert [r.id for r, _ in got] == ["n19", "n17", "n15"]
    assert len(seen) == 12  # limit * overfetch (4) candidates, best first
    seen.clear()
    got = composite_score(CsNote.query, {CsNote.a: 1.0}, limit=3, post_filter=odd, overfetch=1)
    assert [r.id for r, _ in got] == ["n19", "n17"]  # fewer: no second call
    assert seen == ["n19", "n18", "n17"]


def test_co_occurrence_boost_adds_propagation_scores(redis_client: redis.Redis) -> None:
    m = {i: CsMemory(agent="a", id=i, certainty=0.1).save() for i in "abcd"}
    link(CsMemory.related, m["a"], m["b"], weight=2.0)
    link(CsMemory.related, m["b"], m["c"], weight=1.0)
    query = CsMemory.query.filter(CsMemory.agent == "a")
    boost = CoOccurrenceBoost(CsMemory.related, [m["a"]], weight=0.5)
    got = composite_score(query, {CsMemory.certainty: 1.0}, co_occurrence_boost=boost)
    # propagate from a: b 2.0, c 1.0 * 0.5; a (the seed) and d only have their certainty
    assert scored(got) == [("b", 1.1), ("c", 0.35), ("d", 0.1), ("a", 0.1)]
    alone = composite_score(query, {}, co_occurrence_boost=boost, temperature=0.5)
    assert scored(alone) == [("b", 2.0), ("c", 0.5)]
    other = CsMemory(agent="z", id="z").save()
    with pytest.raises(QueryError, match="another partition"):
        composite_score(
            query,
            {CsMemory.certainty: 1.0},
            co_occurrence_boost=CoOccurrenceBoost(CsMemory.related, [other]),
        )
    assert scratch_keys(redis_client) == []


def test_async_twin_matches(redis_client: redis.Redis) -> None:
    CsNote(id="n1", a=1.0, b=2.0).save()
    CsNote(id="n2", a=2.0).save()

    async def body() -> list[tuple[Any, float]]:
        try:
            return await acomposite_score(
                CsNote.query, {CsNote.a: 1.0, CsNote.b: 1.0}, aggregate="MAX", min_score=1.5
            )
        finally:
            await _connection.get_connection().aclose()

    assert scored(asyncio.run(body())) == [("n2", 2.0), ("n1", 2.0)]
    assert scratch_keys(redis_client) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weights": {"a": 1.0}}, "field references"),
        ({"weights": {CsMemory.certainty: 1.0}}, "a field of CsMemory, not CsNote"),
        ({"weights": {CsNote.kind: 1.0}}, "no ranked index"),
        ({"weights": {CsNote.a: math.nan}}, "the weight of CsNote.a must be a finite number"),
        ({"weights": {CsNote.a: math.inf}}, "finite number"),
        ({"weights": {}}, "weights is empty"),
        ({"weights": [CsNote.a]}, "weights must be a dict"),
        ({"aggregate": "AVG"}, "aggregate must be"),
        ({"temperature": 0}, "temperature must be > 0"),
        ({"temperature": -1.0}, "temperature must be > 0"),
        ({"temperature": math.inf}, "temperature must be a finite number"),
        ({"limit": 0}, "limit must be an int >= 1"),
        ({"min_score": math.nan}, "min_score must be a finite number"),
        ({"post_filter": 3}, "post_filter must be callable"),
        ({"co_occurrence_boost": {"k": 1.0}}, "co_occurrence_boost must be a CoOccurrenceBoost"),
        (
            {"co_occurrence_boost": CoOccurrenceBoost(CsMemory.related, [])},
            "a field of CsMemory, not CsNote",
        ),
    ],
)
def test_bad_input_names_the_argument(kwargs: dict[str, Any], message: str) -> None:
    weights = kwargs.pop("weights", {CsNote.a: 1.0})
    with pytest.raises(QueryError, match=message):
        composite_score(CsNote.query, weights, **kwargs)


def test_power_curve_fields_are_refused_with_the_reason() -> None:
    with pytest.raises(QueryError, match="power curve"):
        composite_score(CsPower.query, {CsPower.fading: 1.0})


def test_a_wrong_key_type_is_a_typedis_error(redis_client: redis.Redis) -> None:
    from typedis import CorruptRecord

    CsNote(id="n1", a=1.0).save()
    redis_client.delete("{td:CsNote}:z:b")
    redis_client.set("{td:CsNote}:z:b", "oops")
    with pytest.raises(CorruptRecord, match="WRONGTYPE") as caught:
        composite_score(CsNote.query, {CsNote.a: 1.0, CsNote.b: 1.0})
    assert isinstance(caught.value.__cause__, redis.ResponseError)
    assert scratch_keys(redis_client) == []


# ---- the plan (pure) ----------------------------------------------------------------------------


def test_the_plan_carries_the_rank_stage_options() -> None:
    from typedis.memory._composite import _composite

    query = CsMemory.query.filter(CsMemory.agent == "a")
    c = _composite(
        query, {CsMemory.relevance: 1.0, CsMemory.certainty: -3}, 5, "MAX", 0.25, None, None, 2.0, 4
    )
    program = json.loads(c.plan.program())
    assert program["mode"] == "scored"
    assert program["limit"] == 5
    assert program["order"] == {
        "by": [["z:relevance", 0.5], ["z:certainty", -1.5]],
        "desc": True,
        "agg": "MAX",
        "min": "0.25",
        "shift": {"z:relevance": 0.1},
    }
    plain = _composite(CsNote.query, {CsNote.a: 1.0}, 3, "SUM", None, print, None, 1.0, 4)
    program = json.loads(plain.plan.program())
    assert program["limit"] == 12  # post_filter: limit * overfetch
    assert program["order"] == {"by": [["z:a", 1.0]], "desc": True, "min": "-inf"}


def test_async_twin_with_a_boost(redis_client: redis.Redis) -> None:
    m = {i: CsMemory(agent="a", id=i, certainty=0.1).save() for i in "ab"}
    link(CsMemory.related, m["a"], m["b"], weight=2.0)
    boost = CoOccurrenceBoost(CsMemory.related, [m["a"]])

    async def body() -> list[tuple[Any, float]]:
        try:
            query = CsMemory.query.filter(CsMemory.agent == "a")
            return await acomposite_score(
                query, {CsMemory.certainty: 1.0}, co_occurrence_boost=boost
            )
        finally:
            await _connection.get_connection().aclose()

    assert scored(asyncio.run(body())) == [("b", 2.1), ("a", 0.1)]
    assert scratch_keys(redis_client) == []


# ---- Rank.aggregate -----------------------------------------------------------------------------


def test_a_rank_can_aggregate_by_min_or_max(redis_client: redis.Redis) -> None:
    CsNote(id="n1", a=1.0, b=5.0).save()
    CsNote(id="n2", a=3.0, b=2.0).save()
    CsNote(id="n3", a=4.0).save()
    CsNote(id="n4").save()
    top = (CsNote.a + CsNote.b).aggregate("MAX")
    assert repr(top) == "(CsNote.a * 1.0 + CsNote.b * 1.0).aggregate('MAX')"
    assert [r.id for r in CsNote.query.order_by(top.desc()).all()] == ["n1", "n3", "n2", "n4"]
    low = (CsNote.a + CsNote.b).aggregate("MIN")
    assert [r.id for r in CsNote.query.order_by(low.desc()).all()] == ["n3", "n2", "n1", "n4"]
    assert "(aggregate MIN)" in CsNote.query.order_by(low.desc()).explain()
    assert (CsNote.c + low).how == "MIN" and (low + CsNote.c).how == "MIN"
    assert scratch_keys(redis_client) == []
    with pytest.raises(QueryError, match="SUM, MIN, MAX; got 'AVG'"):
        (CsNote.a + CsNote.b).aggregate("AVG")  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="aggregate differently"):
        low + (CsNote.a + CsNote.c)
