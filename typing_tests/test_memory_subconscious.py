"""How mypy --strict and pyright strict see SubconsciousMemory (``typedis.memory``)."""

from __future__ import annotations

from typing import Any, assert_type

from typedis import Confidence, Key, Model, Sorted, field
from typedis.memory import Observed, SubconsciousMemory
from typedis.retrieval import AssemblyResult


class Note(Model, partition="agent_id"):
    agent_id: Key[str]
    id: Key[str]
    content: str = ""
    importance: Sorted[float] = field(default=0.5)
    certainty: Confidence = field(default=0.5)


class Other(Model):
    id: Key[str]
    weight: Sorted[float] = field(default=0.0)


mind = SubconsciousMemory(Note, "bot", {Note.certainty: 1.0})
assert_type(mind, SubconsciousMemory[Note])
messages, used = mind.inject_context([{"role": "user", "content": "hi"}])
assert_type(messages, list[dict[str, Any]])
assert_type(used, AssemblyResult[Note])
assert_type(mind.extract_memories("A long enough sentence.", importance=0.7), list[Note])
assert_type(mind.report_outcomes(used, "dismissed"), list[Observed])


async def turn() -> None:
    sent, result = await mind.ainject_context([])
    assert_type(sent, list[dict[str, Any]])
    assert_type(await mind.aextract_memories("text"), list[Note])
    assert_type(await mind.areport_outcomes(result), list[Observed])


SubconsciousMemory(Note, "bot", {Other.weight: 1.0})  # E: another model's field
mind.report_outcomes(used, "ignored")  # E: not an outcome
