"""LoomFlow's ``Memory`` on Redis: ``LoomflowMemory`` wraps a ``typedis.memory.RedisMemory``.

Install the extra: ``pip install 'typedis[loomflow]'`` (LoomFlow 0.20: pydantic, anyio and
python-ulid). ``LoomflowMemory`` passes ``isinstance(m, loomflow.core.protocols.Memory)``,
takes and returns LoomFlow's own types (``Episode``, ``EpisodeMatch``, ``Fact``,
``MemoryBlock``, ``MemoryProfile``, ``MemoryExport``, ``Message``) and has a ``facts`` store
(LoomFlow's ``FactStore``) that LoomFlow's ``Consolidator`` appends to. Everything is kept in
Redis, each user in a partition of its own: a conversation reusing a ``session_id`` continues
after a restart, working blocks included.

An episode's ``tool_calls`` and ``tool_transcript`` (LoomFlow fields ``RedisMemory``'s
``Episode`` lacks) travel in its ``metadata`` under the key ``"loomflow"`` and come back as
they were. ``EpisodeMatch.bm25_score`` is ``RedisMemory``'s ``text_score``.

Examples:
    >>> import asyncio
    >>> from loomflow import Agent
    >>> from loomflow.model.scripted import ScriptedModel, ScriptedTurn
    >>> memory = LoomflowMemory()
    >>> agent = Agent("Be brief.", memory=memory,
    ...               model=ScriptedModel([ScriptedTurn(text="Hello Ann.")]))
    >>> asyncio.run(agent.run("I am Ann", user_id="ann", session_id="s1")).output
    'Hello Ann.'
    >>> [m.content for m in asyncio.run(memory.session_messages("s1", user_id="ann"))]
    ['I am Ann', 'Hello Ann.']
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from loomflow.core import types as lf

from ..memory import (
    Episode,
    EpisodeMatch,
    Fact,
    MemoryBlock,
    MemoryExport,
    MemoryProfile,
    Message,
    RedisFactStore,
    RedisMemory,
)

if TYPE_CHECKING:
    from loomflow.memory.consolidator import Consolidator

__all__ = ["LoomflowFactStore", "LoomflowMemory"]

EXTRA = "loomflow"
"""The key of an episode's ``metadata`` holding the LoomFlow fields ``Episode`` lacks."""


# ---- conversions ------------------------------------------------------------------------------


def episode_in(episode: lf.Episode) -> Episode:
    """LoomFlow's episode as ``RedisMemory``'s (its tool calls and transcript in metadata).

    Examples:
        >>> episode_in(lf.Episode(session_id="s", input="hi", output="yo")).metadata
        {}
    """
    extra: dict[str, Any] = {}
    if episode.tool_calls:
        extra["tool_calls"] = [c.model_dump(mode="json") for c in episode.tool_calls]
    if episode.tool_transcript is not None:
        extra["tool_transcript"] = [m.model_dump(mode="json") for m in episode.tool_transcript]
    return Episode(
        id=episode.id,
        session_id=episode.session_id,
        user_id=episode.user_id,
        occurred_at=episode.occurred_at,
        input=episode.input,
        output=episode.output,
        embedding=episode.embedding,
        metadata={EXTRA: extra} if extra else {},
    )


def episode_out(episode: Episode) -> lf.Episode:
    """``RedisMemory``'s episode as LoomFlow's (the inverse of ``episode_in``).

    Examples:
        >>> episode_out(Episode(session_id="s", input="hi", output="yo")).tool_calls
        []
    """
    extra: Any = episode.metadata.get(EXTRA) or {}
    return lf.Episode(
        id=episode.id,
        session_id=episode.session_id,
        user_id=episode.user_id,
        occurred_at=episode.occurred_at,
        input=episode.input,
        output=episode.output,
        embedding=episode.embedding,
        tool_calls=extra.get("tool_calls", []),
        tool_transcript=extra.get("tool_transcript"),
    )


def fact_in(fact: lf.Fact) -> Fact:
    """LoomFlow's fact as ``RedisMemory``'s (the same fields).

    Examples:
        >>> fact_in(lf.Fact(subject="ann", predicate="Drinks", object="tea")).predicate
        'drinks'
    """
    return Fact.model_validate(fact.model_dump())


def fact_out(fact: Fact) -> lf.Fact:
    """``RedisMemory``'s fact as LoomFlow's.

    Examples:
        >>> fact_out(Fact(subject="ann", predicate="drinks", object="tea")).object
        'tea'
    """
    return lf.Fact.model_validate(fact.model_dump())


def block_out(block: MemoryBlock) -> lf.MemoryBlock:
    """``RedisMemory``'s working block as LoomFlow's.

    Examples:
        >>> block_out(MemoryBlock(name="persona", content="terse")).format()
        '<persona>\\nterse\\n</persona>'
    """
    return lf.MemoryBlock.model_validate(block.model_dump())


def _facts_out(facts: Iterable[Fact]) -> list[lf.Fact]:
    return [fact_out(f) for f in facts]


# ---- the fact store ---------------------------------------------------------------------------


class LoomflowFactStore:
    """LoomFlow's ``FactStore`` over a ``RedisFactStore``: bi-temporal facts in Redis.

    ``append`` closes the validity of the fact a new one supersedes (same user, subject and
    predicate) in the same atomic step on the server.

    Examples:
        >>> import asyncio
        >>> store = LoomflowMemory().facts
        >>> _ = asyncio.run(store.append(lf.Fact(user_id="ann", subject="ann",
        ...                                      predicate="drinks", object="tea")))
        >>> [f.object for f in asyncio.run(store.query(user_id="ann"))]
        ['tea']
    """

    def __init__(self, store: RedisFactStore) -> None:
        self.store = store

    async def append(self, fact: lf.Fact) -> str:
        """Record ``fact``; its id."""
        return await self.store.append(fact_in(fact))

    async def append_many(self, facts: Iterable[lf.Fact]) -> list[str]:
        """Record each fact in order (the Consolidator's batch path); their ids."""
        return [await self.store.append(fact_in(f)) for f in facts]

    async def query(
        self,
        *,
        subject: str | None = None,
        predicate: str | None = None,
        object_: str | None = None,
        valid_at: datetime | None = None,
        limit: int = 10,
        user_id: str | None = None,
    ) -> list[lf.Fact]:
        """The user's facts matching the fields given, newest recorded first."""
        found = await self.store.query(
            subject=subject,
            predicate=predicate,
            object_=object_,
            valid_at=valid_at,
            limit=limit,
            user_id=user_id,
        )
        return _facts_out(found)

    async def recall_text(
        self,
        query: str,
        *,
        limit: int = 5,
        valid_at: datetime | None = None,
        user_id: str | None = None,
    ) -> list[lf.Fact]:
        """The user's facts best matching ``query``, valid at ``valid_at`` if given."""
        found = await self.store.recall_text(query, limit=limit, valid_at=valid_at, user_id=user_id)
        return _facts_out(found)

    async def all_facts(self) -> list[lf.Fact]:
        """Every fact of every user."""
        return _facts_out(await self.store.all_facts())

    async def delete(self, *, user_id: str | None = None, before: datetime | None = None) -> int:
        """Delete the user's facts (recorded before ``before``, if given); how many."""
        return await self.store.delete(user_id=user_id, before=before)

    async def count(self, *, user_id: str | None = None) -> int:
        """How many facts the user has (every version)."""
        return await self.store.count(user_id=user_id)

    async def aclose(self) -> None:
        """Nothing to close: the connection is typedis'."""
        await self.store.aclose()


# ---- the memory -------------------------------------------------------------------------------


class LoomflowMemory:
    """LoomFlow's ``Memory`` protocol over a ``RedisMemory`` (durable, indexed, atomic).

    Args:
        memory: the ``RedisMemory`` to use (default: ``RedisMemory()`` on typedis' connection).
        consolidator: LoomFlow's ``Consolidator``, run by ``consolidate()`` over the episodes
            this object remembered since the last run (None: ``consolidate()`` does nothing).

    Examples:
        >>> from loomflow.core.protocols import Memory
        >>> isinstance(LoomflowMemory(), Memory)
        True
    """

    def __init__(
        self, memory: RedisMemory | None = None, *, consolidator: Consolidator | None = None
    ) -> None:
        self.memory = RedisMemory() if memory is None else memory
        self.facts = LoomflowFactStore(self.memory.facts)
        self.consolidator = consolidator
        self._pending: list[lf.Episode] = []

    # ---- working blocks -------------------------------------------------------------------

    async def working(self, *, user_id: str | None = None) -> list[lf.MemoryBlock]:
        """The user's working blocks, in ``pinned_order``."""
        return [block_out(b) for b in await self.memory.working(user_id=user_id)]

    async def update_block(self, name: str, content: str, *, user_id: str | None = None) -> None:
        """Replace a block's content (a new block goes last)."""
        await self.memory.update_block(name, content, user_id=user_id)

    async def append_block(self, name: str, content: str, *, user_id: str | None = None) -> None:
        """Append to a block, created if absent; atomic on the server."""
        await self.memory.append_block(name, content, user_id=user_id)

    # ---- episodes -------------------------------------------------------------------------

    async def remember(self, episode: lf.Episode) -> str:
        """Store an episode in its user's partition; its id."""
        episode_id = await self.memory.remember(episode_in(episode))
        if self.consolidator is not None:
            self._pending.append(episode)
        return episode_id

    async def recall(
        self,
        query: str,
        *,
        kind: str = "episodic",
        limit: int = 5,
        time_range: tuple[datetime, datetime] | None = None,
        user_id: str | None = None,
    ) -> list[lf.Episode]:
        """The user's episodes best matching ``query``."""
        found = await self.memory.recall(
            query, kind=kind, limit=limit, time_range=time_range, user_id=user_id
        )
        return [episode_out(e) for e in found]

    async def recall_scored(
        self,
        query: str,
        *,
        kind: str = "episodic",
        limit: int = 5,
        time_range: tuple[datetime, datetime] | None = None,
        user_id: str | None = None,
        alpha: float = 0.5,
    ) -> list[lf.EpisodeMatch]:
        """``recall`` with the scores: ``score`` fused, ``bm25_score`` the text score,
        ``vector_score`` the cosine (``alpha`` is ignored: ``RedisMemory``'s weights rule)."""
        found: list[EpisodeMatch] = await self.memory.recall_scored(
            query, kind=kind, limit=limit, time_range=time_range, user_id=user_id
        )
        return [
            lf.EpisodeMatch(
                episode=episode_out(m.episode),
                score=m.score,
                bm25_score=m.text_score,
                vector_score=m.vector_score,
            )
            for m in found
        ]

    async def recall_facts(
        self,
        query: str,
        *,
        limit: int = 5,
        valid_at: datetime | None = None,
        user_id: str | None = None,
    ) -> list[lf.Fact]:
        """The user's facts best matching ``query``, valid at ``valid_at`` if given."""
        found = await self.memory.recall_facts(
            query, limit=limit, valid_at=valid_at, user_id=user_id
        )
        return _facts_out(found)

    async def consolidate(self) -> None:
        """Run the consolidator over the episodes remembered since the last run; the facts it
        extracts go to ``facts``."""
        if self.consolidator is None or not self._pending:
            return
        pending, self._pending = self._pending, []
        await self.consolidator.consolidate(pending, store=self.facts)

    # ---- sessions, profile, erasure -------------------------------------------------------

    async def session_messages(
        self, session_id: str, *, user_id: str | None = None, limit: int = 20
    ) -> list[lf.Message]:
        """The last ``limit`` messages of the session, oldest first."""
        found: list[Message] = await self.memory.session_messages(
            session_id, user_id=user_id, limit=limit
        )
        return [lf.Message(role=lf.Role(m.role), content=m.content) for m in found]

    async def profile(self, *, user_id: str | None = None) -> lf.MemoryProfile:
        """What the memory holds about the user: counts, last seen, recent facts."""
        profile: MemoryProfile = await self.memory.profile(user_id=user_id)
        return lf.MemoryProfile(
            user_id=profile.user_id,
            episode_count=profile.episode_count,
            fact_count=profile.fact_count,
            last_seen=profile.last_seen,
            recent_sessions=profile.recent_sessions,
            sample_facts=_facts_out(profile.sample_facts),
        )

    async def forget(
        self,
        *,
        user_id: str | None = None,
        session_id: str | None = None,
        before: datetime | None = None,
    ) -> int:
        """Erase the user's data (every trace, without ``session_id`` and ``before``); the
        number of episodes and facts deleted."""
        self._pending = [
            e
            for e in self._pending
            if e.user_id != user_id
            or (session_id is not None and e.session_id != session_id)
            or (before is not None and e.occurred_at >= before)
        ]
        return await self.memory.forget(user_id=user_id, session_id=session_id, before=before)

    async def export(self, *, user_id: str | None = None) -> lf.MemoryExport:
        """Everything ``forget(user_id=...)`` erases, as LoomFlow's ``MemoryExport``."""
        dump: MemoryExport = await self.memory.export(user_id=user_id)
        return lf.MemoryExport(
            user_id=dump.user_id,
            episodes=[episode_out(e) for e in dump.episodes],
            facts=_facts_out(dump.facts),
            blocks=[block_out(b) for b in dump.blocks],
            exported_at=dump.exported_at,
        )

    async def restore(self, export: lf.MemoryExport) -> int:
        """Write a LoomFlow export back (the import); the number of records written."""
        dump = MemoryExport(
            user_id=export.user_id,
            episodes=[episode_in(e) for e in export.episodes],
            facts=[fact_in(f) for f in export.facts],
            blocks=[MemoryBlock.model_validate(b.model_dump()) for b in export.blocks],
            exported_at=export.exported_at,
        )
        return await self.memory.restore(dump)

    async def aclose(self) -> None:
        """Nothing to close: the connection is typedis'."""
