"""Query edges: wrong results found by the differential test, bad input, damaged data.

Each test names what the query did before the fix it covers (issue #8).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import redis

import test_query
import typedis
from test_query import Executor
from typedis import (
    Geo,
    GeoPoint,
    Indexed,
    Key,
    Model,
    QueryError,
    Sorted,
    Unique,
    UniqueViolation,
    _index,
    field,
)
from typedis._keys import record, tag

ex = test_query.ex  # the fixture running each query through both executors


class EdRec(Model):
    key: Key[str]
    x: Sorted[float] = 0.0
    z: Sorted[float] = 0.0
    y: Sorted[float | None] = field(default=None)
    name: Indexed[str] = ""
    when: Indexed[datetime | None] = field(default=None)
    amount: Indexed[Decimal | None] = field(default=None)
    code: Unique[Decimal | None] = field(default=None)
    loc: Geo[GeoPoint | None] = field(default=None)


E = EdRec
PARIS = GeoPoint(lat=48.8566, lon=2.3522)


def keys(found: list[EdRec]) -> list[str]:
    return [r.key for r in found]


def delete_hash(client: redis.Redis, key: str) -> None:
    """Remove a record's hash as a stray DEL (or an eviction) would: its index entries stay."""
    assert client.delete(record(tag("EdRec"), key)) == 1


# ---- ordering comes from the ordering index alone ----------------------------------------------


@pytest.mark.parametrize(
    ("filters", "big"),
    [
        ((E.x >= 0,), {"x": math.inf}),
        ((E.x >= 0, E.z >= 0), {"x": 1.7976931348623157e308, "z": 1.7976931348623157e308}),
        ((E.x <= 0,), {"x": -math.inf}),
    ],
)
def test_order_ignores_infinite_or_overflowing_filter_scores(
    filters: tuple[Any, ...], big: dict[str, float], ex: Executor
) -> None:
    """Before: "a" (y=5) came second, ordered as if its y were 0 (0 * inf is NaN, stored as 0)."""
    E(key="a", y=5, **big).save()
    E(key="b", y=3).save()
    E(key="c", y=-2).save()
    for i in range(5):  # more matches than ordered records: the filter's scores are summed in
        E(key=f"n{i}").save()
    q = E.query.filter(*filters).order_by(E.y.asc())
    assert keys(ex.all(q.limit(3))) == ["c", "b", "a"]
    assert keys(ex.all(E.query.filter(*filters).order_by(E.y.desc()).limit(3))) == ["a", "b", "c"]


# ---- one canonical text per value --------------------------------------------------------------


def test_one_instant_in_two_time_zones_is_one_value(ex: Executor) -> None:
    """Before: a record saved at 13:00+01:00 was not found by == 12:00 UTC."""
    E(key="t", when=datetime(2020, 1, 1, 13, tzinfo=timezone(timedelta(hours=1)))).save()
    for same in (
        datetime(2020, 1, 1, 12, tzinfo=UTC),
        datetime(2020, 1, 1, 7, tzinfo=timezone(timedelta(hours=-5))),
    ):
        assert keys(ex.all(E.query.filter(E.when == same))) == ["t"]
        assert keys(ex.all(E.query.filter(E.when.in_([same])))) == ["t"]
    assert ex.all(E.query.filter(E.when == datetime(2020, 1, 1, 13, tzinfo=UTC))) == []


def test_equal_decimals_spelled_differently_are_one_value(ex: Executor) -> None:
    """Before: a record saved with 1.50 was not found by == 1.5."""
    E(key="d", amount=Decimal("1.50")).save()
    E(key="h", amount=Decimal("1E+2")).save()
    assert keys(ex.all(E.query.filter(E.amount == Decimal("1.5")))) == ["d"]
    assert keys(ex.all(E.query.filter(amount="1.500"))) == ["d"]
    assert keys(ex.all(E.query.filter(E.amount == Decimal("100.0")))) == ["h"]
    assert E.load("d").amount == Decimal("1.5")


def test_unique_holds_for_equal_decimals_spelled_differently(redis_client: redis.Redis) -> None:
    """Before: 1.5 and 1.50 were accepted on two records."""
    E(key="u1", code=Decimal("1.5")).save()
    before = redis_client.dbsize()
    with pytest.raises(UniqueViolation, match=r"EdRec\.code"):
        E(key="u2", code=Decimal("1.50")).save()
    assert redis_client.dbsize() == before
    assert keys(E.query.filter(E.code == Decimal("1.500")).all()) == ["u1"]


# ---- with_distances() and startswith() ---------------------------------------------------------


def test_with_distances_keeps_every_match_of_an_or() -> None:
    """Before: the match found by the other side of | (it has no point) was left out."""
    E(key="p", loc=PARIS).save()
    E(key="q", name="z").save()
    q = E.query.filter(E.loc.within((PARIS.lat, PARIS.lon), 10) | (E.name == "z"))
    pairs = q.with_distances()
    assert sorted(keys(q.all())) == sorted(r.key for r, _ in pairs)
    assert [(r.key, d) for r, d in pairs] == [("p", pytest.approx(0.0, abs=0.01)), ("q", math.inf)]


def test_startswith_a_nul_matches_no_shorter_text(ex: Executor) -> None:
    """Before: startswith("a\\x00") matched "a" (the index member is "a\\0<id>")."""
    E(key="s", name="a").save()
    E(key="t", name="a\x00b").save()
    E(key="u", name="a\x00").save()
    assert keys(ex.all(E.query.filter(E.name.startswith("a\x00")))) == ["t", "u"]
    assert keys(ex.all(E.query.filter(E.name.startswith("a")))) == ["s", "t", "u"]
    assert keys(ex.all(E.query.filter(E.name.startswith("a\x00b")))) == ["t"]


# ---- bad input: QueryError naming the field and what is allowed, nothing run --------------------


BAD_INPUT: list[tuple[Callable[[], Any], str]] = [
    (lambda: E.loc.within((89, 0), 10), r"EdRec\.loc\.within\(\): the center's latitude .*85"),
    (lambda: E.loc.within((0, 200), 10), r"EdRec\.loc\.within\(\): the center's longitude .*180"),
    (lambda: E.loc.within((math.nan, 0), 10), r"EdRec\.loc\.within\(\): the center's latitude"),
    (lambda: E.loc.within(("48", 2), 10), r"EdRec\.loc\.within\(\): the center's latitude"),
    (lambda: E.loc.within((48, 2), math.inf), r"EdRec\.loc\.within\(\): the radius .* >= 0"),
    (lambda: E.loc.within((48, 2), 10**400), r"EdRec\.loc\.within\(\): the radius"),
    (lambda: E.loc.within((48, 2, 3), 10), r"EdRec\.loc\.within\(\): the center is a \(lat, lon"),
    (lambda: E.query.filter(loc=(89, 0), loc_radius=1), r"EdRec\.loc\.within\(\)"),
    (lambda: E.query.limit(1.5), r"EdRec\.query\.limit\(\): takes an int >= 0, got 1\.5"),
    (lambda: E.query.limit(True), r"EdRec\.query\.limit\(\): takes an int >= 0, got True"),
    (lambda: E.query.offset(-1), r"EdRec\.query\.offset\(\): takes an int >= 0"),
    (lambda: E.query.iter(batch_size=0), r"EdRec\.query\.iter\(\): takes an int >= 1"),
    (lambda: E.query.aiter(batch_size=0), r"EdRec\.query\.aiter\(\): takes an int >= 1"),
    (lambda: E.query.filter(x__between=(1, 2, 3)), r"x__between=\.\.\.: takes a \(low, high\)"),
    (lambda: E.query.filter(x__between=5), r"x__between=\.\.\.: takes a \(low, high\) pair"),
    (lambda: E.query.filter(name__in=5), r"EdRec\.name\.in_\(\) takes a list, tuple or set"),
    (lambda: E.name.in_("abc"), r"EdRec\.name\.in_\(\) takes a list, tuple or set"),
    (lambda: E.query.order_by("x"), r"EdRec\.query\.order_by\(\) .*EdRec\.x\.asc\(\)"),
    (lambda: E.query.filter(E.name == "\ud800").plan(), r"EdRec\.name: '\\ud800' is not valid"),
    (lambda: E.name.startswith("\ud800"), r"EdRec\.name: '\\ud800' is not valid"),
    (lambda: E.name.startswith(1), r"EdRec\.name\.startswith\(\) takes a str"),
]


@pytest.mark.parametrize(("make", "message"), BAD_INPUT)
def test_bad_input_raises_query_error_before_anything_runs(
    make: Callable[[], Any], message: str
) -> None:
    """Before: redis-py ResponseErrors from the script, ValueError/TypeError, or it ran."""
    typedis.connect("redis://127.0.0.1:1/0")  # nothing listens there: a call would fail otherwise
    with pytest.raises(QueryError, match=message):
        make()


def test_order_by_names_the_model_field_and_every_ordering_kind() -> None:
    """Before: "only Sorted fields can order results", though Confidence and Decaying order."""
    with pytest.raises(QueryError) as raised:
        E.query.order_by(E.name).plan()
    message = str(raised.value)
    assert message.startswith("EdRec.name cannot order results")
    for kind in _index.kinds():
        for marker in kind.markers if kind.orders else ():
            assert marker.__name__.removesuffix("Marker") in message
    assert message.endswith("EdRec has x, z, y")


def test_huge_limit_and_offset_work(ex: Executor) -> None:
    """Before: limit(10**20) raised redis-py's "value is not an integer or out of range"."""
    for key in "abc":
        E(key=key).save()
    assert sorted(keys(ex.all(E.query.limit(10**20)))) == ["a", "b", "c"]  # a limit: no order
    assert keys(ex.all(E.query.order_by(E.x).offset(1).limit(2**64))) == ["b", "c"]
    assert ex.all(E.query.offset(10**20)) == []
    assert ex.count(E.query.filter(E.x >= 0).limit(10**20)) == 3


def test_in_with_eight_thousand_values(ex: Executor) -> None:
    """Before: "too many results to unpack" from the query script."""
    E(key="a", name="7999").save()
    E(key="b", name="x").save()
    values = [str(i) for i in range(8000)]
    assert keys(ex.all(E.query.filter(E.name.in_(values)))) == ["a"]
    assert keys(ex.all(E.query.filter(~E.name.in_(values)))) == ["b"]
    assert keys(ex.all(E.query.filter(E.name.in_([*values, "x"]) & (E.x >= 0)))) == ["a", "b"]


# ---- records whose hash was deleted outside typedis -------------------------------------------


def test_a_record_deleted_outside_typedis_is_skipped_and_not_counted(
    redis_client: redis.Redis, ex: Executor
) -> None:
    """Before: pydantic's "Field required" from every query that met it; count() counted it."""
    for i, key in enumerate(["g1", "g2", "g3", "g4"]):
        E(key=key, name="n", y=i).save()
    delete_hash(redis_client, "g1")
    delete_hash(redis_client, "g3")
    assert keys(ex.all(E.query)) == ["g2", "g4"]
    assert keys(ex.all(E.query.filter(E.name == "n"))) == ["g2", "g4"]
    assert keys(ex.all(E.query.order_by(E.y.asc()))) == ["g2", "g4"]
    assert keys(ex.all(E.query.order_by(E.y.desc()).limit(2))) == ["g4", "g2"]
    assert keys(ex.all(E.query.filter(E.y >= 0).order_by(E.y.asc()).limit(1))) == ["g2"]
    first = ex.first(E.query.order_by(E.y.asc()))
    assert first is not None and first.key == "g2"
    assert ex.exists(E.query.filter(E.y <= 0)) is False
    assert ex.count(E.query) == 2
    assert ex.count(E.query.filter(E.name == "n")) == 2
    assert ex.count(E.query.filter(E.y >= 2)) == 1
    assert E.query.order_by(E.y.asc()).keys() == [record(tag("EdRec"), k) for k in ("g2", "g4")]
    assert keys(ex.iter(E.query.order_by(E.y.asc()), batch_size=1)) == ["g2", "g4"]
