"""How mypy --strict and pyright strict see existence filters (``typedis.memory``)."""

from __future__ import annotations

from typing import Annotated, assert_type, cast

from typedis import AutoKey, Indexed, Key, Model, field, new_id
from typedis.memory import (
    Fingerprint,
    Fingerprinted,
    FingerprintRef,
    adefinitely_missing,
    afill_ratio,
    amight_exist,
    amight_exist_batch,
    amight_exist_count,
    definitely_missing,
    fill_ratio,
    might_exist,
    might_exist_batch,
    might_exist_count,
)


class Note(Model, partition="agent"):
    agent: Key[str]
    id: AutoKey = field(default_factory=new_id)
    topic: Fingerprinted[str]
    level: Indexed[int] = field(default=0)
    sized: Annotated[str, Fingerprint(error_rate=0.001, capacity=5_000)] = ""


note = Note(agent="a1", topic="kubernetes deployment")
assert_type(note.topic, str)
assert_type(Note.topic, FingerprintRef[Note])
assert_type(might_exist(Note.topic, "kubernetes", partition="a1"), bool)
assert_type(definitely_missing(Note.topic, "postgres", partition="a1"), bool)
assert_type(might_exist_batch(Note.topic, ["a", "b"], partition="a1"), dict[str, bool])
assert_type(might_exist_count(Note.topic, ("a", "b"), partition="a1"), int)
assert_type(fill_ratio(Note.topic, partition="a1"), float)
sized = cast(FingerprintRef[Note], Note.sized)  # custom options: Annotated reads as a str
assert_type(might_exist(sized, "x", partition="a1"), bool)


async def lookups() -> None:
    assert_type(await amight_exist(Note.topic, "kubernetes", partition="a1"), bool)
    assert_type(await adefinitely_missing(Note.topic, "x", partition="a1"), bool)
    assert_type(await amight_exist_batch(Note.topic, ["a"], partition="a1"), dict[str, bool])
    assert_type(await amight_exist_count(Note.topic, ["a"], partition="a1"), int)
    assert_type(await afill_ratio(Note.topic, partition="a1"), float)


Note(agent="a1", topic=3)  # E: a Fingerprinted[str] field takes a str
Note(agent="a1")  # E: topic is required
might_exist(Note.level, "x")  # E: an Indexed field feeds no filter
might_exist(Note.topic, 3)  # E: a fingerprint is a str
might_exist_batch(Note.topic, [1, 2])  # E: fingerprints are str
might_exist_count(Note.topic, "ab", "a1")  # E: partition is keyword-only
fill_ratio(Note.topic, "a1")  # E: partition is keyword-only
ref: FingerprintRef[Note] = Note.level  # E: not a filter reference
flag: str = might_exist(Note.topic, "x")  # E: the answer is a bool
