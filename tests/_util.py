"""Small helpers shared by test files."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import redis

from typedis import _connection

T = TypeVar("T")


def arun(call: Coroutine[Any, Any, T]) -> T:
    """Run one asyncio call on a loop of its own, closing the clients bound to that loop."""

    async def body() -> T:
        try:
            return await call
        finally:
            await _connection.get_connection().aclose()

    return asyncio.run(body())


def dumped(client: redis.Redis) -> dict[Any, Any]:
    """Every key of the client's database with its DUMP (type and value): equal before and
    after a call means the call wrote nothing."""
    return {key: client.dump(key) for key in client.scan_iter()}


def command_calls(client: Any) -> dict[str, int]:
    """Calls per command that did not fail (INFO commandstats, ``cmdstat_`` stripped), summed
    over every primary on a cluster; commands a script runs count too. Failed calls (an FCALL
    refused by a node that lacks the library, before it is loaded there) are left out."""
    if isinstance(client, redis.RedisCluster):
        per_node = client.info("commandstats", target_nodes=redis.RedisCluster.PRIMARIES)
        nodes: list[dict[str, Any]] = list(per_node.values())
    else:
        nodes = [client.info("commandstats")]
    total: dict[str, int] = {}
    for stats in nodes:
        for name, v in stats.items():
            command = name.removeprefix("cmdstat_")
            total[command] = total.get(command, 0) + int(v["calls"]) - int(v.get("failed_calls", 0))
    return total
