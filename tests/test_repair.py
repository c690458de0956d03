"""Index repair: ``check_indexes()``'s typed report, ``clean_indexes()``, ``rebuild_indexes()``.

Records deleted with a raw ``DEL`` leave entries that point at nothing: check counts them,
clean removes them, check then finds nothing. Hashes imported around ``save()`` (raw ``HSET``
in typedis's layout) are indexed by rebuild, after which every query answers as an in-memory
reference does. Both run while another thread saves and deletes, and no record written
meanwhile loses an entry.
"""

from __future__ import annotations

import pickle
import random
import threading
from collections.abc import Iterable, Iterator
from typing import Annotated, Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _acl import as_user
from _util import arun, dumped
from typedis import (
    Connection,
    CorruptRecord,
    Decaying,
    Geo,
    GeoPoint,
    Index,
    Indexed,
    IndexReport,
    Key,
    Model,
    ModelError,
    PermissionDenied,
    Sorted,
    Unique,
    _keys,
    field,
)
from typedis.memory import (
    AccessCount,
    Associations,
    Cycle,
    CyclicDecay,
    Fingerprinted,
    Predictions,
    TemporalPeriod,
    link,
    might_exist,
    neighbors,
    prediction_data,
    record_prediction,
)

CUISINES = ["mex", "thai", "ital"]


class RpShop(Model, indexes=[Index("cuisine", "city")]):
    region: Key[str]
    name: Key[str]
    cuisine: Indexed[str]
    city: str = "paris"
    email: Unique[str]
    rating: Sorted[float] = 0.0
    spot: Geo[GeoPoint | None] = field(default=None)
    fresh: Decaying[float] = field(default=1.0)


class RpNote(Model, partition="tenant", ttl=3600):
    tenant: Key[str]
    code: Key[str]
    label: Indexed[str] = "x"
    rank: Sorted[int] = 0


class RpMemory(Model, partition="agent"):
    agent: Key[str]
    id: Key[str]
    topic: Fingerprinted[str] = "t"
    hits: AccessCount = field(default=0)
    urge: Annotated[float, CyclicDecay(cycles=[Cycle(TemporalPeriod.DAILY, 1.0, 0.0)])] = 1.0
    related: Associations = field(default=None)
    predictions: Predictions = field(default=None)


def _shop(i: int, cuisine: str | None = None) -> RpShop:
    return RpShop(
        region="eu",
        name=f"s{i}",
        cuisine=cuisine or CUISINES[i % 3],
        email=f"s{i}@x",
        rating=float(i),
        spot=GeoPoint(lat=48.0 + i / 100, lon=2.0),
    )


def _found(cuisine: str) -> set[str]:
    return {s.name for s in RpShop.query.filter(RpShop.cuisine == cuisine).all()}


def _all_found(shops: Iterable[RpShop]) -> None:
    """Every query over RpShop answers as the in-memory ``shops`` do."""
    live = {s.name: s for s in shops}
    for cuisine in CUISINES:
        assert _found(cuisine) == {n for n, s in live.items() if s.cuisine == cuisine}
    rated = RpShop.query.order_by(RpShop.rating.desc()).all()
    assert [live[s.name].rating for s in rated] == sorted(
        (s.rating for s in live.values()), reverse=True
    )
    assert {s.name for s in rated} == live.keys()
    for shop in live.values():
        found = RpShop.query.filter(RpShop.email == shop.email).first()
        assert found is not None and found.name == shop.name
        assert RpShop.query.filter(RpShop.rating == shop.rating).count() >= 1
    assert RpShop.count() == len(live)


# -- the report --------------------------------------------------------------------------------


def test_the_report_is_typed_immutable_and_reads_as_the_old_dict() -> None:
    _shop(1).save()
    report = RpShop.check_indexes()
    assert isinstance(report, IndexReport)
    assert report.total == report["total"] == 0
    assert report == dict.fromkeys(report, 0)
    assert set(report) >= {"class_set", "records", "indexed", "unique", "sorted", "total"}
    assert "total" not in report.counts
    with pytest.raises(AttributeError):
        report.total = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        report["sorted"] = 1  # type: ignore[index]
    assert repr(report) == "IndexReport(total=0)"
    assert IndexReport({"sorted": 2, "geo": 1, "total": 99}).total == 3  # total is the sum
    assert pickle.loads(pickle.dumps(report)) == report


# -- stray DEL: check, clean, check --------------------------------------------------------------


def test_raw_del_then_check_clean_check_reports_nothing(redis_client: redis.Redis) -> None:
    shops = [_shop(i).save() for i in range(12)]
    for shop in shops[:4]:
        redis_client.delete(shop.redis_key)
    found = RpShop.check_indexes()
    assert found.total > 0 and found["class_set"] == 4 and found["unique"] == 4
    removed = RpShop.clean_indexes(batch_size=3)
    assert removed["class_set"] == 4 and removed["unique"] == 4 and removed["geo"] == 4
    assert removed.total == found.total  # every fault was an orphan
    assert RpShop.check_indexes().total == 0
    _all_found(shops[4:])


def test_clean_removes_wrong_values_and_keeps_every_live_entry(redis_client: redis.Redis) -> None:
    shops = [_shop(i).save() for i in range(6)]
    tag = _keys.tag("RpShop")
    redis_client.sadd(f"{tag}:i:cuisine:thai", "eu:s0")  # s0 is "mex"
    redis_client.hset(f"{tag}:u:email", "nobody@x", "eu:s1")
    redis_client.zadd(f"{tag}:l:cuisine", {"zzz\0eu:s2": 0})
    before = dumped(redis_client)
    assert RpShop.check_indexes().total == 3
    removed = RpShop.clean_indexes()
    assert (removed["indexed"], removed["unique"], removed["prefix"], removed.total) == (1, 1, 1, 3)
    assert RpShop.check_indexes().total == 0
    after = dumped(redis_client)
    assert {k for k in before if before[k] != after.get(k)} == {
        f"{tag}:i:cuisine:thai".encode(),
        f"{tag}:u:email".encode(),
        f"{tag}:l:cuisine".encode(),
    }
    _all_found(shops)


def test_clean_leaves_a_wrong_score_to_rebuild(redis_client: redis.Redis) -> None:
    shops = [_shop(i).save() for i in range(3)]
    redis_client.zadd(f"{_keys.tag('RpShop')}:z:rating", {"eu:s1": 99.0})
    assert RpShop.check_indexes()["sorted"] == 2  # one missing, one extra entry
    assert RpShop.clean_indexes().total == 0  # the entry still finds its record
    assert RpShop.rebuild_indexes() == 3
    assert RpShop.check_indexes().total == 0
    top = RpShop.query.order_by(RpShop.rating.desc()).first()
    assert top is not None and top.name == shops[2].name


def test_memory_kinds_lose_only_the_orphans(redis_client: redis.Redis) -> None:
    notes = [RpMemory(agent="a", id=f"m{i}", topic=f"topic {i}").save() for i in range(5)]
    link(RpMemory.related, notes[0], notes[1])
    link(RpMemory.related, notes[1], notes[2])
    link(RpMemory.related, notes[3], notes[4])
    record_prediction(notes[1], RpMemory.predictions, {"v": 1}, key="k")
    record_prediction(notes[4], RpMemory.predictions, {"v": 2}, key="k")
    redis_client.delete(notes[4].redis_key)
    found = RpMemory.check_indexes()
    assert found["cooccurrence"] > 0 and found["ledger"] == 1
    removed = RpMemory.clean_indexes()
    assert removed["cooccurrence"] == 4  # the edge 3-4: both ways, in both its keys
    assert removed["ledger"] == 1
    assert RpMemory.check_indexes().total == 0
    assert [n.id for n, _ in neighbors(RpMemory.related, notes[1])] == ["m0", "m2"]
    assert prediction_data(notes[1], RpMemory.predictions, key="k") is not None
    assert might_exist(RpMemory.topic, "topic 4", partition=("a",))  # bits are never removed


# -- rebuild after an import around save() ------------------------------------------------------


def _import_raw(redis_client: redis.Redis, records: list[Model]) -> None:
    """Save ``records``, then keep only their hashes, as an import by raw HSET would leave."""
    for record in records:
        record.save()
    hashes = {r.redis_key: redis_client.hgetall(r.redis_key) for r in records}
    redis_client.flushdb()
    for key, values in hashes.items():
        redis_client.hset(key, mapping=values)  # pyright: ignore[reportUnknownMemberType]


def _raw_text(name: str, value: Any) -> str | bytes:
    """A value as typedis stores it in a record's hash."""
    return dict(RpShop.__typedis_spec__.encoders)[name](value)


values = st.tuples(st.sampled_from(CUISINES), st.floats(-1e6, 1e6, allow_nan=False))


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.dictionaries(st.integers(0, 40), values, min_size=1, max_size=25),
    edits=st.dictionaries(st.integers(0, 40), values, max_size=8),
)
def test_rebuild_after_a_raw_import_answers_every_query(
    redis_client: redis.Redis,
    rows: dict[int, tuple[str, float]],
    edits: dict[int, tuple[str, float]],
) -> None:
    redis_client.flushdb()
    shops = {
        i: _shop(i, cuisine).model_copy(update={"rating": r}) for i, (cuisine, r) in rows.items()
    }
    _import_raw(redis_client, list(shops.values()))
    assert RpShop.check_indexes().total > 0
    assert RpShop.rebuild_indexes(batch_size=7) == len(rows)
    assert RpShop.check_indexes().total == 0
    _all_found(shops.values())
    # Values changed by raw HSET: rebuild moves their entries (cleaning the old ones).
    for i, (cuisine, rating) in edits.items():
        if i in shops:
            changes = {"cuisine": cuisine, "rating": rating}
            redis_client.hset(  # pyright: ignore[reportUnknownMemberType]
                shops[i].redis_key, mapping={k: _raw_text(k, v) for k, v in changes.items()}
            )
            shops[i] = shops[i].model_copy(update=changes)
    assert RpShop.rebuild_indexes(batch_size=4) == len(rows)
    assert RpShop.check_indexes().total == 0
    _all_found(shops.values())


def test_rebuild_indexes_memory_kinds_and_keeps_their_data(redis_client: redis.Redis) -> None:
    notes = [RpMemory(agent="a", id=f"m{i}", topic=f"topic {i}", hits=i) for i in range(4)]
    for note in notes:
        note.save()
    link(RpMemory.related, notes[0], notes[1])
    tag = _keys.tag("RpMemory", ["a"])
    for key in (f"{tag}:all", f"{tag}:z:hits", f"{tag}:y:urge", f"{tag}:b:topic"):
        redis_client.delete(key)
    assert RpMemory.check_indexes().total > 0
    assert RpMemory.rebuild_indexes() == 4
    assert RpMemory.check_indexes().total == 0
    assert [n.id for n, _ in neighbors(RpMemory.related, notes[0])] == ["m1"]
    assert might_exist(RpMemory.topic, "topic 3", partition=("a",))
    ranked = RpMemory.query.filter(RpMemory.agent == "a").order_by(RpMemory.hits.desc()).all()
    assert [n.id for n in ranked] == ["m3", "m2", "m1", "m0"]


def test_rebuild_skips_unreadable_hashes_and_names_them(redis_client: redis.Redis) -> None:
    _import_raw(redis_client, [_shop(i) for i in range(5)])
    tag = _keys.tag("RpShop")
    redis_client.hset(_keys.record(tag, "eu:s1"), "rating", "not a number")
    redis_client.hset(_keys.record(tag, "eu:zz"), mapping={"region": "eu", "name": "other"})
    with pytest.raises(CorruptRecord, match=r"2 record\(s\) typedis cannot read.*4 were indexed"):
        RpShop.rebuild_indexes()
    assert _found("mex") == {"s0", "s3"}  # the readable records are indexed
    assert _found("thai") | _found("ital") == {"s2", "s4"}
    report = RpShop.check_indexes()  # both hashes, unread and missing from the id set
    assert report == {**dict.fromkeys(report, 0), "records": 2, "class_set": 2, "total": 4}


def test_rebuild_leaves_a_unique_value_to_the_record_holding_it(redis_client: redis.Redis) -> None:
    first, second = _shop(1), _shop(2).model_copy(update={"email": "s1@x"})
    _import_raw(redis_client, [first])
    redis_client.hset(  # pyright: ignore[reportUnknownMemberType]
        second.redis_key, mapping={k: _raw_text(k, getattr(second, k)) for k in RpShop.model_fields}
    )
    assert RpShop.rebuild_indexes() == 2
    assert RpShop.check_indexes()["unique"] == 1  # the second record's entry: missing
    holder = RpShop.query.filter(RpShop.email == "s1@x").all()
    assert len(holder) == 1


def test_a_damaged_expiry_is_counted_and_left(redis_client: redis.Redis) -> None:
    notes = [RpNote(tenant="a", code=f"c{i}").save() for i in range(3)]
    redis_client.hset(notes[0].redis_key, "~exp", "soon")
    redis_client.delete(f"{_keys.tag('RpNote', ['a'])}:i:label:x")
    assert RpNote.check_indexes()["records"] == 1
    with pytest.raises(CorruptRecord, match=r"1 record\(s\).*2 were indexed.*expiry"):
        RpNote.rebuild_indexes()
    assert RpNote.check_indexes()["records"] == 1
    in_a = RpNote.query.filter(RpNote.tenant == "a")
    assert sorted(n.code for n in in_a.filter(RpNote.label == "x").all()) == ["c1", "c2"]
    assert redis_client.hget(notes[0].redis_key, "~exp") == b"soon"  # left for the user


# -- while the application writes -----------------------------------------------------------------


class _Writer(threading.Thread):
    """Saves and deletes RpShop records until stopped; ``live`` is what they should hold."""

    def __init__(self, names: int) -> None:
        super().__init__(daemon=True)
        self.names = names
        self.live: dict[str, RpShop] = {}
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.writes = 0

    def run(self) -> None:
        rng = random.Random(7)
        try:
            while not self.stop.is_set():
                i = rng.randrange(self.names)
                shop = _shop(i, rng.choice(CUISINES))
                shop.rating = rng.random()
                if rng.random() < 0.25:
                    shop.delete()
                    self.live.pop(shop.name, None)
                else:
                    shop.save()
                    self.live[shop.name] = shop
                self.writes += 1
        except BaseException as error:  # reported by the test
            self.error = error


@pytest.fixture
def writer() -> Iterator[_Writer]:
    thread = _Writer(30)
    yield thread
    thread.stop.set()
    thread.join()


@pytest.mark.parametrize("repair", ["clean", "rebuild"])
def test_repair_while_another_thread_writes(
    redis_client: redis.Redis, writer: _Writer, repair: str
) -> None:
    shops = [_shop(i).save() for i in range(30)]
    writer.live.update({s.name: s for s in shops})
    for shop in shops[::3]:  # stray DELs: orphans to clean; and the writer brings some back
        redis_client.delete(shop.redis_key)
        writer.live.pop(shop.name)
    writer.start()
    runs = 0
    while runs < 4 or writer.writes < 600:  # the runs overlap hundreds of writes
        runs += 1
        if repair == "clean":
            RpShop.clean_indexes(batch_size=5)
        else:
            RpShop.rebuild_indexes(batch_size=5)
    writer.stop.set()
    writer.join()
    assert writer.error is None
    RpShop.clean_indexes()  # the last stray entries, if the writer still touched them
    assert RpShop.check_indexes().total == 0
    _all_found(writer.live.values())


# -- partitions, progress, async, bad arguments ----------------------------------------------------


def test_partitions_are_checked_cleaned_and_rebuilt(redis_client: redis.Redis) -> None:
    notes = [
        RpNote(tenant=t, code=f"c{i}", label=f"l{i % 2}", rank=i) for t in "ab" for i in range(4)
    ]
    for note in notes[:4]:
        note.save()
    _import_raw(redis_client, notes[4:])  # tenant b: imported (the flush took tenant a)
    redis_client.delete(_keys.partitions("RpNote"))
    assert RpNote.rebuild_indexes() == 4
    assert RpNote.check_indexes().total == 0  # the registry lists partition b again
    assert RpNote.count("b") == 4
    assert [
        n.code for n in RpNote.query.filter(RpNote.tenant == "b").filter(RpNote.label == "l1").all()
    ] == [
        "c1",
        "c3",
    ]
    redis_client.delete(notes[5].redis_key)
    assert RpNote.clean_indexes()["class_set"] == 1
    assert RpNote.check_indexes().total == 0


def test_progress_is_called_once_per_batch() -> None:
    for i in range(10):
        _shop(i).save()
    calls: list[tuple[int, int | None]] = []
    RpShop.check_indexes(batch_size=4, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(4, 10), (8, 10), (10, 10)]
    calls.clear()
    RpShop.rebuild_indexes(batch_size=4, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(4, 20), (8, 20), (10, 20), (14, 20), (18, 20), (20, 20)]


def test_async_twins_match_the_sync_methods(redis_client: redis.Redis) -> None:
    shops = [_shop(i).save() for i in range(8)]
    redis_client.delete(shops[0].redis_key)
    found = arun(RpShop.acheck_indexes(batch_size=3))
    assert found == RpShop.check_indexes() and found.total > 0
    assert arun(RpShop.aclean_indexes(batch_size=3)).total == found.total
    assert arun(RpShop.acheck_indexes()).total == 0
    redis_client.delete(f"{_keys.tag('RpShop')}:z:rating")
    assert arun(RpShop.arebuild_indexes(batch_size=3)) == 7
    assert RpShop.check_indexes().total == 0


@pytest.mark.parametrize("size", [0, -1, True, 1.5, "10", None])
@pytest.mark.parametrize("method", ["check_indexes", "clean_indexes", "rebuild_indexes"])
def test_a_bad_batch_size_is_refused_before_anything(
    redis_client: redis.Redis, method: str, size: Any
) -> None:
    _shop(1).save()
    redis_client.delete(_shop(1).redis_key)
    before = dumped(redis_client)
    with pytest.raises(ModelError, match=rf"RpShop.{method}\(\): batch_size must be an int >= 1"):
        getattr(RpShop, method)(batch_size=size)
    with pytest.raises(ModelError, match="progress must be a function"):
        getattr(RpShop, method)(progress=3)
    assert dumped(redis_client) == before


@pytest.mark.parametrize("method", ["check_indexes", "clean_indexes", "rebuild_indexes"])
def test_a_user_without_scan_is_refused(
    own_conn: Connection, own_client: redis.Redis, method: str
) -> None:
    _shop(1).save()
    with (
        as_user(own_conn.url, own_client, "rp-noscan", "~*", "-scan"),
        pytest.raises(PermissionDenied, match=r"needs SCAN.*administrator"),
    ):
        getattr(RpShop, method)()
