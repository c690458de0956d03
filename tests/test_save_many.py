"""save_many(): one atomic function call per batch (lua/save_many.lua).

A refused record leaves its whole batch unwritten and is reported by its position; earlier
batches stay written; a partitioned model's batches hold one partition each.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import typedis
from typedis import (
    CorruptRecord,
    Indexed,
    Key,
    KeyMutationError,
    Model,
    ModelError,
    NotFound,
    OutcomeUnknown,
    Sorted,
    Unique,
    _connection,
    _store,
)

TAG = "{td:SmShop}"


class SmShop(Model):
    name: Key[str]
    email: Unique[str | None] = None
    cuisine: Indexed[str | None] = None
    rating: Sorted[float] = 0.0
    note: str = ""


class SmNote(Model, partition="agent"):
    agent: Key[str]
    n: Key[int]
    topic: Indexed[str] = ""


def shop(i: int, **values: Any) -> SmShop:
    return SmShop(**{"name": f"s{i}", "email": f"s{i}@x", "cuisine": "Thai", **values})


def stored_names(client: redis.Redis) -> set[str]:
    return {m.decode() for m in client.smembers(f"{TAG}:all")}


def test_a_refused_record_writes_nothing_of_its_batch_and_earlier_batches_stay(
    redis_client: redis.Redis,
) -> None:
    shop(100, email="taken").save()
    records = [shop(i) for i in range(7)]
    records[4].email = "taken"
    with pytest.raises(typedis.UniqueViolation, match=r"position 4; nothing of its batch") as e:
        SmShop.save_many(records, batch_size=3)
    assert e.value.position == 4
    assert e.value.value == "taken"
    # batch [0, 1, 2] written; [3, 4, 5] refused whole; [6] never sent
    assert stored_names(redis_client) == {"s100", "s0", "s1", "s2"}
    assert SmShop.check_indexes()["total"] == 0
    with pytest.raises(KeyMutationError):  # the written ones know they are saved...
        records[0].name = "elsewhere"
        records[0].save()
    with pytest.raises(NotFound):  # ...the others know they are not
        records[3].atomic_increment(SmShop.rating, 1.0)


def test_two_records_with_one_unique_value_in_a_batch_are_refused(
    redis_client: redis.Redis,
) -> None:
    batch = [shop(0), shop(1, email="same"), shop(2), shop(3, email="same")]
    with pytest.raises(typedis.UniqueViolation) as caught:
        SmShop.save_many(batch)
    assert caught.value.position == 3  # the later of the two
    assert redis_client.dbsize() == 0


def test_two_records_with_one_key_are_refused_before_anything_is_sent(
    redis_client: redis.Redis,
) -> None:
    with pytest.raises(ModelError, match="positions 0 and 2 have the same key") as caught:
        SmShop.save_many([shop(0), shop(1, email="other"), shop(0, email="again")])
    assert caught.value.position == 2
    assert redis_client.dbsize() == 0


def test_a_record_takes_a_unique_value_another_record_of_the_batch_gives_up() -> None:
    holder = shop(0, email="e").save()
    taker = shop(1, email="e")
    holder.email = "f"
    SmShop.save_many([taker, holder])  # the taker first
    assert SmShop.query.get(SmShop.email == "e") == taker
    assert SmShop.query.get(SmShop.email == "f") == holder
    taker.email, holder.email = "g", "e"
    SmShop.save_many([taker, holder])  # the one giving it up first
    assert SmShop.query.get(SmShop.email == "e") == holder
    assert SmShop.query.get(SmShop.email == "g") == taker
    assert SmShop.check_indexes()["total"] == 0


def test_fresh_existing_and_expired_records_in_one_batch(redis_client: redis.Redis) -> None:
    existing = shop(0, cuisine="Lao", rating=1.0).save()
    shop(1, email="old").save(ttl=60)
    redis_client.hset(f"{TAG}:r:s1", "~exp", "1")  # expired long ago, not swept
    existing.cuisine, existing.rating = "Thai", 5.0
    batch = [shop(2), existing, shop(1, email="old", note="new"), shop(3, cuisine=None)]
    SmShop.save_many(batch)
    assert [SmShop.load(f"s{i}") for i in (2, 0, 1, 3)] == batch
    assert redis_client.smembers(f"{TAG}:i:cuisine:Lao") == set()
    assert redis_client.zscore(f"{TAG}:z:rating", "s0") == 5.0
    assert SmShop.load("s1").note == "new"
    assert redis_client.zcard(f"{TAG}:exp") == 0  # the fresh s1 has no expiry
    assert SmShop.check_indexes()["total"] == 0


def test_a_damaged_record_refuses_its_batch(redis_client: redis.Redis) -> None:
    redis_client.hset(f"{TAG}:r:s1", mapping={"name": "s1", "~exp": "soon"})
    with pytest.raises(CorruptRecord) as caught:
        SmShop.save_many([shop(0), shop(1)])
    assert caught.value.position == 1 and caught.value.field == "~exp"
    assert not redis_client.exists(f"{TAG}:r:s0")


def test_a_derived_key_of_another_type_refuses_the_batch(redis_client: redis.Redis) -> None:
    redis_client.set(f"{TAG}:i:cuisine:Lao", "not a set")
    with pytest.raises(CorruptRecord, match="holds a string, expected a set"):
        SmShop.save_many([shop(0), shop(1, cuisine="Lao")])
    assert redis_client.dbsize() == 1


def test_a_partitioned_model_sends_one_batch_per_partition(redis_client: redis.Redis) -> None:
    notes = [SmNote(agent=a, n=n, topic=a) for n in range(3) for a in ("a", "b:c", "%")]
    calls = _store.save_many_calls(SmNote, notes, 2)
    tags = [{k.partition(":r:")[0] for k in call.keys} for call in calls]
    assert all(len(t) == 1 for t in tags) and len(calls) == 6  # 3 per partition, by 2
    SmNote.save_many(notes, batch_size=2)
    for note in notes:
        assert SmNote.load(note.agent, note.n) == note
        mine = SmNote.query.filter(SmNote.agent == note.agent, SmNote.topic == note.topic)
        assert mine.count() == 3
    assert SmNote.check_indexes()["total"] == 0


@pytest.mark.parametrize("size", [0, -1, 1.5, True, "10"])
def test_batch_size_must_be_a_positive_int(size: Any) -> None:
    with pytest.raises(ModelError, match="batch_size must be a positive int"):
        SmShop.save_many([shop(0)], batch_size=size)


def test_asave_many(redis_client: redis.Redis) -> None:
    records = [shop(i) for i in range(5)]
    asyncio.run(SmShop.asave_many(records, batch_size=2))
    assert [SmShop.load(f"s{i}") for i in range(5)] == records
    records[4].email = records[0].email
    with pytest.raises(typedis.UniqueViolation) as caught:
        asyncio.run(SmShop.asave_many(records[3:]))
    assert caught.value.position == 1


def test_a_lost_reply_is_outcome_unknown_and_the_batch_whole_or_absent(
    own_server: str, own_client: redis.Redis
) -> None:
    conn = _connection.connect(own_server, socket_timeout=0.2)
    try:
        SmShop.save_many([shop(0)])  # loads the library before writes pause
        batch = [shop(i) for i in range(1, 50)]
        own_client.execute_command("CLIENT", "PAUSE", 800, "WRITE")
        with pytest.raises(OutcomeUnknown):
            SmShop.save_many(batch)
        time.sleep(1.1)
    finally:
        conn.close()
    assert own_client.scard(f"{TAG}:all") in (1, 50)


def snapshot(client: redis.Redis) -> dict[bytes, Any]:
    """Every key's contents (test helper: KEYS on the test database)."""
    out: dict[bytes, Any] = {}
    for key in client.keys("*"):
        kind = client.type(key)
        if kind == b"hash":
            out[key] = client.hgetall(key)
        elif kind == b"set":
            out[key] = client.smembers(key)
        else:
            out[key] = client.zrange(key, 0, -1, withscores=True)
    return out


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.sampled_from([None, "a", "b"]), st.booleans()),
        min_size=1,
        max_size=8,
    ),
    st.integers(1, 4),
)
def test_save_many_matches_saving_one_by_one(
    redis_client: redis.Redis, rows: list[tuple[int, str | None, bool]], size: int
) -> None:
    """A batch that is not refused stores what saving its records one by one stores."""
    redis_client.flushdb()
    shop(9, email="a").save()  # a stored holder: "a" clashes, unless record 9 gives it up
    by_key = {i: shop(i, email=email, cuisine="x" if odd else None) for i, email, odd in rows}
    records = list(by_key.values())
    emails = [r.email for r in records if r.email is not None]
    if len(emails) != len(set(emails)) or "a" in emails:
        with pytest.raises(typedis.UniqueViolation):
            SmShop.save_many(records, batch_size=size)
        return
    SmShop.save_many(records, batch_size=size)
    batched = snapshot(redis_client)
    redis_client.flushdb()
    shop(9, email="a").save()
    for record in records:
        _store.forget_saved(record)
        record.save()
    assert snapshot(redis_client) == batched
