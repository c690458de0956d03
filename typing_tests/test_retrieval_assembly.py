"""How mypy --strict and pyright strict see context assembly (``typedis.retrieval``)."""

from __future__ import annotations

import random
from typing import assert_type

from typedis import Confidence, Key, Model, Sorted, field
from typedis.retrieval import (
    AdaptiveAssembler,
    AssemblyResult,
    ContextAssembler,
    CueFeeling,
    RetrievalQuality,
    TokenCounter,
    approximate_tokens,
)


class Memory(Model, partition="agent"):
    agent: Key[str]
    id: Key[str]
    text: str = ""
    weight: Sorted[float] = field(default=0.0)
    certainty: Confidence = field(default=0.5)


class Other(Model):
    id: Key[str]
    weight: Sorted[float] = field(default=0.0)


assembler = ContextAssembler(Memory, {Memory.weight: 0.6, Memory.certainty: 0.4})
assert_type(assembler, ContextAssembler[Memory])
result = assembler.assemble({"topic": "tea"}, partition_filters={"agent": "a1"})
assert_type(result, AssemblyResult[Memory])
assert_type(result.records, tuple[Memory, ...])
assert_type(result.proactive, tuple[Memory, ...])
assert_type(result.formatted, str)
assert_type(result.quality, RetrievalQuality | None)
assert_type(assembler.assess("tea", partition_filters={"agent": "a1"}), RetrievalQuality)
assert_type(assembler.with_weights({Memory.weight: 1.0}), ContextAssembler[Memory])


async def run() -> None:
    got = await assembler.aassemble("tea", partition_filters={"agent": "a1"})
    assert_type(got, AssemblyResult[Memory])
    assert_type(await assembler.aassess("tea"), RetrievalQuality)


ContextAssembler(Memory, {Memory.weight: 1.0}, output_format="xml", fields=["text"])
ContextAssembler(Memory, {Memory.weight: 1.0}, output_format="yaml")  # E: not a format
ContextAssembler(Memory, {Other.weight: 1.0})  # E: a field of another model
ContextAssembler(Memory, {Memory.weight: 1.0}, fields=[Memory.weight])  # E: names, not refs
ContextAssembler(Memory, {Memory.weight: 1.0}, token_counter=len)
counter: TokenCounter = approximate_tokens
assert_type(counter("some text"), int)

quality = RetrievalQuality.from_records(list(result.records), "tea", {Memory.weight: 1.0})
assert_type(quality.fok_score, float)
assert_type(quality.per_cue_fok["tea"], CueFeeling)
assert_type(quality.score_distribution, tuple[float, ...])

adaptive = AdaptiveAssembler(assembler, window_size=5, rng=random.Random(1))
assert_type(adaptive, AdaptiveAssembler[Memory])
assert_type(adaptive.assemble("tea", partition_filters={"agent": "a1"}), AssemblyResult[Memory])
assert_type(adaptive.baseline_quality, float | None)
assert_type(adaptive.is_testing_candidate, bool)
AdaptiveAssembler(assembler, quality_metric=lambda q: q.fok_score)
AdaptiveAssembler(assembler, quality_metric=lambda q: q.nothing)  # E: no such field
