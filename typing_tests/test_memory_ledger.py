"""How mypy --strict and pyright strict see the prediction ledger, Defaults, weights and the
write filter (``typedis.memory``)."""

from __future__ import annotations

from datetime import datetime
from typing import assert_type

from typedis import Confidence, Key, Model, field
from typedis.memory import (
    Defaults,
    ErrorStats,
    ErrorSummary,
    InteractionWeight,
    LedgerRef,
    PredictionData,
    Predictions,
    Priority,
    RankedPrediction,
    WriteDecision,
    aauto_resolve,
    aerror_summary,
    ahighest_errors,
    aprediction_data,
    arecord_prediction,
    aresolve_prediction,
    auto_resolve,
    decide_write,
    error_stats,
    error_summary,
    filtered_save,
    highest_errors,
    prediction_data,
    prediction_error,
    record_prediction,
    resolve_prediction,
)
from typedis.query import SortedRef


class Memory(Model, partition="agent"):
    agent: Key[str]
    id: Key[str]
    certainty: Confidence = field(default=0.5)
    predictions: Predictions = field(default=None)
    priority: Priority = field(default=0.0)


class Other(Model):
    id: Key[str]
    predictions: Predictions = field(default=None)


m = Memory(agent="a", id="1")
assert_type(m.predictions, None)
assert_type(Memory.predictions, LedgerRef[Memory])
assert_type(Memory.priority, SortedRef[Memory, float])
assert_type(record_prediction(m, Memory.predictions, {"eta": 10}), datetime)
assert_type(record_prediction(m, Memory.predictions, {"mood": "calm"}, key="mood"), datetime)
assert_type(resolve_prediction(m, Memory.predictions, {"eta": 12}), float)
assert_type(auto_resolve(m, Memory.predictions, "acted"), float | None)
assert_type(prediction_data(m, Memory.predictions), PredictionData | None)
assert_type(highest_errors(Memory.predictions, partition="a"), list[RankedPrediction[Memory]])
assert_type(error_summary(Memory.predictions, partition="a"), ErrorSummary)
assert_type(error_summary(Memory.predictions, partition="a", group_by="hour").overall, ErrorStats)
assert_type(
    error_summary(Memory.predictions, partition="a", group_by=lambda d: d.key), ErrorSummary
)
assert_type(error_stats([0.1, 0.2]).p99, float)
assert_type(prediction_error({"a": 1}, {"a": 2.0}), float)
assert_type(Defaults.DECAY_RATE, float)
assert_type(InteractionWeight.combine(InteractionWeight.HUMAN, InteractionWeight.PEER), float)
assert_type(decide_write(0.5), WriteDecision)
assert_type(filtered_save(m, Memory.priority, 0.9), WriteDecision)


async def ledger() -> None:
    assert_type(await arecord_prediction(m, Memory.predictions, {"eta": 1}), datetime)
    assert_type(await aresolve_prediction(m, Memory.predictions, {"eta": 1}), float)
    assert_type(await aauto_resolve(m, Memory.predictions, "dismissed"), float | None)
    assert_type(await aprediction_data(m, Memory.predictions), PredictionData | None)
    assert_type(await ahighest_errors(Memory.predictions), list[RankedPrediction[Memory]])
    assert_type(await aerror_summary(Memory.predictions), ErrorSummary)


Memory(agent="a", id="2", predictions=1)  # E: the field holds no value
record_prediction(m, Other.predictions, {"eta": 1})  # E: the record is of the field's model
record_prediction(m, Memory.certainty, {"eta": 1})  # E: a Confidence field is no ledger
record_prediction(m, Memory.predictions, {"eta": [1]})  # E: values are str, int, float, bool
record_prediction(m, Memory.predictions, {"eta": 1}, "k")  # E: key is keyword-only
auto_resolve(m, Memory.predictions, "ignored")  # E: an outcome the protocol knows
error_summary(Memory.predictions, group_by="month")  # E: a grouping it offers
filtered_save(m, Memory.id, 0.5)  # E: a Key field is no priority
