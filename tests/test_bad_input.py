"""Bad input on models: a typed error naming the model, field or argument, and nothing written.

Each test compares a raw dump of the whole test database (every key with its DUMP) before and
after the refused call.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from _util import arun, dumped
from typedis import (
    Decaying,
    Indexed,
    Key,
    KeyMutationError,
    Model,
    ModelError,
    ServerRefused,
    ServerUnavailable,
    Sorted,
    Unique,
    _connection,
    _store,
    field,
)


class BadShop(Model):
    region: Key[str]
    name: Key[str]
    cuisine: Indexed[str] = field(default="any")
    email: Unique[str | None] = field(default=None)
    rating: Sorted[float] = field(default=0.0)
    note: str = ""
    tags: list[str] = field(default_factory=list)


class BadCount(Model):
    n: Key[int]


class BadDated(Model):
    k: Key[str]
    fresh: Decaying[float] = field(default=1.0)


class BadNote(Model):
    k: Key[str]
    text: str
    size: int


def _refused(
    client: redis.Redis, call: Callable[[], object], error: type[Exception], match: str
) -> None:
    """``call`` raises ``error`` (message matching ``match``) and the database is unchanged."""
    before = dumped(client)
    with pytest.raises(error, match=match):
        call()
    assert dumped(client) == before


@pytest.fixture
def stored(redis_client: redis.Redis) -> BadShop:
    """A saved record, so that "nothing written" also means "nothing changed"."""
    return BadShop(region="eu", name="taco", email="t@x").save()


# -- ttl ------------------------------------------------------------------------------------


@pytest.mark.parametrize("ttl", [math.nan, math.inf, -math.inf, 0, -1, True, "60"])
def test_save_refuses_a_ttl_that_is_not_a_positive_finite_number(
    redis_client: redis.Redis, stored: BadShop, ttl: Any
) -> None:
    # Before: nan raised ValueError "cannot convert float NaN to integer", inf OverflowError.
    match = r"^BadShop\.save\(\): ttl must be a positive, finite number of seconds or None, got "
    _refused(redis_client, lambda: stored.save(ttl=ttl), ModelError, match)
    _refused(redis_client, lambda: arun(stored.asave(ttl=ttl)), ModelError, match)
    fresh = BadShop(region="eu", name="new")
    _refused(redis_client, lambda: fresh.save(ttl=ttl), ModelError, match)


def test_datetime_arguments_refuse_what_is_not_a_datetime(
    redis_client: redis.Redis, stored: BadShop
) -> None:
    # Before: AttributeError "'int' object has no attribute 'tzinfo'".
    when: Any = 1700000000
    match = r"^BadShop\.save\(\): expire_at must be a datetime, got 1700000000$"
    _refused(redis_client, lambda: stored.save(expire_at=when), ModelError, match)
    _refused(redis_client, lambda: arun(stored.asave(expire_at=when)), ModelError, match)
    dated = BadDated(k="d").save()
    match = r"^BadDated\.touch\(\): at must be a datetime, got 1700000000$"
    _refused(redis_client, lambda: dated.touch(BadDated.fresh, at=when), ModelError, match)
    with pytest.raises(ModelError, match=r"^BadDated\.decayed\(\): at must be a datetime"):
        dated.decayed(BadDated.fresh, at=when)


def test_a_tiny_ttl_rounds_up_to_a_millisecond(stored: BadShop) -> None:
    """A positive ttl never becomes "+0" (expired as it is written): 0.0001 s is 1 ms."""
    call = _store.save_call(
        stored, update_fields=None, migrate_key=False, ttl=0.0001, expire_at=None
    )
    assert call.args[5] == "+1"  # lua/save.lua ARGV[6]: the expiry


# -- text that is not valid UTF-8 -----------------------------------------------------------


def test_a_key_with_a_lone_surrogate_is_refused(redis_client: redis.Redis, stored: BadShop) -> None:
    # Before: UnicodeEncodeError "'utf-8' codec can't encode character '\ud800'" from redis-py.
    match = (
        r"^BadShop\.name: key value '\\ud800' is not valid UTF-8 text \(surrogates not allowed\)"
    )
    record = BadShop(region="eu", name="\ud800")
    _refused(redis_client, record.save, ModelError, match)
    _refused(redis_client, lambda: arun(record.asave()), ModelError, match)
    _refused(redis_client, record.delete, ModelError, match)
    _refused(redis_client, lambda: BadShop.load("eu", "\ud800"), ModelError, match)
    _refused(redis_client, lambda: arun(BadShop.aload("eu", "\ud800")), ModelError, match)
    partition = r"^BadShop\.region: key value 'a\\udfffb' is not valid UTF-8 text"
    _refused(redis_client, BadShop(region="a\udfffb", name="x").save, ModelError, partition)


def test_a_value_with_a_lone_surrogate_is_refused(
    redis_client: redis.Redis, stored: BadShop
) -> None:
    stored.note = "ok \udc80"
    match = r"^BadShop\.note: cannot store 'ok \\udc80': 'utf-8' codec can't encode"
    _refused(redis_client, stored.save, ModelError, match)
    _refused(redis_client, lambda: stored.save(update_fields=["note"]), ModelError, match)
    stored.note = ""
    stored.tags = ["\ud83d"]  # half of an emoji, in a msgpack value
    _refused(redis_client, stored.save, ModelError, r"^BadShop\.tags: cannot store \['\\ud83d'\]")


# Any str: lone surrogates included, with NUL, separators and escapes mixed in.
_any_text = st.text(
    alphabet=st.characters(exclude_categories=()) | st.sampled_from("\x00:%{}\ud800\udfff"),
    max_size=6,
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=_any_text, note=_any_text)
def test_any_text_is_stored_or_refused_with_nothing_written(
    redis_client: redis.Redis, name: str, note: str
) -> None:
    """Every str (NUL, empty, separators, lone surrogates...) either round-trips or is refused."""
    redis_client.flushdb()
    record = BadShop(region="eu", name=name, note=note)
    try:
        (name + note).encode()
    except UnicodeEncodeError:
        _refused(redis_client, record.save, ModelError, r"^BadShop\.(name|note): ")
        assert redis_client.dbsize() == 0
    else:
        record.save()
        assert BadShop.load("eu", name) == record


# -- records that are not whole -------------------------------------------------------------


def test_a_model_construct_record_missing_fields_is_refused(
    redis_client: redis.Redis, stored: BadShop
) -> None:
    # Before: KeyError 'cuisine' from save(), KeyError 'region' from delete().
    partial = BadNote.model_construct(k="n", size=1)
    _refused(
        redis_client,
        partial.save,
        ModelError,
        r"^BadNote\.save\(\): field\(s\) \['text'\] are not set \(model_construct\(\) "
        r"leaves required fields unset\); give them values, or build the record with "
        r"BadNote\(\.\.\.\)$",
    )
    keyless = BadShop.model_construct(note="x")
    match = r"^BadShop\.region: the key field is not set \(model_construct\(\) leaves required"
    for call in (keyless.delete, keyless.exists, lambda: keyless.redis_key):
        _refused(redis_client, call, ModelError, match)
    _refused(
        redis_client,
        keyless.save,
        ModelError,
        r"^BadShop\.save\(\): field\(s\) \['region', 'name'\]",
    )
    _refused(redis_client, lambda: arun(keyless.adelete()), ModelError, match)


def test_a_whole_model_construct_record_saves(redis_client: redis.Redis) -> None:
    values = BadShop(region="eu", name="built").model_dump()
    assert BadShop.model_construct(**values).save() == BadShop.load("eu", "built")


def test_save_many_refuses_what_is_not_a_record(redis_client: redis.Redis, stored: BadShop) -> None:
    # Before: AttributeError "'str' object has no attribute '__typedis_spec__'".
    good = BadShop(region="eu", name="good")
    _refused(
        redis_client,
        lambda: BadShop.save_many([good, "str"]),  # type: ignore[list-item]  # pyright: ignore[reportArgumentType]
        ModelError,
        r"^BadShop\.save_many\(\): takes BadShop records, got 'str' \[save_many\(\): the record "
        r"at position 1; nothing was written\]$",
    )
    _refused(
        redis_client,
        lambda: BadShop.save_many([BadCount(n=1)]),  # type: ignore[list-item]  # pyright: ignore[reportArgumentType]
        ModelError,
        r"^BadShop\.save_many\(\): takes BadShop records, got BadCount\(n=1\) \[save_many\(\): the "
        r"record at position 0;",
    )


def test_update_fields_that_are_not_a_list_of_fields_are_refused(
    redis_client: redis.Redis, stored: BadShop
) -> None:
    stored.rating = 5.0
    where = r"^BadShop\.save\(update_fields=\.\.\.\): "
    _refused(
        redis_client,
        lambda: stored.save(update_fields="rating"),
        ModelError,
        where + r"got the string 'rating'; pass a list of fields, update_fields=\['rating'\]$",
    )
    # Before: TypeError "'int' object is not iterable".
    number: Any = 5
    _refused(
        redis_client,
        lambda: stored.save(update_fields=number),
        ModelError,
        where + "pass a list of fields, got 5$",
    )
    _refused(
        redis_client,
        lambda: stored.save(update_fields=["rating", "nope"]),
        ModelError,
        where + r"unknown field\(s\) \['nope'\]$",
    )


# -- copies ---------------------------------------------------------------------------------


def test_a_copy_with_a_new_key_saves_as_a_new_record(
    redis_client: redis.Redis, stored: BadShop
) -> None:
    # Before: KeyMutationError "pass migrate_key=True to move the record" (which would have
    # moved the original away).
    copy = stored.model_copy(update={"name": "burrito", "email": "b@x"})
    assert copy.save() is copy
    assert BadShop.load("eu", "taco") == stored
    assert BadShop.load("eu", "burrito") == copy
    assert BadShop.count() == 2
    later = stored.model_copy(deep=True)
    later.name = "third"
    later.email = None
    arun(later.asave())
    assert BadShop.count() == 3
    assert BadShop.check_indexes()["total"] == 0


def test_a_copy_with_the_same_key_saves_over_the_record(
    redis_client: redis.Redis, stored: BadShop
) -> None:
    copy = stored.model_copy(update={"note": "changed"})
    copy.save()
    assert BadShop.load("eu", "taco").note == "changed"
    assert BadShop.count() == 1


def test_moving_a_saved_record_still_needs_migrate_key(
    redis_client: redis.Redis, stored: BadShop
) -> None:
    stored.name = "moved"
    match = r"pass migrate_key=True to move the record, or save a model_copy\(\) to keep both$"
    _refused(redis_client, stored.save, KeyMutationError, match)


# -- key values of the wrong type -----------------------------------------------------------


def test_a_key_value_of_the_wrong_type_names_model_and_field(
    redis_client: redis.Redis, stored: BadShop
) -> None:
    # Before: "1 validation error for str / Input should be a valid string" (no model, no field).
    for load in (lambda: BadShop.load("eu", 5), lambda: arun(BadShop.aload("eu", 5))):
        with pytest.raises(ValidationError) as caught:
            load()
        assert caught.value.title == "BadShop"
        (error,) = caught.value.errors()
        assert error["loc"] == ("name",)
        assert error["msg"] == "Input should be a valid string"
        assert str(caught.value).startswith("1 validation error for BadShop\nname\n")
    with pytest.raises(ValidationError) as caught:
        BadCount.load(n="many")
    assert caught.value.title == "BadCount"
    assert caught.value.errors()[0]["loc"] == ("n",)
    BadCount(n=7).save()
    assert BadCount.load(n="7").n == 7  # what pydantic coerces still loads


def test_a_value_longer_than_the_servers_bulk_limit_is_refused(
    own_conn: _connection.Connection, own_client: redis.Redis
) -> None:
    # proto-max-bulk-len is server-wide: on the suite's own server.
    own_client.config_set("proto-max-bulk-len", 1024 * 1024)
    # The server answers the oversized length with an error and closes the connection: the
    # client reads that error, or fails to send the rest of the request. Either way nothing ran.
    with pytest.raises((ServerRefused, ServerUnavailable), match="nothing was") as caught:
        BadNote(k="big", text="x" * (2 * 1024 * 1024), size=1).save()
    if isinstance(caught.value, ServerRefused):
        assert "proto-max-bulk-len" in str(caught.value)
    assert own_client.dbsize() == 0
    assert BadNote(k="small", text="x", size=1).save()  # the connection still works
