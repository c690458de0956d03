"""How the checkers see queries across partitions and shards: ``across_partitions()``,
``aexplain()`` and the ``shards=`` class keyword."""

from __future__ import annotations

from typing import assert_type

from typedis import Indexed, Key, Model, Sorted, field
from typedis.query import Query


class Tenant(Model, partition="org"):
    org: Key[str]
    name: Key[str]
    kind: Indexed[str] = field(default="a")
    score: Sorted[int] = field(default=0)


class Event(Model, shards=16):
    id: Key[str]
    score: Sorted[int] = field(default=0)


spread = Tenant.query.across_partitions().filter(Tenant.kind == "a")
assert_type(spread, Query[Tenant])
assert_type(spread.order_by(Tenant.score.desc()).limit(10).all(), list[Tenant])
assert_type(Tenant.query.filter(Tenant.org.in_(["x", "y"])).count(), int)
assert_type(Event.query.order_by(Event.score.desc()).first(), Event | None)
assert_type(spread.explain(), str)


async def explained() -> None:
    assert_type(await spread.aexplain("count"), str)


class Wrong(Model, shards="16"):  # E[pyright]: an int; mypy skips class keywords
    id: Key[str]
