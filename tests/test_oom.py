"""Out of memory: at `maxmemory` with `noeviction`, writes raise `ServerFull` and write nothing;
reads, queries, `delete()` and `sweep_expired()` keep working, also after the function library
has to be loaded again. On Valkey and on Redis 7.0, both servers the suite starts itself
(CONFIG SET maxmemory acts on the whole server)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis

import typedis
from typedis import Indexed, Key, Model, ServerFull, Sorted, _lua, field

TAG = "{td:OomShop}"


class OomShop(Model):
    name: Key[str]
    cuisine: Indexed[str]
    area: Indexed[str] = "north"
    rating: Sorted[float] = field(default=0.0)
    visits: Sorted[int] = field(default=0)


@pytest.fixture(params=["valkey", "redis"])
def server(request: pytest.FixtureRequest) -> Iterator[redis.Redis]:
    """A raw client on a blank server of the suite's own; typedis connected to it."""
    url: str = request.getfixturevalue(
        "own_server" if request.param == "valkey" else "own_redis_server"
    )
    client = redis.Redis.from_url(url, socket_timeout=10)  # pyright: ignore[reportUnknownMemberType]
    client.config_set("maxmemory", 0)
    client.config_set("maxmemory-policy", "noeviction")
    client.flushall()
    client.execute_command("FUNCTION", "FLUSH")
    client.script_flush()
    conn = typedis.connect(url)
    yield client
    conn.close()
    client.config_set("maxmemory", 0)
    client.flushall()
    client.close()


def fill(client: redis.Redis) -> None:
    """Fill the server up to `maxmemory`, then lower it so that it stays full whatever the
    deletes below free."""
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", used + 4 * 1024 * 1024)
    filler = b"f" * 65536
    with pytest.raises(redis.OutOfMemoryError):  # the server must report out of memory
        for i in range(2000):
            client.set(f"filler:{i}", filler)
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", max(1024 * 1024, used // 2))


def stored(client: redis.Redis, name: str) -> bool:
    return bool(client.exists(f"{TAG}:r:{name}") or client.sismember(f"{TAG}:all", name))


def shops() -> list[OomShop]:
    return [
        OomShop(name=f"s{i}", cuisine="Thai" if i % 2 else "Lao", rating=i, visits=10 - i)
        for i in range(6)
    ]


def test_writes_raise_server_full_and_write_nothing(server: redis.Redis) -> None:
    kept = shops()[0].save()
    fill(server)
    newcomer = OomShop(name="new", cuisine="Thai")
    with pytest.raises(ServerFull, match="out of memory") as caught:
        newcomer.save()
    assert isinstance(caught.value.__cause__, redis.OutOfMemoryError)
    assert isinstance(caught.value, typedis.ServerRefused)
    with pytest.raises(ServerFull):
        OomShop.save_many([OomShop(name="b1", cuisine="Lao"), OomShop(name="b2", cuisine="Lao")])
    with pytest.raises(ServerFull):
        kept.atomic_increment("visits", 1)
    assert not any(stored(server, name) for name in ("new", "b1", "b2"))
    assert OomShop.load("s0").visits == kept.visits == 10
    server.config_set("maxmemory", 0)
    assert newcomer.save() is newcomer  # works again once memory is back
    assert OomShop.load("new").cuisine == "Thai"


def test_reads_and_every_query_shape_keep_working(server: redis.Redis) -> None:
    OomShop.save_many(shops())
    fill(server)
    q = OomShop.query
    thai = q.filter(OomShop.cuisine == "Thai")
    assert OomShop.load("s1").rating == 1.0
    assert [s.name for s in thai.order_by(OomShop.rating).all()] == ["s1", "s3", "s5"]
    assert thai.filter(OomShop.area == "north").count() == 3  # and: an intersection
    either = q.filter((OomShop.cuisine == "Thai") | (OomShop.rating < 1))  # or: a union
    assert either.count() == 4
    assert q.filter(OomShop.rating > 2).order_by(OomShop.visits.desc()).first() is not None
    weighted = (OomShop.rating * 0.5 + OomShop.visits * 0.5).desc()  # the rank stage
    assert len(thai.order_by(weighted).limit(2).all()) == 2
    assert [s.name for s in q.order_by(OomShop.rating.desc()).limit(1).all()] == ["s5"]
    assert server.keys(f"{TAG}:q:*") == []  # the scratch keys are gone
    assert q.count(exact=False) == 6 and thai.count(exact=False) == 3
    # Not by luck: without the flag, a server at maxmemory refuses a script's first
    # memory-growing command unless it has written before (the scratch helper's DEL does).
    query = _lua.library(OomShop.__typedis_spec__).function("query")
    assert "_query', flags = {'allow-oom'}" in query.source
    assert query.fallback is not None
    assert query.fallback.text.startswith("#!lua flags=allow-oom\n")


def test_delete_and_sweep_keep_working_after_the_library_is_pruned(server: redis.Redis) -> None:
    OomShop.save_many(shops())
    for name in ("s4", "s5"):
        OomShop.load(name).save(update_fields=[], expire_at=datetime.now(UTC) - timedelta(1))
    fill(server)
    assert typedis.prune_functions() != []  # as a deploy of other code would leave it
    with pytest.raises(redis.OutOfMemoryError):  # the server refuses to load the library
        server.execute_command(
            "FUNCTION", "LOAD", "#!lua name=x\nredis.register_function('x', tostring)"
        )
    assert OomShop.load("s1").name == "s1"  # reads run the function's code as a script
    assert OomShop.load("s0").delete() is True
    assert not stored(server, "s0")
    assert OomShop.sweep_expired() == 2
    assert not stored(server, "s4") and not stored(server, "s5")
    assert OomShop.query.count() == 3  # queries too run the function's code as a script
    assert OomShop.count(exact=False) == 3
    assert [s.name for s in OomShop.query.filter(OomShop.cuisine == "Thai").all()] == ["s1", "s3"]
    with pytest.raises(ServerFull):
        OomShop(name="new", cuisine="Thai").save()
    with pytest.raises(ServerFull):  # a batch: the library's load is refused, not retried
        OomShop.save_many([OomShop(name="b1", cuisine="Lao"), OomShop(name="b2", cuisine="Lao")])
    assert not any(stored(server, name) for name in ("new", "b1", "b2"))
    assert OomShop.check_indexes()["total"] == 0
