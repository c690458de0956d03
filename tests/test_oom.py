"""Out of memory: at `maxmemory` with `noeviction`, on a server the suite starts itself (CONFIG
SET maxmemory acts on the whole server)."""

from __future__ import annotations

import pytest
import redis

from test_failures import assert_absent, assert_fully_stored, shop
from typedis._connection import Connection


def test_delete_works_when_out_of_memory(own_conn: Connection, own_client: redis.Redis) -> None:
    victims = [shop(i).save() for i in range(3)]
    newcomer = shop(99)
    filler = b"f" * 65536
    own_client.config_set("maxmemory-policy", "noeviction")
    used = int(own_client.info("memory")["used_memory"])
    own_client.config_set("maxmemory", used + 4 * 1024 * 1024)
    full = False
    for i in range(2000):
        try:
            own_client.set(f"filler:{i}", filler)
        except redis.OutOfMemoryError:
            full = True
            break
    assert full, "the server never reported out of memory"
    # Stay full whatever memory the deletes below free.
    used = int(own_client.info("memory")["used_memory"])
    own_client.config_set("maxmemory", max(1024 * 1024, used // 2))

    with pytest.raises(redis.OutOfMemoryError):
        newcomer.save()
    assert_absent(own_client, newcomer)

    for victim in victims:
        assert victim.delete() is True
        assert_absent(own_client, victim)
    with pytest.raises(redis.OutOfMemoryError):
        newcomer.save()
    assert_absent(own_client, newcomer)
    own_client.config_set("maxmemory", 0)
    own_client.flushdb()
    assert newcomer.save() is newcomer  # works again once memory is back
    assert_fully_stored(own_client, newcomer)
