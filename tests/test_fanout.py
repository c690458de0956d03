"""Queries across partitions and shards: one query function call per tag, sent in one pipeline,
merged on the client (``typedis._query._query._merge``), and ``shards=``.

The property: a query over P partitions (those the registry lists, or all named by ``in_()``)
or over 5 shards returns what the same query over one unpartitioned model holding the same
records returns (same ids in the same order when ordered or unordered
without a limit; a part of the matches of the right size with a limit and no order; same
counts). The records of the three models have the same ids (a partition field is a key field),
so the id tie-break of equal scores is the same.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import Counter
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.cluster import RedisCluster

import typedis
from _acl import as_user
from typedis import (
    Decaying,
    Index,
    Indexed,
    Key,
    KeyMutationError,
    Model,
    ModelError,
    QueryError,
    Sorted,
    Unique,
    _maintenance,
    field,
)
from typedis._query._conditions import Cond
from typedis.memory import AccessCount, Fingerprinted


class FoPart(Model, partition="p"):
    p: Key[str]
    n: Key[int]
    grp: Indexed[str] = "x"
    score: Sorted[int | None] = field(default=None)


class FoFlat(Model):
    p: Key[str]
    n: Key[int]
    grp: Indexed[str] = "x"
    score: Sorted[int | None] = field(default=None)


class FoSpread(Model, shards=5):  # FoFlat's records over 5 shards
    p: Key[str]
    n: Key[int]
    grp: Indexed[str] = "x"
    score: Sorted[int | None] = field(default=None)


class FoShard(Model, shards=8):
    n: Key[int]
    grp: Indexed[str] = "x"
    score: Sorted[int | None] = field(default=None)


Row = tuple[str, int, str, int | None]  # p, n, grp, score
PARTITIONS = ["a", "b", "c", "d:e", "f%"]  # ":" and "%" are escaped in the tag

ROWS = st.lists(
    st.tuples(
        st.sampled_from(PARTITIONS),
        st.integers(0, 25),
        st.sampled_from(["x", "y"]),
        st.one_of(st.none(), st.integers(0, 4)),  # few scores: many ties, some unscored
    ),
    max_size=40,
    unique_by=lambda r: (r[0], r[1]),
)


def conditions(model: Any) -> dict[str, list[Cond[Any]]]:
    return {
        "every record": [],
        "set": [model.grp == "y"],
        "range": [model.score >= 2],
        "set and range": [model.grp == "x", model.score < 3],
        "or": [(model.grp == "y") | (model.score <= 1)],
        "not": [~(model.grp == "y")],
        "by key": [model.n.in_([1, 2, 3, 20])],
    }


ORDERS = ["none", "asc", "desc"]


SPREADS = ["registry", "in_", "shards"]  # every partition listed, every one named, 5 shards


def build(
    model: Any, where: str, order: str, offset: int, limit: int | None, spread: str = ""
) -> Any:
    if model is FoPart and spread == "shards":
        model = FoSpread
    q = model.query.filter(*conditions(model)[where])
    if model is FoPart:  # every partition: those the registry lists, or all named by in_()
        q = q.filter(FoPart.p.in_(PARTITIONS)) if spread == "in_" else q.across_partitions()
    if order != "none":
        q = q.order_by(model.score.asc() if order == "asc" else model.score.desc())
    q = q.offset(offset)
    return q if limit is None else q.limit(limit)


def keys_of(records: list[Any]) -> list[tuple[str, int]]:
    return [(r.p, r.n) for r in records]


def store(rows: list[Row], redis_client: redis.Redis) -> None:
    redis_client.flushdb()
    _maintenance.forget_registrations()
    FoPart.save_many([FoPart(p=p, n=n, grp=g, score=s) for p, n, g, s in rows])
    FoFlat.save_many([FoFlat(p=p, n=n, grp=g, score=s) for p, n, g, s in rows])
    FoSpread.save_many([FoSpread(p=p, n=n, grp=g, score=s) for p, n, g, s in rows])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=ROWS,
    where=st.sampled_from(list(conditions(FoFlat))),
    order=st.sampled_from(ORDERS),
    offset=st.integers(0, 6),
    limit=st.one_of(st.none(), st.integers(0, 8)),
    how=st.sampled_from(SPREADS),
)
def test_a_query_across_tags_returns_what_one_unpartitioned_model_returns(
    redis_client: redis.Redis,
    rows: list[Row],
    where: str,
    order: str,
    offset: int,
    limit: int | None,
    how: str,
) -> None:
    store(rows, redis_client)
    spread, flat = (
        build(FoPart, where, order, offset, limit, how),
        build(FoFlat, where, order, offset, limit),
    )
    expected = keys_of(flat.all())
    found = keys_of(spread.all())
    if order == "none" and limit is not None:  # no defined order: a part of the matches
        matches = set(keys_of(build(FoFlat, where, order, 0, None).all()))
        assert len(found) == len(expected) and len(set(found)) == len(found)
        assert set(found) <= matches
    else:
        assert found == expected
        spread_keys, flat_keys = spread.keys(), flat.keys()
        assert [k.split(":r:")[1] for k in spread_keys] == [k.split(":r:")[1] for k in flat_keys]
    if order != "none":  # first() ignores the limit; without an order it is any match
        firsts = [q.first() for q in (spread, flat)]
        assert [f and (f.p, f.n) for f in firsts] == [firsts[1] and (firsts[1].p, firsts[1].n)] * 2
    base = build(FoPart, where, order, 0, None, how)
    assert base.count() == build(FoFlat, where, order, 0, None).count()
    assert base.count(exact=False) == build(FoFlat, where, order, 0, None).count(exact=False)
    assert spread.exists() == flat.exists()  # exists() ignores the limit, as first() does


def test_an_ordered_merge_keeps_the_order_of_one_tag_and_pushes_the_page_down(
    redis_client: redis.Redis,
) -> None:
    rows: list[Row] = [(p, n, "x", n % 3) for p in "abcd" for n in range(10)]
    store(rows, redis_client)
    q = FoPart.query.across_partitions().order_by(FoPart.score.desc()).offset(5).limit(4)
    flat = FoFlat.query.order_by(FoFlat.score.desc()).offset(5).limit(4)
    assert keys_of(q.all()) == keys_of(flat.all())
    plan = q.explain()
    assert plan.startswith(
        "FoPart fan-out over every partition the registry {td:FoPart}:partitions"
    )
    assert "4 function calls" in plan and "offset 0, limit 9" in plan  # pushed down to each
    assert "k-way merge on the order's score" in plan and plan.endswith("then offset 5, limit 4")
    assert "the counts summed" in FoPart.query.across_partitions().explain("count")


def test_a_query_naming_no_partition_is_refused_without_the_opt_in() -> None:
    with pytest.raises(QueryError, match=r"across_partitions\(\)"):
        FoPart.query.filter(FoPart.grp == "x").all()
    with pytest.raises(QueryError, match="several partitions"):
        FoPart.query.across_partitions().plan()


def test_in_on_the_partition_field_names_the_partitions(redis_client: redis.Redis) -> None:
    store([(p, n, "x", n) for p in "abc" for n in range(3)], redis_client)
    q = FoPart.query.filter(FoPart.p.in_(["a", "c", "zz"])).order_by(FoPart.score.asc())
    assert keys_of(q.all()) == sorted(
        ((p, n) for p in "ac" for n in range(3)), key=lambda k: (k[1], k[0])
    )
    assert "the 3 partitions named by in_()" in q.explain()
    assert q.count() == 6
    # one value: one partition, no fan-out
    assert FoPart.query.filter(FoPart.p.in_(["b"])).count() == 3
    assert "fan-out" not in FoPart.query.filter(FoPart.p.in_(["b"])).explain()


def test_an_empty_registered_partition_costs_a_call_and_returns_nothing(
    redis_client: redis.Redis,
) -> None:
    store([("a", 1, "x", 1)], redis_client)
    gone = FoPart(p="b", n=1).save()
    gone.delete()
    q = FoPart.query.across_partitions()
    assert "2 function calls" in q.explain()
    assert keys_of(q.all()) == [("a", 1)]
    assert q.count() == 1


def test_records_deleted_outside_typedis_or_expired_are_skipped(redis_client: redis.Redis) -> None:
    store([(p, n, "x", n) for p in "ab" for n in range(4)], redis_client)
    redis_client.delete("{td:FoPart:a}:r:a:2")
    FoPart(p="b", n=3, score=3).save(ttl=0.001)
    asyncio.run(asyncio.sleep(0.01))
    q = FoPart.query.across_partitions().order_by(FoPart.score.desc())
    assert keys_of(q.limit(3).all()) == [("a", 3), ("b", 2), ("b", 1)]
    assert q.count() == 6


def test_the_async_twins_merge_as_the_sync_methods(redis_client: redis.Redis) -> None:
    store([(p, n, "xy"[n % 2], n % 4) for p in "abc" for n in range(6)], redis_client)
    q = FoPart.query.across_partitions().order_by(FoPart.score.desc()).limit(7)

    async def run() -> tuple[Any, ...]:
        return (
            await q.aall(),
            await q.afirst(),
            await q.acount(),
            await q.aexists(),
            await FoPart.query.across_partitions().aget(FoPart.n == 5, FoPart.p == "c"),
            [r async for r in q.aiter(batch_size=2)],
            await q.aexplain(),
        )

    found, first, count, exists, got, iterated, explained = asyncio.run(run())
    assert keys_of(found) == keys_of(q.all()) and keys_of(iterated) == keys_of(q.all())
    assert first == q.first() and count == q.count() == 18 and exists
    assert (got.p, got.n) == ("c", 5)
    assert explained == q.explain()


def test_get_across_partitions_finds_one_or_refuses_several(redis_client: redis.Redis) -> None:
    store([("a", 1, "y", 1), ("b", 1, "x", 1), ("b", 2, "x", 2)], redis_client)
    q = FoPart.query.across_partitions()
    assert (q.get(FoPart.grp == "y").p, q.get(FoPart.score == 2).n) == ("a", 2)
    with pytest.raises(QueryError, match="several"):
        q.get(FoPart.n == 1)
    with pytest.raises(typedis.NotFound):
        q.get(FoPart.n == 9)


def test_a_tenant_who_may_not_read_the_registry_gets_permission_denied(
    own_conn: typedis.Connection, own_client: redis.Redis, own_server: str
) -> None:
    FoPart(p="a", n=1).save()
    FoPart(p="b", n=1).save()
    with as_user(own_server, own_client, "fo-tenant-a", "resetkeys", "~{td:FoPart:a}*"):
        assert FoPart.query.filter(FoPart.p == "a").count() == 1  # its own partition
        with pytest.raises(typedis.PermissionDenied):
            FoPart.query.across_partitions().all()  # the registry lists every tenant
        with pytest.raises(typedis.PermissionDenied):
            FoPart.query.filter(FoPart.p.in_(["a", "b"])).all()  # partition b is not its own
        with pytest.raises(typedis.PermissionDenied):
            asyncio.run(FoPart.query.across_partitions().acount())
        with pytest.raises(typedis.PermissionDenied):  # one pipeline, partition b refused
            asyncio.run(FoPart.query.filter(FoPart.p.in_(["a", "b"])).acount())


# ---- shards= ------------------------------------------------------------------------------


def test_a_sharded_model_spreads_its_records_by_a_stable_hash_of_the_key(
    redis_client: redis.Redis,
) -> None:
    FoShard.save_many([FoShard(n=n, score=n % 5) for n in range(400)])
    per_shard = Counter(
        key.split(b"}")[0] + b"}" for key in redis_client.scan_iter(match="{td:FoShard:*}:r:*")
    )
    assert sorted(per_shard) == [f"{{td:FoShard:~{i}}}".encode() for i in range(8)]
    assert min(per_shard.values()) > 400 / 8 / 2  # spread, none starved
    # stable: CRC-32 of the record id, not Python's hash()
    assert FoShard(n=7).redis_key == f"{{td:FoShard:~{zlib.crc32(b'7') % 8}}}:r:7"


def test_a_sharded_model_is_queried_over_every_shard(redis_client: redis.Redis) -> None:
    records = [FoShard(n=n, grp="xy"[n % 2], score=n % 7) for n in range(60)]
    FoShard.save_many(records)
    q = FoShard.query.filter(FoShard.grp == "y").order_by(FoShard.score.desc()).limit(5)
    # equal scores: ids descending, in byte order
    expected = sorted(
        (r for r in records if r.grp == "y"), key=lambda r: (r.score or 0, str(r.n)), reverse=True
    )[:5]
    assert [r.n for r in q.all()] == [r.n for r in expected]
    assert FoShard.query.count() == FoShard.count() == 60
    assert FoShard.query.get(FoShard.n == 13).score == 6
    assert "the 8 shards: 1 function call" in FoShard.query.filter(FoShard.n == 13).explain()
    by_key = FoShard.query.filter(FoShard.n.in_([1, 2, 3, 99]), FoShard.grp == "y")
    assert sorted(r.n for r in by_key.all()) == [1, 3]
    assert FoShard.load(13).score == 6
    assert "fan-out over the 8 shards" in q.explain()
    assert FoShard.check_indexes().total == 0


def test_unique_on_a_sharded_model_must_include_the_key() -> None:
    with pytest.raises(ModelError, match="unique fields include every key field"):

        class FoBadUnique(Model, shards=4):
            n: Key[int]
            mail: Unique[str]

    class FoGoodUnique(Model, shards=4, indexes=[Index("n", "mail", unique=True)]):
        n: Key[int]
        mail: str

    assert FoGoodUnique.__typedis_spec__.shards == 4


def test_kinds_keeping_one_structure_per_tag_are_refused_on_a_sharded_model() -> None:
    with pytest.raises(ModelError, match="shards= with a changes index"):

        class FoLogged(Model, shards=4, changes=True):
            n: Key[int]

    with pytest.raises(ModelError, match="shards= with a bloom index"):

        class FoBloomed(Model, shards=4):
            n: Key[int]
            topic: Fingerprinted[str] = "t"


@pytest.mark.parametrize("shards", [0, -1, True, 2.0, 2**15])
def test_shards_takes_a_positive_int(shards: object) -> None:
    with pytest.raises(ModelError, match="shards= takes an int"):

        class FoBadShards(Model, shards=shards):  # type: ignore[call-arg]
            n: Key[int]


def test_shards_and_partition_together_are_refused() -> None:
    with pytest.raises(ModelError, match="shards= and partition= together"):

        class FoBoth(Model, partition="p", shards=4):
            p: Key[str]
            n: Key[int]


def test_a_key_change_that_moves_a_record_to_another_shard_is_refused(
    redis_client: redis.Redis,
) -> None:
    moving = FoShard(n=1).save()
    other = next(n for n in range(2, 50) if zlib.crc32(str(n).encode()) % 8 != zlib.crc32(b"1") % 8)
    moving.n = other
    with pytest.raises(KeyMutationError, match=r"from shard \{td:FoShard:~\d\} to shard"):
        moving.save(migrate_key=True)
    assert FoShard.query.count() == 1
    # a key change that keeps the shard is a move inside one tag, as for any model
    same = next(n for n in range(2, 50) if zlib.crc32(str(n).encode()) % 8 == zlib.crc32(b"1") % 8)
    moving.n = same
    moving.save(migrate_key=True)
    assert [r.n for r in FoShard.query.all()] == [same]


class FoNote(Model, partition="agent"):
    agent: Key[str]
    name: Key[str]
    score: Sorted[int] = 0
    hits: AccessCount = field(default=0)


def test_a_read_hook_runs_only_on_the_records_a_fanout_returns(redis_client: redis.Redis) -> None:
    """A model whose kinds run on every record read (access tracking) has its page selected
    first (ids and scores), then only the page's records read: none cut by the merge counts."""
    FoNote.save_many([FoNote(agent=a, name=str(n), score=n) for a in "ab" for n in range(3)])
    q = FoNote.query.across_partitions().order_by(FoNote.score.desc()).limit(3)
    assert [(r.agent, r.name) for r in q.all()] == [("b", "2"), ("a", "2"), ("b", "1")]

    def staged(agent: str, name: str) -> int:
        key = FoNote(agent=agent, name=name).redis_key
        return int(redis_client.hget(key, "~acc:n:hits") or 0)

    assert [staged(a, str(n)) for a in "ab" for n in range(3)] == [0, 0, 1, 0, 1, 1]
    assert asyncio.run(q.aall()) == q.all()


class FoPower(Model, shards=2):
    name: Key[str]
    relevance: Decaying[float] = field(default=1.0, rate=0.3, curve="power")


def test_an_order_an_index_kind_computes_is_not_merged() -> None:
    """A power-curve Decaying order is computed by its kind on the server, with no score to
    merge on: refused before anything is sent (counting is fine)."""
    FoPower(name="x").save()
    with pytest.raises(QueryError, match="cannot be merged across partitions or shards"):
        FoPower.query.top_by_decay(n=3)
    assert FoPower.query.count() == 1


class FoShardTtl(Model, shards=4):
    n: Key[int]
    grp: Indexed[str] = "x"


def test_maintenance_visits_every_shard(redis_client: redis.Redis) -> None:
    FoShardTtl.save_many([FoShardTtl(n=n) for n in range(20)])
    for n in range(5):
        FoShardTtl(n=100 + n).save(ttl=0.001)
    asyncio.run(asyncio.sleep(0.01))
    assert FoShardTtl.count(exact=False) == 25 and FoShardTtl.count() == 20
    assert FoShardTtl.sweep_expired() == 5
    assert FoShardTtl.check_indexes().total == 0
    redis_client.srem(
        "{td:FoShardTtl:~0}:i:grp:x", *redis_client.smembers("{td:FoShardTtl:~0}:all")
    )
    assert FoShardTtl.check_indexes().total > 0
    assert FoShardTtl.rebuild_indexes() == 20
    assert FoShardTtl.query.filter(FoShardTtl.grp == "x").count() == 20
    assert FoShardTtl.delete_all() == 20
    assert FoShardTtl.query.count() == 0 and redis_client.dbsize() == 0


def test_one_call_apis_refuse_a_fanout_with_a_query_error() -> None:
    """plan(), profile() and bulk changes by query run in one tag: a fan-out is refused
    before anything is sent."""
    with pytest.raises(QueryError, match="several partitions or shards"):
        FoShard.query.plan()
    with pytest.raises(QueryError, match="several partitions or shards"):
        FoShard.query.profile()
    with pytest.raises(QueryError, match="several partitions or shards"):
        FoShard.bulk_delete(FoShard.query.filter(FoShard.grp == "x"))
    assert FoPart.query.filter(FoPart.p == "a").plan().tag == "{td:FoPart:a}"


def test_an_ordered_page_held_by_one_partition_is_asked_for_again(
    redis_client: redis.Redis,
) -> None:
    """Each tag is first asked for 2·⌈k/P⌉ + 1 matches: where one partition holds the whole
    page, it alone is asked again for k."""
    rows: list[Row] = [
        (p, n, "x", n + (1000 if p == "a" else 0)) for p in "abcd" for n in range(30)
    ]
    store(rows, redis_client)

    def calls() -> int:  # the FCALLs run, summed over every primary on a cluster
        if isinstance(redis_client, RedisCluster):
            per_node = redis_client.info("commandstats", target_nodes=RedisCluster.PRIMARIES)
            nodes: list[dict[str, Any]] = list(per_node.values())
        else:
            nodes = [redis_client.info("commandstats")]  # pyright: ignore[reportUnknownMemberType]
        return sum(
            v["calls"]
            for stats in nodes
            for name, v in stats.items()
            if name.startswith("cmdstat_fcall")
        )

    for k, sent in ((1, 4), (5, 4), (20, 5), (30, 5), (45, 5), (100, 4)):
        q = FoPart.query.across_partitions().order_by(FoPart.score.desc()).limit(k)
        flat = FoFlat.query.order_by(FoFlat.score.desc()).limit(k)
        expected = keys_of(flat.all())
        before = calls()
        assert keys_of(q.all()) == expected
        assert calls() - before == sent, k  # 4 partitions; those that may hold more again
