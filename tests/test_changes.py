"""Change logs: an event exists iff its write happened; the typed consumer over consumer groups."""

from __future__ import annotations

import asyncio
import logging
import re
import shlex
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import Field

from _acl import connected_as
from typedis import (
    Change,
    ChangeLog,
    ChangeStream,
    Confidence,
    Connection,
    CorruptRecord,
    Decaying,
    Indexed,
    Key,
    Model,
    ModelError,
    PermissionDenied,
    QueryError,
    ServerRefused,
    Unique,
    UniqueViolation,
    field,
)
from typedis._errors import TypedisError
from typedis.memory import update_confidence


class ChgOrder(Model, changes=True):
    id: Key[str]
    status: Indexed[str] = "new"
    email: Unique[str | None] = None
    total: int = Field(default=0, ge=0)
    note: str | None = None


class ChgShop(Model, partition="region", changes=ChangeStream(maxlen=None)):
    region: Key[str]
    name: Key[str]
    rating: float = 0.0


class ChgMemo(Model, changes=True):
    id: Key[str]
    relevance: Decaying[float] = field(default=1.0, rate=0.3)


class ChgBelief(Model, changes=True):
    id: Key[str]
    certainty: Confidence = field(default=0.5)


class ChgPlain(Model):
    id: Key[str]


LOG = "{td:ChgOrder}:changes"


def ops(changes: list[Change[Any]]) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(c.op, c.id, c.fields) for c in changes]


def test_every_write_path_appends_its_event() -> None:
    log = ChangeLog(ChgOrder, "test", "w1")
    assert log.create_group() is True
    order = ChgOrder(id="a", total=5).save()
    order.status = "paid"
    order.save()
    order.note = "ring twice"
    order.save(update_fields=["note"])
    assert order.atomic_increment("total", 2) == 7
    ChgOrder.save_many([ChgOrder(id="b"), ChgOrder(id="c", email="c@x.io")])
    assert order.delete()
    ChgOrder(id="d").save(expire_at=datetime.now(UTC) - timedelta(seconds=1))
    assert ChgOrder.sweep_expired() == 1
    assert ChgOrder.delete_all() == 2
    events = ops(log.read(100))
    assert sorted(events[9:]) == [("delete", "b", ()), ("delete", "c", ())]  # in SCAN's order
    assert events[:9] == [
        ("create", "a", ("id", "status", "total")),
        ("update", "a", ("status",)),
        ("update", "a", ("note",)),
        ("update", "a", ("total",)),
        ("create", "b", ("id", "status", "total")),
        ("create", "c", ("id", "status", "email", "total")),
        ("delete", "a", ()),
        ("create", "d", ("id", "status", "total")),
        ("delete", "d", ()),
    ]


def test_bulk_changes_log_each_record(redis_client: redis.Redis) -> None:
    log = ChangeLog(ChgOrder, "test", "w1")
    log.create_group()
    assert ChgOrder.bulk_create([ChgOrder(id=str(n)) for n in range(3)], batch_size=2) == 3
    before = redis_client.xlen(LOG)
    with pytest.raises(TypedisError):
        ChgOrder.bulk_create([ChgOrder(id="new"), ChgOrder(id="1")])  # "1" exists: batch refused
    assert redis_client.xlen(LOG) == before
    paid = ChgOrder.query.filter(ChgOrder.status == "new")
    assert ChgOrder.bulk_update(paid, status="paid") == 3
    assert ChgOrder.bulk_delete(ChgOrder.query.filter(ChgOrder.status == "paid")) == 3
    events = ops(log.read(100))
    assert events[:3] == [("create", str(n), ("id", "status", "total")) for n in range(3)]
    assert sorted(events[3:6]) == [("update", str(n), ("status",)) for n in range(3)]
    assert sorted(events[6:]) == [("delete", str(n), ()) for n in range(3)]


def test_an_event_carries_the_record_after_the_write() -> None:
    log = ChangeLog(ChgOrder, "test", "w1")
    log.create_group()
    order = ChgOrder(id="a:1", email="a@x.io").save()
    order.note = "n"
    order.save()
    order.delete()
    created, updated, deleted = log.read(10)
    assert created.record == ChgOrder(id="a:1", email="a@x.io")
    assert updated.record == order
    assert (updated.key, updated.id) == (order.redis_key, "a%3A1")
    assert deleted.record is None
    assert deleted.key == order.redis_key


def test_a_save_that_changes_nothing_is_an_update_of_no_field() -> None:
    log = ChangeLog(ChgOrder, "test", "w1")
    log.create_group()
    ChgOrder(id="a").save().save()
    assert ops(log.read(10))[1] == ("update", "a", ())


def test_a_touch_is_an_event() -> None:
    log = ChangeLog(ChgMemo, "test", "w1")
    log.create_group()
    memo = ChgMemo(id="m").save()
    memo.touch(ChgMemo.relevance)
    assert ops(log.read(10)) == [
        ("create", "m", ("id", "relevance")),
        ("touch", "m", ("relevance",)),
    ]


def test_a_memory_primitive_writing_a_field_is_an_update() -> None:
    log = ChangeLog(ChgBelief, "test", "w1")
    log.create_group()
    belief = ChgBelief(id="b").save()
    update_confidence(belief, ChgBelief.certainty, 0.9)
    [_, updated] = log.read(10)
    assert (updated.op, updated.fields) == ("update", ("certainty",))
    assert updated.record is not None
    assert updated.record.certainty == pytest.approx(0.9)


def test_a_moved_record_is_deleted_at_its_old_key_and_created_at_its_new_one() -> None:
    log = ChangeLog(ChgOrder, "test", "w1")
    log.create_group()
    order = ChgOrder(id="old").save()
    order.id = "new"
    order.save(migrate_key=True)
    assert ops(log.read(10))[1:] == [
        ("delete", "old", ()),
        ("create", "new", ("id", "status", "total")),
    ]


def test_a_refused_write_appends_nothing(redis_client: redis.Redis) -> None:
    ChgOrder(id="a", email="a@x.io").save()
    before = redis_client.xlen(LOG)
    with pytest.raises(UniqueViolation):
        ChgOrder(id="b", email="a@x.io").save()
    with pytest.raises(UniqueViolation):
        ChgOrder.save_many([ChgOrder(id="c"), ChgOrder(id="d", email="a@x.io")])
    with pytest.raises(TypedisError):
        ChgOrder(id="a").atomic_increment("total", -1)  # below ge=0
    with pytest.raises(TypedisError):
        ChgOrder(id="zz", note="x").save(update_fields=["note"])  # no such record
    assert redis_client.xlen(LOG) == before


# ---- events replayed onto a dict equal the server's final state --------------------------------

_ids = st.sampled_from(["a", "b", "c", "d"])
_emails = st.sampled_from([None, "x@x.io", "y@x.io"])
_step = st.one_of(
    st.tuples(st.just("save"), _ids, _emails, st.integers(0, 3)),
    st.tuples(st.just("partial"), _ids, st.sampled_from(["p", "q", None])),
    st.tuples(st.just("many"), st.lists(st.tuples(_ids, _emails), min_size=1, max_size=3)),
    st.tuples(st.just("incr"), _ids, st.integers(-2, 2)),
    st.tuples(st.just("delete"), _ids),
    st.tuples(st.just("move"), _ids, _ids),
)


def _apply(step: tuple[Any, ...]) -> None:
    kind = step[0]
    if kind == "save":
        ChgOrder(id=step[1], email=step[2], total=step[3]).save()
    elif kind == "partial":
        ChgOrder(id=step[1], note=step[2]).save(update_fields=["note"])
    elif kind == "many":
        ChgOrder.save_many([ChgOrder(id=i, email=e) for i, e in dict(step[1]).items()])
    elif kind == "incr":
        ChgOrder(id=step[1]).atomic_increment("total", step[2])
    elif kind == "move":
        order = ChgOrder.load(step[1])
        order.id = step[2]
        order.save(migrate_key=True)
    else:
        ChgOrder(id=step[1]).delete()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_step, max_size=12))
def test_events_replayed_give_the_final_state(
    redis_client: redis.Redis, steps: list[tuple[Any, ...]]
) -> None:
    redis_client.flushdb()
    log = ChangeLog(ChgOrder, "replay", "w1")
    log.create_group()
    for step in steps:
        before = redis_client.xlen(LOG)
        try:
            _apply(step)
        except TypedisError:  # refused (unique, bounds, missing record, taken key): no event
            assert redis_client.xlen(LOG) == before
    replayed: dict[str, ChgOrder] = {}
    for change in log.read(1000):
        if change.op == "delete":
            replayed.pop(change.id, None)
        else:
            assert change.record is not None
            replayed[change.id] = change.record
    assert replayed == {o.id: o for o in ChgOrder.query.all()}


# ---- consumers -----------------------------------------------------------------------------------


def test_a_consumer_that_crashes_mid_batch_loses_nothing_and_repeats_nothing(protocol: int) -> None:
    crashed = ChangeLog(ChgOrder, "billing", "worker-1")
    crashed.create_group()
    ChgOrder.save_many([ChgOrder(id=str(n)) for n in range(10)])
    handled: list[str] = []
    batch = crashed.read(100)
    for change in batch[:4]:  # then the worker dies before handling the rest
        handled.append(change.id)
        crashed.ack(change)
    assert [p.event for p in crashed.pending()] == [c.event for c in batch[4:]]

    survivor = ChangeLog(ChgOrder, "billing", "worker-2")
    assert survivor.read(100) == []  # nothing new: the rest is pending on worker-1
    assert survivor.claim(min_idle=3600) == []  # not idle that long
    claimed = survivor.claim(min_idle=0)
    assert [c.event for c in claimed] == [c.event for c in batch[4:]]
    for change in claimed:
        handled.append(change.id)
    assert survivor.ack(*claimed) == 6
    assert survivor.claim(min_idle=0) == []
    assert crashed.pending() == []
    assert sorted(handled, key=int) == [str(n) for n in range(10)]


def test_claim_and_pending_report_deliveries_and_consumers(protocol: int) -> None:
    first = ChangeLog(ChgOrder, "g", "one")
    first.create_group()
    ChgOrder(id="a").save()
    first.read()
    [pending] = first.pending()
    assert (pending.consumer, pending.deliveries) == ("one", 1)
    assert pending.idle >= 0
    second = ChangeLog(ChgOrder, "g", "two")
    second.claim(min_idle=0)
    [pending] = first.pending()
    assert (pending.consumer, pending.deliveries) == ("two", 2)


def test_claim_pages_through_more_events_than_one_call_returns() -> None:
    log = ChangeLog(ChgOrder, "g", "one")
    log.create_group()
    ChgOrder.save_many([ChgOrder(id=str(n)) for n in range(25)])
    assert len(log.read(100)) == 25
    other = ChangeLog(ChgOrder, "g", "two")
    assert len(other.claim(min_idle=0, count=10)) == 10
    assert len(other.claim(min_idle=0, count=100)) == 25  # claimed ones are claimable again


def test_groups_each_get_every_event_and_consumers_of_a_group_share_them() -> None:
    a1, a2, b = (ChangeLog(ChgOrder, g, c) for g, c in (("a", "1"), ("a", "2"), ("b", "1")))
    for log in (a1, b):
        log.create_group()
    ChgOrder.save_many([ChgOrder(id=str(n)) for n in range(6)])
    first, second = a1.read(4), a2.read(4)
    assert len(first) == 4 and len(second) == 2
    assert len(b.read(100)) == 6


def test_create_group_from_now_skips_history() -> None:
    ChgOrder(id="old").save()
    log = ChangeLog(ChgOrder, "late", "w")
    assert log.create_group(start="$") is True
    assert log.create_group() is False
    ChgOrder(id="new").save()
    assert ops(log.read()) == [("create", "new", ("id", "status", "total"))]


def test_read_waits_up_to_its_timeout(protocol: int) -> None:
    log = ChangeLog(ChgOrder, "g", "w")
    log.create_group()
    assert log.read(timeout=0.05) == []
    ChgOrder(id="a").save()
    assert ops(log.read(timeout=5)) == [("create", "a", ("id", "status", "total"))]


def test_a_wait_longer_than_the_socket_timeout_is_read_in_shorter_waits(
    conn: Connection, reconnect: Callable[..., Connection]
) -> None:
    reconnect(conn.url, socket_timeout=1.0)
    log = ChangeLog(ChgOrder, "g", "w")
    log.create_group()
    assert log.read(timeout=1.2) == []  # no socket timeout: each BLOCK is 500 ms at most


def test_an_unreadable_entry_is_reported_acknowledged_and_skipped(
    redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[tuple[str, Mapping[bytes, bytes], Exception]] = []

    def report(event: str, fields: Mapping[bytes, bytes], error: Exception) -> None:
        seen.append((event, fields, error))

    log = ChangeLog(ChgOrder, "g", "w", on_error=report)
    log.create_group()
    redis_client.xadd(LOG, {"junk": "1"})
    redis_client.xadd(LOG, {"~op": "update", "~id": "a", "id": "a", "total": "-5"})  # ge=0
    ChgOrder(id="b").save()
    assert ops(log.read()) == [("create", "b", ("id", "status", "total"))]
    assert [type(error) for _, _, error in seen] == [CorruptRecord, CorruptRecord]
    assert seen[0][1] == {b"junk": b"1"}
    assert "total" in str(seen[1][2])
    assert log.skipped == 2
    assert [p.event for p in log.pending()] == [log.pending()[0].event]  # only b's is pending
    for n in range(3):
        redis_client.xadd(LOG, {"junk": str(n)})
    ChgOrder(id="c").save()
    assert ops(log.read(count=2)) == [("create", "c", ("id", "status", "total"))]  # reads past
    assert log.skipped == 5
    quiet = ChangeLog(ChgOrder, "h", "w")
    quiet.create_group()
    with caplog.at_level(logging.WARNING, logger="typedis"):
        assert len(quiet.read()) == 2
    assert "skipped event" in caplog.text


def test_an_event_trimmed_before_it_was_acknowledged_is_reported_on_claim(
    redis_client: redis.Redis,
) -> None:
    seen: list[str] = []
    log = ChangeLog(ChgOrder, "g", "w", on_error=lambda event, fields, error: seen.append(event))
    log.create_group()
    ChgOrder(id="a").save()
    [change] = log.read()
    redis_client.xtrim(LOG, maxlen=0)
    assert log.claim(min_idle=0) == []
    assert seen == [change.event]
    assert log.pending() == []


# ---- the length policy, partitions ------------------------------------------------------------


def test_maxlen_trims_exactly_or_approximately(redis_client: redis.Redis) -> None:
    class Exact(Model, changes=ChangeStream(maxlen=5, approximate=False)):
        id: Key[str]

    class Rough(Model, changes=ChangeStream(maxlen=10)):
        id: Key[str]

    Exact.save_many([Exact(id=str(n)) for n in range(20)])
    assert redis_client.xlen("{td:Exact}:changes") == 5
    Rough.save_many([Rough(id=str(n)) for n in range(500)])
    assert 10 <= redis_client.xlen("{td:Rough}:changes") < 500


def test_changes_true_keeps_the_default_maxlen_and_none_keeps_all() -> None:
    [log] = [ix for ix in ChgOrder.__typedis_spec__.indexes if ix.kind.name == "changes"]
    assert log.options == {"maxlen": 100_000.0, "trim": "~"}
    [log] = [ix for ix in ChgShop.__typedis_spec__.indexes if ix.kind.name == "changes"]
    assert log.options["maxlen"] == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            ChangeStream(maxlen=0),
            r"Bad: ChangeStream\(maxlen=...\) must be a positive int or None, got 0",
        ),
        (ChangeStream(maxlen=True), "got True"),
        ("yes", "Bad: changes= takes True, False or a ChangeStream, got 'yes'"),
    ],
)
def test_a_bad_change_policy_is_refused(changes: object, message: str) -> None:
    with pytest.raises(ModelError, match=message):

        class Bad(Model, changes=changes):  # pyright: ignore[reportArgumentType]
            id: Key[str]


def test_a_subclass_inherits_the_change_log_and_false_turns_it_off() -> None:
    class Base(Model, abstract=True, changes=True):
        note: str = ""

    class Kept(Base):
        id: Key[str]

    class Off(Base, changes=False):
        id: Key[str]

    assert [ix.kind.name for ix in Kept.__typedis_spec__.indexes] == ["prefix", "changes"]
    assert all(ix.kind.name != "changes" for ix in Off.__typedis_spec__.indexes)


def test_each_partition_has_its_own_log() -> None:
    north = ChangeLog(ChgShop, "g", "w", partition=["north"])
    south = ChangeLog(ChgShop, "g", "w", partition=("south",))
    for log in (north, south):
        log.create_group()
    ChgShop(region="north", name="a").save()
    ChgShop(region="south", name="b").save()
    [created] = north.read()
    assert created.record == ChgShop(region="north", name="a")
    assert (
        created.key == "{td:ChgShop:north}:r:north:a" == ChgShop(region="north", name="a").redis_key
    )
    assert [c.id for c in south.read()] == ["south:b"]
    with pytest.raises(QueryError, match="partitioned by"):
        ChangeLog(ChgShop, "g", "w")


# ---- maintenance ---------------------------------------------------------------------------------


def test_check_indexes_ignores_the_log_and_delete_all_keeps_it(redis_client: redis.Redis) -> None:
    ChgOrder.save_many([ChgOrder(id=str(n), email=f"{n}@x.io") for n in range(3)])
    ChgShop(region="north", name="a").save()
    assert ChgOrder.check_indexes()["total"] == 0
    assert ChgShop.check_indexes()["total"] == 0
    assert ChgOrder.delete_all() == 3
    assert redis_client.type(LOG) == b"stream"
    assert redis_client.xlen(LOG) == 6


def test_repairing_the_indexes_logs_no_event(redis_client: redis.Redis) -> None:
    ChgOrder.save_many([ChgOrder(id=str(n), email=f"{n}@x.io") for n in range(3)])
    redis_client.delete("{td:ChgOrder}:all")  # damage that rebuild_indexes() mends
    assert ChgOrder.rebuild_indexes() == 3
    assert ChgOrder.clean_indexes().total == 0
    assert ChgOrder.check_indexes().total == 0
    assert redis_client.xlen(LOG) == 3  # the three creates; re-indexing changed no record


def test_a_log_key_of_another_type_refuses_the_write(redis_client: redis.Redis) -> None:
    redis_client.set(LOG, "x")
    with pytest.raises(CorruptRecord, match="holds a string, expected a stream"):
        ChgOrder(id="a").save()
    assert not redis_client.exists("{td:ChgOrder}:r:a")


# ---- bad arguments, errors --------------------------------------------------------------------


def test_a_model_without_a_log_and_bad_arguments_are_refused() -> None:
    with pytest.raises(ModelError, match="ChgPlain keeps no change log"):
        ChangeLog(ChgPlain, "g", "w")
    with pytest.raises(QueryError, match="group= must be a non-empty str"):
        ChangeLog(ChgOrder, "", "w")
    log = ChangeLog(ChgOrder, "g", "w")
    with pytest.raises(QueryError, match="count= must be a positive int, got 0"):
        log.read(0)
    with pytest.raises(QueryError, match="min_idle= must be seconds >= 0, got -1"):
        log.claim(-1)
    assert log.ack() == 0


def test_reading_without_a_group_is_refused() -> None:
    log = ChangeLog(ChgOrder, "missing", "w")
    with pytest.raises(ServerRefused, match="NOGROUP"):
        log.read()


def test_the_consumer_acl_recipe_of_the_docs(own_conn: Connection, own_client: redis.Redis) -> None:
    """docs/events.md's consumer line, run as written (for ChgOrder instead of Invoice)."""
    text = (Path(__file__).parents[1] / "docs" / "events.md").read_text()
    [line] = re.findall(r"^ACL SETUSER (billing-worker .+)$", text, re.MULTILINE)
    rules = shlex.split(line.replace("Invoice", "ChgOrder"))
    own_client.execute_command("ACL", "SETUSER", *rules)
    ChgOrder(id="a").save()
    with connected_as(own_conn.url, rules[0], "secret"):
        log = ChangeLog(ChgOrder, "g", "w")
        assert log.create_group() is True
        [change] = log.read()
        assert log.claim(0) == [change]
        assert [p.event for p in log.pending()] == [change.event]
        assert log.ack(change) == 1
        with pytest.raises(PermissionDenied):
            ChgOrder(id="b").save()  # a consumer only


# ---- async ---------------------------------------------------------------------------------------


def test_the_async_twins(protocol: int) -> None:
    async def scenario() -> None:
        log = ChangeLog(ChgOrder, "g", "one")
        assert await log.acreate_group() is True
        assert await log.acreate_group() is False
        await ChgOrder(id="a").asave()
        [created] = await log.aread(timeout=5)
        assert created.record == ChgOrder(id="a")
        other = ChangeLog(ChgOrder, "g", "two")
        assert [c.event for c in await other.aclaim(0)] == [created.event]
        [pending] = await other.apending()
        assert pending.consumer == "two"
        assert await other.aack(created) == 1
        assert await log.aread(timeout=0.01) == []

    asyncio.run(scenario())
