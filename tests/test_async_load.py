"""Async under load: more concurrent calls than the pool has connections wait for one, each
`asyncio.run()` gets clients of its own loop, and a cancelled write is `OutcomeUnknown`."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
import redis

import typedis
from typedis import Indexed, Key, Model, OutcomeUnknown, Sorted, field
from typedis._connection import Connection, get_connection


class AlShop(Model):
    name: Key[str]
    cuisine: Indexed[str]
    rating: Sorted[float] = field(default=0.0)


T = TypeVar("T")


def shop(i: int) -> AlShop:
    return AlShop(name=f"s{i}", cuisine=("Thai", "Lao")[i % 2], rating=i)


async def _closing(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work``, then close the asyncio clients of the loop."""
    try:
        return await work
    finally:
        await get_connection().aclose()


def test_150_concurrent_saves_and_300_loads_all_succeed(redis_client: redis.Redis) -> None:
    async def saves() -> list[AlShop]:
        return await asyncio.gather(*(shop(i).asave() for i in range(150)))

    async def loads() -> list[AlShop]:
        return await asyncio.gather(*(AlShop.aload(f"s{i % 150}") for i in range(300)))

    assert len(asyncio.run(_closing(saves()))) == 150
    assert redis_client.scard("{td:AlShop}:all") == 150
    loaded = asyncio.run(_closing(loads()))
    assert [r.name for r in loaded] == [f"s{i % 150}" for i in range(300)]
    assert AlShop.check_indexes()["total"] == 0


def test_calls_wait_for_a_connection_of_a_small_pool(conn: Connection) -> None:
    small = typedis.connect(conn.url, max_connections=2)

    async def work() -> int:
        saved = await asyncio.gather(*(shop(i).asave() for i in range(40)))
        query = AlShop.query
        found = await asyncio.gather(
            *(query.filter(AlShop.rating >= i).acount() for i in range(40))
        )
        assert small.awriter.connection_pool.max_connections == 2
        return len(saved) + sum(found)

    assert asyncio.run(_closing(work())) == 40 + sum(range(1, 41))
    small.close()


def test_asyncio_run_twice_in_one_process(conn: Connection) -> None:
    shop(1).save()

    async def main() -> str:
        await shop(2).asave()
        return (await AlShop.aload("s1")).name  # no aclose(): the loop ends with open clients

    assert asyncio.run(main()) == "s1"
    assert asyncio.run(main()) == "s1"  # a new loop: new clients, not the closed loop's
    assert AlShop.query.count() == 2
    gc.collect()  # each loop closed its clients as it ended: no unclosed connection to warn of


def test_a_cancelled_write_is_outcome_unknown(
    own_conn: Connection, own_client: redis.Redis
) -> None:
    record = shop(1).save()

    async def scenario() -> None:
        await record.asave()  # connected, library loaded
        own_client.execute_command("CLIENT", "PAUSE", 500, "WRITE")  # the write cannot answer
        with pytest.raises(OutcomeUnknown, match="cancelled") as caught:
            async with asyncio.timeout(0.05):
                await shop(2).asave()
        assert isinstance(caught.value.__cause__, asyncio.CancelledError)
        with pytest.raises(OutcomeUnknown, match="cancelled"):
            await asyncio.wait_for(shop(3).asave(), 0.05)
        with pytest.raises(TimeoutError):  # a read has no outcome to report
            await asyncio.wait_for(AlShop.query.filter(AlShop.rating > 0).acount(), 0)
        own_client.execute_command("CLIENT", "UNPAUSE")

    asyncio.run(_closing(scenario()))
    assert {s.name for s in AlShop.query.all()} <= {"s1", "s2", "s3"}
    assert AlShop.check_indexes()["total"] == 0
