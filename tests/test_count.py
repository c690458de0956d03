"""``count()``: exact (live records only) by default; ``count(exact=False)`` by the indexes
alone (SCARD, ZCOUNT, ZINTERCARD: no record is checked), and the query function that serves
both (a function of the model's library, called with FCALL, never a script)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import redis

import typedis
from typedis import Indexed, Key, Model, QueryError, Sorted

TAG = "{td:CtShop}"


class CtShop(Model):
    name: Key[str]
    cuisine: Indexed[str]
    area: Indexed[str] = "north"
    rating: Sorted[float] = 0.0


class CtBranch(Model, partition="chain"):
    chain: Key[str]
    name: Key[str]
    city: Indexed[str] = "Paris"


def shops() -> list[CtShop]:
    return [
        CtShop(
            name=f"s{i}",
            cuisine="Thai" if i % 2 else "Lao",
            area="south" if i < 4 else "north",
            rating=i,
        )
        for i in range(10)
    ]


QUERIES = {
    "all": lambda: CtShop.query,
    "set": lambda: CtShop.query.filter(CtShop.cuisine == "Thai"),
    "range": lambda: CtShop.query.filter(CtShop.rating >= 3),
    "and": lambda: CtShop.query.filter(CtShop.cuisine == "Thai", CtShop.area == "south"),
    "set and range": lambda: CtShop.query.filter(CtShop.cuisine == "Lao", CtShop.rating < 5),
    "or": lambda: CtShop.query.filter((CtShop.cuisine == "Thai") | (CtShop.rating < 2)),
    "not": lambda: CtShop.query.exclude(CtShop.area == "south"),
    "by key": lambda: CtShop.query.filter(CtShop.name.in_(["s1", "s2", "nope"])),
}
EXPECTED = {"all": 10, "set": 5, "range": 7, "and": 2, "set and range": 3, "or": 6, "not": 6}


@pytest.mark.parametrize("shape", QUERIES)
def test_the_index_count_equals_the_exact_count_when_nothing_is_damaged(shape: str) -> None:
    CtShop.save_many(shops())
    q = QUERIES[shape]()
    expected = EXPECTED.get(shape, 2)
    assert q.count(exact=False) == q.count() == len(q.all()) == expected
    assert asyncio.run(q.acount(exact=False)) == expected
    assert (q.plan("count").shape, q.plan("count", exact=False).shape) == ("count", "cardinality")
    assert CtShop.count(exact=False) == CtShop.count() == 10


def test_a_raw_del_and_an_expired_record_are_counted_by_the_index_count_only(
    redis_client: redis.Redis,
) -> None:
    CtShop.save_many(shops())
    redis_client.delete(f"{TAG}:r:s1")  # deleted outside typedis: its ids stay in the indexes
    past = datetime.now(UTC) - timedelta(seconds=1)
    CtShop(name="old", cuisine="Thai", rating=1).save(expire_at=past)  # expired, not swept
    thai = CtShop.query.filter(CtShop.cuisine == "Thai")
    assert (thai.count(), thai.count(exact=False)) == (4, 6)
    assert (CtShop.count(), CtShop.count(exact=False)) == (9, 11)
    cheap = CtShop.query.filter(CtShop.rating < 2)
    assert (cheap.count(), cheap.count(exact=False)) == (1, 3)  # s0; s1 gone; old expired
    assert CtShop.sweep_expired() == 1  # the sweep removes the expired record's entries
    assert (thai.count(), thai.count(exact=False)) == (4, 5)
    assert CtShop.count(exact=False) == 10  # the DEL's ids stay until the indexes are repaired


def test_partitioned_counts() -> None:
    CtBranch.save_many(
        [CtBranch(chain="a", name=str(i), city="Lyon" if i else "Paris") for i in range(3)]
    )
    CtBranch(chain="b", name="x").save()
    assert CtBranch.count("a", exact=False) == CtBranch.count("a") == 3
    lyon = CtBranch.query.filter(CtBranch.chain == "a", CtBranch.city == "Lyon")
    assert lyon.count(exact=False) == lyon.count() == 2
    assert CtBranch.query.filter(CtBranch.chain == "b").count(exact=False) == 1


def test_exact_takes_a_bool() -> None:
    for bad in (0, "no", None):
        with pytest.raises(QueryError, match="exact takes True or False"):
            CtShop.query.count(exact=bad)  # type: ignore[arg-type]
        with pytest.raises(QueryError, match="exact takes True or False"):
            CtShop.count(exact=bad)  # type: ignore[arg-type]


def test_explain_says_which_count_runs_and_its_cost() -> None:
    exact = QUERIES["set"]().explain("count")
    assert exact.endswith(
        "count in one function call; exact count: every match's hash checked, O(S·K + M)"
    )
    costs = {
        "all": "SCARD of every record's set, O(1)",
        "set": "SCARD of the index set, O(1)",
        "range": "ZCOUNT of the sorted set, O(log N)",
        "and": (
            "ZINTERCARD of the parts' keys (a part that is no index set built first); with a "
            "range, a walk of the smallest part testing the others (a range by ZSCORE), O(S·K)"
        ),
        "or": "the cardinality of the matches' set algebra, O(S·K + M)",
    }
    for shape, cost in costs.items():
        text = QUERIES[shape]().explain("count", exact=False)
        assert "index count (expired records not yet swept and records deleted" in text
        assert text.endswith(cost), text


def test_queries_and_counts_are_calls_of_the_model_library(
    own_conn: typedis.Connection, own_client: redis.Redis
) -> None:
    CtShop.save_many(shops())
    own_client.config_resetstat()
    q = CtShop.query.filter(CtShop.cuisine == "Thai")
    assert [s.name for s in q.order_by(CtShop.rating).limit(2).all()] == ["s1", "s3"]
    assert q.count() == q.count(exact=False) == CtShop.count() - 5 == 5
    assert q.first() is not None
    stats = own_client.info("commandstats")
    assert stats["cmdstat_fcall"]["calls"] == 5
    assert not {"cmdstat_evalsha", "cmdstat_eval"} & set(stats)  # no script is sent
