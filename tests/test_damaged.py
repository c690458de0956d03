"""Damaged or missing data: a record hash removed outside typedis, stored values it did not write.

Deleting a record whose hash is gone removes what its id locates: the tag's id and expiry
sets, the entries of the kinds that find an entry by id (sorted, geo...) and the indexes of
its key fields. The entries only its lost values locate (a value index over a plain field)
stay, for ``check_indexes()`` to report. A stored value typedis cannot read raises
``CorruptRecord`` naming the model, the record's key and the field, and the record can still be
deleted with every index entry.
"""

from __future__ import annotations

import msgpack
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from _util import arun, dumped
from typedis import (
    CorruptRecord,
    Decaying,
    Indexed,
    Key,
    Model,
    NotFound,
    Sorted,
    Unique,
    _keys,
    field,
)


class DmgPayload(BaseModel):
    a: int


class DmgShop(Model, ttl=3600):
    region: Key[str]
    name: Key[str]
    cuisine: Indexed[str]
    email: Unique[str]
    rating: Sorted[float] = field(default=0.0)
    fresh: Decaying[float] = field(default=1.0)
    visits: int = 0
    data: DmgPayload | None = None


class DmgPart(Model, partition="tenant"):
    tenant: Key[str]
    code: Key[str]
    label: Indexed[str] = field(default="x")
    rank: Sorted[int] = field(default=0)


def _shop(name: str = "taco") -> DmgShop:
    return DmgShop(region="eu", name=name, cuisine="mex", email=f"{name}@x", rating=4.0)


def _keys_of(client: redis.Redis) -> set[str]:
    return {k.decode() for k in client.keys("*")}


def _value_entries(tag: str) -> set[str]:
    """The keys of DmgShop("eu", "taco")'s entries that only its values locate."""
    return {f"{tag}:i:cuisine:mex", f"{tag}:l:cuisine", f"{tag}:u:email", f"{tag}:l:email"}


# -- a record hash removed outside typedis ---------------------------------------------------


def test_delete_after_a_stray_del_removes_what_the_id_locates(redis_client: redis.Redis) -> None:
    shop = _shop().save()
    tag = _keys.tag("DmgShop")
    redis_client.delete(shop.redis_key)
    with pytest.raises(NotFound):  # a record whose hash is gone reads as absent
        DmgShop.load("eu", "taco")
    assert not shop.exists()
    # Before: delete() returned False and left all, exp, z:*, i:region, i:name, l:name...
    assert shop.delete() is False  # no live record was deleted
    assert _keys_of(redis_client) == _value_entries(tag)
    faults = DmgShop.check_indexes()  # what only the lost values located is reported
    assert (faults["indexed"], faults["unique"], faults["prefix"], faults["total"]) == (1, 1, 2, 4)
    assert shop.delete() is False  # and again: nothing listed, nothing touched
    assert _keys_of(redis_client) == _value_entries(tag)


def test_adelete_after_a_stray_del_removes_what_the_id_locates(redis_client: redis.Redis) -> None:
    shop = _shop().save()
    redis_client.delete(shop.redis_key)
    assert arun(shop.adelete()) is False
    assert _keys_of(redis_client) == _value_entries(_keys.tag("DmgShop"))


def test_delete_of_a_never_saved_record_writes_nothing(redis_client: redis.Redis) -> None:
    _shop("other").save()
    before = dumped(redis_client)
    assert _shop().delete() is False
    assert dumped(redis_client) == before


def test_sweep_of_an_expired_record_whose_hash_is_gone(redis_client: redis.Redis) -> None:
    shop = _shop()
    shop.save(ttl=60)
    tag = _keys.tag("DmgShop")
    redis_client.zadd(_keys.expiry(tag), {"eu:taco": 1})  # expired long ago
    redis_client.delete(shop.redis_key)
    assert DmgShop.sweep_expired() == 1
    assert _keys_of(redis_client) == _value_entries(tag)


# Key texts the id escapes: separators, escapes, hash-tag braces, NUL, empty, non-ASCII.
_key_texts = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"]) | st.sampled_from(":%{}*?[]\\\x00"),
    max_size=8,
)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tenant=_key_texts, code=_key_texts)
def test_stray_del_then_delete_leaves_only_value_entries(
    redis_client: redis.Redis, tenant: str, code: str
) -> None:
    redis_client.flushdb()
    record = DmgPart(tenant=tenant, code=code, label="l", rank=3).save()
    redis_client.delete(record.redis_key)
    assert record.delete() is False
    tag = _keys.tag("DmgPart", [tenant])
    # Only the label's value entries remain: the key fields' entries came from the id (and the
    # registry of partitions, which stays).
    left = _keys_of(redis_client) - {_keys.partitions("DmgPart")}
    assert left == {f"{tag}:i:label:l", f"{tag}:l:label"}


# -- stored values typedis did not write -----------------------------------------------------

_CORRUPT_VALUES = [
    pytest.param("visits", b"\xff\xfegarbage", "does not validate", id="garbage-int"),
    pytest.param("data", b"\xc1", "cannot be decoded", id="invalid-msgpack"),
    pytest.param("data", msgpack.packb([1, 2]), "does not validate", id="wrong-msgpack-type"),
    pytest.param("data", msgpack.packb({"a": "x"}), "does not validate", id="wrong-nested"),
    pytest.param("~exp", b"soon", "expiry that is not a number", id="word-expiry"),
    pytest.param("~exp", b"", "expiry that is not a number", id="empty-expiry"),
    pytest.param("~exp", b"nan", "expiry that is not a number", id="nan-expiry"),
]


def _corrupt(redis_client: redis.Redis, field_name: str, raw: bytes) -> DmgShop:
    shop = _shop().save()
    redis_client.hset(shop.redis_key, field_name, raw)
    return shop


def _assert_names_the_record(error: CorruptRecord, field_name: str | None, problem: str) -> None:
    key = _keys.record(_keys.tag("DmgShop"), "eu:taco")
    assert (error.model, error.key, error.field) == ("DmgShop", key, field_name)
    message = str(error)
    assert message.startswith("DmgShop: ")
    assert repr(key) in message and problem in message
    assert "user_function" not in message and "user_script" not in message
    if field_name:
        assert repr(field_name) in message


@pytest.mark.parametrize(("field_name", "raw", "problem"), _CORRUPT_VALUES)
def test_load_of_a_corrupt_value_names_model_key_and_field(
    redis_client: redis.Redis, field_name: str, raw: bytes, problem: str
) -> None:
    shop = _corrupt(redis_client, field_name, raw)
    # Before: a pydantic ValidationError, a CorruptRecord naming nothing, or (~exp) a raw
    # ResponseError "user_function:613: attempt to compare number with nil".
    for read in (lambda: DmgShop.load("eu", "taco"), shop.refresh, shop.exists):
        with pytest.raises(CorruptRecord) as caught:
            read()
        _assert_names_the_record(caught.value, field_name, problem)
    for aread in (lambda: DmgShop.aload("eu", "taco"), shop.arefresh, shop.aexists):
        with pytest.raises(CorruptRecord) as caught:
            arun(aread())
        _assert_names_the_record(caught.value, field_name, problem)


@pytest.mark.parametrize(("field_name", "raw", "problem"), _CORRUPT_VALUES)
def test_a_corrupt_record_can_still_be_deleted(
    redis_client: redis.Redis, field_name: str, raw: bytes, problem: str
) -> None:
    shop = _corrupt(redis_client, field_name, raw)
    # Before (~exp): delete() raised a raw ResponseError and left everything.
    assert shop.delete() is True  # a record with an unreadable expiry counts as live
    assert _keys_of(redis_client) == set()
    shop = _corrupt(redis_client, field_name, raw)
    assert arun(shop.adelete()) is True
    assert _keys_of(redis_client) == set()


@pytest.mark.parametrize(("field_name", "raw", "problem"), _CORRUPT_VALUES[:4])
def test_queries_name_the_corrupt_record(
    redis_client: redis.Redis, field_name: str, raw: bytes, problem: str
) -> None:
    _corrupt(redis_client, field_name, raw)
    with pytest.raises(CorruptRecord) as caught:
        DmgShop.query.filter(DmgShop.cuisine == "mex").all()
    _assert_names_the_record(caught.value, field_name, problem)


def test_a_full_save_rewrites_a_corrupt_value(redis_client: redis.Redis) -> None:
    _corrupt(redis_client, "visits", b"garbage")
    _shop().save()
    assert DmgShop.load("eu", "taco").visits == 0


def test_writes_over_an_unreadable_expiry_raise_and_write_nothing(
    redis_client: redis.Redis,
) -> None:
    shop = _corrupt(redis_client, "~exp", b"soon")
    other = _shop("other").save()
    before = dumped(redis_client)
    writes = [
        shop.save,
        lambda: shop.save(update_fields=["visits"]),
        lambda: shop.touch(DmgShop.fresh),
        lambda: arun(shop.asave()),
        lambda: arun(shop.atouch(DmgShop.fresh)),
    ]
    for write in writes:
        with pytest.raises(CorruptRecord) as caught:
            write()
        _assert_names_the_record(caught.value, "~exp", "expiry that is not a number")
    # Moving another record onto the damaged one's key is refused too.
    other.name = "taco"
    other.email = "moved@x"
    with pytest.raises(CorruptRecord) as caught:
        other.save(migrate_key=True)
    _assert_names_the_record(caught.value, "~exp", "expiry that is not a number")
    assert dumped(redis_client) == before


def test_a_record_key_holding_another_type(redis_client: redis.Redis) -> None:
    shop = _shop().save()
    other = _shop("other").save()
    redis_client.delete(shop.redis_key)
    redis_client.set(shop.redis_key, "not a hash")
    problem = "holds another Redis type than a hash"
    # Before: load() raised a raw ResponseError "WRONGTYPE Operation against a key holding the
    # wrong kind of value"; save() and delete() "typedis: key ... holds a string" with Lua lines.
    with pytest.raises(CorruptRecord) as caught:
        DmgShop.load("eu", "taco")
    _assert_names_the_record(caught.value, None, problem)
    before = dumped(redis_client)
    other.name, other.email = "taco", "moved@x"
    writes = (shop.save, lambda: shop.touch(DmgShop.fresh), lambda: other.save(migrate_key=True))
    for write in writes:
        with pytest.raises(CorruptRecord) as caught:
            write()
        _assert_names_the_record(caught.value, None, problem)
    assert dumped(redis_client) == before
    assert shop.delete() is True  # the key goes, with what its id locates
    tag = _keys.tag("DmgShop")
    assert not redis_client.exists(shop.redis_key)
    assert not redis_client.sismember(_keys.all_ids(tag), "eu:taco")
    assert redis_client.zscore(_keys.expiry(tag), "eu:taco") is None
    assert DmgShop.check_indexes()["total"] == 4  # the lost values' entries, as above
    assert DmgShop.load("eu", "other").email == "other@x"


def test_a_corrupt_value_chains_what_failed(redis_client: redis.Redis) -> None:
    _corrupt(redis_client, "data", b"\xc1")
    with pytest.raises(CorruptRecord) as caught:
        DmgShop.load("eu", "taco")
    assert isinstance(caught.value.__cause__, CorruptRecord)  # the codec's own report
    assert "not valid msgpack" in str(caught.value)


class CorruptIncr(Model):
    name: Key[str]
    n: Sorted[int] = field(default=0)


def test_an_increment_over_an_unreadable_expiry_is_corrupt_and_writes_nothing(
    redis_client: redis.Redis,
) -> None:
    record = CorruptIncr(name="a").save()
    redis_client.hset(record.redis_key, "~exp", "soon")
    with pytest.raises(CorruptRecord) as caught:
        record.atomic_increment("n", 1)
    assert (caught.value.model, caught.value.key, caught.value.field) == (
        "CorruptIncr",
        record.redis_key,
        "~exp",
    )
    assert isinstance(caught.value.__cause__, redis.ResponseError)
    assert redis_client.hget(record.redis_key, "n") == b"0"
