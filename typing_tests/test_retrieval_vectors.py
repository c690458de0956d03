"""How mypy --strict and pyright strict see vectors and content (``typedis.retrieval``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import assert_type

from typedis import Content, Embedding, Key, Model, field
from typedis.retrieval import (
    Blob,
    ContentStore,
    EmbeddingProvider,
    FileContentStore,
    HashingEmbedder,
    Hit,
    LocalEmbedder,
    SearchWeights,
    collect_garbage,
    configure,
)


class Memo(Model, partition="user"):
    user: Key[str]
    id: Key[str]
    body: str
    vec: Embedding = field(default=None, source="body")


class Doc(Model):
    id: Key[str]
    text: Content[str]
    data: Content[bytes] = field(default=b"")


memo = Memo(user="ann", id="1", body="flat white")
assert_type(memo.vec, list[float] | None)
memo.vec = [0.5, 0.25]
memo.vec = (0.5, 0.25)
memo.vec = None
hits = Memo.query.filter(user="ann").search(vector=[0.1, 0.2], k=3)
assert_type(hits, list[Hit[Memo]])
assert_type(hits[0].vector_score, float | None)
assert_type(Memo.query.filter(user="ann").search(vector="coffee"), list[Hit[Memo]])
mix = SearchWeights(text=0.0, vector=1.0, diversity=0.5, method="rrf")
assert_type(mix.diversity, float)
fused = Memo.query.filter(user="ann").search(vector="coffee", k=5, weights=mix)
assert_type(fused[0].signals["redundancy"], float)

doc = Doc(id="1", text="a long text")
assert_type(doc.text, Blob[str])
assert_type(doc.text.value, str)
assert_type(doc.data.value, bytes)
assert_type(doc.text.loaded, bool)
doc.text = "replaced"
doc.text = Blob("replaced")

provider: EmbeddingProvider = HashingEmbedder(64)
local: EmbeddingProvider = LocalEmbedder()
store: ContentStore = FileContentStore("/tmp/blobs")
configure(embedder=provider, content_store=store)
configure(embedder=None)
assert_type(collect_garbage(Doc, store, grace=60.0), int)
assert_type(HashingEmbedder(8).embed(["x"]), list[list[float]])


async def searches() -> None:
    found = await Memo.query.filter(user="ann").asearch(vector="coffee", k=1)
    assert_type(found, list[Hit[Memo]])
    assert_type(await doc.text.aload(), str)


def texts(e: EmbeddingProvider, batch: Sequence[str]) -> Sequence[Sequence[float]]:
    return e.embed(batch)


memo.vec = ["a"]  # E: a vector holds floats
memo.vec = 1.0  # E: a vector is a sequence
Doc(id="2", text=b"bytes")  # E: a Content[str] field takes a str
doc.data = "text"  # E: a Content[bytes] field takes bytes
configure(embedder="local")  # E: not a provider
Memo.query.search(vector=[0.1], k="3")  # E: k is an int
collect_garbage(Doc, grace="1h")  # E: grace is a number of seconds
SearchWeights(diversity="high")  # E: diversity is a number
SearchWeights(method="bm25")  # E: min-max or rrf only


class Required(Model):
    id: Key[str]
    body: str
    vec: Embedding = field(source="body")  # no default= given: checkers take it as required


Required(id="1", body="x")  # E: give default=None for checkers to see the field's default
