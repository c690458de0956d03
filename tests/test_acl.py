"""An ACL denial on a key the scripts derive (an index) is found before the first write.

ACL SETUSER changes the server for every client, so these tests run on the suite's own server
(``own_conn``), never on the one REDIS_URL names.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis

import typedis
from _acl import as_user
from _util import dumped
from typedis import Indexed, Key, Model, _connection

TAG = "{td:AclShop}"


class AclShop(Model):
    name: Key[str]
    cuisine: Indexed[str]


@pytest.fixture
def admin(own_conn: typedis.Connection, own_client: redis.Redis) -> redis.Redis:
    """A raw client on the suite's own server, as the default user; typedis points there too."""
    return own_client


@pytest.fixture
def restricted(own_conn: typedis.Connection, admin: redis.Redis) -> Iterator[None]:
    """typedis as a user who may write AclShop's records, but only read its value indexes."""
    rules = (f"~{TAG}:r:*", f"~{TAG}:all", f"~{TAG}:exp", f"%R~{TAG}:i:*", f"%R~{TAG}:l:*")
    with as_user(own_conn.url, admin, "typedis-acl-test", *rules):
        yield


@pytest.fixture
def read_only(own_conn: typedis.Connection, admin: redis.Redis) -> Iterator[None]:
    """typedis as a user who may only read AclShop's keys."""
    with as_user(own_conn.url, admin, "typedis-acl-ro", f"%R~{TAG}*"):
        yield


def test_a_denied_index_key_stops_the_save_before_any_write(
    restricted: None, admin: redis.Redis
) -> None:
    # Reading the index keys is allowed (so the type checks pass): the ACL check that the
    # scripts make before their first write is what refuses the save.
    pattern = r"ACL refused: typedis: the ACL user may not write key \{td:AclShop\}:(i|l):"
    with pytest.raises(typedis.PermissionDenied, match=pattern) as caught:
        AclShop(name="Chez", cuisine="fr").save()
    assert isinstance(caught.value, PermissionError)
    assert isinstance(caught.value.__cause__, redis.ResponseError)
    assert list(admin.scan_iter(match=f"{TAG}*")) == []


def test_the_same_user_can_save_once_the_index_keys_are_writable(
    restricted: None, admin: redis.Redis
) -> None:
    admin.execute_command("ACL", "SETUSER", "typedis-acl-test", f"~{TAG}:i:*", f"~{TAG}:l:*")
    AclShop(name="Chez", cuisine="fr").save()
    assert admin.sismember(f"{TAG}:i:cuisine:fr", "Chez")


def test_a_read_only_user_gets_permission_denied_and_nothing_is_written(
    admin: redis.Redis, request: pytest.FixtureRequest
) -> None:
    AclShop(name="Kept", cuisine="fr").save()
    before = {key: admin.type(key) for key in admin.scan_iter(match=f"{TAG}*")}
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
    after = {key: admin.type(key) for key in admin.scan_iter(match=f"{TAG}*")}
    assert after == before
    assert admin.smembers(f"{TAG}:i:cuisine:fr") == {b"Kept"}


def test_other_server_errors_are_not_taken_for_denials(admin: redis.Redis) -> None:
    AclShop(name="Chez", cuisine="fr").save()
    admin.delete(f"{TAG}:i:cuisine:fr")
    admin.set(f"{TAG}:i:cuisine:fr", "not a set")
    with pytest.raises(typedis.CorruptRecord) as caught:
        AclShop(name="Chez", cuisine="fr").save()
    assert not isinstance(caught.value, typedis.PermissionDenied)


@pytest.mark.parametrize("server", ["own_server", "own_redis_server"])
def test_a_command_denied_inside_a_script_is_permission_denied(
    request: pytest.FixtureRequest, server: str
) -> None:
    # Each server words this denial its own way (Redis 7.0: "The user executing the script
    # can't run this command or subcommand").
    url: str = request.getfixturevalue(server)
    admin = redis.Redis.from_url(url)  # pyright: ignore[reportUnknownMemberType]
    try:
        admin.flushall()
        admin.execute_command("FUNCTION", "FLUSH")
        typedis.connect(url)
        AclShop(name="Chez", cuisine="fr").save()  # loads the library as the default user
        before = dumped(admin)
        with (
            as_user(url, admin, "typedis-acl-nohset", "~*", "-hset"),
            pytest.raises(typedis.PermissionDenied) as caught,
        ):
            AclShop(name="Bistro", cuisine="fr").save()
        assert isinstance(caught.value.__cause__, redis.ResponseError)
        assert dumped(admin) == before
    finally:
        admin.execute_command("ACL", "DELUSER", "typedis-acl-nohset")
        admin.flushall()
        admin.close()
