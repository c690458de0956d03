"""An ACL denial on a key the scripts derive (an index) is found before the first write."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

import typedis
from typedis import Indexed, Key, Model, _connection

TAG = "{td:AclShop}"


class AclShop(Model):
    name: Key[str]
    cuisine: Indexed[str]


@pytest.fixture
def restricted(conn: typedis.Connection, redis_client: redis.Redis) -> Iterator[None]:
    """typedis as a user who may write AclShop's records, but only read its value indexes."""
    user, password = "typedis-acl-test", "s3cret-acl"
    redis_client.execute_command(
        "ACL", "SETUSER", user, "reset", "on", f">{password}", "+@all",
        f"~{TAG}:r:*", f"~{TAG}:all", f"~{TAG}:exp", f"%R~{TAG}:i:*", f"%R~{TAG}:l:*",
    )  # fmt: skip
    parts = urlsplit(conn.url)
    netloc = f"{user}:{password}@{parts.hostname}:{parts.port}"
    typedis.connect(urlunsplit((parts.scheme, netloc, parts.path, "", "")))
    try:
        yield
    finally:
        _connection.get_connection().close()
        redis_client.execute_command("ACL", "DELUSER", user)


def test_a_denied_index_key_stops_the_save_before_any_write(
    restricted: None, redis_client: redis.Redis
) -> None:
    # Reading the index keys is allowed (so the type checks pass): the ACL check that the
    # scripts make before their first write is what refuses the save.
    with pytest.raises(redis.ResponseError, match=r"may not write key \{td:AclShop\}:(i|l):"):
        AclShop(name="Chez", cuisine="fr").save()
    assert list(redis_client.scan_iter(match=f"{TAG}*")) == []


def test_the_same_user_can_save_once_the_index_keys_are_writable(
    restricted: None, redis_client: redis.Redis
) -> None:
    redis_client.execute_command("ACL", "SETUSER", "typedis-acl-test", f"~{TAG}:i:*", f"~{TAG}:l:*")
    AclShop(name="Chez", cuisine="fr").save()
    assert redis_client.sismember(f"{TAG}:i:cuisine:fr", "Chez")
