"""``RedisMemory``: LoomFlow's ``Memory`` protocol on typedis models, one partition per user.

``RedisMemory`` is the asyncio form, with the method names of LoomFlow's ``Memory``
(``working``, ``update_block``, ``append_block``, ``remember``, ``recall``, ``recall_scored``,
``recall_facts``, ``session_messages``, ``profile``, ``forget``, ``export``) plus ``restore``
(the import of an export). **The sync twin is ``SyncRedisMemory``**: the same constructor, the
same method names and arguments, returning values instead of awaitables. Their fact stores
(``memory.facts``) are ``RedisFactStore`` / ``SyncRedisFactStore`` (LoomFlow's ``FactStore``:
``append``, ``query``, ``recall_text``, ``all_facts``, ``delete``, ``count``).

Every method is written once, as a generator of steps (``_core``), which each class drives on
its own client.
"""

from __future__ import annotations

from datetime import datetime

from ..retrieval._embedding import EmbeddingProvider
from ..retrieval._fusion import SearchWeights
from ._records import (
    Episode,
    EpisodeMatch,
    Fact,
    MemoryBlock,
    MemoryExport,
    MemoryProfile,
    Message,
)

__all__ = ["RedisFactStore", "RedisMemory", "SyncRedisFactStore", "SyncRedisMemory"]


class RedisFactStore:
    """Bi-temporal facts of a ``RedisMemory`` (LoomFlow's ``FactStore``), asyncio."""

    async def append(self, fact: Fact) -> str:
        """Record ``fact``, closing the validity of the fact it supersedes in the same step."""
        raise NotImplementedError

    async def query(
        self,
        *,
        subject: str | None = None,
        predicate: str | None = None,
        object_: str | None = None,
        valid_at: datetime | None = None,
        limit: int = 10,
        user_id: str | None = None,
    ) -> list[Fact]:
        """The user's facts matching the given fields, newest recorded first."""
        raise NotImplementedError

    async def recall_text(
        self,
        query: str,
        *,
        limit: int = 5,
        valid_at: datetime | None = None,
        user_id: str | None = None,
    ) -> list[Fact]:
        """The user's facts best matching ``query`` (BM25), valid at ``valid_at`` if given."""
        raise NotImplementedError

    async def all_facts(self) -> list[Fact]:
        """Every fact of every user (a scan of the partitions the registry lists)."""
        raise NotImplementedError

    async def delete(self, *, user_id: str | None = None, before: datetime | None = None) -> int:
        """Delete the user's facts (recorded before ``before``, if given); the count."""
        raise NotImplementedError

    async def count(self, *, user_id: str | None = None) -> int:
        """The number of the user's facts (every version)."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Nothing to close: the connection is typedis's."""


class RedisMemory:
    """LoomFlow's ``Memory`` on Redis, asyncio (``SyncRedisMemory`` is the sync twin)."""

    facts: RedisFactStore

    def __init__(
        self,
        *,
        namespace: str = "memory",
        embedder: EmbeddingProvider | None = None,
        weights: SearchWeights | None = None,
    ) -> None:
        raise NotImplementedError

    async def working(self, *, user_id: str | None = None) -> list[MemoryBlock]:
        """The user's blocks in ``pinned_order``."""
        raise NotImplementedError

    async def update_block(self, name: str, content: str, *, user_id: str | None = None) -> None:
        """Set a block's content (a new block takes the next ``pinned_order``)."""
        raise NotImplementedError

    async def append_block(self, name: str, content: str, *, user_id: str | None = None) -> None:
        """Append to a block (created if absent), atomically on the server."""
        raise NotImplementedError

    async def remember(self, episode: Episode) -> str:
        """Store an episode in its user's partition; its id."""
        raise NotImplementedError

    async def recall(
        self,
        query: str,
        *,
        kind: str = "episodic",
        limit: int = 5,
        time_range: tuple[datetime, datetime] | None = None,
        user_id: str | None = None,
    ) -> list[Episode]:
        """The user's episodes best matching ``query`` (``kind="semantic"``: none, see
        ``recall_facts``)."""
        raise NotImplementedError

    async def recall_scored(
        self,
        query: str,
        *,
        kind: str = "episodic",
        limit: int = 5,
        time_range: tuple[datetime, datetime] | None = None,
        user_id: str | None = None,
    ) -> list[EpisodeMatch]:
        """``recall`` with the fused, text and vector scores."""
        raise NotImplementedError

    async def recall_facts(
        self,
        query: str,
        *,
        limit: int = 5,
        valid_at: datetime | None = None,
        user_id: str | None = None,
    ) -> list[Fact]:
        """The user's facts best matching ``query``, valid at ``valid_at`` if given."""
        raise NotImplementedError

    async def session_messages(
        self, session_id: str, *, user_id: str | None = None, limit: int = 20
    ) -> list[Message]:
        """The last ``limit`` messages of a session, oldest first (two per episode)."""
        raise NotImplementedError

    async def profile(self, *, user_id: str | None = None) -> MemoryProfile:
        """Counts, last activity and recent facts of a user."""
        raise NotImplementedError

    async def forget(
        self,
        *,
        user_id: str | None = None,
        session_id: str | None = None,
        before: datetime | None = None,
    ) -> int:
        """Erase the user's data; with neither ``session_id`` nor ``before``: every trace."""
        raise NotImplementedError

    async def export(self, *, user_id: str | None = None) -> MemoryExport:
        """Everything ``forget(user_id=...)`` erases, as JSON-ready models."""
        raise NotImplementedError

    async def restore(self, export: MemoryExport) -> int:
        """Write an export back (the import); the number of records written."""
        raise NotImplementedError


class SyncRedisFactStore:
    """``RedisFactStore`` on the sync client: the same methods, returning values."""

    def append(self, fact: Fact) -> str:
        raise NotImplementedError

    def query(
        self,
        *,
        subject: str | None = None,
        predicate: str | None = None,
        object_: str | None = None,
        valid_at: datetime | None = None,
        limit: int = 10,
        user_id: str | None = None,
    ) -> list[Fact]:
        raise NotImplementedError

    def recall_text(
        self,
        query: str,
        *,
        limit: int = 5,
        valid_at: datetime | None = None,
        user_id: str | None = None,
    ) -> list[Fact]:
        raise NotImplementedError

    def all_facts(self) -> list[Fact]:
        raise NotImplementedError

    def delete(self, *, user_id: str | None = None, before: datetime | None = None) -> int:
        raise NotImplementedError

    def count(self, *, user_id: str | None = None) -> int:
        raise NotImplementedError


class SyncRedisMemory:
    """``RedisMemory`` on the sync client: the same constructor and method names."""

    facts: SyncRedisFactStore

    def __init__(
        self,
        *,
        namespace: str = "memory",
        embedder: EmbeddingProvider | None = None,
        weights: SearchWeights | None = None,
    ) -> None:
        raise NotImplementedError

    def working(self, *, user_id: str | None = None) -> list[MemoryBlock]:
        raise NotImplementedError

    def update_block(self, name: str, content: str, *, user_id: str | None = None) -> None:
        raise NotImplementedError

    def append_block(self, name: str, content: str, *, user_id: str | None = None) -> None:
        raise NotImplementedError

    def remember(self, episode: Episode) -> str:
        raise NotImplementedError

    def recall(
        self,
        query: str,
        *,
        kind: str = "episodic",
        limit: int = 5,
        time_range: tuple[datetime, datetime] | None = None,
        user_id: str | None = None,
    ) -> list[Episode]:
        raise NotImplementedError

    def recall_scored(
        self,
        query: str,
        *,
        kind: str = "episodic",
        limit: int = 5,
        time_range: tuple[datetime, datetime] | None = None,
        user_id: str | None = None,
    ) -> list[EpisodeMatch]:
        raise NotImplementedError

    def recall_facts(
        self,
        query: str,
        *,
        limit: int = 5,
        valid_at: datetime | None = None,
        user_id: str | None = None,
    ) -> list[Fact]:
        raise NotImplementedError

    def session_messages(
        self, session_id: str, *, user_id: str | None = None, limit: int = 20
    ) -> list[Message]:
        raise NotImplementedError

    def profile(self, *, user_id: str | None = None) -> MemoryProfile:
        raise NotImplementedError

    def forget(
        self,
        *,
        user_id: str | None = None,
        session_id: str | None = None,
        before: datetime | None = None,
    ) -> int:
        raise NotImplementedError

    def export(self, *, user_id: str | None = None) -> MemoryExport:
        raise NotImplementedError

    def restore(self, export: MemoryExport) -> int:
        raise NotImplementedError
