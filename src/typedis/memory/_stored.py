"""The typedis models behind ``RedisMemory``, built once per namespace and embedder.

Three models, each partitioned by the user (field ``user``): ``<namespace>.Block``,
``<namespace>.Episode`` and ``<namespace>.Fact``. A user's records, indexes, text postings,
vectors and statistics all live under the user's hash tag (``{td:<namespace>.Episode:<user>}``):
one slot on a cluster, one key pattern for a tenant's ACL user. The anonymous partition
(``user_id=None``) is the partition value ``""``, which no user id may take (``partition()``
refuses an empty user id), so it never collides with a named user.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from .. import _lua
from .._errors import ConfigError
from .._index.text_kind import Text
from .._markers import Indexed, Key, Sorted, field
from .._model import Model
from ._records import Episode, Fact, MemoryBlock

if TYPE_CHECKING:
    from ..retrieval._embedding import EmbeddingProvider

OPEN = datetime.max.replace(tzinfo=UTC)  # the valid_until of a fact that still holds

_lua.operation("memory_block")
_lua.operation("memory_fact")


def partition(user_id: str | None) -> str:
    """The partition value of a user: the id itself, ``""`` for the anonymous partition.

    Raises:
        ConfigError: ``user_id`` is not a str, or is empty (reserved for ``None``).
    """
    if user_id is None:
        return ""
    if not isinstance(cast(object, user_id), str) or not user_id:
        raise ConfigError(f"user_id must be a non-empty str or None, got {user_id!r}")
    return user_id


def user_of(value: str) -> str | None:
    """The user id of a partition value (``partition()`` reversed)."""
    return value or None


class BlockBase(Model, abstract=True):
    user: Key[str] = field(prefix_index=False)
    name: Key[str] = field(prefix_index=False)
    content: str
    pinned_order: int = 0
    updated_at: datetime


class EpisodeBase(Model, abstract=True):
    user: Key[str] = field(prefix_index=False)
    id: Key[str] = field(prefix_index=False)
    session_id: Indexed[str] = field(prefix_index=False)
    occurred_at: Sorted[datetime]
    input: str
    output: str
    text: Text[str]  # input and output, the text recall searches
    metadata: str = "{}"  # JSON


class FactBase(Model, abstract=True):
    user: Key[str] = field(prefix_index=False)
    id: Key[str] = field(prefix_index=False)
    thread: Indexed[str] = field(prefix_index=False)  # JSON [subject, predicate]: the versions
    subject: Indexed[str] = field(prefix_index=False)
    predicate: Indexed[str] = field(prefix_index=False)
    object: str
    confidence: float = 1.0
    valid_from: Sorted[datetime]
    # OPEN while the fact holds; memory_fact.lua compares the stored ISO texts (UTC, one
    # format: their byte order is the instants' order)
    valid_until: Sorted[datetime] = field(default=OPEN)
    recorded_at: Sorted[datetime]
    sources: str = "[]"  # JSON
    text: Text[str]  # "subject predicate object", the text recall_text searches


@dataclass(frozen=True, slots=True)
class Stored:
    """The models of one namespace (and embedder), with the conversions to the public types."""

    block: type[BlockBase]
    episode: type[EpisodeBase]
    fact: type[FactBase]

    @property
    def models(self) -> tuple[type[Model], ...]:
        return (self.block, self.episode, self.fact)

    def block_of(self, b: MemoryBlock, user: str) -> BlockBase:
        return self.block(
            user=user,
            name=b.name,
            content=b.content,
            pinned_order=b.pinned_order,
            updated_at=b.updated_at,
        )

    @staticmethod
    def to_block(r: BlockBase) -> MemoryBlock:
        return MemoryBlock(
            name=r.name, content=r.content, pinned_order=r.pinned_order, updated_at=r.updated_at
        )

    def episode_of(self, e: Episode) -> EpisodeBase:
        values: dict[str, Any] = {
            "user": partition(e.user_id),
            "id": e.id,
            "session_id": e.session_id,
            "occurred_at": e.occurred_at,
            "input": e.input,
            "output": e.output,
            "text": f"{e.input}\n{e.output}",
            "metadata": json.dumps(e.metadata, sort_keys=True),
        }
        if "vec" in self.episode.model_fields:
            values["vec"] = e.embedding
        return self.episode(**values)

    @staticmethod
    def to_episode(r: EpisodeBase) -> Episode:
        vector: list[float] | None = getattr(r, "vec", None)
        return Episode(
            id=r.id,
            session_id=r.session_id,
            user_id=user_of(r.user),
            occurred_at=r.occurred_at,
            input=r.input,
            output=r.output,
            metadata=json.loads(r.metadata),
            embedding=vector,
        )

    def fact_of(self, f: Fact) -> FactBase:
        return self.fact(
            user=partition(f.user_id),
            id=f.id,
            thread=json.dumps([f.subject, f.predicate]),
            subject=f.subject,
            predicate=f.predicate,
            object=f.object,
            confidence=f.confidence,
            valid_from=f.valid_from,
            valid_until=OPEN if f.valid_until is None else f.valid_until,
            recorded_at=f.recorded_at,
            sources=json.dumps(f.sources),
            text=f"{f.subject} {f.predicate} {f.object}",
        )

    @staticmethod
    def to_fact(r: FactBase) -> Fact:
        return Fact(
            id=r.id,
            user_id=user_of(r.user),
            subject=r.subject,
            predicate=r.predicate,
            object=r.object,
            confidence=r.confidence,
            valid_from=r.valid_from,
            valid_until=None if r.valid_until >= OPEN else r.valid_until,
            recorded_at=r.recorded_at,
            sources=json.loads(r.sources),
        )


def stored(namespace: str, embedder: EmbeddingProvider | None) -> Stored:
    """The models of ``namespace`` (built on first use; one embedder per namespace).

    Raises:
        ConfigError: the namespace is in use with another embedder.
    """
    if not isinstance(cast(object, namespace), str) or not namespace:
        raise ConfigError(f"namespace must be a non-empty str, got {namespace!r}")
    if _EMBEDDERS.setdefault(namespace, embedder) is not embedder:
        raise ConfigError(
            f"the memory namespace {namespace!r} is in use with another embedder; give each "
            "embedder its own namespace (the vectors of one index must share one space)"
        )
    found = _BUILT.get(namespace)
    if found is None:
        found = _BUILT[namespace] = _built(namespace, embedder)
    return found


_EMBEDDERS: dict[str, EmbeddingProvider | None] = {}
_BUILT: dict[str, Stored] = {}


def _built(namespace: str, embedder: EmbeddingProvider | None) -> Stored:
    from ..retrieval._embedding import Embedding  # retrieval is built on the memory layer

    class Block(BlockBase, partition="user", name=f"{namespace}.Block"):
        pass

    episode: type[EpisodeBase]
    if embedder is None:

        class TextEpisode(EpisodeBase, partition="user", name=f"{namespace}.Episode"):
            pass

        episode = TextEpisode
    else:

        class VectorEpisode(EpisodeBase, partition="user", name=f"{namespace}.Episode"):
            vec: Embedding = field(default=None, source="text", provider=embedder)

        episode = VectorEpisode

    class StoredFact(FactBase, partition="user", name=f"{namespace}.Fact"):
        pass

    return Stored(Block, episode, StoredFact)


def drop_caches(tag: str) -> None:
    """Forget this process's caches of a partition (the vector search's matrices)."""
    from ..retrieval._vectors import drop_caches as drop  # retrieval is built on memory

    drop(tag)
