"""The registry of partitions: sweep_expired() visits the partitions it lists, without SCAN."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import redis

import typedis
from _acl import as_user
from typedis import Key, Model, _keys, _maintenance

REGISTRY = _keys.partitions("RgNote")


class RgNote(Model, partition="agent"):
    agent: Key[str]
    name: Key[str]
    text: str = ""


def tags(*agents: str) -> set[bytes]:
    return {_keys.tag("RgNote", [a]).encode() for a in agents}


def scans(client: redis.Redis) -> int:
    stats: dict[str, Any] = client.info("commandstats")  # pyright: ignore[reportUnknownMemberType, reportAssignmentType]
    return int(stats.get("cmdstat_scan", {}).get("calls", 0))


def expire_soon(*agents: str) -> None:
    for agent in agents:
        RgNote(agent=agent, name="n").save(ttl=0.001)
    time.sleep(0.01)


def test_a_first_save_registers_its_partition_once(redis_client: redis.Redis) -> None:
    RgNote(agent="a", name="1").save()
    RgNote(agent="a:b", name="1").save()
    RgNote.save_many([RgNote(agent="c", name=str(i)) for i in range(3)])
    asyncio.run(RgNote(agent="d", name="1").asave())
    assert redis_client.smembers(REGISTRY) == tags("a", "a:b", "c", "d")
    redis_client.srem(REGISTRY, *tags("a"))
    RgNote(agent="a", name="2").save()  # this connection registered it already: no command
    assert redis_client.smembers(REGISTRY) == tags("a:b", "c", "d")


def test_sweep_reads_the_registry_without_scan(
    own_conn: typedis.Connection, own_client: redis.Redis
) -> None:
    expire_soon("a", "b")
    RgNote(agent="c", name="kept").save()
    own_client.config_resetstat()
    assert RgNote.sweep_expired() == 2
    assert scans(own_client) == 0
    assert RgNote.count("c") == 1


def test_an_absent_registry_is_found_by_scan_once(
    own_conn: typedis.Connection, own_client: redis.Redis
) -> None:
    """Partitions written before the registry existed: the first sweep SCANs and registers."""
    expire_soon("a", "b")
    own_client.delete(REGISTRY)
    own_client.config_resetstat()
    assert RgNote.sweep_expired() == 2
    assert scans(own_client) > 0
    assert own_client.smembers(REGISTRY) == tags("a", "b")
    own_client.config_resetstat()
    expire_soon("a")
    assert RgNote.sweep_expired() == 1
    assert scans(own_client) == 0


def test_check_indexes_counts_partitions_the_registry_lacks(redis_client: redis.Redis) -> None:
    RgNote(agent="a", name="1").save()
    RgNote(agent="b", name="1").save()
    assert RgNote.check_indexes()["total"] == 0
    redis_client.srem(REGISTRY, *tags("a"))
    report = RgNote.check_indexes()
    assert (report["partitions"], report["total"]) == (1, 1)


def test_delete_all_keeps_the_registry(redis_client: redis.Redis) -> None:
    """A client that remembers a partition does not register it again: the registry stays."""
    RgNote(agent="a", name="1").save()
    assert RgNote.delete_all() == 1
    assert redis_client.smembers(REGISTRY) == tags("a")
    expire_soon("a")
    assert RgNote.sweep_expired() == 1
    assert _maintenance.partitions(RgNote.__typedis_spec__) == [_keys.tag("RgNote", ["a"])]


def test_a_user_who_may_not_register_writes_nothing(
    own_conn: typedis.Connection, own_client: redis.Redis, own_server: str
) -> None:
    """Without write access to the registry, the first save of a partition is refused before
    anything is written (the save is not sent)."""
    with (
        as_user(own_server, own_client, "no-registry", "~{td:RgNote:a}*"),
        pytest.raises(typedis.PermissionDenied, match="ACL"),
    ):
        RgNote(agent="a", name="1").save()
    assert own_client.keys() == []
    with as_user(own_server, own_client, "registers", "~{td:RgNote:a}*", f"%W~{REGISTRY}"):
        RgNote(agent="a", name="1").save()
    assert own_client.smembers(REGISTRY) == tags("a")
