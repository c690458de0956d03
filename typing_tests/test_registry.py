"""The registry of models and the sweeper, as the type checkers see them."""

from __future__ import annotations

import asyncio
from typing import assert_type

import typedis
from typedis import AsyncSweeper, Key, Model, RegisteredModel, Sweeper


class Order(Model, name="shop.Order", ttl=60):
    number: Key[int]


class BadName(Model, name=3):  # E[pyright]: mypy checks no class keywords under a metaclass
    number: Key[int]


listed = typedis.models()
assert_type(listed, tuple[RegisteredModel, ...])
first = listed[0]
assert_type(first.model, type[Model])
assert_type(first.name, str)
assert_type(first.keys, str)
assert_type(first.partition, tuple[str, ...])
assert_type(first.ttl, float | None)

sweeper = typedis.start_sweeper(every=30, models=[Order])
assert_type(sweeper, Sweeper)
assert_type(sweeper.removed, int)
assert_type(sweeper.running, bool)
sweeper.stop(timeout=5)
with typedis.start_sweeper() as running:
    assert_type(running, Sweeper)
typedis.start_sweeper(models=[Order(number=1)])  # E: instances, not model classes
typedis.start_sweeper(every="60")  # E: every is a number of seconds


async def main() -> None:
    async with typedis.astart_sweeper(every=1) as task:
        assert_type(task, AsyncSweeper)
        assert_type(task.rounds, int)
    await typedis.astart_sweeper().stop()


asyncio.run(main())
