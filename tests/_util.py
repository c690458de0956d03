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
