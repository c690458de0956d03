"""Bulk changes: ``bulk_create``, ``bulk_update`` and ``bulk_delete`` by list or by query.

Every batch is one atomic function call: a refused record leaves its whole batch unwritten and
is reported by its position, earlier batches stay written. A query's matches are listed on the
server and taken a batch at a time, so the client's memory is bounded by a batch, and a record
gone before its batch is skipped. The updates are partial writes on the server: they behave as
``save(update_fields=...)`` does, and never lose a concurrent write of another field.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import pytest
import redis
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import Field, ValidationError

import typedis
from typedis import (
    CorruptRecord,
    Indexed,
    Key,
    KeyMutationError,
    Model,
    ModelError,
    NotFound,
    ServerFull,
    Sorted,
    Unique,
    UniqueViolation,
    _bulk,
    _keys,
    _scripts,
)

TAG = "{td:BkShop}"


class BkShop(Model):
    name: Key[str]
    email: Unique[str | None] = None
    cuisine: Indexed[str | None] = None
    rating: Sorted[float] = 0.0
    visits: Annotated[int, Field(ge=0)] = 0
    note: str = ""
    code: str = Field(default="c", frozen=True)


class BkNote(Model, partition="agent", ttl=3600):
    agent: Key[str]
    n: Key[int]
    topic: Indexed[str] = ""


class BkLean(Model):
    name: Key[str]
    group: Indexed[int] = 0
    note: str = ""


class BkOther(Model):
    name: Key[str]


def shop(i: int, **values: Any) -> BkShop:
    return BkShop(**{"name": f"s{i}", "email": f"s{i}@x", "cuisine": "Thai", **values})


def names(client: redis.Redis) -> set[str]:
    return {m.decode() for m in client.smembers(f"{TAG}:all")}


def noted(note: str) -> set[str]:
    """The names of the records whose (unindexed) note is ``note``."""
    return {s.name for s in BkShop.query.all() if s.note == note}


def bulk_keys(client: redis.Redis) -> list[bytes]:
    return list(client.scan_iter(match="*:bulk:*"))


def after_first_step(steps: _bulk.Steps[int], hook: Callable[[], None]) -> _bulk.Steps[int]:
    """``steps`` with ``hook`` run once the first step (a query's listing) has run."""
    reply: Any = None
    first = True
    while True:
        try:
            step = steps.send(reply)
        except StopIteration as stop:
            done: int = stop.value
            return done
        reply = yield step
        if first:
            first = False
            hook()


def recorded(steps: _bulk.Steps[int], calls: list[_scripts.Call[Any]]) -> _bulk.Steps[int]:
    """``steps``, noting each call they make in ``calls``."""
    reply: Any = None
    while True:
        try:
            step = steps.send(reply)
        except StopIteration as stop:
            done: int = stop.value
            return done
        if isinstance(step, _scripts.Call):
            calls.append(step)
        reply = yield step


# ---- bulk_create ------------------------------------------------------------------------------


def test_bulk_create_writes_an_iterable_batch_by_batch(redis_client: redis.Redis) -> None:
    calls: list[_scripts.Call[Any]] = []
    made = (shop(i, rating=float(i)) for i in range(7))  # read a batch at a time
    assert _bulk.run(recorded(_bulk.create(BkShop, made, 3), calls)) == 7
    assert [len(c.keys) for c in calls] == [3, 3, 1]
    assert names(redis_client) == {f"s{i}" for i in range(7)}
    assert [s.name for s in BkShop.query.order_by(BkShop.rating.desc()).limit(2).all()] == [
        "s6",
        "s5",
    ]
    assert BkShop.check_indexes()["total"] == 0
    assert BkShop.bulk_create([]) == 0


def test_created_records_know_they_are_saved() -> None:
    records = [shop(0), shop(1)]
    BkShop.bulk_create(records)
    assert records[1].atomic_increment(BkShop.rating, 2.0) == 2.0
    with pytest.raises(KeyMutationError):
        records[0].name = "elsewhere"
        records[0].save()


def test_bulk_create_refuses_a_stored_key_where_save_many_overwrites(
    redis_client: redis.Redis,
) -> None:
    shop(100, note="kept").save()
    records = [shop(i) for i in range(7)]
    records[4] = shop(100, email="new@x", note="overwritten?")
    with pytest.raises(UniqueViolation, match=r"bulk_create\(\): the record at position 4") as e:
        BkShop.bulk_create(records, batch_size=3)
    assert e.value.position == 4
    assert e.value.field == "name" and e.value.value == "s100"
    # batch [0, 1, 2] written; [3, 4, 5] refused whole; [6] never sent
    assert names(redis_client) == {"s100", "s0", "s1", "s2"}
    assert BkShop.load("s100").note == "kept"
    assert BkShop.check_indexes()["total"] == 0
    BkShop.save_many([records[4]])  # save_many() writes whether or not the record exists
    assert BkShop.load("s100").note == "overwritten?"


def test_bulk_create_replaces_an_expired_record(redis_client: redis.Redis) -> None:
    past = datetime.now(UTC) - timedelta(days=1)
    shop(0, note="old").save(expire_at=past)  # expired, not swept
    assert BkShop.bulk_create([shop(0, note="new")]) == 1
    assert BkShop.load("s0").note == "new"
    assert not redis_client.hexists(f"{TAG}:r:s0", "~exp")
    assert BkShop.check_indexes()["total"] == 0


def test_bulk_create_refuses_two_records_with_one_unique_value(redis_client: redis.Redis) -> None:
    with pytest.raises(UniqueViolation) as caught:
        BkShop.bulk_create([shop(0, email="same"), shop(1), shop(2, email="same")])
    assert caught.value.position == 2
    assert redis_client.dbsize() == 0


def test_bulk_create_of_a_damaged_key_is_refused(redis_client: redis.Redis) -> None:
    redis_client.set(f"{TAG}:r:s1", "not a hash")
    with pytest.raises(CorruptRecord) as caught:
        BkShop.bulk_create([shop(0), shop(1)])
    assert caught.value.position == 1
    assert not redis_client.exists(f"{TAG}:r:s0")


# ---- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["bulk_create", "bulk_update", "bulk_delete"])
def test_a_bad_item_is_reported_by_position_and_nothing_of_its_batch_is_written(
    redis_client: redis.Redis, method: str
) -> None:
    records: list[Any] = [shop(i) for i in range(7)]
    if method != "bulk_create":
        BkShop.save_many(records)
    records[4] = BkOther(name="s4")
    changes = {"note": "changed"} if method == "bulk_update" else {}
    with pytest.raises(ModelError, match=r"takes BkShop records.*position 4; nothing of its batch"):
        getattr(BkShop, method)(records, batch_size=3, **changes)
    written = {0, 1, 2}
    if method == "bulk_create":
        assert names(redis_client) == {f"s{i}" for i in written}
    elif method == "bulk_update":
        assert noted("changed") == {f"s{i}" for i in written}
    else:
        assert names(redis_client) == {f"s{i}" for i in range(7)} - {f"s{i}" for i in written}


class BkShopChild(BkShop):
    pass


@pytest.mark.parametrize("method", ["bulk_update", "bulk_delete"])
def test_a_record_of_a_subclass_is_refused(redis_client: redis.Redis, method: str) -> None:
    child = BkShopChild(name="c").save()  # stored under BkShopChild's own keys
    changes = {"note": "x"} if method == "bulk_update" else {}
    with pytest.raises(ModelError, match="takes BkShop records, got BkShopChild") as caught:
        getattr(BkShop, method)([child], **changes)
    assert caught.value.position == 0
    assert BkShopChild.load("c").note == ""
    assert list(redis_client.scan_iter(match=f"{TAG}*")) == []


@pytest.mark.parametrize("method", ["bulk_update", "bulk_delete"])
def test_the_same_record_twice_in_a_batch_is_refused(method: str) -> None:
    records = [shop(0), shop(1)]
    BkShop.save_many(records)
    changes = {"note": "x"} if method == "bulk_update" else {}
    with pytest.raises(ModelError, match="positions 0 and 2 have the same key") as caught:
        getattr(BkShop, method)([records[0], records[1], records[0]], **changes)
    assert caught.value.position == 2
    assert BkShop.load("s0").note == ""


@pytest.mark.parametrize("size", [0, -1, 1.5, True, "10"])
@pytest.mark.parametrize("method", ["bulk_create", "bulk_update", "bulk_delete"])
def test_batch_size_is_a_positive_int(method: str, size: Any) -> None:
    changes = {"note": "x"} if method == "bulk_update" else {}
    with pytest.raises(ModelError, match="batch_size must be a positive int"):
        getattr(BkShop, method)([], batch_size=size, **changes)


def test_sources_of_the_wrong_kind_are_refused(redis_client: redis.Redis) -> None:
    with pytest.raises(ModelError, match="takes records, not a query"):
        BkShop.bulk_create(BkShop.query)  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="takes a query of BkShop, got one of BkOther"):
        BkShop.bulk_delete(BkOther.query)  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="takes an iterable of records"):
        BkShop.bulk_delete(3)  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="takes an iterable of records"):
        BkShop.bulk_update("s0", note="x")  # type: ignore[arg-type]
    assert redis_client.dbsize() == 0


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({}, ModelError, "name the fields to change"),
        ({"nope": 1}, ModelError, r"unknown field\(s\) \['nope'\]"),
        ({"name": "x"}, ModelError, r"\['name'\] are key fields"),
        ({"code": "d"}, ModelError, r"field\(s\) \['code'\] are frozen"),
        ({"rating": "high"}, ValidationError, "rating"),
        ({"visits": -1}, ValidationError, "visits"),
        ({"cuisine": 3}, ValidationError, "cuisine"),
        ({"note": "\ud800"}, ModelError, "BkShop.note: cannot store"),
    ],
)
def test_changes_are_validated_before_anything_is_written(
    redis_client: redis.Redis, changes: dict[str, Any], error: type[Exception], match: str
) -> None:
    BkShop.save_many([shop(0), shop(1)])
    before = {k: redis_client.dump(k) for k in redis_client.scan_iter()}
    with pytest.raises(error, match=match):
        BkShop.bulk_update(BkShop.query, **changes)
    assert {k: redis_client.dump(k) for k in redis_client.scan_iter()} == before


def test_a_validation_error_names_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        BkShop.bulk_update([], rating="high")
    assert caught.value.errors()[0]["loc"] == ("rating",)
    assert caught.value.title == "BkShop"


# ---- bulk_update ------------------------------------------------------------------------------


def test_bulk_update_by_query_moves_the_index_entries(redis_client: redis.Redis) -> None:
    BkShop.save_many([shop(i, cuisine="Thai" if i % 2 else "Lao") for i in range(10)])
    thai = BkShop.query.filter(BkShop.cuisine == "Thai")
    # The filter's own field changes: each batch takes records out of the query's matches.
    assert BkShop.bulk_update(thai, batch_size=2, cuisine="Khmer", rating=5.0) == 5
    assert thai.count() == 0
    assert {s.name for s in BkShop.query.filter(BkShop.cuisine == "Khmer").all()} == {
        "s1",
        "s3",
        "s5",
        "s7",
        "s9",
    }
    assert BkShop.query.filter(BkShop.rating == 5.0).count() == 5
    assert BkShop.check_indexes()["total"] == 0
    assert bulk_keys(redis_client) == []  # the list of matches is used up


def test_bulk_update_of_a_page_changes_that_page_only() -> None:
    BkShop.save_many([shop(i, rating=float(i)) for i in range(10)])
    top = BkShop.query.order_by(BkShop.rating.desc()).limit(3)
    assert BkShop.bulk_update(top, batch_size=2, note="top") == 3
    assert noted("top") == {"s9", "s8", "s7"}


def test_bulk_update_by_records_updates_them_in_place() -> None:
    records = [shop(i) for i in range(4)]
    BkShop.save_many(records)
    assert BkShop.bulk_update(records[1:3], cuisine=None, note="n") == 2
    assert [(r.cuisine, r.note) for r in records] == [
        ("Thai", ""),
        (None, "n"),
        (None, "n"),
        ("Thai", ""),
    ]
    assert [BkShop.load(f"s{i}") for i in range(4)] == records
    assert BkShop.check_indexes()["total"] == 0


def test_a_unique_value_for_two_records_is_refused(redis_client: redis.Redis) -> None:
    BkShop.save_many([shop(i) for i in range(3)])
    with pytest.raises(UniqueViolation, match="position 1; nothing of its batch") as caught:
        BkShop.bulk_update(BkShop.query, email="one@x")
    assert caught.value.position == 1 and caught.value.value == "one@x"
    assert BkShop.query.filter(BkShop.email == "one@x").count() == 0
    assert bulk_keys(redis_client) == []  # dropped when the change stopped
    with pytest.raises(UniqueViolation) as caught:  # a batch at a time: the first goes through
        BkShop.bulk_update(BkShop.query, batch_size=1, email="one@x")
    assert caught.value.position == 1
    assert BkShop.query.filter(BkShop.email == "one@x").count() == 1
    assert bulk_keys(redis_client) == []
    assert BkShop.check_indexes()["total"] == 0


def test_a_refused_record_leaves_its_batch_unwritten(redis_client: redis.Redis) -> None:
    records = [shop(i) for i in range(7)]
    BkShop.save_many(records)
    redis_client.delete(f"{TAG}:r:s4")
    redis_client.set(f"{TAG}:r:s4", "not a hash")
    with pytest.raises(CorruptRecord) as caught:
        BkShop.bulk_update(records, batch_size=3, note="done")
    assert caught.value.position == 4
    notes = [redis_client.hget(f"{TAG}:r:s{i}", "note") for i in (0, 1, 2, 3, 5, 6)]
    assert notes == [b"done"] * 3 + [b""] * 3
    assert [r.note for r in records] == ["done"] * 3 + [""] * 4


def test_records_gone_before_their_batch_are_skipped_and_not_counted(
    redis_client: redis.Redis,
) -> None:
    BkShop.save_many([shop(i) for i in range(6)])

    def meanwhile() -> None:  # after the listing, before the first batch
        BkShop.load("s1").delete()
        BkShop.load("s2").save(update_fields=[], expire_at=datetime.now(UTC) - timedelta(1))
        redis_client.delete(f"{TAG}:r:s3")  # a stray DEL

    steps = _bulk.update(BkShop, BkShop.query, 2, {"note": "done"})
    assert _bulk.run(after_first_step(steps, meanwhile)) == 3
    assert noted("done") == {"s0", "s4", "s5"}
    assert not redis_client.exists(f"{TAG}:r:s1") and not redis_client.exists(f"{TAG}:r:s3")
    assert redis_client.hget(f"{TAG}:r:s2", "note") == b""  # the expired one is left as it is


def test_a_concurrent_write_of_another_field_is_kept() -> None:
    BkShop.save_many([shop(i) for i in range(40)])
    records = BkShop.query.all()
    stop = threading.Event()
    added = [0]

    def increments() -> None:  # another client, adding to a field the bulk change leaves alone
        i = 0
        while not stop.is_set() or added[0] < 200:
            BkShop.load(f"s{i % 40}").atomic_increment("visits", 1)
            added[0] += 1
            i += 7

    worker = threading.Thread(target=increments)
    worker.start()
    try:
        for n in range(6):
            assert BkShop.bulk_update(records, batch_size=4, note=f"round {n}") == 40
            assert BkShop.bulk_update(BkShop.query, batch_size=3, rating=float(n)) == 40
    finally:
        stop.set()
        worker.join()
    stored = BkShop.query.all()
    assert sum(s.visits for s in stored) == added[0]
    assert {(s.note, s.rating) for s in stored} == {("round 5", 5.0)}


def test_the_expiry_is_set_as_a_partial_save_sets_it(redis_client: redis.Redis) -> None:
    far = datetime.now(UTC) + timedelta(days=30)
    notes = [BkNote(agent="a", n=i) for i in range(2)]
    for note in notes:
        note.save(expire_at=far)
    BkNote.bulk_update(notes[:1], topic="bulk")
    notes[1].topic = "one"
    notes[1].save(update_fields=["topic"])  # a partial save: the model's ttl from now
    tag = _keys.tag("BkNote", ["a"])
    bulk, one = (float(redis_client.hget(_keys.record(tag, f"a:{i}"), "~exp") or 0) for i in (0, 1))
    assert abs(bulk - one) < 60_000  # both an hour from now, not 30 days
    assert one < far.timestamp() * 1000 - 86_400_000


def test_a_listing_that_vanished_is_reported(redis_client: redis.Redis) -> None:
    BkShop.save_many([shop(i) for i in range(4)])

    def drop() -> None:
        for key in bulk_keys(redis_client):
            redis_client.delete(key)

    steps = _bulk.update(BkShop, BkShop.query, 2, {"note": "x"})
    with pytest.raises(NotFound, match="is gone after 0 of 4"):
        _bulk.run(after_first_step(steps, drop))


# ---- bulk_delete ------------------------------------------------------------------------------


def test_bulk_delete_by_query_counts_the_live_records_deleted(redis_client: redis.Redis) -> None:
    BkShop.save_many([shop(i, cuisine="Thai" if i < 6 else "Lao") for i in range(9)])

    def meanwhile() -> None:
        BkShop.load("s0").delete()
        BkShop.load("s1").save(update_fields=[], expire_at=datetime.now(UTC) - timedelta(1))

    thai = BkShop.query.filter(BkShop.cuisine == "Thai")
    assert _bulk.run(after_first_step(_bulk.delete(BkShop, thai, 2), meanwhile)) == 4
    assert names(redis_client) == {"s6", "s7", "s8"}
    assert BkShop.check_indexes()["total"] == 0
    assert bulk_keys(redis_client) == []


def test_bulk_delete_of_records_and_of_a_page(redis_client: redis.Redis) -> None:
    records = [shop(i, rating=float(i)) for i in range(8)]
    BkShop.save_many(records)
    assert BkShop.bulk_delete(records[:3], batch_size=2) == 3
    assert BkShop.bulk_delete(records[:3]) == 0  # gone already
    assert BkShop.bulk_delete(BkShop.query.order_by(BkShop.rating).limit(2)) == 2
    assert names(redis_client) == {"s5", "s6", "s7"}
    assert BkShop.check_indexes()["total"] == 0


def test_bulk_delete_works_on_a_full_server(own_conn: Any, own_client: redis.Redis) -> None:
    BkShop.save_many([shop(i) for i in range(5)])
    own_client.config_set("maxmemory", 1)  # every write that needs memory is refused
    try:
        with pytest.raises(ServerFull):
            BkShop.bulk_update(BkShop.query, note="x")
        assert bulk_keys(own_client) == []  # the listing was dropped
        assert BkShop.bulk_delete(BkShop.query, batch_size=2) == 5
    finally:
        own_client.config_set("maxmemory", 0)
    assert own_client.dbsize() == 0


# ---- partitions -------------------------------------------------------------------------------


def test_a_batch_holds_one_partition(redis_client: redis.Redis) -> None:
    notes = [BkNote(agent="ab"[i % 2], n=i) for i in range(8)]  # a, b, a, b...
    calls: list[_scripts.Call[Any]] = []
    assert _bulk.run(recorded(_bulk.create(BkNote, notes, 4), calls)) == 8
    assert [len(c.keys) for c in calls] == [2, 2, 2, 2]
    for call in calls:
        assert len({str(k).partition("}")[0] for k in call.keys}) == 1
    assert (BkNote.count("a"), BkNote.count("b")) == (4, 4)
    assert BkNote.bulk_update(notes, batch_size=3, topic="t") == 8
    a_notes = BkNote.query.filter(BkNote.agent == "a")
    assert BkNote.bulk_update(a_notes, topic="a only") == 4
    assert BkNote.query.filter(BkNote.agent == "b", BkNote.topic == "t").count() == 4
    assert BkNote.bulk_delete(notes[:5]) == 5
    assert (BkNote.count("a"), BkNote.count("b")) == (1, 2)
    assert BkNote.check_indexes()["total"] == 0
    partitions = {m.decode() for m in redis_client.smembers(_keys.partitions("BkNote"))}
    assert partitions == {_keys.tag("BkNote", ["a"]), _keys.tag("BkNote", ["b"])}


# ---- async ------------------------------------------------------------------------------------


def test_the_async_twins(redis_client: redis.Redis) -> None:
    async def main() -> None:
        assert await BkShop.abulk_create((shop(i) for i in range(5)), batch_size=2) == 5
        with pytest.raises(UniqueViolation):
            await BkShop.abulk_create([shop(9), shop(1)])
        thai = BkShop.query.filter(BkShop.cuisine == "Thai")
        assert await BkShop.abulk_update(thai, batch_size=2, cuisine="Lao") == 5
        with pytest.raises(UniqueViolation):
            await BkShop.abulk_update(BkShop.query, batch_size=2, email="same")
        assert bulk_keys(redis_client) == []
        records = await BkShop.query.aall()
        assert await BkShop.abulk_update(records[:2], note="a") == 2
        assert records[0].note == "a"
        assert await BkShop.abulk_delete(records[:1]) == 1
        assert await BkShop.abulk_delete(BkShop.query, batch_size=3) == 4

    asyncio.run(main())
    assert redis_client.dbsize() == 0


# ---- bounded memory ---------------------------------------------------------------------------


def _peak(run: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_bulk_update_of_100_000_records_holds_one_batch_at_a_time() -> None:
    total, size = 100_000, 1000
    made = (BkLean(name=f"s{i:06}", group=i % 2) for i in range(total))  # one batch at a time
    assert BkLean.bulk_create(made, batch_size=size) == total
    BkLean.bulk_update(BkLean.query.filter(name="s000000"), note="warm")  # the library's load
    one_batch = _peak(lambda: BkLean.bulk_update(BkLean.query.limit(size), note="one batch"))
    every_id = _peak(lambda: BkLean.query.keys())  # what holding the ids alone takes
    odd = BkLean.query.filter(BkLean.group == 1)
    peak = _peak(lambda: BkLean.bulk_update(odd, batch_size=size, group=2, note="all"))
    assert peak < 2 * one_batch
    assert peak * 10 < every_id
    assert BkLean.query.filter(BkLean.group == 2).count() == total // 2
    assert BkLean.load("s099999").note == BkLean.load("s000001").note == "all"


# ---- bulk ops are the same ops one by one ---------------------------------------------------

CUISINES = st.sampled_from(["Thai", "Lao", None])
EMAILS = st.sampled_from(["a@x", "b@x", None])
KEYS = st.integers(0, 5)


def _record(key: int, cuisine: str | None, email: str | None, rating: int) -> BkShop:
    return BkShop(name=f"s{key}", cuisine=cuisine, email=email, rating=float(rating))


RECORDS = st.builds(_record, KEYS, CUISINES, EMAILS, st.integers(0, 3))
CHANGED = {
    "cuisine": CUISINES,
    "email": EMAILS,
    "rating": st.integers(0, 3).map(float),
    "note": st.sampled_from(["x", "y"]),
}
CHANGES = st.lists(st.sampled_from(sorted(CHANGED)), min_size=1, unique=True).flatmap(
    lambda fields: st.fixed_dictionaries({f: CHANGED[f] for f in fields})
)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.lists(RECORDS, max_size=4)),
        st.tuples(st.just("update"), CUISINES, CHANGES),
        st.tuples(st.just("update_records"), st.lists(KEYS, max_size=4, unique=True), CHANGES),
        st.tuples(st.just("delete"), CUISINES),
        st.tuples(st.just("delete_records"), st.lists(KEYS, max_size=4, unique=True)),
    ),
    min_size=1,
    max_size=4,
)


def _matching(cuisine: str | None) -> list[BkShop]:
    """The records whose cuisine is ``cuisine``, in the order a bulk change lists them."""
    return [s for s in sorted(BkShop.query.all(), key=lambda s: s.name) if s.cuisine == cuisine]


def _stored(key: int) -> BkShop | None:
    try:
        return BkShop.load(f"s{key}")
    except NotFound:
        return None


def _one_by_one(op: tuple[Any, ...], size: int) -> str | None:
    """Apply ``op`` a record at a time, undoing a batch in which one record fails; the name of
    the error that stopped it, if any."""
    kind = op[0]
    if kind == "create":
        todo: list[Any] = [r.model_copy() for r in op[1]]
    elif kind in ("update", "delete"):
        todo = _matching(op[1])
    else:
        todo = [r for r in (_stored(k) for k in op[1]) if r is not None]
    for start in range(0, len(todo), size):
        batch = todo[start : start + size]
        if len({r.name for r in batch}) < len(batch):
            return "ModelError"  # the same key twice in a batch: refused before it is sent
        before = {r.name: _stored(int(r.name[1:])) for r in batch}
        try:
            for record in batch:
                if kind == "create":
                    if _stored(int(record.name[1:])) is not None:
                        raise UniqueViolation("BkShop", "name", record.name)
                    record.save()
                elif kind.startswith("update"):
                    changes: dict[str, Any] = op[-1]
                    for name, value in changes.items():
                        setattr(record, name, value)
                    record.save(update_fields=list(changes))
                else:
                    record.delete()
        except typedis.TypedisError as error:
            for name, old in before.items():  # undo the batch
                if old is None:
                    BkShop.bulk_delete([BkShop(name=name)])
                else:
                    old.model_copy().save()
            return type(error).__name__
    return None


def _bulk_op(op: tuple[Any, ...], size: int) -> str | None:
    kind = op[0]
    try:
        if kind == "create":
            BkShop.bulk_create([r.model_copy() for r in op[1]], batch_size=size)
        elif kind == "update":
            query = BkShop.query.filter(BkShop.cuisine == op[1])
            BkShop.bulk_update(query, batch_size=size, **op[2])
        elif kind == "update_records":
            records = [r for r in (_stored(k) for k in op[1]) if r is not None]
            BkShop.bulk_update(records, batch_size=size, **op[2])
        elif kind == "delete":
            BkShop.bulk_delete(BkShop.query.filter(BkShop.cuisine == op[1]), batch_size=size)
        else:
            records = [r for r in (_stored(k) for k in op[1]) if r is not None]
            BkShop.bulk_delete(records, batch_size=size)
    except typedis.TypedisError as error:
        return type(error).__name__
    return None


def _state(client: redis.Redis) -> dict[bytes, Any]:
    """Every key of the database with its type and contents."""
    state: dict[bytes, Any] = {}
    for key in client.scan_iter():
        kind = client.type(key).decode()
        if kind == "hash":
            state[key] = client.hgetall(key)
        elif kind == "set":
            state[key] = client.smembers(key)
        elif kind == "zset":
            state[key] = client.zrange(key, 0, -1, withscores=True)
        else:
            state[key] = (kind, client.dump(key))
    return state


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.lists(RECORDS, max_size=6), ops=OPS, size=st.integers(1, 4))
def test_bulk_changes_leave_what_the_same_changes_one_by_one_leave(
    redis_client: redis.Redis, start: list[BkShop], ops: list[tuple[Any, ...]], size: int
) -> None:
    def begin() -> None:
        redis_client.flushdb()
        unique: dict[str, BkShop] = {}
        for record in start:
            unique.setdefault(record.name, record)
        emails: set[str | None] = set()
        for record in unique.values():
            if record.email not in emails or record.email is None:
                emails.add(record.email)
                record.model_copy().save()

    begin()
    bulk_errors = [_bulk_op(op, size) for op in ops]
    bulk_state = _state(redis_client)
    begin()
    one_errors = [_one_by_one(op, size) for op in ops]
    assert _state(redis_client) == bulk_state
    assert bulk_errors == one_errors
    for error in bulk_errors:
        event(f"error: {error}")
