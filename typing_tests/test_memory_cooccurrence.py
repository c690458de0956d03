"""How mypy --strict and pyright strict see co-occurrence edges (``typedis.memory``)."""

from __future__ import annotations

from typing import assert_type

from typedis import Key, Model, field
from typedis.memory import (
    Associations,
    CoOccurrenceRef,
    alink,
    aneighbors,
    apropagate,
    link,
    neighbors,
    propagate,
)


class Fact(Model):
    id: Key[str]
    related: Associations = field(default=None)


class Other(Model):
    id: Key[str]
    related: Associations = field(default=None)


a, b = Fact(id="a"), Fact(id="b")
assert_type(a.related, None)
assert_type(Fact.related, CoOccurrenceRef[Fact])
assert_type(link(Fact.related, a, b), float)
assert_type(link(Fact.related, a, b, weight=2.5), float)
assert_type(neighbors(Fact.related, a, limit=5), list[tuple[Fact, float]])
assert_type(propagate(Fact.related, [a, b], depth=3, limit=10), list[tuple[Fact, float]])


async def edges() -> None:
    assert_type(await alink(Fact.related, a, b), float)
    assert_type(await aneighbors(Fact.related, a), list[tuple[Fact, float]])
    assert_type(await apropagate(Fact.related, [a]), list[tuple[Fact, float]])


Fact(id="c", related=1)  # E: the field holds no value
link(Fact.related, a, Other(id="x"))  # E: both records are of the reference's model
link(Fact.related, a, b, 2.0)  # E: weight is keyword-only
link(Fact.related, a, b, weight="2")  # E: a weight is a number
neighbors(Fact.id, a)  # E: a Key field has no edges
propagate(Fact.related, a)  # E: seeds are a sequence of records
rows: list[tuple[Other, float]] = neighbors(Fact.related, a)  # E: records of the field's model
