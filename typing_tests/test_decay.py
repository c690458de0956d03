"""How mypy --strict and pyright strict see Decaying fields: touch(), decayed(), top_by_decay()."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import assert_type

from typedis import Decaying, Indexed, Key, Model, Sorted, field
from typedis.query import Ordering, Query


class Memory(Model):
    name: Key[str]
    topic: Indexed[str] = field(default="a")
    relevance: Decaying[float] = field(default=1.0, rate=0.2, curve="power")
    score: Sorted[float] = field(default=0.0)


class Note(Model):
    name: Key[str]
    heat: Decaying[float] = field(default=1.0)


m = Memory(name="a")
now = datetime.now(UTC)
assert_type(m.relevance, float)
assert_type(m.touch(Memory.relevance), datetime)
assert_type(m.touch(Memory.relevance, at=now), datetime)
assert_type(m.decayed(Memory.relevance), float)
assert_type(m.decayed(Memory.relevance, now), float)
assert_type(Memory.relevance.decayed(), Ordering[Memory])
assert_type(Memory.relevance.decayed(now), Ordering[Memory])
assert_type(Memory.query.order_by(Memory.relevance.decayed()), Query[Memory])
assert_type(Memory.query.top_by_decay(), list[Memory])
assert_type(
    Memory.query.filter(Memory.topic == "x").top_by_decay(Memory.relevance, n=5), list[Memory]
)
assert_type(Memory.query.top_by_decay(n=3, at=now), list[Memory])


async def async_twins() -> None:
    assert_type(await m.atouch(Memory.relevance), datetime)
    assert_type(await Memory.query.atop_by_decay(Memory.relevance), list[Memory])


m.touch(Memory.score)  # E: touch() takes a Decaying field
m.touch(Note.heat)  # E: a field of another model
m.decayed(Memory.topic)  # E: decayed() takes a Decaying field
m.touch(Memory.relevance, at="now")  # E: at is a datetime
Memory.query.top_by_decay(Note.heat)  # E: a field of another model
Memory.query.top_by_decay(Memory.score)  # E: top_by_decay() ranks a Decaying field
Memory.score.decayed()  # E: only Decaying fields decay
Memory.query.order_by(Note.heat.decayed())  # E: an order of another model
field(curve="linear")  # E: the curves are exponential and power
