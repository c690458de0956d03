"""How mypy --strict and pyright strict see a change log, its consumer and its events."""

from __future__ import annotations

from typing import assert_type

from pydantic import BaseModel

from typedis import Change, ChangeLog, ChangeStream, Key, Model, PendingChange


class Order(Model, changes=True):
    id: Key[str]
    total: int = 0


class Audit(Model, changes=ChangeStream(maxlen=10_000, approximate=False)):
    id: Key[str]


class Line(BaseModel):
    sku: str


log = ChangeLog(Order, "billing", "worker-1")
assert_type(log, ChangeLog[Order])
assert_type(ChangeLog(Audit, "audit", "w", partition=()), ChangeLog[Audit])
assert_type(log.create_group(), bool)
assert_type(log.ack(), int)
assert_type(log.pending(), list[PendingChange])
for change in log.read(count=10, timeout=1.0):
    assert_type(change, Change[Order])
    assert_type(change.record, Order | None)
    assert_type(change.fields, tuple[str, ...])
    log.ack(change)
assert_type(log.claim(min_idle=60.0), list[Change[Order]])

ChangeLog(Line, "g", "w")  # E: a change log is a typedis model's
log.ack(Change("1-0", "create", "k", "i", (), Audit(id="x")))  # E: an event of another model
ChangeLog(Order, "g", "w", on_error=lambda event: None)  # E: on_error takes the entry too


async def consume() -> None:
    assert_type(await log.acreate_group(), bool)
    assert_type(await log.aread(), list[Change[Order]])
    assert_type(await log.aclaim(0), list[Change[Order]])
    assert_type(await log.apending(), list[PendingChange])
    assert_type(await log.aack("1-0"), int)
