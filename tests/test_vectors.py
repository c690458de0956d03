"""Vectors (``typedis.retrieval``): stored as float32 in the record, the vector index kind and its
version, and exact cosine search over a partition through a client cache that is never stale.

Search results are compared with a brute-force numpy ranking of the records as loaded; a second
connection writes between searches; partitions never mix; deletes, expiry and moves take vectors
out; ``check_indexes()`` covers the kind; and the cache survives the tombstones' floor (a full
reload).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import struct
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

import typedis
from typedis import Indexed, Key, Model, ModelError, QueryError, _connection, field
from typedis._index import vector_kind
from typedis._query._query import Query, _adrive, _drive  # pyright: ignore[reportPrivateUsage]
from typedis.retrieval import Embedding, HashingEmbedder, _vectors, vector_candidates
from typedis.retrieval._vectors import _CACHES, ranked, unit_query  # pyright: ignore[reportPrivateUsage]

pytestmark = pytest.mark.filterwarnings("ignore::typedis.retrieval.NotSemanticWarning")
F32 = st.floats(width=32, allow_nan=False, allow_infinity=False, allow_subnormal=True)


class Vec(Model, partition="user"):
    user: Key[str]
    id: Key[str]
    kind: Indexed[str] = "x"
    body: str | None = None
    vec: Embedding = field(source="body", dimension=4)


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    _CACHES.clear()  # each test's database starts empty: so do the caches
    yield


def search(query: Query[Any], vector: Sequence[float], k: int) -> list[tuple[str, float]]:
    """``query.search(vector=...)``, as (record id, score) pairs; the internal steps agree."""
    hits = query.search(vector=vector, k=k)
    assert all(h.score == h.vector_score and h.text_score is None for h in hits)
    found = _drive(ranked(query, unit_query(query.model.__typedis_spec__, vector), k, load=True))
    pairs = [(loc[1], s) for loc, s, _ in found]
    same([(h.record.redis_key.split(":r:")[1], h.score) for h in hits], pairs)
    return pairs


def brute(query: Query[Any], vector: Sequence[float], k: int) -> list[tuple[str, float]]:
    """The reference: every matching record loaded, ranked with numpy in float64."""
    q = np.asarray(vector, np.float64)
    q = q / (np.linalg.norm(q) or 1.0)
    scored: list[tuple[float, str]] = []
    for r in query.all():
        if r.vec is not None:
            v = np.asarray(r.vec, np.float64)
            norm = np.linalg.norm(v)
            scored.append((float(v @ q / norm) if norm else 0.0, r.redis_key.split(":r:")[1]))
    scored.sort(key=lambda x: (-x[0], x[1]))
    return [(rid, s) for s, rid in scored[:k]]


def same(found: list[tuple[str, float]], expected: list[tuple[str, float]]) -> None:
    assert [s for _, s in found] == pytest.approx([s for _, s in expected], abs=1e-5)
    # ids agree except among scores tied within float32 rounding
    assert {i for i, s in found if all(abs(s - t) > 1e-5 for _, t in found if _ != i)} <= {
        i for i, _ in expected
    }


def test_vectors_round_trip_exactly_as_float32(redis_client: redis.Redis) -> None:
    subnormal = struct.unpack("<f", struct.pack("<I", 5))[0]  # a float32 subnormal
    exact = [1.5, -0.25, subnormal, 65504.0]
    v = Vec(user="a", id="1", vec=exact).save()
    assert Vec.load("a", "1").vec == exact == v.vec
    raw = redis_client.hget(v.redis_key, "vec")
    assert raw == struct.pack("<4f", *exact)  # packed little-endian float32 in the record
    rounded = Vec(user="a", id="2", vec=[0.1, 0.2, 0.3, 0.4])
    assert rounded.vec == list(struct.unpack("<4f", struct.pack("<4f", 0.1, 0.2, 0.3, 0.4)))
    assert Vec.load("a", "1").vec == exact


@given(st.lists(F32, min_size=4, max_size=4))
@settings(max_examples=30)
def test_any_float32_vector_round_trips(values: list[float]) -> None:
    Vec(user="p", id="1", vec=values).save()
    assert Vec.load("p", "1").vec == values


def test_dimension_mismatch_is_refused(redis_client: redis.Redis) -> None:
    with pytest.raises(ModelError, match="vector of 3 values, the field takes 4"):
        Vec(user="a", id="1", vec=[1.0, 2.0, 3.0]).save()
    with pytest.raises(ModelError, match=r"Vec\.vec"):
        Vec.save_many([Vec(user="a", id="2", vec=[1.0] * 5)])
    assert redis_client.keys("*") == []
    Vec(user="a", id="3", vec=[1.0, 0, 0, 0]).save()
    with pytest.raises(QueryError, match="vector of 2 values; the field takes 4"):
        search(Vec.query.filter(user="a"), [1.0, 0.0], 1)


def test_the_write_bumps_the_partitions_version(redis_client: redis.Redis) -> None:
    def version() -> float:
        return redis_client.zscore("{td:Vec:a}:v:vec:n", "v") or 0.0

    a = Vec(user="a", id="1", vec=[1.0, 0, 0, 0]).save()
    assert version() == 1.0
    a.kind = "y"
    a.save()
    assert version() == 1.0  # the vector did not change
    a.vec = [0.0, 1.0, 0, 0]
    a.save()
    assert version() == 2.0
    a.delete()
    assert version() == 3.0
    assert redis_client.zrange("{td:Vec:a}:v:vec:d", 0, -1, withscores=True) == [(b"a:1", 3.0)]
    Vec(user="b", id="1", vec=[1.0, 0, 0, 0]).save()
    assert version() == 3.0  # another partition's vectors have their own version


@pytest.mark.parametrize("batches", [False, True])
def test_search_equals_brute_force_with_and_without_filters(
    monkeypatch: pytest.MonkeyPatch, batches: bool
) -> None:
    if batches:  # a partition larger than one sync reads its vectors in batches of HGETs
        monkeypatch.setattr(_vectors, "SYNC_MOST", 16)
        monkeypatch.setattr(_vectors, "READ_BATCH", 7)
    rng = np.random.default_rng(7)
    Vec.save_many(
        [
            Vec(user="a", id=str(i), kind="xy"[i % 2], vec=rng.normal(size=4).tolist())
            for i in range(300)
        ]
    )
    for n in range(10):
        q = rng.normal(size=4).tolist()
        same(search(Vec.query.filter(user="a"), q, 7), brute(Vec.query.filter(user="a"), q, 7))
        sub = Vec.query.filter(user="a", kind="y")
        same(search(sub, q, 7), brute(sub, q, 7))
        Vec.save_many(  # changes beyond one sync's reach start the cache again
            [Vec(user="a", id=str(i), vec=rng.normal(size=4).tolist()) for i in range(n * 5)]
        )


def test_a_selective_filter_still_gives_k_hits() -> None:
    rng = np.random.default_rng(1)
    records = [Vec(user="a", id=str(i), vec=rng.normal(size=4).tolist()) for i in range(500)]
    for r in records[:6]:
        r.kind = "rare"
        r.vec = [-1.0, -1.0, -1.0, -1.0]  # far from the query: no unfiltered top-k holds them
    Vec.save_many(records)
    found = search(Vec.query.filter(user="a", kind="rare"), [1.0, 1.0, 1.0, 1.0], 5)
    assert len(found) == 5 and {i for i, _ in found} <= {f"a:{n}" for n in range(6)}
    assert len(search(Vec.query.filter(user="a", kind="rare"), [1.0, 1, 1, 1], 50)) == 6


@given(
    st.lists(
        st.tuples(st.sampled_from("abc"), st.integers(0, 9), st.lists(F32, min_size=4, max_size=4)),
        max_size=30,
    ),
    st.lists(st.integers(-3, 3), min_size=4, max_size=4).filter(any),
    st.integers(1, 12),
)
@settings(max_examples=40)
def test_no_result_ever_crosses_partitions(
    records: list[tuple[str, int, list[float]]], q: list[int], k: int
) -> None:
    try:
        for user, n, values in records:
            Vec(user=user, id=str(n), vec=values).save()
        vector = [float(x) for x in q]
        for user in "abc":
            query = Vec.query.filter(user=user)
            found = search(query, vector, k)
            same(found, brute(query, vector, k))
            assert all(rid.startswith(f"{user}:") for rid, _ in found)
    finally:
        for user, n, _ in records:
            Vec(user=user, id=str(n)).delete()


def test_a_search_over_several_partitions_merges_by_score() -> None:
    Vec.save_many([Vec(user="a", id=str(i), vec=[1.0, float(i), 0, 0]) for i in range(20)])
    Vec.save_many([Vec(user="b", id=str(i), vec=[1.0, float(i), 0, 0]) for i in range(20)])
    across = search(Vec.query.across_partitions(), [1.0, 0, 0, 0], 4)
    assert [i for i, _ in across] == ["a:0", "b:0", "a:1", "b:1"]
    assert [i for i, _ in search(Vec.query.filter(Vec.user.in_(["b"])), [1.0, 0, 0, 0], 1)] == [
        "b:0"
    ]


def test_delete_all_empties_the_cache_too() -> None:
    Vec.save_many([Vec(user="a", id=str(i), vec=[1.0, float(i), 0, 0]) for i in range(3)])
    assert len(search(Vec.query.filter(user="a"), [1.0, 0, 0, 0], 5)) == 3
    Vec.delete_all()
    assert search(Vec.query.filter(user="a"), [1.0, 0, 0, 0], 5) == []
    Vec(user="a", id="9", vec=[0.0, 1.0, 0, 0]).save()  # a new life of the keys: a new epoch
    assert [i for i, _ in search(Vec.query.filter(user="a"), [1.0, 0, 0, 0], 5)] == ["a:9"]


# ---- the cache ----------------------------------------------------------------------------------

OPS = st.lists(
    st.tuples(
        st.sampled_from(["save", "delete", "none", "expire"]),
        st.integers(0, 7),
        st.lists(st.integers(-3, 3), min_size=4, max_size=4),
    ),
    min_size=1,
    max_size=25,
)


@given(OPS, st.lists(st.integers(-3, 3), min_size=4, max_size=4), st.sampled_from([4096, 2]))
@settings(max_examples=40)
def test_the_cache_is_never_stale_under_another_writer(
    ops: list[tuple[str, int, list[int]]], q: list[int], most: int
) -> None:
    """A second connection writes between searches; every search equals the brute force (also
    when every reload of more than two vectors goes through the batches of HGETs)."""
    url = _connection.get_connection().url
    writer = typedis.connect(url)  # the writer's own connection...
    reader = typedis.connect(url)  # ...and the reader's, with the cache
    patch = pytest.MonkeyPatch()
    patch.setattr(_vectors, "SYNC_MOST", most)
    try:
        for op, n, values in ops:
            _connection._default = writer  # pyright: ignore[reportPrivateUsage]
            rec = Vec(user="c", id=str(n), vec=[float(x) for x in values])
            if op == "save":
                rec.save()
            elif op == "delete":
                rec.delete()
            elif op == "none":
                rec.vec, rec.body = None, None
                rec.save()
            else:
                rec.save(expire_at=datetime(2000, 1, 1, tzinfo=UTC))
            _connection._default = reader  # pyright: ignore[reportPrivateUsage]
            query = Vec.query.filter(user="c")
            vector = [float(x) for x in q] if any(q) else [1.0, 0, 0, 0]
            same(search(query, vector, 3), brute(query, vector, 3))
    finally:
        patch.undo()
        writer.close()
        reader.close()
        for n in range(8):
            Vec(user="c", id=str(n)).delete()


def test_deletes_and_expiry_take_vectors_out_of_search() -> None:
    a = Vec(user="a", id="1", vec=[1.0, 0, 0, 0]).save()
    b = Vec(user="a", id="2", vec=[0.9, 0.1, 0, 0]).save()
    Vec(user="a", id="3", vec=[0.0, 1.0, 0, 0]).save()
    assert [i for i, _ in search(Vec.query.filter(user="a"), [1.0, 0, 0, 0], 2)] == ["a:1", "a:2"]
    a.delete()
    assert [i for i, _ in search(Vec.query.filter(user="a"), [1.0, 0, 0, 0], 2)] == ["a:2", "a:3"]
    b.save(expire_at=datetime(2000, 1, 1, tzinfo=UTC))  # expired, not yet swept: skipped
    assert [i for i, _ in search(Vec.query.filter(user="a"), [1.0, 0, 0, 0], 2)] == ["a:3"]
    assert Vec.sweep_expired("a") == 1
    assert [i for i, _ in search(Vec.query.filter(user="a"), [1.0, 0, 0, 0], 2)] == ["a:3"]
    assert Vec.check_indexes()["total"] == 0


def test_a_moved_record_takes_its_vector_along() -> None:
    m = Vec(user="a", id="1", vec=[1.0, 0, 0, 0]).save()
    search(Vec.query.filter(user="a"), [1.0, 0, 0, 0], 1)  # warm both caches
    search(Vec.query.filter(user="b"), [1.0, 0, 0, 0], 1)
    m.user = "b"
    if typedis.get_connection().cluster:  # two partitions are two slots: the move is refused
        with pytest.raises(typedis.KeyMutationError):
            m.save(migrate_key=True)
        assert [i for i, _ in search(Vec.query.filter(user="a"), [1.0, 0, 0, 0], 1)] == ["a:1"]
        return
    m.save(migrate_key=True)
    assert search(Vec.query.filter(user="a"), [1.0, 0, 0, 0], 1) == []
    assert [i for i, _ in search(Vec.query.filter(user="b"), [1.0, 0, 0, 0], 1)] == ["b:1"]


def test_past_the_tombstones_floor_the_cache_reloads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vector_kind, "TOMBSTONES", 3)

    class Few(Model, partition="user"):
        user: Key[str]
        id: Key[str]
        vec: Embedding = field(source="id", dimension=2)

    Few.save_many([Few(user="a", id=str(i), vec=[1.0, float(i)]) for i in range(10)])
    assert len(search(Few.query.filter(user="a"), [1.0, 0], 20)) == 10
    for i in range(6):
        Few(user="a", id=str(i)).delete()  # more removals than the partition remembers
    assert [i for i, _ in search(Few.query.filter(user="a"), [1.0, 0], 20)] == [
        f"a:{n}" for n in range(6, 10)
    ]


def test_check_clean_and_rebuild_cover_the_kind(redis_client: redis.Redis) -> None:
    Vec.save_many([Vec(user="a", id=str(i), vec=[1.0, float(i), 0, 0]) for i in range(3)])
    redis_client.zrem("{td:Vec:a}:v:vec", "a:1")
    redis_client.zadd("{td:Vec:a}:v:vec", {"a:9": 1})
    assert Vec.check_indexes()["vector"] == 2
    Vec.clean_indexes()
    Vec.rebuild_indexes()
    assert Vec.check_indexes()["total"] == 0
    assert len(search(Vec.query.filter(user="a"), [1.0, 0, 0, 0], 5)) == 3


def test_clean_indexes_takes_a_deleted_records_vector_out_of_every_cache(
    redis_client: redis.Redis,
) -> None:
    """A record hash deleted outside typedis: clean_indexes() removes its id as a delete does
    (a version and a tombstone, in its call), so a warm cache brought up to date drops it, and
    so does another process's cache (a copy of this one as of before the clean)."""
    rng = np.random.default_rng(11)
    Vec.save_many([Vec(user="a", id=str(i), vec=rng.normal(size=4).tolist()) for i in range(9)])
    query, q = Vec.query.filter(user="a"), [1.0, 0.5, -0.5, 0.0]
    gone = search(query, q, 3)[0][0]  # the best: the cache holds it
    cache = _CACHES[("{td:Vec:a}", "v:vec")]
    other = dataclasses.replace(
        cache,
        ids=list(cache.ids),
        rows=dict(cache.rows),
        free=list(cache.free),
        matrix=cache.matrix.copy(),
        lock=threading.Lock(),
    )
    version = redis_client.zscore("{td:Vec:a}:v:vec:n", "v")
    assert version is not None
    redis_client.delete(f"{{td:Vec:a}}:r:{gone}")
    assert Vec.check_indexes()["vector"] == 1
    assert Vec.clean_indexes()["vector"] == 1
    assert redis_client.zscore("{td:Vec:a}:v:vec:n", "v") == version + 1
    assert redis_client.zscore("{td:Vec:a}:v:vec:d", gone) == version + 1  # its tombstone
    assert Vec.check_indexes()["total"] == 0
    for held in (cache, other):
        _CACHES[("{td:Vec:a}", "v:vec")] = held
        found = search(query, q, 3)
        assert gone not in held.rows and gone not in [rid for rid, _ in found]
        same(found, brute(query, q, 3))
    Vec.rebuild_indexes()  # re-adds every vector: a version each, and the caches follow
    assert redis_client.zscore("{td:Vec:a}:v:vec:n", "v") == version + 9
    same(search(query, q, 3), brute(query, q, 3))


def test_vector_candidates_and_the_async_driver() -> None:
    Vec.save_many([Vec(user="a", id=str(i), vec=[1.0, float(i), 0, 0]) for i in range(5)])
    query = Vec.query.filter(user="a")
    found = _drive(vector_candidates(query, [1.0, 0, 0, 0], 2))
    assert [loc for loc, _ in found] == [("{td:Vec:a}", "a:0"), ("{td:Vec:a}", "a:1")]
    assert found[0][1] == pytest.approx(1.0)

    async def body() -> Any:
        try:
            return await _adrive(vector_candidates(query, [1.0, 0, 0, 0], 2))
        finally:
            await _connection.get_connection().aclose()

    assert asyncio.run(body()) == found
    assert math.isclose(found[1][1], 1 / math.sqrt(2), rel_tol=1e-6)


def test_search_takes_a_text_to_embed_and_refuses_bad_input() -> None:
    class Said(Model, partition="user"):
        user: Key[str]
        id: Key[str]
        body: str
        vec: Embedding = field(source="body", provider=HashingEmbedder(64))

    Said.save_many(
        [Said(user="a", id=str(i), body=b) for i, b in enumerate(["hot coffee", "iced tea"])]
    )
    hits = Said.query.filter(user="a").search(vector="coffee", k=1)
    assert [h.record.id for h in hits] == ["0"]

    async def body() -> list[str]:
        try:
            found = await Said.query.filter(user="a").asearch(vector="iced tea", k=1)
            return [h.record.id for h in found]
        finally:
            await _connection.get_connection().aclose()

    assert asyncio.run(body()) == ["1"]
    query = Said.query.filter(user="a")
    with pytest.raises(QueryError, match="k takes an int >= 1"):
        query.search(vector="x", k=0)
    with pytest.raises(QueryError, match="finite"):
        query.search(vector=[math.nan] * 64)
    with pytest.raises(QueryError, match="drop order_by"):
        query.limit(3).search(vector="x")
    with pytest.raises(QueryError, match="no Embedding field"):
        _no_embedding()


def _no_embedding() -> None:
    class VecLess(Model):
        id: Key[str]

    VecLess.query.search(vector=[1.0])


def test_threads_share_one_cache_while_a_writer_writes() -> None:
    """Searches in threads share the partition's cache as a writer changes vectors; each
    result holds live records only, and once the writes stop every search is exact."""
    rng = np.random.default_rng(3)
    Vec.save_many([Vec(user="t", id=str(i), vec=rng.normal(size=4).tolist()) for i in range(200)])
    query, q = Vec.query.filter(user="t"), [1.0, 0.5, 0.0, -0.5]
    failures: list[BaseException] = []

    def reader() -> None:
        try:
            for _ in range(30):
                assert len(query.search(vector=q, k=5)) == 5
        except BaseException as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(60):
        Vec(user="t", id=str(i), vec=rng.normal(size=4).tolist()).save()
    for t in threads:
        t.join()
    assert failures == []
    same(search(query, q, 10), brute(query, q, 10))
