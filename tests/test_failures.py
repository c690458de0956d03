"""Failures against the real server: lost replies, paused writes, bad input, wrong key types
and hostile stored bytes (out of memory: test_oom.py). A failed write must leave nothing behind."""

from __future__ import annotations

import asyncio
import functools
import math
import os
import pickle
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import redis
from pydantic import ValidationError

import typedis
from typedis import (
    Confidence,
    CorruptRecord,
    Geo,
    GeoPoint,
    Indexed,
    Key,
    KeyMutationError,
    Model,
    ModelError,
    NotFound,
    OutcomeUnknown,
    ServerUnavailable,
    Sorted,
    TypedisError,
    Unique,
    UniqueViolation,
    field,
)
from typedis._connection import Connection

TAG = "{td:FailShop}"
CUISINES = ("Thai", "Mexican", "Greek", None)


class FailShop(Model):
    name: Key[str]
    cuisine: Indexed[str | None] = field(default=None)
    rating: Sorted[float] = field(default=0.0)
    location: Geo[GeoPoint | None] = field(default=None)
    email: Unique[str]
    visits: int = 0
    certainty: Confidence = field(default=0.5)
    tags: list[str] = field(default_factory=list)
    note: str = ""


def shop(i: int, **overrides: Any) -> FailShop:
    values: dict[str, Any] = {
        "name": f"shop-{i}",
        "cuisine": CUISINES[i % len(CUISINES)],
        "rating": (i % 50) / 10,
        "location": GeoPoint(lat=40 + (i % 10) / 10, lon=-3 - (i % 7) / 10),
        "email": f"s{i}@x.io",
        "visits": i,
        "certainty": (i % 11) / 10,
        "tags": [f"t{i}", "x"],
        "note": "n" * 400,
    }
    values.update(overrides)
    return FailShop(**values)


def same(a: FailShop, b: FailShop) -> bool:
    """Equal field values (pydantic's == also compares whether each instance was saved)."""
    return a.model_dump() == b.model_dump()


def snapshot(client: redis.Redis) -> dict[bytes, tuple[bytes, Any, int]]:
    """Every key of the database: its type, its contents and its PTTL."""
    readers: dict[bytes, Any] = {
        b"string": client.get,
        b"hash": client.hgetall,
        b"set": client.smembers,
        b"zset": lambda k: client.zrange(k, 0, -1, withscores=True),
        b"list": lambda k: client.lrange(k, 0, -1),
    }
    out: dict[bytes, tuple[bytes, Any, int]] = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        out[key] = (kind, readers[kind](key), client.pttl(key))
    return out


def assert_fully_stored(client: redis.Redis, record: FailShop) -> None:
    """The record is stored with every field and every index entry."""
    rid = record.name
    loaded = FailShop.load(rid)
    assert loaded.model_dump() == record.model_dump()
    assert client.sismember(f"{TAG}:all", rid)
    assert client.hget(f"{TAG}:u:email", record.email) == rid.encode()
    assert client.zscore(f"{TAG}:z:rating", rid) == record.rating
    assert client.zscore(f"{TAG}:z:certainty", rid) == record.certainty
    position = client.geopos(f"{TAG}:g:location", rid)[0]
    assert record.location is not None and position is not None
    assert math.isclose(position[0], record.location.lon, abs_tol=1e-4)
    assert math.isclose(position[1], record.location.lat, abs_tol=1e-4)
    cuisine = record.cuisine if record.cuisine is not None else "%"
    assert client.sismember(f"{TAG}:i:cuisine:{cuisine}", rid)
    fields = set(client.hkeys(f"{TAG}:r:{rid}"))
    expected = {b"name", b"cuisine", b"rating", b"location", b"email", b"visits"}
    expected |= {b"certainty", b"tags", b"note"}
    if record.cuisine is None:
        expected.discard(b"cuisine")
    assert fields == expected


def assert_absent(client: redis.Redis, record: FailShop) -> None:
    """Neither the record nor any index entry of it is stored."""
    rid = record.name
    assert not client.exists(f"{TAG}:r:{rid}")
    assert not client.sismember(f"{TAG}:all", rid)
    assert client.hget(f"{TAG}:u:email", record.email) is None
    for kind in ("z:rating", "z:certainty", "g:location", "exp"):
        assert client.zscore(f"{TAG}:{kind}", rid) is None
    for cuisine in ("Thai", "Mexican", "Greek", "%"):
        assert not client.sismember(f"{TAG}:i:cuisine:{cuisine}", rid)


def assert_each_whole_or_absent(
    client: redis.Redis, batch: list[FailShop], stored_ids: set[str]
) -> None:
    """Per record, in one pipeline: every field and index entry is stored, or none is."""
    pipe = client.pipeline(transaction=False)
    for record in batch:
        rid = record.name
        pipe.hgetall(f"{TAG}:r:{rid}")
        pipe.hget(f"{TAG}:u:email", record.email)
        pipe.zscore(f"{TAG}:z:rating", rid)
        pipe.zscore(f"{TAG}:z:certainty", rid)
        pipe.zscore(f"{TAG}:g:location", rid)
        pipe.zscore(f"{TAG}:exp", rid)
        for cuisine in ("Thai", "Mexican", "Greek", "%"):
            pipe.sismember(f"{TAG}:i:cuisine:{cuisine}", rid)
    replies = pipe.execute()
    width = 10
    for n, record in enumerate(batch):
        stored, owner, rating, certainty, geo, expiry, *member = replies[
            n * width : (n + 1) * width
        ]
        rid = record.name
        cuisine = record.cuisine if record.cuisine is not None else "%"
        in_sets = [c for c, m in zip(("Thai", "Mexican", "Greek", "%"), member, strict=True) if m]
        assert expiry is None
        if not stored:
            assert rid not in stored_ids
            assert (owner, rating, certainty, geo, in_sets) == (None, None, None, None, [])
            continue
        assert rid in stored_ids
        assert owner == rid.encode()
        assert (rating, certainty) == (record.rating, record.certainty)
        assert geo is not None
        assert in_sets == [cuisine]
        assert record.location is not None
        expected = {
            b"name": rid.encode(),
            b"email": record.email.encode(),
            b"rating": repr(record.rating).encode(),
            b"certainty": repr(record.certainty).encode(),
            b"visits": str(record.visits).encode(),
            b"note": record.note.encode(),
            b"tags": msgpack.packb(record.tags),
            b"location": msgpack.packb([record.location.lat, record.location.lon]),
        }
        if record.cuisine is not None:
            expected[b"cuisine"] = record.cuisine.encode()
        assert stored == expected


@pytest.fixture
def count_script_sends(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every packet carrying FCALL / EVALSHA / EVAL that any sync redis-py connection writes.

    A single command and a whole pipeline are each one packet (one `send_packed_command`).
    """
    sent: list[bytes] = []
    original = redis.connection.Connection.send_packed_command

    def spy(self: redis.connection.Connection, command: Any, check_health: bool = True) -> None:
        chunks = [command] if isinstance(command, str | bytes) else list(command)
        packet = b"".join(c.encode() if isinstance(c, str) else bytes(c) for c in chunks)
        if any(f"\r\n{c}\r\n".encode() in packet for c in ("FCALL", "EVALSHA", "EVAL")):
            sent.append(packet)
        original(self, chunks, check_health)

    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", spy)
    return sent


@pytest.fixture
def short_timeout(own_server: str, own_client: redis.Redis) -> Iterator[Connection]:
    """A default connection to the suite's own server (these tests pause its writes) whose
    sockets time out after 0.2 s (conftest restores the default)."""
    fast = typedis.connect(own_server, socket_timeout=0.2)
    yield fast
    fast.close()


# -- 3. a connection cut in the middle of a batch -------------------------------------------


def _cut_when_started(
    client: redis.Redis, cut: Any, done: threading.Event, out: dict[str, Any]
) -> None:
    """Cut the writer's connection as soon as the batch has stored its first record."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not done.is_set():
        stored = client.scard(f"{TAG}:all")
        if stored:
            out["seen_before_cut"] = stored
            out["cut"] = cut()
            return
        time.sleep(0.0005)


def _cut(how: str, killer: redis.Redis, victim: int, connection: Any) -> object:
    """Kill the writer's client on the server, or shut its socket down on this side."""
    if how == "client-kill":
        return killer.client_kill_filter(_id=victim)
    sock = connection._sock  # pyright: ignore[reportPrivateUsage]
    assert sock is not None
    sock.shutdown(socket.SHUT_RDWR)
    return 1


def _settled_ids(client: redis.Redis) -> set[str]:
    """The stored ids once they stop changing: a batch the server received before the cut may
    still run after it."""
    before = None
    while True:
        ids = {m.decode() for m in client.smembers(f"{TAG}:all")}
        if ids == before:
            return ids
        before = ids
        time.sleep(0.2)


# CLIENT KILL and CLIENT PAUSE act on the whole server: these tests run on the suite's own one.
@pytest.mark.parametrize("how", ["client-kill", "socket-shutdown"])
def test_batch_cut_mid_flight_leaves_no_partial_record(
    own_server: str, own_client: redis.Redis, how: str
) -> None:
    batch = [shop(i) for i in range(5000)]
    cut_mid_batch = 0
    for _attempt in range(30):  # until a cut lands mid-call (timing decides where it lands;
        # on a loaded machine a kill between two calls is common, and redis-py reconnects)
        if cut_mid_batch:
            break
        own_client.flushdb()
        writer_conn = typedis.connect(own_server)
        killer = redis.Redis.from_url(own_server, socket_timeout=10)  # pyright: ignore[reportUnknownMemberType]
        try:
            # The pool's only connection, which the batch's pipeline then takes.
            victim = writer_conn.writer.client_id()
            pool = writer_conn.writer.connection_pool
            connection = pool.get_connection()
            pool.release(connection)
            cut = functools.partial(_cut, how, killer, victim, connection)

            done = threading.Event()
            out: dict[str, Any] = {}
            thread = threading.Thread(target=_cut_when_started, args=(killer, cut, done, out))
            thread.start()
            outcome = "completed"
            try:
                FailShop.save_many(batch, batch_size=100)
            except OutcomeUnknown:
                outcome = "unknown"
            except ServerUnavailable:  # cut while a batch was being sent: that one never ran
                outcome = "unsent"
            finally:
                done.set()
                thread.join()
        finally:
            writer_conn.close()
            killer.close()

        stored_ids = _settled_ids(own_client)
        assert_each_whole_or_absent(own_client, batch, stored_ids)
        # Whole batches, in order: each is one atomic call.
        assert stored_ids == {r.name for r in batch[: len(stored_ids)]}
        assert len(stored_ids) % 100 == 0
        if outcome == "completed":
            assert len(stored_ids) == len(batch)
        if outcome != "completed" and 0 < len(stored_ids) < len(batch):
            cut_mid_batch += 1
            assert out.get("cut") == 1
    # The cut must have landed mid-batch at least once, or this test tested nothing.
    assert cut_mid_batch >= 1


def test_a_batch_with_one_refused_record_writes_none_of_it(redis_client: redis.Redis) -> None:
    shop(0).save()
    batch = [shop(1), shop(2, email="s0@x.io"), shop(3)]
    with pytest.raises(UniqueViolation, match=r"position 1; nothing of its batch") as caught:
        FailShop.save_many(batch)
    assert caught.value.position == 1
    assert redis_client.smembers(f"{TAG}:all") == {b"shop-0"}
    for record in (batch[0], shop(2), batch[2]):  # shop-0 holds the clashing email
        assert_absent(redis_client, record)
    with pytest.raises(NotFound):  # the instances know they are not saved
        batch[0].atomic_increment("visits", 1)


def test_a_batch_with_a_damaged_record_writes_none_of_it(redis_client: redis.Redis) -> None:
    redis_client.set(f"{TAG}:r:shop-2", "not a hash")  # shop-2's save is refused: not a hash
    batch = [shop(1), shop(2), shop(3)]
    with pytest.raises(CorruptRecord, match="holds another Redis type than a hash") as caught:
        FailShop.save_many(batch)
    assert caught.value.position == 1
    assert redis_client.smembers(f"{TAG}:all") == set()
    assert redis_client.get(f"{TAG}:r:shop-2") == b"not a hash"


# -- 4. a write that times out while writes are paused ---------------------------------------


def _pause_writes(client: redis.Redis, ms: int) -> float:
    client.execute_command("CLIENT", "PAUSE", ms, "WRITE")
    return time.monotonic() + ms / 1000


def test_increment_timing_out_during_pause_is_unknown_and_applied_at_most_once(
    short_timeout: Connection, own_client: redis.Redis, count_script_sends: list[bytes]
) -> None:
    record = shop(1, visits=10).save()
    record.atomic_increment("visits", 1)  # the script is loaded, the writer connected
    assert record.visits == 11
    count_script_sends.clear()

    until = _pause_writes(own_client, 800)
    try:
        with pytest.raises(OutcomeUnknown):
            record.atomic_increment("visits", 1)
    finally:
        time.sleep(max(0.0, until - time.monotonic()) + 0.3)
        own_client.execute_command("CLIENT", "UNPAUSE")

    assert len(count_script_sends) == 1  # sent once, never re-sent
    after = int(own_client.hget(f"{TAG}:r:shop-1", "visits") or b"-1")
    assert after in (11, 12)
    time.sleep(0.5)  # a late retry would show up now
    assert int(own_client.hget(f"{TAG}:r:shop-1", "visits") or b"-1") == after
    assert len(count_script_sends) == 1
    # The connection is usable again after the lost reply.
    assert record.atomic_increment("visits", 1) == after + 1


def test_sorted_increment_timing_out_keeps_index_in_step(
    short_timeout: Connection, own_client: redis.Redis, count_script_sends: list[bytes]
) -> None:
    record = shop(2, rating=1.0).save()
    record.atomic_increment("rating", 0.5)
    count_script_sends.clear()

    until = _pause_writes(own_client, 800)
    try:
        with pytest.raises(OutcomeUnknown):
            record.atomic_increment("rating", 0.5)
    finally:
        time.sleep(max(0.0, until - time.monotonic()) + 0.3)

    assert len(count_script_sends) == 1
    stored = float(own_client.hget(f"{TAG}:r:shop-2", "rating") or b"nan")
    assert stored in (1.5, 2.0)
    assert own_client.zscore(f"{TAG}:z:rating", "shop-2") == stored


def test_save_timing_out_during_pause_is_unknown_and_applied_at_most_once(
    short_timeout: Connection, own_client: redis.Redis, count_script_sends: list[bytes]
) -> None:
    shop(0).save()  # the script is loaded, the writer connected
    count_script_sends.clear()
    record = shop(3)

    until = _pause_writes(own_client, 800)
    try:
        with pytest.raises(OutcomeUnknown):
            record.save()
    finally:
        time.sleep(max(0.0, until - time.monotonic()) + 0.3)

    assert len(count_script_sends) == 1
    time.sleep(0.3)
    assert len(count_script_sends) == 1
    if own_client.exists(f"{TAG}:r:shop-3"):
        assert_fully_stored(own_client, record)
    else:
        assert_absent(own_client, record)
    assert_fully_stored(own_client, shop(0))

    # An update of a stored record: old values or new values, never a mix.
    stored = shop(0)
    stored.cuisine = "Greek"
    stored.rating = 4.5
    count_script_sends.clear()
    until = _pause_writes(own_client, 800)
    try:
        with pytest.raises(OutcomeUnknown):
            stored.save()
    finally:
        time.sleep(max(0.0, until - time.monotonic()) + 0.3)
    assert len(count_script_sends) == 1
    current = FailShop.load("shop-0")
    assert current.model_dump() in (shop(0).model_dump(), stored.model_dump())
    assert_fully_stored(own_client, current)


def test_async_increment_timing_out_during_pause_is_unknown(
    short_timeout: Connection, own_client: redis.Redis
) -> None:
    record = shop(5, visits=10).save()

    async def scenario() -> None:
        await record.aatomic_increment("visits", 1)  # the script is loaded, the writer connected
        until = _pause_writes(own_client, 800)
        try:
            with pytest.raises(OutcomeUnknown):
                await record.aatomic_increment("visits", 1)
        finally:
            await asyncio.sleep(max(0.0, until - time.monotonic()) + 0.3)
        await short_timeout.aclose()

    asyncio.run(scenario())
    after = int(own_client.hget(f"{TAG}:r:shop-5", "visits") or b"-1")
    assert after in (11, 12)
    time.sleep(0.3)
    assert int(own_client.hget(f"{TAG}:r:shop-5", "visits") or b"-1") == after


def test_batch_timing_out_during_pause_is_unknown_and_never_partial(
    short_timeout: Connection, own_client: redis.Redis, count_script_sends: list[bytes]
) -> None:
    shop(0).save()
    count_script_sends.clear()
    batch = [shop(i) for i in range(1, 200)]
    until = _pause_writes(own_client, 800)
    try:
        with pytest.raises(OutcomeUnknown):
            FailShop.save_many(batch)
    finally:
        time.sleep(max(0.0, until - time.monotonic()) + 0.3)
    assert len(count_script_sends) == 1  # the batch went out once, never re-sent
    assert count_script_sends[0].count(b"\r\nFCALL\r\n") == 1  # one call for the batch
    stored = [r for r in batch if own_client.exists(f"{TAG}:r:{r.name}")]
    assert stored in ([], batch)  # the batch is atomic
    for record in batch:
        if stored:
            assert_fully_stored(own_client, record)
        else:
            assert_absent(own_client, record)


def test_reads_keep_working_while_writes_are_paused(
    short_timeout: Connection, own_client: redis.Redis
) -> None:
    record = shop(6).save()
    until = _pause_writes(own_client, 800)
    try:
        assert same(FailShop.load("shop-6"), shop(6))
        assert record.exists()
    finally:
        time.sleep(max(0.0, until - time.monotonic()) + 0.3)


# -- 5. invalid input raises ValidationError and writes nothing ------------------------------


def test_invalid_input_raises_validation_error_and_writes_nothing(
    redis_client: redis.Redis,
) -> None:
    existing = shop(1).save()
    before = snapshot(redis_client)
    size = redis_client.dbsize()

    bad_inputs: list[dict[str, Any]] = [
        {"visits": "many"},
        {"rating": "high"},
        {"rating": float("nan")},
        {"certainty": 1.5},
        {"certainty": -0.1},
        {"location": GeoPoint(lat=91.0, lon=0.0)},
        {"location": GeoPoint(lat=86.0, lon=0.0)},  # beyond what Redis GEOADD accepts
        {"location": GeoPoint(lat=0.0, lon=181.0)},
        {"tags": "not-a-list"},
        {"email": None},
    ]
    for overrides in bad_inputs:
        with pytest.raises(ValidationError):
            shop(9, **overrides).save()
        with pytest.raises(ValidationError):
            FailShop.create(**{**shop(9).model_dump(), **overrides})
    with pytest.raises(ValidationError):
        FailShop(name="no-email")  # type: ignore[call-arg]

    for name, value in [
        ("rating", float("nan")),
        ("rating", "high"),
        ("certainty", 1.01),
        ("location", GeoPoint(lat=100.0, lon=0.0)),
        ("visits", "x"),
    ]:
        with pytest.raises(ValidationError):
            setattr(existing, name, value)
    existing.save()  # the failed assignments left the old values
    assert redis_client.dbsize() == size
    assert snapshot(redis_client) == before
    assert same(FailShop.load("shop-1"), shop(1))


def test_non_finite_increment_writes_nothing(redis_client: redis.Redis) -> None:
    record = shop(1, rating=1.0).save()
    before = snapshot(redis_client)
    for delta in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises(ModelError):
            record.atomic_increment("rating", delta)
    with pytest.raises(ModelError):
        record.atomic_increment("visits", 0.5)
    redis_client.hset(f"{TAG}:r:shop-1", "rating", "1.7e308")
    before = snapshot(redis_client)
    with pytest.raises(ModelError):
        record.atomic_increment("rating", 1.7e308)  # overflows to inf on the server
    assert snapshot(redis_client) == before


def test_unique_violation_writes_nothing(redis_client: redis.Redis) -> None:
    first = shop(1).save()
    second = shop(2).save()
    before = snapshot(redis_client)

    with pytest.raises(UniqueViolation) as caught:
        shop(3, email=first.email).save()
    assert caught.value.field == "email"
    assert caught.value.value == first.email
    assert snapshot(redis_client) == before

    second.email = first.email
    second.cuisine = "Greek"
    second.rating = 4.9
    with pytest.raises(UniqueViolation):
        second.save()
    assert snapshot(redis_client) == before

    with pytest.raises(UniqueViolation):
        FailShop.save_many([shop(4, email=first.email)])
    assert snapshot(redis_client) == before
    assert same(FailShop.load("shop-2"), shop(2))


def test_key_mutation_error_writes_nothing(redis_client: redis.Redis) -> None:
    moving = shop(1).save()
    shop(2).save()
    before = snapshot(redis_client)

    moving.name = "shop-9"
    with pytest.raises(KeyMutationError):
        moving.save()
    assert snapshot(redis_client) == before

    moving.name = "shop-2"  # another live record holds that key
    with pytest.raises(KeyMutationError):
        moving.save(migrate_key=True)
    assert snapshot(redis_client) == before
    assert same(FailShop.load("shop-1"), shop(1))
    assert same(FailShop.load("shop-2"), shop(2))


# -- 6. a wrong key type is found before the first write -------------------------------------


def _assert_refused(redis_client: redis.Redis, action: Any) -> None:
    """The write raises a typed error (the server's reply chained, if any), having written
    nothing."""
    before = snapshot(redis_client)
    with pytest.raises(TypedisError) as caught:
        action()
    cause = caught.value.__cause__
    assert cause is None or isinstance(cause, redis.ResponseError)
    assert snapshot(redis_client) == before


def _refused_or_untouched(redis_client: redis.Redis, action: Any, key: str) -> None:
    """The write raises having written nothing, or goes ahead without touching ``key``."""
    before = snapshot(redis_client)
    try:
        action()
    except TypedisError:
        assert snapshot(redis_client) == before
    else:
        assert snapshot(redis_client)[key.encode()] == before[key.encode()]


def test_wrong_index_key_type_on_create_writes_nothing(redis_client: redis.Redis) -> None:
    shop(1, cuisine="Mexican").save()
    redis_client.set(f"{TAG}:i:cuisine:Thai", "not a set")
    _assert_refused(redis_client, lambda: shop(2, cuisine="Thai").save())
    assert not redis_client.exists(f"{TAG}:r:shop-2")
    assert redis_client.smembers(f"{TAG}:all") == {b"shop-1"}


def test_wrong_index_key_type_on_update_writes_nothing(redis_client: redis.Redis) -> None:
    record = shop(1, cuisine="Mexican", rating=1.0).save()
    redis_client.set(f"{TAG}:i:cuisine:Thai", "not a set")
    record.cuisine = "Thai"
    record.rating = 3.0
    _assert_refused(redis_client, record.save)
    _assert_refused(redis_client, lambda: record.save(update_fields=["cuisine", "rating"]))
    assert same(FailShop.load("shop-1"), shop(1, cuisine="Mexican", rating=1.0))


@pytest.mark.parametrize(
    ("key", "make_wrong"),
    [
        (f"{TAG}:u:email", lambda c, k: c.set(k, "x")),
        (f"{TAG}:z:rating", lambda c, k: c.sadd(k, "x")),
        (f"{TAG}:z:certainty", lambda c, k: c.set(k, "x")),
        (f"{TAG}:g:location", lambda c, k: c.hset(k, "x", "y")),
        (f"{TAG}:all", lambda c, k: c.set(k, "x")),
        (f"{TAG}:exp", lambda c, k: c.sadd(k, "x")),
        (f"{TAG}:r:shop-2", lambda c, k: c.set(k, "x")),
    ],
)
def test_wrong_key_type_refuses_every_write(
    redis_client: redis.Redis, key: str, make_wrong: Any
) -> None:
    stored = shop(1, rating=1.0).save()
    mover = shop(3).save()
    redis_client.delete(key)  # the wrong value replaces the real index (not for the record key)
    make_wrong(redis_client, key)

    if key.endswith((":all", ":exp")):
        # A write that needs the id or expiry set is refused; one that does not (an update in
        # place, a create without expiry) may go ahead without touching it. None writes half-way.
        _assert_refused(redis_client, lambda: shop(4).save(ttl=60))
        _assert_refused(redis_client, stored.delete)
        create = lambda: shop(2).save()  # noqa: E731
        if key.endswith(":all"):
            _assert_refused(redis_client, create)
        else:
            _refused_or_untouched(redis_client, create, key)
        _refused_or_untouched(redis_client, lambda: stored.save(update_fields=["rating"]), key)
        _refused_or_untouched(redis_client, lambda: stored.atomic_increment("visits", 1), key)
        return
    _assert_refused(redis_client, lambda: shop(2).save())
    _assert_refused(redis_client, lambda: shop(2).save(ttl=60))
    _assert_refused(redis_client, lambda: FailShop.save_many([shop(2)]))
    mover.name = "shop-2"
    _assert_refused(redis_client, lambda: mover.save(migrate_key=True))
    if key.endswith(":r:shop-2"):
        return  # the other writes touch other records
    stored.rating = 2.0
    stored.email = "changed@x.io"
    _assert_refused(redis_client, stored.save)
    _assert_refused(redis_client, lambda: stored.save(update_fields=["rating"]))
    _assert_refused(redis_client, lambda: stored.atomic_increment("rating", 1.0))
    _assert_refused(redis_client, lambda: stored.atomic_increment("visits", 1))
    _assert_refused(redis_client, stored.delete)


# -- 8. stored bytes are never unpickled ----------------------------------------------------


class _Explosive:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {self.path}",))


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_pickle_payload_is_never_unpickled(
    redis_client: redis.Redis, tmp_path: Path, protocol: int
) -> None:
    marker = tmp_path / "unpickled"
    payload = pickle.dumps(_Explosive(marker), protocol=protocol)
    record = shop(1).save()
    for name in ("tags", "location"):
        redis_client.hset(f"{TAG}:r:shop-1", name, payload)
        with pytest.raises((CorruptRecord, ValidationError)):
            FailShop.load("shop-1")
        with pytest.raises((CorruptRecord, ValidationError)):
            record.refresh()
        assert not marker.exists()
        record.save()  # a full save rewrites the field
        assert same(FailShop.load("shop-1"), shop(1))
    assert not marker.exists()
