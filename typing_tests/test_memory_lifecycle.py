"""How mypy --strict and pyright strict see MemoryLifecycle and the PolicyCache functions."""

from __future__ import annotations

from datetime import datetime
from typing import assert_type

from typedis import AutoKey, Confidence, Decaying, Indexed, Key, Model, Sorted, field, new_id
from typedis.memory import (
    AccessCount,
    Cycle,
    LifecycleState,
    MemoryLifecycle,
    PolicyEntry,
    TickResult,
    Verdict,
    compute_fingerprint,
    temporal_discovery_handler,
    update_q_value,
)


class Memory(Model, partition="agent"):
    agent: Key[str]
    id: AutoKey = field(default_factory=new_id)
    content: str = ""
    tier: Indexed[str] = field(default="episodic")
    relevance: Decaying[float] = field(default=1.0)
    certainty: Confidence = field(default=0.5)
    hits: AccessCount = field(default=0)
    created: Sorted[datetime | None] = field(default=None, auto_now_add=True)


class Other(Model):
    name: Key[str]
    tier: Indexed[str] = field(default="episodic")


def keep_tagged(record: Memory, state: LifecycleState) -> bool:
    return state.forget_eligible and not record.content.startswith("[keep]")


life = MemoryLifecycle(
    Memory,
    tier=Memory.tier,
    importance=Memory.relevance,
    confidence=Memory.certainty,
    access=Memory.hits,
    created=Memory.created,
    partition="a1",
    should_forget=keep_tagged,
)
assert_type(life, MemoryLifecycle[Memory])
memory = Memory(agent="a1")
assert_type(life.tick(), TickResult)
assert_type(life.tick().promoted, int)
assert_type(life.assess(memory), LifecycleState)
assert_type(life.assess(memory).verdict, Verdict)
assert_type(life.tag_new(memory), Memory)
assert_type(MemoryLifecycle.PROMOTION_ACCESS_COUNT, int)

life.assess(Other(name="x"))  # E: a record of another model
MemoryLifecycle(  # E[mypy]: a field of another model (pyright reports the argument's line)
    Memory,
    tier=Other.tier,  # E[pyright]: a field of another model (mypy reports the call's line)
    importance=Memory.relevance,
    confidence=Memory.certainty,
    access=Memory.hits,
    created=Memory.created,
)


async def asynchronous() -> None:
    assert_type(await life.atick(), TickResult)
    assert_type(await life.aassess(memory), LifecycleState)


policy = PolicyEntry(agent_id="a1", state_fingerprint=compute_fingerprint({}), action_type="x")
assert_type(update_q_value(policy, 1.0), float)
assert_type(policy.q_value, float)
assert_type(temporal_discovery_handler([]), list[Cycle])
