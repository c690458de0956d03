"""An ACL denial on a key the scripts derive (an index) is found before the first write."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

import typedis
from typedis import Indexed, Key, Model, _connection

TAG = "{td:AclShop}"


class AclShop(Model):
    name: Key[str]
    cuisine: Indexed[str]


@contextmanager
def connected_as(
    conn: typedis.Connection, admin: redis.Redis, user: str, *rules: str
) -> Iterator[None]:
    """typedis connected as a fresh ACL user with these rules, for the block's duration."""
    password = f"{user}-s3cret"
    admin.execute_command("ACL", "SETUSER", user, "reset", "on", f">{password}", "+@all", *rules)
    parts = urlsplit(conn.url)
    netloc = f"{user}:{password}@{parts.hostname}:{parts.port}"
    typedis.connect(urlunsplit((parts.scheme, netloc, parts.path, "", "")))
    try:
        yield
    finally:
        _connection.get_connection().close()
        admin.execute_command("ACL", "DELUSER", user)


@pytest.fixture
def restricted(conn: typedis.Connection, redis_client: redis.Redis) -> Iterator[None]:
    """typedis as a user who may write AclShop's records, but only read its value indexes."""
    rules = (f"~{TAG}:r:*", f"~{TAG}:all", f"~{TAG}:exp", f"%R~{TAG}:i:*", f"%R~{TAG}:l:*")
    with connected_as(conn, redis_client, "typedis-acl-test", *rules):
        yield


@pytest.fixture
def read_only(conn: typedis.Connection, redis_client: redis.Redis) -> Iterator[None]:
    """typedis as a user who may only read AclShop's keys."""
    with connected_as(conn, redis_client, "typedis-acl-ro", f"%R~{TAG}*"):
        yield


def test_a_denied_index_key_stops_the_save_before_any_write(
    restricted: None, redis_client: redis.Redis
) -> None:
    # Reading the index keys is allowed (so the type checks pass): the ACL check that the
    # scripts make before their first write is what refuses the save.
    pattern = r"ACL refused: typedis: the ACL user may not write key \{td:AclShop\}:(i|l):"
    with pytest.raises(typedis.PermissionDenied, match=pattern) as caught:
        AclShop(name="Chez", cuisine="fr").save()
    assert isinstance(caught.value, PermissionError)
    assert isinstance(caught.value.__cause__, redis.ResponseError)
    assert list(redis_client.scan_iter(match=f"{TAG}*")) == []


def test_the_same_user_can_save_once_the_index_keys_are_writable(
    restricted: None, redis_client: redis.Redis
) -> None:
    redis_client.execute_command("ACL", "SETUSER", "typedis-acl-test", f"~{TAG}:i:*", f"~{TAG}:l:*")
    AclShop(name="Chez", cuisine="fr").save()
    assert redis_client.sismember(f"{TAG}:i:cuisine:fr", "Chez")


def test_a_read_only_user_gets_permission_denied_and_nothing_is_written(
    redis_client: redis.Redis, conn: typedis.Connection, request: pytest.FixtureRequest
) -> None:
    AclShop(name="Kept", cuisine="fr").save()
    before = {key: redis_client.type(key) for key in redis_client.scan_iter(match=f"{TAG}*")}
    request.getfixturevalue("read_only")
    with pytest.raises(typedis.PermissionDenied):
        AclShop(name="Chez", cuisine="fr").save()
    with pytest.raises(typedis.PermissionDenied):
        AclShop.save_many([AclShop(name="A", cuisine="x"), AclShop(name="B", cuisine="y")])
    with pytest.raises(typedis.PermissionDenied):
        AclShop.load("Kept").delete()
    with pytest.raises(typedis.PermissionDenied):  # queries write scratch keys
        AclShop.query.filter(AclShop.cuisine == "fr").all()

    async def save_async() -> None:
        try:
            await AclShop(name="Async", cuisine="fr").asave()
        finally:
            await _connection.get_connection().aclose()

    with pytest.raises(typedis.PermissionDenied):
        asyncio.run(save_async())
    after = {key: redis_client.type(key) for key in redis_client.scan_iter(match=f"{TAG}*")}
    assert after == before
    assert redis_client.smembers(f"{TAG}:i:cuisine:fr") == {b"Kept"}


def test_other_server_errors_are_not_taken_for_denials(redis_client: redis.Redis) -> None:
    AclShop(name="Chez", cuisine="fr").save()
    redis_client.delete(f"{TAG}:i:cuisine:fr")
    redis_client.set(f"{TAG}:i:cuisine:fr", "not a set")
    with pytest.raises(typedis.CorruptRecord) as caught:  # a key of the wrong type
        AclShop(name="Chez", cuisine="fr").save()
    assert not isinstance(caught.value, typedis.PermissionDenied)
