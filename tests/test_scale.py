"""Limits pushed down: the work a limited query does stays flat as the model grows.

Time is never asserted: ``Query.profile()`` reports the shape the query script ran and the ids
it walked and stored, which are compared at two sizes of the same model (the only growth
allowed is the O(log N) inside single Redis commands, which the counters do not see).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis

from typedis import Indexed, Key, Model, Sorted, field
from typedis.query import Profile, Query

SMALL, LARGE = 1_000, 20_000
CUISINES = [f"c{i}" for i in range(10)]  # each value: a tenth of the records


class ScPlace(Model):
    name: Key[str]
    cuisine: Indexed[str]
    open: Indexed[bool]
    rating: Sorted[float | None] = field(default=None)


def fill(upto: int) -> None:
    """Records 0 .. upto - 1 (those already saved are kept); ratings scattered, 1 in 50 None."""
    have = ScPlace.count()
    ScPlace.save_many(
        [
            ScPlace(
                name=f"p{i:06d}",
                cuisine=CUISINES[i % 10],
                open=i % 2 == 0,
                rating=None if i % 50 == 7 else float(i * 7919 % upto),
            )
            for i in range(have, upto)
        ]
    )


def expire_one() -> None:
    """One expired record not yet swept, at the top of the order (the walks pass it over)."""
    gone = datetime.now(UTC) - timedelta(seconds=1)
    ScPlace(name="expired", cuisine="c3", open=True, rating=1e9).save(expire_at=gone)


QUERIES: dict[str, tuple[str, Query[ScPlace]]] = {
    "ordered top 100": ("index", ScPlace.query.order_by(ScPlace.rating.desc()).limit(100)),
    "ordered page at 200": (
        "index",
        ScPlace.query.order_by(ScPlace.rating.desc()).offset(200).limit(100),
    ),
    "equality, limit 100": ("scan", ScPlace.query.filter(ScPlace.cuisine == "c3").limit(100)),
    "equality ordered top 100": (  # matches half the records: a walk of about 200 ids
        "ordered",
        ScPlace.query.filter(ScPlace.open == True).order_by(ScPlace.rating.desc()).limit(100),  # noqa: E712
    ),
    "range ordered top 100": (
        "range",
        ScPlace.query.filter(ScPlace.rating >= 10).order_by(ScPlace.rating).limit(100),
    ),
    "no filter, limit 100": ("scan", ScPlace.query.limit(100)),
    "range, limit 100": (  # half the records: the range is read in place, never copied
        "scan",
        ScPlace.query.filter(ScPlace.rating.between(10, SMALL / 2)).limit(100),
    ),
}


@pytest.mark.parametrize("expired", [False, True], ids=["nothing expired", "one expired"])
def test_limited_queries_do_flat_work(expired: bool) -> None:
    profiles: dict[int, dict[str, Profile]] = {}
    for size in (SMALL, LARGE):
        fill(size)
        if expired:
            expire_one()
        profiles[size] = {name: q.profile() for name, (_, q) in QUERIES.items()}
    for name, (shape, query) in QUERIES.items():
        small, large = profiles[SMALL][name], profiles[LARGE][name]
        assert shape in query.explain(), query.explain()
        assert small.shape == large.shape == shape, (name, small, large)
        assert small.found == large.found == 100, (name, small, large)
        assert large.stored == 0, (name, large)  # no match set is copied
        assert large.walked <= 2 * max(small.walked, 300), (name, small, large)


def test_a_selective_filter_falls_back_to_the_intersection() -> None:
    """An ordered scan gives up after four times as many ids as the filter's smallest part
    holds."""
    fill(SMALL)
    ScPlace(name="rare", cuisine="rare", open=True, rating=-1.0).save()
    query = ScPlace.query.filter(ScPlace.cuisine == "rare").order_by(ScPlace.rating.desc())
    profile = query.limit(5).profile()
    assert (profile.shape, profile.found) == ("sort", 1)
    assert profile.walked <= 5  # the budget: four ids per id of the filter
    assert [p.name for p in query.limit(5).all()] == ["rare"]


def test_pages_of_a_walk_match_the_sorted_order() -> None:
    """Walked pages (an expired record in the way) tile the order exactly as the sort shape
    computes it, the None ratings last."""
    fill(SMALL)
    expire_one()
    ordered = ScPlace.query.order_by(ScPlace.rating.desc())
    whole = [p.name for p in ordered.all()]  # no limit: the sort shape
    assert "expired" not in whole
    assert ordered.plan().shape == "sort" and ordered.limit(7).plan().shape == "index"
    pages = [p.name for at in range(0, len(whole), 97) for p in ordered.offset(at).limit(97).all()]
    assert pages == whole
    thai = ScPlace.query.filter(ScPlace.cuisine == "c3")
    by_rating = [p.name for p in thai.order_by(ScPlace.rating).all()]
    walked = [
        p.name
        for start in range(0, len(by_rating), 31)
        for p in thai.order_by(ScPlace.rating).offset(start).limit(31).all()
    ]
    assert walked == by_rating
    scanned = [p.name for start in range(0, 120, 40) for p in thai.offset(start).limit(40).all()]
    assert len(set(scanned)) == len(scanned) == 100  # 100 of the 100 live c3 records
    assert set(scanned) == {p.name for p in thai.all()}


def test_a_walked_page_refills_a_record_deleted_outside_typedis(redis_client: redis.Redis) -> None:
    fill(SMALL)
    top = ScPlace.query.order_by(ScPlace.rating.desc()).limit(5)
    first = [p.name for p in top.all()]
    redis_client.delete(ScPlace.load(first[0]).redis_key)
    assert [p.name for p in top.all()] == [*first[1:], top.offset(5).limit(1).all()[0].name]
    scan = ScPlace.query.filter(ScPlace.cuisine == "c3").limit(5)
    gone = scan.all()[0]
    redis_client.delete(gone.redis_key)
    again = scan.all()
    assert len(again) == 5 and gone not in again
