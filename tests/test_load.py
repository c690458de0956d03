"""Reads by key: a model without ttl or read hooks loads a record with one plain HMGET, and the
load script only for a record that holds an expiry; both read the same records the same way."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from test_codec import CodecAll, all_values, fixture_ok, same, texts
from typedis import CorruptRecord, Indexed, Key, Model, NotFound, Sorted, _keys, _scripts, _store
from typedis._connection import get_connection


class LdShop(Model):
    name: Key[str]
    cuisine: Indexed[str]
    rating: Sorted[float] = 0.0


class LdTtlShop(Model, ttl=3600):
    name: Key[str]
    rating: float = 0.0


def _located(model: type[Model], *key: Any) -> tuple[str, str]:
    spec = model.__typedis_spec__
    return spec.locate(spec.key_values(key, {}))


@given(texts | st.text())
def test_a_str_key_locates_as_the_spec_locates_it(value: str) -> None:
    """``load()``'s shortcut for one str key gives the (tag, id) of the general path."""
    spec = LdShop.__typedis_spec__
    assert LdShop._locate_key((value,), {}) == spec.locate(spec.key_values((value,), {}))


def test_which_models_read_without_the_script() -> None:
    assert _store.load_one_call(LdShop, _located(LdShop, "a")).code is _scripts.HMGET
    assert _store.load_one_call(LdTtlShop, _located(LdTtlShop, "a")).code is not _scripts.HMGET


@fixture_ok
@given(all_values)
def test_plain_read_equals_the_script_read(
    redis_client: redis.Redis, values: dict[str, Any]
) -> None:
    """For every type the codec stores, one HMGET decodes to what the load script returns."""
    redis_client.flushdb()
    CodecAll(id="r", **values).save()
    located = _located(CodecAll, "r")
    plain = _scripts.run(_store.load_one_call(CodecAll, located))
    script = _scripts.run(_store.load_call(CodecAll, [located]))[0]
    assert plain is not None and script is not None
    for name in CodecAll.model_fields:
        assert same(getattr(plain, name), getattr(script, name)), name
    assert _store.saved_at(plain) == _store.saved_at(script) == located


def test_a_record_with_an_expiry_is_read_by_the_script(redis_client: redis.Redis) -> None:
    soon = LdShop(name="soon", cuisine="Thai", rating=1.0).save(ttl=3600)
    gone = LdShop(name="gone", cuisine="Thai").save(
        expire_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    assert redis_client.hexists(gone.redis_key, _keys.EXPIRES)  # stored, not yet swept
    assert LdShop.load("soon") == soon
    with pytest.raises(NotFound):
        LdShop.load("gone")
    assert soon.refresh() is soon and soon.exists()
    assert not gone.exists()
    assert LdShop.query.get(LdShop.name == "soon") == soon
    with pytest.raises(NotFound):
        LdShop.query.get(LdShop.name == "gone")


def test_a_record_expiring_while_stored_is_hidden(redis_client: redis.Redis) -> None:
    LdShop(name="brief", cuisine="Thai").save(ttl=0.05)
    assert LdShop.load("brief").name == "brief"
    time.sleep(0.1)
    with pytest.raises(NotFound):
        LdShop.load("brief")


def test_async_reads_take_the_same_paths(redis_client: redis.Redis) -> None:
    plain = LdShop(name="plain", cuisine="Thai").save()
    timed = LdShop(name="timed", cuisine="Lao").save(ttl=3600)
    LdShop(name="gone", cuisine="Lao").save(expire_at=datetime.now(UTC) - timedelta(seconds=1))

    async def reads() -> tuple[Any, ...]:
        try:
            found = (await LdShop.aload("plain"), await LdShop.aload("timed"))
            with pytest.raises(NotFound):
                await LdShop.aload("gone")
            return (*found, await timed.aexists(), await LdShop.query.aget(LdShop.name == "plain"))
        finally:
            await get_connection().aclose()

    assert asyncio.run(reads()) == (plain, timed, True, plain)


def test_run_many_follows_a_call_asked_for_instead(redis_client: redis.Redis) -> None:
    LdShop(name="plain", cuisine="Thai").save()
    LdShop(name="timed", cuisine="Lao").save(ttl=3600)
    calls = [_store.load_one_call(LdShop, _located(LdShop, n)) for n in ("plain", "timed", "no")]
    found = _scripts.run_many(calls)
    assert [r.name if r else None for r in found] == ["plain", "timed", None]


def test_a_missing_or_damaged_record_by_plain_read(redis_client: redis.Redis) -> None:
    shop = LdShop(name="taco", cuisine="Thai").save()
    redis_client.hset(shop.redis_key, _keys.EXPIRES, "soon")
    with pytest.raises(CorruptRecord) as caught:
        LdShop.load("taco")
    assert (caught.value.model, caught.value.field) == ("LdShop", _keys.EXPIRES)
    redis_client.delete(shop.redis_key)
    redis_client.set(shop.redis_key, "not a hash")
    with pytest.raises(CorruptRecord) as caught:
        LdShop.load("taco")
    error = caught.value
    assert (error.model, error.key, error.field) == ("LdShop", shop.redis_key, None)
    assert "another Redis type than a hash" in str(error)
    assert isinstance(error.__cause__, redis.ResponseError)
    redis_client.delete(shop.redis_key)
    with pytest.raises(NotFound):
        LdShop.load("taco")


def test_a_rebuilt_model_reads_with_its_new_validator(redis_client: redis.Redis) -> None:
    LdShop(name="a", cuisine="Thai").save()
    before = _store.reader(LdShop)
    assert _store.reader(LdShop) is before  # built once per model
    LdShop.model_rebuild(force=True)
    assert _store.reader(LdShop) is not before
    assert LdShop.load("a") == LdShop(name="a", cuisine="Thai")
