"""How mypy --strict and pyright strict see the confidence functions of typedis.memory."""

from __future__ import annotations

from typing import assert_type

from typedis import Confidence, Indexed, Key, Model, Sorted, field
from typedis.memory import (
    ConfidenceData,
    aget_confidence,
    aget_confidence_data,
    aupdate_confidence,
    get_confidence,
    get_confidence_data,
    update_confidence,
)


class Memory(Model):
    name: Key[str]
    topic: Indexed[str] = field(default="")
    rating: Sorted[float] = field(default=0.0)
    certainty: Confidence = field(default=0.5)


class Fact(Model):
    name: Key[str]
    certainty: Confidence = field(default=0.5)


memory = Memory(name="m")
fact = Fact(name="f")

assert_type(update_confidence(memory, Memory.certainty, 0.9), float)
assert_type(update_confidence(memory, Memory.certainty, 1), float)
assert_type(get_confidence(memory, Memory.certainty), float)
assert_type(get_confidence_data(memory, Memory.certainty), ConfidenceData)
assert_type(get_confidence_data(fact, Fact.certainty).evidence_count, int)
assert_type(get_confidence_data(fact, Fact.certainty).confidence, float)
assert_type(memory.certainty, float)


async def asynchronous() -> None:
    assert_type(await aupdate_confidence(memory, Memory.certainty, 0.1), float)
    assert_type(await aget_confidence(memory, Memory.certainty), float)
    assert_type(await aget_confidence_data(memory, Memory.certainty), ConfidenceData)


update_confidence(memory, Memory.rating, 0.5)  # E: a Sorted field is not a Confidence field
update_confidence(memory, Memory.topic, 0.5)  # E: an Indexed field is not a Confidence field
update_confidence(memory, Memory.name, 0.5)  # E: a key is not a Confidence field
update_confidence(memory, Fact.certainty, 0.5)  # E: a field of another model
get_confidence(fact, Memory.certainty)  # E: a field of another model
update_confidence(memory, Memory.certainty, "0.5")  # E: a signal is a number
update_confidence(memory, Memory.certainty, None)  # E: a signal is a number
update_confidence(memory, "certainty", 0.5)  # E: a field is given by reference, not by name
data: ConfidenceData = get_confidence(memory, Memory.certainty)  # E: get_confidence gives a float
get_confidence_data(memory, Memory.certainty).confidence = 1.0  # E: ConfidenceData is frozen
