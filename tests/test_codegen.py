"""The generated fast path of a fresh save (typedis._codegen, lua/_fresh.lua).

A model whose index kinds all generate their Lua saves a record that is not stored (and a
``save_many`` batch of such records) with straight-line Lua written for its layout; every other
save takes the generic steps (lua/_save.lua). Both must leave the same server state and raise
the same errors: the property below runs one sequence of saves and deletes through each path.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import typedis
from _acl import as_user
from _util import dumped
from typedis import (
    Confidence,
    CorruptRecord,
    Decaying,
    Geo,
    GeoPoint,
    Index,
    Indexed,
    Key,
    Model,
    OutcomeUnknown,
    PermissionDenied,
    Sorted,
    TypedisError,
    Unique,
    UniqueViolation,
    _codegen,
    _lua,
    field,
)
from typedis._index import IndexKind
from typedis._index.set_kind import SetKind
from typedis.memory import (
    AccessCount,
    Associations,
    Cycle,
    CyclicDecay,
    Fingerprinted,
    Predictions,
    TemporalPeriod,
)

TAG = "{td:CgPlace}"
PAST = datetime(2001, 1, 1, tzinfo=UTC)
FUTURE = datetime(2101, 1, 1, tzinfo=UTC)


class CgPlace(Model, indexes=[Index("city", "cuisine"), Index("city", "street", unique=True)]):
    """Every kind with a generator: set (and composite), unique (and composite), sorted, geo,
    prefix (the str key, indexed and unique fields) and decay."""

    name: Key[str]
    email: Unique[str | None] = None
    cuisine: Indexed[str | None] = None
    city: str | None = None
    street: str | None = None
    rating: Sorted[float | None] = None
    spot: Geo[GeoPoint | None] = field(default=None)
    energy: Decaying[float | None] = field(default=1.0)
    note: str = ""


class CgNote(Model, partition="agent"):
    agent: Key[str]
    n: Key[int]
    code: Unique[str | None] = None
    topic: Indexed[str] = ""


class CgMemory(Model, partition="agent"):
    """The memory primitives' kinds, which delegate to their Lua (``Fresh.delegated``):
    bloom, ledger, cooccurrence, cyclic; and access and confidence (sorted)."""

    agent: Key[str]
    id: Key[str]
    topic: Fingerprinted[str] = ""
    predictions: Predictions = field(default=None)
    related: Associations = field(default=None)
    urge: Annotated[float, CyclicDecay(cycles=[Cycle(TemporalPeriod.DAILY, 1.0, 0.2)])] = 1.0
    hits: AccessCount = field(default=0)
    certainty: Confidence = field(default=0.5)


@contextmanager
def generic_saves() -> Iterator[None]:
    """Every model library built meanwhile declines the fast path (FRESH = nil)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_codegen, "functions", lambda spec: _codegen._DECLINED)  # pyright: ignore[reportPrivateUsage]
        _lua._library.cache_clear()  # pyright: ignore[reportPrivateUsage]
        try:
            yield
        finally:
            _lua._library.cache_clear()  # pyright: ignore[reportPrivateUsage]


CLOCKS = (b"~t:", b"~cy:r:")  # hidden fields holding the time of the save


def state(client: redis.Redis) -> dict[bytes, Any]:
    """Every key: its type, contents (hash fields in stored order), TTL and, where no clock is
    in it, its DUMP. A decay or cyclic clock (their "~t:" and "~cy:r:" fields, the decay
    index's scores) depends on when the save ran: these fields are masked and the index
    compared by members (check_indexes() verifies the scores against the clocks)."""
    out: dict[bytes, Any] = {}
    for key in sorted(client.scan_iter()):
        if key.endswith(b"}:partitions"):  # the registry: a client command, once per connection
            continue
        kind = client.type(key).decode()
        clocked = False
        value: Any
        if kind == "hash":
            items = list(client.hgetall(key).items())
            clocked = any(f.startswith(CLOCKS) for f, _ in items)
            value = [(f, b"<clock>" if f.startswith(CLOCKS) else v) for f, v in items]
        elif kind == "set":
            value = sorted(client.smembers(key))
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
            clocked = key.endswith(b":z:energy")
            if clocked:
                value = sorted(m for m, _ in value)
        else:
            value = client.get(key)
        out[key] = (kind, value, client.pttl(key), None if clocked else client.dump(key))
    return out


names = st.sampled_from(["a", "b", "c:d", "e{f}*"])
records = st.fixed_dictionaries(
    {
        "name": names,
        "email": st.sampled_from([None, "x@y", "z%y"]),
        "cuisine": st.sampled_from([None, "thai", "fr:ench"]),
        "city": st.sampled_from([None, "Lisbon", "Porto"]),
        "street": st.sampled_from([None, "Main", "Rua [1]"]),
        "rating": st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)),
        "spot": st.one_of(
            st.none(), st.builds(GeoPoint, lat=st.floats(-80, 80), lon=st.floats(-179, 179))
        ),
        "energy": st.one_of(st.none(), st.floats(0, 100)),
        "note": st.text(max_size=3),
    }
)
expiries = st.sampled_from([None, PAST, FUTURE])
memories = st.fixed_dictionaries(
    {
        "agent": st.sampled_from(["x", "y"]),
        "id": names,
        "topic": st.sampled_from(["", "cats", "dogs"]),
        "urge": st.floats(0, 10),
        "hits": st.integers(0, 3),
        "certainty": st.floats(0, 1),
    }
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("save"), records, expiries),
        st.tuples(st.just("many"), st.lists(records, max_size=4, unique_by=lambda r: r["name"])),
        st.tuples(st.just("delete"), names),
        st.tuples(st.just("memory"), memories),
        st.tuples(st.just("memories"), st.lists(memories, max_size=3, unique_by=lambda r: r["id"])),
    ),
    max_size=8,
)


def run(ops: list[Any]) -> list[Any]:
    """Apply the operations to fresh instances; each one's outcome (error type, position)."""
    outcomes: list[Any] = []
    for op in ops:
        try:
            if op[0] == "save":
                CgPlace(**op[1]).save(expire_at=op[2])
            elif op[0] == "many":
                CgPlace.save_many([CgPlace(**values) for values in op[1]])
            elif op[0] == "memory":
                CgMemory(**op[1]).save()
            elif op[0] == "memories":
                CgMemory.save_many([CgMemory(**values) for values in op[1]])
            else:
                CgPlace.model_construct(name=op[1]).delete()
            outcomes.append("ok")
        except TypedisError as error:
            outcomes.append((type(error).__name__, getattr(error, "position", None)))
    return outcomes


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=operations)
def test_the_generated_and_the_generic_path_leave_the_same_state(
    ops: list[Any], redis_client: redis.Redis
) -> None:
    assert _codegen.fast_path(CgPlace.__typedis_spec__)
    assert _codegen.fast_path(CgMemory.__typedis_spec__)

    def faults() -> int:
        return CgPlace.check_indexes()["total"] + CgMemory.check_indexes()["total"]

    redis_client.flushdb()
    with generic_saves():
        generic = run(ops), state(redis_client), faults()
    redis_client.flushdb()
    generated = run(ops), state(redis_client), faults()
    redis_client.flushdb()
    assert generated == generic
    assert generated[2] == 0


def test_a_model_with_a_kind_without_a_generator_takes_the_generic_steps(
    redis_client: redis.Redis,
) -> None:
    generated = _lua.library(CgPlace.__typedis_spec__).source
    assert "FRESH = fresh_saves(read, check, write)" in generated
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SetKind, "add_lua", IndexKind.add_lua)  # as a kind without the hook

        class CgPlain(Model):
            id: Key[str]
            topic: Indexed[str] = "t"

        spec = CgPlain.__typedis_spec__
        assert not _codegen.fast_path(spec)
        assert "local FRESH = nil" in _lua.library(spec).source
        CgPlain(id="a").save()
        CgPlain.save_many([CgPlain(id="b"), CgPlain(id="c")])
    assert redis_client.smembers("{td:CgPlain}:i:topic:t") == {b"a", b"b", b"c"}


def test_a_fresh_save_returns_the_hidden_values(redis_client: redis.Redis) -> None:
    place = CgPlace(name="a", energy=2.0).save()
    stored = redis_client.hget(f"{TAG}:r:a", "~t:energy")
    assert stored is not None and vars(place)["~t:energy"] == stored.decode()
    many = [CgPlace(name="b"), CgPlace(name="c", energy=None)]
    CgPlace.save_many(many)
    assert vars(many[0])["~t:energy"] == redis_client.hget(f"{TAG}:r:b", "~t:energy").decode()  # type: ignore[union-attr]
    assert "~t:energy" not in vars(many[1])


def test_a_unique_value_held_by_a_live_record_refuses_a_fresh_save(
    redis_client: redis.Redis,
) -> None:
    CgPlace(name="a", email="x@y", city="Porto", street="Main").save()
    before = dumped(redis_client)
    with pytest.raises(UniqueViolation, match="email"):
        CgPlace(name="b", email="x@y").save()
    with pytest.raises(UniqueViolation, match="city, street"):
        CgPlace(name="b", city="Porto", street="Main").save()
    with pytest.raises(UniqueViolation) as caught:
        CgPlace.save_many([CgPlace(name="c"), CgPlace(name="d", email="x@y")])
    assert caught.value.position == 1
    with pytest.raises(UniqueViolation) as caught:  # two records of one batch claim one value
        CgPlace.save_many([CgPlace(name="c", email="n@y"), CgPlace(name="d", email="n@y")])
    assert caught.value.position == 1
    assert dumped(redis_client) == before


def test_an_expired_holder_gives_up_its_unique_value(redis_client: redis.Redis) -> None:
    CgPlace(name="a", email="x@y").save(expire_at=PAST)
    CgPlace(name="b", email="x@y").save()  # fresh: the holder is not live
    assert redis_client.hget(f"{TAG}:u:email", "x@y") == b"b"
    CgPlace(name="a", email="z@y").save()  # the expired record's key: the generic steps
    assert CgPlace.load("a").email == "z@y"
    assert CgPlace.check_indexes()["total"] == 0


def test_fresh_saves_of_a_partitioned_model_write_in_their_partition(
    redis_client: redis.Redis,
) -> None:
    CgNote(agent="x", n=1, code="c", topic="t").save()
    CgNote.save_many([CgNote(agent="y", n=1, code="c"), CgNote(agent="x", n=2, topic="t")])
    assert redis_client.smembers("{td:CgNote:x}:i:topic:t") == {b"x:1", b"x:2"}
    assert redis_client.hget("{td:CgNote:y}:u:code", "c") == b"y:1"  # unique within a partition
    with pytest.raises(UniqueViolation):
        CgNote(agent="x", n=3, code="c").save()
    assert CgNote.check_indexes()["total"] == 0


def test_an_index_key_of_another_type_is_corrupt_and_nothing_is_written(
    redis_client: redis.Redis,
) -> None:
    redis_client.set(f"{TAG}:i:cuisine:thai", "not a set")
    before = dumped(redis_client)
    with pytest.raises(CorruptRecord, match=r"i:cuisine:thai holds a string, expected a set"):
        CgPlace(name="a", cuisine="thai").save()
    with pytest.raises(CorruptRecord):
        CgPlace.save_many([CgPlace(name="b"), CgPlace(name="c", cuisine="thai")])
    assert dumped(redis_client) == before


def test_an_acl_refusal_of_a_derived_key_writes_nothing(
    own_conn: typedis.Connection, own_client: redis.Redis
) -> None:
    rules = (f"~{TAG}:r:*", f"~{TAG}:all", f"~{TAG}:exp", f"%R~{TAG}:*")
    with as_user(own_conn.url, own_client, "typedis-codegen-acl", *rules):
        with pytest.raises(PermissionDenied, match="may not write key"):
            CgPlace(name="a").save()
        with pytest.raises(PermissionDenied, match="may not write key"):
            CgPlace.save_many([CgPlace(name="a"), CgPlace(name="b")])
    assert list(own_client.scan_iter(match=f"{TAG}*")) == []


def test_a_lost_reply_of_a_fresh_save_is_outcome_unknown(
    own_server: str, own_client: redis.Redis
) -> None:
    conn = typedis.connect(own_server, socket_timeout=0.2)
    try:
        CgPlace(name="warm").save()  # the library is loaded, the writer connected
        for save in (
            lambda: CgPlace(name="a", cuisine="thai").save(),
            lambda: CgPlace.save_many([CgPlace(name="b"), CgPlace(name="c")]),
        ):
            own_client.execute_command("CLIENT", "PAUSE", 600, "WRITE")
            try:
                with pytest.raises(OutcomeUnknown):
                    save()
            finally:
                time.sleep(0.7)
                own_client.execute_command("CLIENT", "UNPAUSE")
        assert CgPlace.check_indexes()["total"] == 0
    finally:
        conn.close()


CgWide = type(
    "CgWide",
    (Model,),
    {
        "__annotations__": {
            "id": Key[str],
            "tag": Indexed[str],
            **{f"f{i}": str for i in range(80)},
        },
        "tag": "t",
        **{f"f{i}": "" for i in range(80)},
    },
)


def test_a_model_of_many_fields_reads_and_writes_through_its_mask(
    redis_client: redis.Redis,
) -> None:
    # Above 60 fields the texts are read through the mask and the hash written from a table
    # (a Lua call takes about 250 arguments at most).
    assert _codegen.fast_path(CgWide.__typedis_spec__)
    CgWide(id="a", f79="last").save()
    CgWide.save_many([CgWide(id=f"b{i}", f0=str(i)) for i in range(3)])
    assert CgWide.load("a").f79 == "last"  # type: ignore[attr-defined]
    assert redis_client.scard("{td:CgWide}:i:tag:t") == 4
    assert CgWide.check_indexes()["total"] == 0
