"""Embedding fields (``typedis.retrieval``): the providers, filling on save through the pre-write
hook (save, save_many, bulk_create, bulk_update and their async twins), and bad provider output
refused before anything is written.

The local model (``LocalEmbedder``) runs here too: ``make`` installs the extra
``typedis[embeddings]`` (torch 2.13.0, a CPU build, first).
"""

from __future__ import annotations

import asyncio
import math
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis

from typedis import Key, Model, ModelError, _connection, field
from typedis._index.vector_kind import as_float32
from typedis.retrieval import (
    Content,
    Embedding,
    EmbeddingProvider,
    FileContentStore,
    HashingEmbedder,
    LocalEmbedder,
    NotSemanticWarning,
    configure,
)

pytestmark = pytest.mark.filterwarnings("ignore::typedis.retrieval.NotSemanticWarning")


class EmbDoc(Model, partition="owner"):
    owner: Key[str]
    id: Key[str]
    body: str | None = None
    vec: Embedding = field(source="body")


class Fixed:
    """A provider answering what it is told to (for bad outputs)."""

    def __init__(self, dimension: int, answer: Any) -> None:
        self.dimension = dimension
        self.answer = answer
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> Any:
        self.calls.append(list(texts))
        return self.answer

    async def aembed(self, texts: Sequence[str]) -> Any:
        return self.embed(texts)


@pytest.fixture(autouse=True)
def _embedder() -> Iterator[HashingEmbedder]:
    embedder = HashingEmbedder(32)
    configure(embedder=embedder)
    yield embedder
    configure(embedder=None)


def _unit(v: Sequence[float]) -> bool:
    return math.isclose(math.fsum(x * x for x in v), 1.0, rel_tol=1e-5)


def test_hashing_embedder_is_deterministic_unit_and_warns_once() -> None:
    HashingEmbedder._warned = False  # pyright: ignore[reportPrivateUsage]
    e = HashingEmbedder(64, seed=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = e.embed(["The coffee order", "the COFFEE order!"])
        b = HashingEmbedder(64, seed=3).embed(["the coffee order"])
    assert [w.category for w in caught] == [NotSemanticWarning]
    assert a[0] == a[1] == b[0] and len(a[0]) == 64 and _unit(a[0])
    assert HashingEmbedder(64, seed=4).embed(["the coffee order"]) != b
    assert e.embed(["...", ""]) == [[0.0] * 64, [0.0] * 64]  # no words: the zero vector
    assert isinstance(e, EmbeddingProvider)
    with pytest.raises(ModelError, match="positive int"):
        HashingEmbedder(0)


def test_save_fills_the_vector_from_its_source(redis_client: redis.Redis) -> None:
    d = EmbDoc(owner="a", id="1", body="green tea").save()
    assert d.vec == as_float32(HashingEmbedder(32).embed(["green tea"])[0])  # as float32 holds
    assert EmbDoc.load("a", "1").vec == d.vec
    given = [1.0] + [0.0] * 31
    assert EmbDoc(owner="a", id="2", body="green tea", vec=given).save().vec == given  # kept
    assert EmbDoc(owner="a", id="3").save().vec is None  # no source text: no vector
    assert EmbDoc.check_indexes()["total"] == 0


def test_every_write_method_fills_vectors_in_one_batch() -> None:
    spy = Fixed(2, None)

    def embed(texts: Sequence[str]) -> list[list[float]]:
        spy.calls.append(list(texts))
        return [[float(len(t)), 1.0] for t in texts]

    spy.embed = embed  # type: ignore[method-assign]

    class Spied(Model, partition="owner"):
        owner: Key[str]
        id: Key[str]
        body: str
        vec: Embedding = field(source="body", provider=spy)

    Spied.save_many([Spied(owner="a", id=str(i), body="x" * i) for i in range(1, 4)])
    Spied.bulk_create([Spied(owner="a", id="9", body="y")])
    assert spy.calls == [["x", "xx", "xxx"], ["y"]]
    assert Spied.load("a", "3").vec == [3.0, 1.0]
    assert Spied.bulk_update(Spied.query.filter(owner="a"), body="four") == 4
    assert spy.calls[-1] == ["four"]
    assert {tuple(s.vec or ()) for s in Spied.query.filter(owner="a").all()} == {(4.0, 1.0)}

    async def body() -> None:
        try:
            await Spied(owner="b", id="1", body="abc").asave()
            await Spied.asave_many([Spied(owner="b", id="2", body="ab")])
            await Spied.abulk_create([Spied(owner="b", id="3", body="a")])
            await Spied.abulk_update(Spied.query.filter(owner="b"), body="z")
        finally:
            await _connection.get_connection().aclose()

    asyncio.run(body())
    assert spy.calls[-4:] == [["abc"], ["ab"], ["a"], ["z"]]
    assert Spied.check_indexes()["total"] == 0


def test_partial_saves_embed_only_when_the_field_is_written() -> None:
    d = EmbDoc(owner="a", id="1", body="one").save()
    first = d.vec
    d.body, d.vec = "two", None
    d.save(update_fields=["body"])  # vec not written: not embedded, stays as stored
    assert d.vec is None and EmbDoc.load("a", "1").vec == first
    d.save(update_fields=["vec"])
    assert EmbDoc.load("a", "1").vec == as_float32(HashingEmbedder(32).embed(["two"])[0])


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ([[1.0, 0.0]], "vector of 2 values, the field takes 3"),
        ([[1.0, math.nan, 0.0]], "finite"),
        ([[1.0, math.inf, 0.0]], "finite"),
        ([[1.0, 1e39, 0.0]], "finite float32"),
        ([], "not one vector per text"),
        ("nonsense", "not one vector per text"),
    ],
)
def test_bad_provider_output_writes_nothing(
    redis_client: redis.Redis, answer: Any, message: str
) -> None:
    configure(embedder=Fixed(3, answer))
    with pytest.raises(ModelError, match=message) as caught:
        EmbDoc(owner="a", id="1", body="text").save()
    assert "EmbDoc.vec" in str(caught.value)
    with pytest.raises(ModelError, match=message):
        EmbDoc.save_many([EmbDoc(owner="a", id="2", body="text")])
    with pytest.raises(ModelError, match=message):
        EmbDoc.bulk_create([EmbDoc(owner="a", id="3", body="text")])
    assert redis_client.keys("*EmbDoc*") == []


def test_given_vectors_are_checked_too(redis_client: redis.Redis) -> None:
    with pytest.raises(ModelError, match="vector of 2 values, the field takes 32"):
        EmbDoc(owner="a", id="1", body="x", vec=[1.0, 2.0]).save()
    with pytest.raises(ValueError, match="finite"):
        EmbDoc(owner="a", id="1", vec=[math.nan] * 32)
    assert redis_client.keys("*EmbDoc*") == []


def test_no_provider_is_a_clear_error(redis_client: redis.Redis) -> None:
    configure(embedder=None)
    with pytest.raises(ModelError, match="no embedding provider"):
        EmbDoc(owner="a", id="1", body="x").save()
    EmbDoc(owner="a", id="2").save()  # nothing to embed: no provider needed
    with pytest.raises(ModelError, match="takes an EmbeddingProvider"):
        configure(embedder="not a provider")  # type: ignore[arg-type]


def test_bad_declarations_are_refused() -> None:
    with pytest.raises(ModelError, match="names its source"):

        class NoSource(Model):
            vec: Embedding = field(default=None)

    with pytest.raises(ModelError, match="dimension= takes a positive int"):

        class BadDim(Model):
            body: str
            vec: Embedding = field(source="body", dimension=0)

    with pytest.raises(ModelError, match="provider= takes an EmbeddingProvider"):

        class BadProvider(Model):
            body: str
            vec: Embedding = field(source="body", provider="local")

    with pytest.raises(ModelError, match="source= applies to Embedding fields only"):

        class Misplaced(Model):
            body: str = field(source="x")

    class Unknown(Model):
        body: str
        vec: Embedding = field(source="nope")

    with pytest.raises(ModelError, match="names no field"):
        Unknown(body="x").save()


def test_local_embedder_is_semantic_batched_and_normalised() -> None:
    e = LocalEmbedder(batch_size=2)
    dog, puppy, sheet = e.embed(["a dog barking", "a puppy yelping", "a tax spreadsheet"])
    assert len(dog) == e.dimension == 384 and all(_unit(v) for v in (dog, puppy, sheet))

    def cos(a: list[float], b: list[float]) -> float:
        return math.fsum(x * y for x, y in zip(a, b, strict=True))

    assert cos(dog, puppy) > cos(dog, sheet) + 0.2
    assert asyncio.run(e.aembed(["a dog barking"]))[0] == pytest.approx(dog, abs=1e-5)
    assert e.embed([]) == []


def test_a_content_field_can_be_the_source(tmp_path: Path) -> None:
    configure(content_store=FileContentStore(tmp_path))

    class Stored(Model):
        id: Key[str]
        body: Content[str]
        vec: Embedding = field(default=None, source="body")

    try:
        Stored(id="1", body="green tea").save()
        loaded = Stored.load("1")
        assert loaded.vec == as_float32(HashingEmbedder(32).embed(["green tea"])[0])
        loaded.vec = None
        loaded.save()  # the source is read from the store to embed it again
        assert Stored.load("1").vec == loaded.vec is not None
    finally:
        configure(content_store=None)
