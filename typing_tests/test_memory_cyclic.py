"""How mypy --strict and pyright strict see cyclic decay and the observation protocol."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, assert_type, cast

from typedis import Confidence, Decaying, Key, Model, field
from typedis.memory import (
    Cycle,
    CyclicDecay,
    CyclicDecaying,
    CyclicRef,
    Observed,
    RecallProposal,
    TemporalPeriod,
    acyclic_score,
    aget_cycles,
    aon_context_used,
    aon_read,
    aon_surfaced,
    apending_proposal,
    aresolve_pressure,
    astrengthen_cycle,
    atop_by_cyclic,
    aweaken_cycle,
    cyclic_score,
    get_cycles,
    on_context_used,
    on_read,
    on_surfaced,
    pending_proposal,
    resolve_pressure,
    strengthen_cycle,
    top_by_cyclic,
    weaken_cycle,
)
from typedis.query import Query


class Habit(Model):
    name: Key[str]
    urge: CyclicDecaying[float] = field(default=1.0)
    daily: Annotated[float, CyclicDecay(cycles=[Cycle(TemporalPeriod.DAILY, 1.0, 0.5)])] = 1.0
    relevance: Decaying[float] = field(default=1.0)
    certainty: Confidence = field(default=0.5)


class Other(Model):
    name: Key[str]
    urge: CyclicDecaying[float] = field(default=1.0)


habit = Habit(name="h")
other = Other(name="o")
daily = cast(CyclicRef[Habit, float], Habit.daily)  # custom options: Annotated reads as a float

assert_type(habit.urge, float)
assert_type(Habit.urge, CyclicRef[Habit, float])
assert_type(resolve_pressure(habit, Habit.urge), datetime)
assert_type(resolve_pressure(habit, daily, at=datetime(2026, 1, 1)), datetime)
assert_type(strengthen_cycle(habit, daily), list[Cycle])
assert_type(strengthen_cycle(habit, daily, 1.5), list[Cycle])
assert_type(weaken_cycle(habit, daily, factor=0.5), list[Cycle])
assert_type(get_cycles(habit, daily)[0].amplitude, float)
assert_type(cyclic_score(habit, Habit.urge), float)
assert_type(cyclic_score(other, Other.urge, datetime(2026, 1, 1)), float)
assert_type(top_by_cyclic(Habit.query, Habit.urge, n=3), list[Habit])
assert_type(habit.touch(Habit.urge), datetime)
assert_type(Habit.query.top_by_decay(Habit.urge, n=3), list[Habit])
assert_type(on_read(habit), int)
assert_type(on_surfaced([habit, other], reason="proactive"), list[RecallProposal])
assert_type(pending_proposal(habit), RecallProposal | None)
assert_type(on_context_used([habit], {habit.redis_key: "acted"}), list[Observed])
assert_type(on_context_used([habit], {})[0].confidence, dict[str, float])
query: Query[Habit] = Habit.query


async def asynchronous() -> None:
    assert_type(await aresolve_pressure(habit, Habit.urge), datetime)
    assert_type(await astrengthen_cycle(habit, daily), list[Cycle])
    assert_type(await aweaken_cycle(habit, daily), list[Cycle])
    assert_type(await aget_cycles(habit, daily), list[Cycle])
    assert_type(await acyclic_score(habit, Habit.urge), float)
    assert_type(await atop_by_cyclic(query, Habit.urge), list[Habit])
    assert_type(await aon_read(habit), int)
    assert_type(await aon_surfaced([habit]), list[RecallProposal])
    assert_type(await apending_proposal(habit), RecallProposal | None)
    assert_type(await aon_context_used([habit], {}), list[Observed])


strengthen_cycle(habit, Habit.relevance)  # E: a Decaying field is not a CyclicDecay field
strengthen_cycle(habit, Habit.certainty)  # E: a Confidence field is not a CyclicDecay field
strengthen_cycle(habit, Other.urge)  # E: a field of another model
resolve_pressure(other, Habit.urge)  # E: a field of another model
strengthen_cycle(habit, Habit.urge, "2")  # E: a factor is a number
cyclic_score(habit, "urge")  # E: a field is given by reference, not by name
top_by_cyclic(Other.query, Habit.urge)  # E: a field of another model than the query's
on_context_used([habit], {habit.redis_key: "liked"})  # E: not one of the five outcomes
on_surfaced([habit], ttl=60)  # E: ttl is a timedelta
get_cycles(habit, daily)[0].amplitude = 2.0  # E: a Cycle is a NamedTuple, read-only
