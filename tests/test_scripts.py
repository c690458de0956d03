"""Server-side code the server lacks is loaded on demand, once, and nothing runs twice.

FUNCTION FLUSH, SCRIPT FLUSH and prune_functions() act on the whole server: every test here
runs on the suite's own server (`own_conn`)."""

from __future__ import annotations

from typing import Any

import pytest
import redis

import typedis
from typedis import Indexed, Key, Model, Sorted, _lua
from typedis._connection import Connection


class ScrShop(Model):
    name: Key[str]
    cuisine: Indexed[str]
    rating: Sorted[float]


@pytest.fixture
def packets(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every packet the sync redis-py connections send."""
    sent: list[bytes] = []
    original = redis.connection.Connection.send_packed_command

    def spy(self: redis.connection.Connection, command: Any, check_health: bool = True) -> None:
        chunks = [command] if isinstance(command, str | bytes) else list(command)
        sent.append(b"".join(c.encode() if isinstance(c, str) else bytes(c) for c in chunks))
        original(self, chunks, check_health)

    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", spy)
    return sent


def test_a_missing_function_library_is_loaded_and_the_save_applied_once(
    own_conn: Connection, own_client: redis.Redis, packets: list[bytes]
) -> None:
    own_client.execute_command("FUNCTION", "FLUSH")
    ScrShop(name="a", cuisine="Thai", rating=1.0).save().atomic_increment("rating", 1.0)
    assert ScrShop.load("a").rating == 2.0
    assert sum(p.count(b"\r\nLOAD\r\n") for p in packets) == 1
    assert ScrShop.check_indexes()["total"] == 0


def test_a_batch_loads_a_missing_library_once(
    own_conn: Connection, own_client: redis.Redis, packets: list[bytes]
) -> None:
    own_client.execute_command("FUNCTION", "FLUSH")
    ScrShop.save_many([ScrShop(name=f"s{i}", cuisine="Lao", rating=i) for i in range(100)])
    assert sum(p.count(b"\r\nLOAD\r\n") for p in packets) == 1
    assert ScrShop.query.count() == 100
    assert ScrShop.check_indexes()["total"] == 0


def test_a_query_loads_a_flushed_library_again(
    own_conn: Connection, own_client: redis.Redis
) -> None:
    ScrShop(name="a", cuisine="Thai", rating=1.0).save()
    own_client.execute_command("FUNCTION", "FLUSH")  # queries are functions of the library
    assert [s.name for s in ScrShop.query.filter(ScrShop.cuisine == "Thai").all()] == ["a"]
    assert _lua.library(ScrShop.__typedis_spec__).name in _libraries(own_client)
    own_client.execute_command("FUNCTION", "FLUSH")
    assert ScrShop.query.filter(ScrShop.rating > 0).count() == 1


class ScrOther(Model):
    name: Key[str]


def _libraries(client: redis.Redis) -> set[str]:
    listed: list[dict[bytes, Any]] = client.execute_command("FUNCTION", "LIST")
    return {entry[b"library_name"].decode() for entry in listed}


def test_prune_functions_keeps_the_given_models_and_other_libraries(
    own_conn: Connection, own_client: redis.Redis
) -> None:
    ScrShop(name="a", cuisine="Thai", rating=1.0).save()
    ScrOther(name="b").save()
    stale = "td_00000000000000000000"
    for library in (stale, "not_typedis"):
        code = f"redis.register_function('{library}_f', function() return 1 end)"
        own_client.execute_command("FUNCTION", "LOAD", "REPLACE", f"#!lua name={library}\n{code}")
    shop = _lua.library(ScrShop.__typedis_spec__).name
    other = _lua.library(ScrOther.__typedis_spec__).name
    try:
        pruned = typedis.prune_functions(ScrShop)
        assert stale in pruned and other in pruned and shop not in pruned
        left = _libraries(own_client)
        assert shop in left and "not_typedis" in left
        assert not {stale, other} & left
        assert typedis.prune_functions(ScrShop) == []
        # a client whose library was pruned loads it again on its next call
        ScrOther(name="c").save()
        assert ScrOther.load("b").name == "b" and ScrOther.query.count() == 2
        assert other in _libraries(own_client)
    finally:
        own_client.execute_command("FUNCTION", "DELETE", "not_typedis")
