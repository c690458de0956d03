"""How mypy --strict and pyright strict see Channel, its subscriptions and their messages."""

from __future__ import annotations

from typing import assert_type

from pydantic import BaseModel

from typedis import AsyncSubscription, Channel, Key, Model, Subscription


class Line(BaseModel):
    sku: str


class Shop(Model):
    name: Key[str]


lines = Channel(Line, "lines")
assert_type(lines, Channel[Line])
assert_type(Channel(Shop, "shops"), Channel[Shop])
assert_type(lines.publish(Line(sku="a")), int)
assert_type(lines.decode(lines.encode(Line(sku="a"))), Line)

lines.publish(Shop(name="x"))  # E: a message of another model
Channel(int, "ints")  # E: messages are pydantic models
Channel[Line]("lines")  # E: the model class is an argument, not only a type argument
lines.subscribe(on_error=lambda raw: None)  # E: on_error takes the raw bytes and the error

with lines.subscribe(on_error=lambda raw, error: print(raw, error)) as sub:
    assert_type(sub, Subscription[Line])
    assert_type(sub.get(timeout=1.0), Line | None)
    assert_type(sub.skipped, int)
    for line in sub:
        assert_type(line, Line)


async def consume() -> None:
    assert_type(await lines.apublish(Line(sku="a")), int)
    async with lines.asubscribe() as asub:
        assert_type(asub, AsyncSubscription[Line])
        assert_type(await asub.get(), Line | None)
        async for line in asub:
            assert_type(line, Line)
