"""How mypy --strict and pyright strict see text search (``typedis.retrieval``)."""

from __future__ import annotations

from typing import Annotated, assert_type, cast

from typedis import Indexed, Key, Model, Text, field
from typedis.retrieval import BM25, Hit, TextRef, aidf, idf


class Note(Model, partition="user"):
    user: Key[str]
    id: Key[str]
    body: Text[str]
    kind: Indexed[str] = field(default="memo")
    tuned: Annotated[str, BM25(k1=1.5, b=0.5)] = ""


note = Note(user="ann", id="1", body="flat white")
assert_type(note.body, str)
assert_type(Note.body, TextRef[Note])
hits = Note.query.filter(user="ann").search("coffee", k=5)
assert_type(hits, list[Hit[Note]])
assert_type(hits[0].record, Note)
assert_type(hits[0].score, float)
assert_type(hits[0].text_score, float | None)
assert_type(Note.query.filter(Note.kind == "memo").search(text="coffee"), list[Hit[Note]])
assert_type(idf(Note.body, ["coffee", "tea"], partition="ann"), dict[str, float])
assert_type(idf(Note.body, "coffee", partition="ann"), dict[str, float])
tuned = cast(TextRef[Note], Note.tuned)  # custom options: Annotated reads as a str
assert_type(idf(tuned, "x", partition="ann"), dict[str, float])


async def searches() -> None:
    assert_type(await Note.query.filter(user="ann").asearch("coffee"), list[Hit[Note]])
    assert_type(await aidf(Note.body, ["coffee"], partition="ann"), dict[str, float])


Note(user="ann", id="1", body=3)  # E: a Text[str] field takes a str
Note.query.search("coffee", 5)  # E: k is keyword-only
Note.query.search("coffee", k="5")  # E: k is an int
idf(Note.kind, ["x"])  # E: an Indexed field has no text index
idf(Note.body, [1])  # E: tokens are str
idf(Note.body, "x", "ann")  # E: partition is keyword-only
other: list[Hit[Note]] = Note.query.search("x")[0].record  # E: a record is no list of hits
