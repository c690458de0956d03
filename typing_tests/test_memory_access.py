"""How mypy --strict and pyright strict see AccessCount fields and the access functions."""

from __future__ import annotations

from datetime import datetime
from typing import assert_type

from typedis import Key, Model, Sorted, field
from typedis.memory import (
    AccessCount,
    aaccess_count,
    access_count,
    access_log,
    aconfirm_access,
    confirm_access,
    discard_staged_access,
    last_accessed,
)
from typedis.query import Ordering, Query, Rank, SortedRef


class Note(Model):
    name: Key[str]
    score: Sorted[float] = field(default=0.0)
    hits: AccessCount = field(default=0)


note = Note(name="n")

assert_type(Note.hits, SortedRef[Note, int])
assert_type(note.hits, int)
assert_type(Note.query.order_by(Note.hits.desc()), Query[Note])
assert_type(Note.hits.desc(), Ordering[Note])
assert_type(Note.score * 0.5 + Note.hits * 0.5, Rank[Note])
assert_type(confirm_access(note), int)
assert_type(discard_staged_access(note), int)
assert_type(access_count(note), int)
assert_type(last_accessed(note), datetime | None)
assert_type(access_log(note), list[datetime])


async def asynchronous() -> None:
    assert_type(await aconfirm_access(note), int)
    assert_type(await aaccess_count(note), int)


Note(name="n", hits="3")  # E: an access count is an int
Note.hits.startswith("1")  # E: a sorted field has no prefix search
confirm_access("n")  # E: confirm_access takes a record
when: datetime = last_accessed(note)  # E: a record may never have been read
