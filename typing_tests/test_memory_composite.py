"""How mypy --strict and pyright strict see composite scoring (``typedis.memory``)."""

from __future__ import annotations

from typing import assert_type

from typedis import Confidence, Decaying, Indexed, Key, Model, Sorted, field
from typedis.memory import (
    AccessCount,
    Aggregate,
    Associations,
    CoOccurrenceBoost,
    acomposite_score,
    composite_score,
)
from typedis.query import Ordering, Query, Rank


class Memory(Model, partition="agent"):
    agent: Key[str]
    id: Key[str]
    topic: Indexed[str] = field(default="x")
    relevance: Decaying[float] = field(default=1.0)
    certainty: Confidence = field(default=0.5)
    hits: AccessCount = field(default=0)
    rating: Sorted[float | None] = field(default=None)
    related: Associations = field(default=None)


class Other(Model):
    id: Key[str]
    score: Sorted[float] = field(default=0.0)


query = Memory.query.filter(Memory.agent == "a1")
m = Memory(agent="a1", id="m")
weights = {Memory.relevance: 0.4, Memory.certainty: 0.3, Memory.hits: 0.2}
assert_type(query, Query[Memory])
assert_type(
    composite_score(
        query, {Memory.relevance: 0.4, Memory.certainty: 0.3, Memory.hits: 0.2}, limit=10
    ),
    list[tuple[Memory, float]],
)
assert_type(
    composite_score(
        query,
        {Memory.rating: -1.0, Memory.certainty: 2},
        aggregate="MAX",
        min_score=0.1,
        temperature=0.5,
        post_filter=lambda record, score: record.topic == "x" and score > 0,
        co_occurrence_boost=CoOccurrenceBoost(Memory.related, [m], weight=0.5, depth=3),
    ),
    list[tuple[Memory, float]],
)
mode: Aggregate = "MIN"
assert_type(
    composite_score(query, {Memory.rating: 1.0}, aggregate=mode), list[tuple[Memory, float]]
)


async def scored() -> None:
    assert_type(
        await acomposite_score(query, {Memory.rating: 1.0}, limit=3), list[tuple[Memory, float]]
    )


assert_type((Memory.rating + Memory.certainty).aggregate("MAX"), Rank[Memory])
assert_type((Memory.rating * 2 + Memory.hits).aggregate("MIN").desc(), Ordering[Memory])
(Memory.rating + Memory.certainty).aggregate("AVG")  # E: SUM, MIN or MAX

composite_score(query, {"relevance": 0.4})  # E: weights take field references, not names
composite_score(query, {Memory.topic: 0.4})  # E: a set index has no scores to weigh
composite_score(query, {Other.score: 1.0})  # E: a field of another model
composite_score(query, {Memory.rating: "1"})  # E: a weight is a number
composite_score(query, {Memory.rating: 1.0}, aggregate="AVG")  # E: SUM, MIN or MAX
composite_score(query, {Memory.rating: 1.0}, post_filter=lambda r: True)  # E: (record, score)
composite_score(query, {Memory.rating: 1.0}, limit=2.5)  # E: limit is an int
bad: list[Other] = composite_score(query, {Memory.rating: 1.0})  # E: (record, score) pairs
CoOccurrenceBoost(Memory.related, [Other(id="o")])  # E: seeds of the field's model
