"""Queries end to end on the real server, through both executors (sync and asyncio)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import pytest
import redis

import typedis
from typedis import (
    Confidence,
    Geo,
    GeoPoint,
    Indexed,
    Key,
    Model,
    NotFound,
    QueryError,
    Sorted,
    Unique,
    field,
)
from typedis._query._query import Query

T = TypeVar("T")


class QyPlace(Model):
    name: Key[str]
    cuisine: Indexed[str | None] = field(default=None)
    rating: Sorted[float | None] = field(default=None)
    email: Unique[str | None] = field(default=None)
    location: Geo[GeoPoint | None] = field(default=None)
    seats: Indexed[int] = 0
    opened: Sorted[date | None] = field(default=None)
    certainty: Confidence = field(default=0.5)
    visits: int = 0


class QyPair(Model):
    city: Key[str]
    number: Key[int]
    kind: Indexed[str] = ""


class QyMemory(Model, partition="agent"):
    agent: Key[str]
    slug: Key[str]
    topic: Indexed[str] = ""
    weight: Sorted[float] = 0.0


class QyRanked(Model, order_by="-score"):
    name: Key[str]
    score: Sorted[int | None] = field(default=None)


P = QyPlace
PARIS = GeoPoint(lat=48.8566, lon=2.3522)
LONDON = GeoPoint(lat=51.5074, lon=-0.1278)
BERLIN = GeoPoint(lat=52.52, lon=13.405)
VERSAILLES = GeoPoint(lat=48.8049, lon=2.1204)
LYON = GeoPoint(lat=45.764, lon=4.8357)


def _places() -> list[QyPlace]:
    return [
        P(name="alpha", cuisine="Thai", rating=4.5, email="a@x", location=PARIS, seats=10,
          opened=date(2020, 1, 1), certainty=0.9),
        P(name="bravo", cuisine="Thai", rating=3.0, email="b@x", location=LONDON, seats=20,
          opened=date(2021, 6, 1), certainty=0.1),
        P(name="charlie", cuisine="French", rating=4.5, location=VERSAILLES, seats=10),
        P(name="delta", email="d@x", location=BERLIN, seats=30, opened=date(2019, 3, 3)),
        P(name="echo", cuisine="French", rating=1.0, email="e@x", certainty=1.0),
        P(name="foxtrot", location=LYON, certainty=0.0),
    ]  # fmt: skip


ALL = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]


@pytest.fixture
def places(conn: typedis.Connection) -> list[QyPlace]:
    found = _places()
    P.save_many(found)
    return found


def names(records: list[Any]) -> list[str]:
    return [r.name for r in records]


def arun(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run one coroutine on a fresh event loop, closing typedis' asyncio client inside it."""

    async def body() -> T:
        try:
            return await make()
        finally:
            await typedis._connection.get_connection().aclose()

    return asyncio.run(body())


@dataclass(frozen=True)
class Executor:
    """The terminal methods of a query, run by one executor."""

    name: str

    def all(self, q: Query[Any]) -> list[Any]:
        return q.all() if self.name == "sync" else arun(q.aall)

    def first(self, q: Query[Any]) -> Any:
        return q.first() if self.name == "sync" else arun(q.afirst)

    def get(self, q: Query[Any], *conds: Any, **lookups: Any) -> Any:
        if self.name == "sync":
            return q.get(*conds, **lookups)
        return arun(lambda: q.aget(*conds, **lookups))

    def count(self, q: Query[Any]) -> int:
        return q.count() if self.name == "sync" else arun(q.acount)

    def exists(self, q: Query[Any]) -> bool:
        return q.exists() if self.name == "sync" else arun(q.aexists)

    def get_many(self, q: Query[Any], keys: list[Any]) -> list[Any]:
        return q.get_many(keys) if self.name == "sync" else arun(lambda: q.aget_many(keys))

    def iter(self, q: Query[Any], batch_size: int) -> list[Any]:
        if self.name == "sync":
            return list(q.iter(batch_size=batch_size))

        async def collect() -> list[Any]:
            return [r async for r in q.aiter(batch_size=batch_size)]

        return arun(collect)


@pytest.fixture(params=["sync", "async"])
def ex(request: pytest.FixtureRequest) -> Executor:
    return Executor(request.param)


def scratch_keys(client: redis.Redis) -> list[bytes]:
    return list(client.scan_iter(match="*:q:*", count=1000))


# ---- every operator -------------------------------------------------------------------------


OPERATOR_CASES: list[tuple[str, Any, list[str]]] = [
    ("all", None, ALL),
    ("indexed ==", P.cuisine == "Thai", ["alpha", "bravo"]),
    ("indexed int ==", P.seats == 10, ["alpha", "charlie"]),
    ("indexed !=", P.cuisine != "Thai", ["charlie", "delta", "echo", "foxtrot"]),
    ("indexed in_", P.cuisine.in_(["French", "Lao"]), ["charlie", "echo"]),
    ("indexed in_ None", P.cuisine.in_(["Thai", None]), ["alpha", "bravo", "delta", "foxtrot"]),
    ("indexed is_none", P.cuisine.is_none(), ["delta", "foxtrot"]),
    ("indexed not none", ~P.cuisine.is_none(), ["alpha", "bravo", "charlie", "echo"]),
    ("indexed startswith", P.cuisine.startswith("Fr"), ["charlie", "echo"]),
    ("key ==", P.name == "charlie", ["charlie"]),
    ("key == missing", P.name == "zulu", []),
    ("key !=", P.name != "charlie", ["alpha", "bravo", "delta", "echo", "foxtrot"]),
    ("key in_", P.name.in_(["echo", "zulu", "alpha"]), ["alpha", "echo"]),
    ("key startswith", P.name.startswith("ch"), ["charlie"]),
    ("key startswith empty", P.name.startswith(""), ALL),
    ("unique ==", P.email == "b@x", ["bravo"]),
    ("unique == missing", P.email == "z@x", []),
    ("unique !=", P.email != "b@x", ["alpha", "charlie", "delta", "echo", "foxtrot"]),
    ("unique in_", P.email.in_(["d@x", "a@x"]), ["alpha", "delta"]),
    ("unique is_none", P.email.is_none(), ["charlie", "foxtrot"]),
    ("unique in_ None", P.email.in_(["e@x", None]), ["charlie", "echo", "foxtrot"]),
    ("unique startswith", P.email.startswith("d"), ["delta"]),
    ("sorted >", P.rating > 3, ["alpha", "charlie"]),
    ("sorted >=", P.rating >= 3, ["alpha", "bravo", "charlie"]),
    ("sorted <", P.rating < 3, ["echo"]),
    ("sorted <=", P.rating <= 3, ["bravo", "echo"]),
    ("sorted ==", P.rating == 4.5, ["alpha", "charlie"]),
    ("sorted !=", P.rating != 4.5, ["bravo", "delta", "echo", "foxtrot"]),
    ("sorted between", P.rating.between(1, 3), ["bravo", "echo"]),
    ("sorted inf", P.rating <= math.inf, ["alpha", "bravo", "charlie", "echo"]),
    ("date >=", P.opened >= date(2020, 1, 1), ["alpha", "bravo"]),
    ("date <", P.opened < date(2020, 1, 1), ["delta"]),
    ("confidence >", P.certainty > 0.5, ["alpha", "echo"]),
    ("confidence ==", P.certainty == 0.5, ["charlie", "delta"]),
    ("within km", P.location.within(PARIS, 30), ["alpha", "charlie"]),
    ("within m", P.location.within((48.8566, 2.3522), 100, "m"), ["alpha"]),
    ("within mi", P.location.within(PARIS, 250, "mi"), ["alpha", "bravo", "charlie", "foxtrot"]),
    ("within ft", P.location.within(PARIS, 1000, "ft"), ["alpha"]),
    ("and", (P.cuisine == "Thai") & (P.rating > 4), ["alpha"]),
    ("or", (P.cuisine == "French") | (P.email == "d@x"), ["charlie", "delta", "echo"]),
    ("not or", ~((P.cuisine == "French") | P.rating.between(3, 4)), ["alpha", "delta", "foxtrot"]),
    (
        "nested",
        ((P.seats == 10) | P.location.within(BERLIN, 1)) & ~(P.email == "a@x"),
        ["charlie", "delta"],
    ),
]


@pytest.mark.parametrize(
    ("cond", "expected"),
    [pytest.param(cond, expected, id=label) for label, cond, expected in OPERATOR_CASES],
)
def test_every_operator(
    places: list[QyPlace], ex: Executor, cond: Any, expected: list[str]
) -> None:
    q = P.query if cond is None else P.query.filter(cond)
    # membership only: the order of unordered results is test_range_without_order_is_by_record_id's
    assert sorted(names(ex.all(q))) == expected
    assert ex.count(q) == len(expected)
    assert ex.exists(q) is bool(expected)
    assert sorted(q.keys()) == [f"{{td:QyPlace}}:r:{n}" for n in expected]


def test_keyword_lookups_end_to_end(places: list[QyPlace], ex: Executor) -> None:
    assert names(ex.all(P.query.filter(cuisine="Thai", rating__gte=4))) == ["alpha"]
    assert names(ex.all(P.query.filter(cuisine__isnull=True))) == ["delta", "foxtrot"]
    assert names(ex.all(P.query.filter(name__in=["bravo", "echo"]))) == ["bravo", "echo"]
    assert names(ex.all(P.query.filter(rating__between=(2, 5), name__startswith="b"))) == ["bravo"]
    near = P.query.filter(location=(48.8566, 2.3522), location_radius=30)
    assert names(ex.all(near)) == ["alpha", "charlie"]
    assert names(ex.all(P.query.exclude(cuisine="Thai", rating__gt=4))) == [
        "bravo",
        "charlie",
        "delta",
        "echo",
        "foxtrot",
    ]


def test_without_order_all_is_by_id_and_a_limit_walks_the_index(
    places: list[QyPlace], ex: Executor
) -> None:
    # Without an order and without a limit, the matches come by record id; with a limit, in the
    # order the walk of the index yields them (a lone range: its scores), stopping at the page.
    assert names(ex.all(P.query.filter(P.rating >= 1))) == ["alpha", "bravo", "charlie", "echo"]
    assert names(ex.all(P.query.filter(P.rating >= 1).limit(2))) == ["echo", "bravo"]
    assert P.query.filter(P.rating >= 1).limit(2).plan().shape == "scan"


def test_in_with_no_values_matches_nothing(places: list[QyPlace], ex: Executor) -> None:
    assert ex.all(P.query.filter(P.cuisine.in_([]))) == []
    assert ex.count(P.query.filter(P.cuisine.in_([]))) == 0
    assert ex.all(P.query.filter(P.name.in_([]))) == []
    assert ex.all(P.query.filter(P.email.in_([]))) == []


# ---- order and pagination -------------------------------------------------------------------

# Equal scores are ordered by id (Redis orders equal scores by member); descending order
# reverses that (ZRANGE ... REV), so alpha/charlie (both 4.5) swap. None values come last, by id.
ASC = ["echo", "bravo", "alpha", "charlie", "delta", "foxtrot"]
DESC = ["charlie", "alpha", "bravo", "echo", "delta", "foxtrot"]


def test_order_asc_and_desc_put_none_last(places: list[QyPlace], ex: Executor) -> None:
    assert names(ex.all(P.query.order_by(P.rating.asc()))) == ASC
    assert names(ex.all(P.query.order_by(P.rating))) == ASC
    assert names(ex.all(P.query.order_by(P.rating.desc()))) == DESC
    thai_first = P.query.filter(P.cuisine.in_(["Thai", None])).order_by(P.rating.desc())
    assert names(ex.all(thai_first)) == ["alpha", "bravo", "delta", "foxtrot"]
    by_date = P.query.order_by(P.opened.desc())
    assert names(ex.all(by_date)) == ["bravo", "alpha", "delta", "charlie", "echo", "foxtrot"]


def test_order_with_a_range_on_the_same_field(places: list[QyPlace], ex: Executor) -> None:
    q = P.query.filter(P.rating >= 3)
    assert names(ex.all(q.order_by(P.rating.desc()))) == ["charlie", "alpha", "bravo"]
    assert names(ex.all(q.order_by(P.rating.asc()))) == ["bravo", "alpha", "charlie"]
    assert names(ex.all(q.order_by(P.rating.desc()).offset(1).limit(1))) == ["alpha"]


def test_default_order_from_the_model_option(conn: typedis.Connection, ex: Executor) -> None:
    QyRanked.save_many(
        [QyRanked(name="a", score=1), QyRanked(name="b"), QyRanked(name="c", score=5)]
    )
    assert names(ex.all(QyRanked.query)) == ["c", "a", "b"]
    assert names(ex.all(QyRanked.query.order_by(QyRanked.score.asc()))) == ["a", "c", "b"]


@pytest.mark.parametrize("descending", [False, True])
def test_pagination_crosses_from_valued_to_none_valued_records(
    places: list[QyPlace], descending: bool
) -> None:
    full = DESC if descending else ASC
    ordered = P.query.order_by(P.rating.desc() if descending else P.rating.asc())
    for offset in range(len(full) + 2):
        assert names(ordered.offset(offset).all()) == full[offset:]
        for limit in range(1, len(full) + 2):
            page = ordered.offset(offset).limit(limit)
            assert names(page.all()) == full[offset : offset + limit], (offset, limit)


def test_pagination_without_order(places: list[QyPlace], ex: Executor) -> None:
    for offset in range(len(ALL) + 1):
        for limit in range(1, 4):
            page = P.query.exclude(P.name == "delta").offset(offset).limit(limit)
            rest = [n for n in ALL if n != "delta"]
            assert names(ex.all(page)) == rest[offset : offset + limit]


def test_limit_zero_returns_nothing(places: list[QyPlace], ex: Executor) -> None:
    assert ex.all(P.query.limit(0)) == []
    assert ex.all(P.query.order_by(P.rating.desc()).limit(0)) == []
    assert ex.all(P.query.filter(P.cuisine == "Thai").limit(0)) == []
    assert ex.all(P.query.filter(P.rating > 0).order_by(P.rating).limit(0)) == []


# ---- terminal methods -----------------------------------------------------------------------


def test_count(places: list[QyPlace], ex: Executor) -> None:
    assert ex.count(P.query) == 6
    assert ex.count(P.query.filter(P.cuisine == "Thai")) == 2
    assert ex.count(P.query.filter(P.rating > 100)) == 0
    # offset and limit do not change a count of matches
    assert ex.count(P.query.filter(P.cuisine == "Thai").limit(1)) == 2


def test_expired_records_are_never_returned_nor_counted(
    places: list[QyPlace], ex: Executor
) -> None:
    bravo, charlie = places[1], places[2]
    bravo.save(expire_at=datetime.now(UTC) - timedelta(seconds=5))
    charlie.save(expire_at=datetime.now(UTC) + timedelta(hours=1))
    live = ["alpha", "charlie", "delta", "echo", "foxtrot"]
    assert ex.count(P.query) == 5
    assert names(ex.all(P.query)) == live
    assert names(ex.all(P.query.filter(P.cuisine == "Thai"))) == ["alpha"]
    assert ex.count(P.query.filter(P.cuisine == "Thai")) == 1
    assert names(ex.all(P.query.filter(P.rating >= 3))) == ["alpha", "charlie"]
    assert names(ex.all(P.query.filter(P.rating >= 3).order_by(P.rating))) == ["alpha", "charlie"]
    assert names(ex.all(P.query.filter(P.name == "bravo"))) == []
    assert names(ex.all(P.query.filter(P.email == "b@x"))) == []
    assert names(ex.all(P.query.order_by(P.rating.desc()))) == [
        "charlie", "alpha", "echo", "delta", "foxtrot"
    ]  # fmt: skip
    assert P.query.keys() == [f"{{td:QyPlace}}:r:{n}" for n in live]
    assert names(ex.iter(P.query, 2)) == live
    assert ex.get_many(P.query, ["bravo"]) == [None]
    assert not ex.exists(P.query.filter(P.name == "bravo"))
    with pytest.raises(NotFound):
        ex.get(P.query, P.email == "b@x")


def test_get(places: list[QyPlace], ex: Executor) -> None:
    assert ex.get(P.query, P.email == "d@x").name == "delta"
    assert ex.get(P.query.filter(P.cuisine == "Thai"), P.rating > 4).name == "alpha"
    assert ex.get(P.query, name="echo") == places[4]
    with pytest.raises(NotFound, match="QyPlace"):
        ex.get(P.query, P.cuisine == "Lao")
    with pytest.raises(QueryError, match="several QyPlace records"):
        ex.get(P.query, P.cuisine == "Thai")
    with pytest.raises(QueryError, match="several"):
        ex.get(P.query)


def test_first_and_exists(places: list[QyPlace], ex: Executor) -> None:
    # without an order, first() is any match (the first its index yields)
    assert ex.first(P.query).name in names(places)
    assert ex.first(P.query.order_by(P.rating.desc())).name == "charlie"
    french = P.query.filter(P.cuisine == "French")
    assert {ex.first(french).name, ex.first(french.offset(1)).name} == {"charlie", "echo"}
    assert ex.first(P.query.filter(P.cuisine == "Lao")) is None
    assert ex.exists(P.query.filter(P.seats == 30))
    assert not ex.exists(P.query.filter(P.seats == 31))
    assert not ex.exists(P.query.offset(6))


def test_records_round_trip(places: list[QyPlace], ex: Executor) -> None:
    assert ex.all(P.query) == places


def test_get_many(places: list[QyPlace], ex: Executor) -> None:
    found = ex.get_many(P.query, ["charlie", "zulu", "alpha", "charlie"])
    assert found == [places[2], None, places[0], places[2]]
    assert ex.get_many(P.query, []) == []


def test_get_many_multi_key(conn: typedis.Connection, ex: Executor) -> None:
    a = QyPair(city="Oslo", number=1, kind="x").save()
    b = QyPair(city="Oslo", number=2).save()
    assert ex.get_many(QyPair.query, [("Oslo", 2), ("Rome", 1), ("Oslo", 1)]) == [b, None, a]
    assert names_of_pairs(ex.all(QyPair.query.filter(QyPair.city == "Oslo"))) == [1, 2]
    assert names_of_pairs(ex.all(QyPair.query.filter(QyPair.number == 2))) == [2]
    assert names_of_pairs(ex.all(QyPair.query.filter(QyPair.kind == "x"))) == [1]


def names_of_pairs(records: list[QyPair]) -> list[int]:
    return [r.number for r in records]


def test_values(places: list[QyPlace]) -> None:
    q = P.query.filter(P.cuisine == "Thai").order_by(P.rating.desc())
    assert q.values(P.name, P.rating) == [("alpha", 4.5), ("bravo", 3.0)]
    assert q.values(P.email) == [("a@x",), ("b@x",)]
    assert P.query.filter(P.name == "delta").values(P.name, P.location, P.opened) == [
        ("delta", BERLIN, date(2019, 3, 3))
    ]


@pytest.mark.parametrize("batch_size", [1, 2, 5, 1000])
def test_iter_and_aiter(places: list[QyPlace], ex: Executor, batch_size: int) -> None:
    q = P.query.order_by(P.rating.desc())
    assert names(ex.iter(q, batch_size)) == DESC
    q = P.query.filter(P.cuisine.is_none() | (P.seats == 10)).offset(1).limit(2)
    assert names(ex.iter(q, batch_size)) == ["charlie", "delta"]


def test_iter_skips_records_deleted_meanwhile(places: list[QyPlace]) -> None:
    it = P.query.iter(batch_size=2)
    first = next(it)
    places[3].delete()  # delta, in a later batch
    assert [first.name, *names(list(it))] == ["alpha", "bravo", "charlie", "echo", "foxtrot"]


def test_with_distances_nearest_first_and_close_to_geodist(
    places: list[QyPlace], redis_client: redis.Redis
) -> None:
    for unit in ("km", "m", "mi", "ft"):
        radius = {"km": 600, "m": 600_000, "mi": 400, "ft": 2_000_000}[unit]
        q = P.query.filter(P.location.within(PARIS, radius, unit))  # type: ignore[arg-type]
        pairs = q.with_distances()
        assert [r.name for r, _ in pairs] == ["alpha", "charlie", "bravo", "foxtrot"]
        distances = [d for _, d in pairs]
        assert distances == sorted(distances)
        redis_client.delete("scratch:geo")
        redis_client.geoadd("scratch:geo", [PARIS.lon, PARIS.lat, "center"])
        for record, distance in pairs:
            assert record.location is not None
            redis_client.geoadd(
                "scratch:geo", [record.location.lon, record.location.lat, record.name]
            )
            expected = redis_client.geodist("scratch:geo", "center", record.name, unit)
            assert expected is not None
            one_meter = {"km": 1e-3, "m": 1.0, "mi": 1 / 1609.34, "ft": 1 / 0.3048}[unit]
            assert distance == pytest.approx(float(expected), abs=one_meter), (unit, record.name)
    redis_client.delete("scratch:geo")


def test_with_distances_combined_and_without_within(places: list[QyPlace]) -> None:
    q = P.query.filter(P.location.within(BERLIN, 1000), P.cuisine == "Thai")
    pairs = q.with_distances()
    assert [r.name for r, _ in pairs] == ["alpha", "bravo"]
    with pytest.raises(QueryError, match="within"):
        P.query.filter(P.cuisine == "Thai").with_distances()


# ---- async executors in one event loop ------------------------------------------------------


def test_async_executors_share_one_loop(places: list[QyPlace]) -> None:
    async def scenario() -> tuple[Any, ...]:
        q = P.query.filter(P.cuisine == "Thai")
        results = await asyncio.gather(
            q.aall(),
            q.afirst(),
            q.aget(P.rating < 4),
            q.acount(),
            q.aexists(),
            P.query.aget_many(["echo", "nope"]),
            P.query.filter(P.cuisine == "Lao").aexists(),
            P.query.acount(),
        )
        collected = [r.name async for r in P.query.order_by(P.rating).aiter(batch_size=4)]
        await typedis._connection.get_connection().aclose()
        return (*results, collected)

    every, first, got, count, exists, many, lao, total, collected = asyncio.run(scenario())
    assert names(every) == ["alpha", "bravo"]
    assert first.name in ("alpha", "bravo")  # no order: any match
    assert got.name == "bravo"
    assert (count, exists, lao, total) == (2, True, False, 6)
    assert [m.name if m else None for m in many] == ["echo", None]
    assert collected == ASC


# ---- partitions -----------------------------------------------------------------------------


@pytest.fixture
def memories(conn: typedis.Connection) -> list[QyMemory]:
    found = [
        QyMemory(agent="a", slug="m1", topic="food", weight=1),
        QyMemory(agent="a", slug="m2", topic="travel", weight=3),
        QyMemory(agent="a", slug="m3", topic="food", weight=2),
        QyMemory(agent="b:x", slug="m1", topic="food", weight=5),
    ]
    QyMemory.save_many(found)
    return found


def test_partitioned_queries(memories: list[QyMemory], ex: Executor) -> None:
    M = QyMemory
    a = M.query.filter(M.agent == "a")
    assert [m.slug for m in ex.all(a)] == ["m1", "m2", "m3"]
    assert [m.slug for m in ex.all(a.filter(M.topic == "food"))] == ["m1", "m3"]
    assert [m.slug for m in ex.all(a.order_by(M.weight.desc()))] == ["m2", "m3", "m1"]
    assert [m.slug for m in ex.all(a.filter(M.slug.startswith("m"), M.weight > 1))] == [
        "m2",
        "m3",
    ]
    b = M.query.filter(agent="b:x")
    assert [(m.agent, m.slug) for m in ex.all(b)] == [("b:x", "m1")]
    assert ex.count(a) == 3
    assert ex.count(b.filter(M.topic == "travel")) == 0
    assert ex.get(a, M.slug == "m2") == memories[1]
    assert ex.get_many(M.query, [("b:x", "m1"), ("a", "m9"), ("a", "m1")]) == [
        memories[3],
        None,
        memories[0],
    ]
    assert a.keys() == [
        "{td:QyMemory:a}:r:a:m1",
        "{td:QyMemory:a}:r:a:m2",
        "{td:QyMemory:a}:r:a:m3",
    ]
    assert [m.slug for m in ex.all(a.filter(M.agent.in_(["a", "b:x"]) & (M.topic == "food")))] == [
        "m1",
        "m3",
    ]
    with pytest.raises(QueryError, match="partitioned"):
        ex.all(M.query.filter(M.topic == "food"))
    with pytest.raises(QueryError, match="partitioned"):
        ex.count(M.query)


# ---- hygiene: no scratch keys, no stale records, no writes ----------------------------------


def test_queries_leave_no_scratch_keys_and_do_not_change_dbsize(
    places: list[QyPlace], redis_client: redis.Redis, ex: Executor
) -> None:
    places[1].save(expire_at=datetime.now(UTC) - timedelta(seconds=1))  # exercises the expiry path
    before = redis_client.dbsize()
    for _, cond, _ in OPERATOR_CASES:
        q = P.query if cond is None else P.query.filter(cond)
        ex.all(q)
        ex.all(q.order_by(P.rating.desc()).offset(1).limit(2))
        ex.count(q)
        q.keys()
    assert scratch_keys(redis_client) == []
    assert redis_client.dbsize() == before


def test_a_failing_query_raises_and_leaves_no_scratch_keys(
    places: list[QyPlace], redis_client: redis.Redis
) -> None:
    # corrupt one index key to the wrong type: the script fails after building scratch sets
    redis_client.delete("{td:QyPlace}:i:cuisine:Thai")
    redis_client.set("{td:QyPlace}:i:cuisine:Thai", "not a set")
    with pytest.raises(typedis.CorruptRecord, match="WRONGTYPE"):
        P.query.filter(P.rating > 1, P.cuisine == "Thai").all()
    assert scratch_keys(redis_client) == []


def test_a_failing_single_node_query_raises(
    places: list[QyPlace], redis_client: redis.Redis
) -> None:
    redis_client.delete("{td:QyPlace}:i:cuisine:Thai")
    redis_client.set("{td:QyPlace}:i:cuisine:Thai", "not a set")
    with pytest.raises(typedis.CorruptRecord, match="WRONGTYPE"):
        P.query.filter(P.cuisine == "Thai").order_by(P.rating).all()
    with pytest.raises(typedis.CorruptRecord, match="WRONGTYPE"):
        P.query.filter(P.cuisine == "Thai").count()


def test_queries_never_return_deleted_expired_or_changed_records(
    places: list[QyPlace], ex: Executor
) -> None:
    alpha, bravo, _, delta, echo, _ = places
    alpha.cuisine = "Lao"
    alpha.rating = 0.5
    alpha.location = BERLIN
    alpha.save()
    bravo.delete()
    echo.email = "new@x"
    echo.save()
    delta.save(expire_at=datetime.now(UTC) - timedelta(milliseconds=1))
    assert names(ex.all(P.query.filter(P.cuisine == "Thai"))) == []
    assert names(ex.all(P.query.filter(P.cuisine == "Lao"))) == ["alpha"]
    assert names(ex.all(P.query.filter(P.rating > 4))) == ["charlie"]
    assert names(ex.all(P.query.filter(P.rating < 1))) == ["alpha"]
    assert names(ex.all(P.query.filter(P.location.within(PARIS, 30)))) == ["charlie"]
    assert names(ex.all(P.query.filter(P.location.within(BERLIN, 1)))) == ["alpha"]
    assert names(ex.all(P.query.filter(P.email == "e@x"))) == []
    assert names(ex.all(P.query.filter(P.email.startswith("e")))) == []
    assert names(ex.all(P.query.filter(P.email == "new@x"))) == ["echo"]
    assert names(ex.all(P.query.filter(P.name == "bravo"))) == []
    assert names(ex.all(P.query.filter(P.name.startswith("b")))) == []
    assert names(ex.all(P.query.order_by(P.rating))) == ["alpha", "echo", "charlie", "foxtrot"]
    assert ex.count(P.query) == 4
    assert ex.count(P.query.filter(P.seats == 30)) == 0


def test_explain_runs(places: list[QyPlace]) -> None:
    text = P.query.filter(P.cuisine == "Thai").order_by(P.rating.desc()).limit(3).explain()
    assert text.startswith("QyPlace in {td:QyPlace}: set i:cuisine:Thai; ordered by sorted set")
    assert "limit 3" in text
    assert P.query.filter(P.rating > 1).all()  # the explained kind of query also runs


def test_empty_model(conn: typedis.Connection, ex: Executor) -> None:
    assert ex.all(P.query) == []
    assert ex.count(P.query) == 0
    assert ex.count(P.query.filter(P.cuisine == "x")) == 0
    assert ex.first(P.query.order_by(P.rating)) is None
    assert ex.iter(P.query, 10) == []
