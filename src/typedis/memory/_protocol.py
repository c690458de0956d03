"""``RedisMemory``: LoomFlow's ``Memory`` protocol on typedis models, one partition per user.

``RedisMemory`` is the asyncio form, with the method names of LoomFlow's ``Memory``
(``working``, ``update_block``, ``append_block``, ``remember``, ``recall``, ``recall_scored``,
``recall_facts``, ``session_messages``, ``profile``, ``forget``, ``export``) plus ``restore``
(the import of an export). **The sync twin is ``SyncRedisMemory``**: the same constructor, the
same method names and arguments, returning values instead of awaitables. Their fact stores
(``memory.facts``) are ``RedisFactStore`` / ``SyncRedisFactStore`` (LoomFlow's ``FactStore``:
``append``, ``query``, ``recall_text``, ``all_facts``, ``delete``, ``count``).

Every method is written once, in ``_Core``, as a generator of steps (``_store.Work``: the
calls to send together, a save, a search...); ``_store.drive`` runs the steps on the sync
client, ``_store.adrive`` on the asyncio client.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from pydantic import JsonValue

from .. import _keys, _lua, _maintenance, _scripts, _store
from .._errors import ConfigError
from .._query import _query
from .._store import adrive, drive
from ._hidden import located
from ._records import (
    Episode,
    EpisodeMatch,
    Fact,
    IsolationWarning,
    MemoryBlock,
    MemoryExport,
    MemoryProfile,
    Message,
    ModelState,
)
from ._state import CHUNK, links_call, records_call, restore_calls
from ._stored import (
    BlockBase,
    EpisodeBase,
    FactBase,
    Stored,
    content_fields,
    digests,
    drop_blobs,
    drop_caches,
    partition,
    stored,
)

if TYPE_CHECKING:
    from .._model import Model
    from .._spec import ModelSpec
    from ..retrieval._embedding import EmbeddingProvider
    from ..retrieval._fusion import SearchWeights
    from ..retrieval._hit import Hit

R = TypeVar("R")
M = TypeVar("M", bound="Model")

_DEL = _scripts.Read("DEL")
_CHUNK = 200  # records per delete call: each call holds the server for a few ms
_RECENT = 100  # the latest episodes profile() reads for the recent sessions


# ---- steps --------------------------------------------------------------------------------


Steps = Generator[_store.Work[Any], Any, R]


@dataclass(frozen=True, slots=True)
class _Send(_store.Work[list[Any]]):
    """Calls sent together (one pipeline); their decoded replies."""

    calls: list[_scripts.Call[Any]]

    def run(self) -> list[Any]:
        return _query.send(self.calls) if self.calls else []

    async def arun(self) -> list[Any]:
        return await _query.asend(self.calls) if self.calls else []


@dataclass(frozen=True, slots=True)
class _Write(_store.Work[Any]):
    """A model operation's call, its partition registered first (as a save registers it)."""

    spec: ModelSpec
    call: _scripts.Call[Any]

    def run(self) -> Any:
        _maintenance.register(self.spec, [self.call])
        return _scripts.run(self.call)

    async def arun(self) -> Any:
        await _maintenance.aregister(self.spec, [self.call])
        return await _scripts.arun(self.call)


@dataclass(frozen=True, slots=True)
class _Save(_store.Work[None]):
    """``save_many`` (embedding included) of records of one model and partition."""

    model: type[Model]
    records: Sequence[Model]

    def run(self) -> None:
        if self.records:
            self.model.save_many(self.records)

    async def arun(self) -> None:
        if self.records:
            await self.model.asave_many(self.records)


@dataclass(frozen=True, slots=True)
class _All(_store.Work[list[Any]]):
    query: _query.Query[Any]

    def run(self) -> list[Any]:
        return self.query.all()

    async def arun(self) -> list[Any]:
        return await self.query.aall()


@dataclass(frozen=True, slots=True)
class _Count(_store.Work[int]):
    query: _query.Query[Any]

    def run(self) -> int:
        return self.query.count()

    async def arun(self) -> int:
        return await self.query.acount()


@dataclass(frozen=True, slots=True)
class _Search(_store.Work[list["Hit[Any]"]]):
    """``Query.search``: text and, with an embedder, the same text as the vector (hybrid)."""

    query: _query.Query[Any]
    text: str
    hybrid: bool
    k: int
    weights: SearchWeights | None

    def run(self) -> list[Hit[Any]]:
        vector = self.text if self.hybrid else None
        return self.query.search(self.text, vector=vector, k=self.k, weights=self.weights)

    async def arun(self) -> list[Hit[Any]]:
        vector = self.text if self.hybrid else None
        return await self.query.asearch(self.text, vector=vector, k=self.k, weights=self.weights)


@dataclass(frozen=True, slots=True)
class _Delete(_store.Work[int]):
    """``bulk_delete`` of a query's matches (each record with its index entries)."""

    query: _query.Query[Any]

    def run(self) -> int:
        deleted: int = self.query.model.bulk_delete(self.query)
        return deleted

    async def arun(self) -> int:
        deleted: int = await self.query.model.abulk_delete(self.query)
        return deleted


@dataclass(frozen=True, slots=True)
class _DropBlobs(_store.Work[None]):
    """Delete blobs from the content store (file I/O: a worker thread under asyncio, as the
    content store's writes)."""

    names: set[str]

    def run(self) -> None:
        drop_blobs(self.names)

    async def arun(self) -> None:
        await asyncio.to_thread(drop_blobs, self.names)


def _saved_by(record: Model, operation: str, *extra: str) -> _Write:
    """A full save of ``record`` made by the model operation ``operation`` (a save's keys and
    arguments, then ``extra``), refused as a save is."""
    spec = record.__typedis_spec__
    save = _store.save_call(
        record, update_fields=None, migrate_key=False, ttl=_store.KEEP, expire_at=None
    )
    values = vars(record)
    rid = spec.locate(values)[1]

    def done(reply: list[Any]) -> None:
        if reply[0] != b"ok":
            raise _store._refusal(spec, reply, values, rid, rid)  # pyright: ignore[reportPrivateUsage]

    function = _lua.library(spec).function(operation)
    return _Write(spec, _scripts.Call(function, save.keys, [*save.args, *extra], done, write=True))


def _read(command: str, key: str, *args: Any, write: bool = False) -> _scripts.Call[Any]:
    return _scripts.Call(_scripts.Read(command), (key,), args, _identity, write=write)


def _is_str(value: object) -> bool:
    return isinstance(value, str)


def _identity(reply: Any) -> Any:
    return reply


def _now() -> datetime:
    return datetime.now(UTC)


# ---- the methods, once ----------------------------------------------------------------------


class _Core:
    """The methods of both memories as generators of steps, over the models of a namespace."""

    def __init__(
        self,
        namespace: str,
        embedder: EmbeddingProvider | None,
        weights: SearchWeights | None,
        models: Sequence[type[Model]],
    ) -> None:
        self.stored: Stored = stored(namespace, embedder)
        self.hybrid = embedder is not None
        self.weights = weights
        self.extra = tuple(models)
        for model in self.extra:
            spec = getattr(model, "__typedis_spec__", None)
            if spec is None or len(spec.partition) != 1:
                raise ConfigError(
                    f"models=: {getattr(model, '__name__', model)!r} must be a typedis model "
                    "partitioned by one field, the user id (partition='user_id')"
                )

    # -- isolation

    def _checked(self, user_id: str | None, model: type[Model], method: str) -> Steps[str]:
        """The partition of ``user_id``; for None, an ``IsolationWarning`` when the model's
        registry lists named users (SCARD and SISMEMBER of the registry: one round trip)."""
        value = partition(user_id)
        if user_id is None:
            spec = model.__typedis_spec__
            registry = _keys.partitions(spec.name)
            anonymous = _keys.tag(spec.name, [value])
            size, mine = yield _Send(
                [_read("SCARD", registry), _read("SISMEMBER", registry, anonymous)]
            )
            if size - mine > 0:
                warnings.warn(
                    f"RedisMemory.{method} was called without user_id on a memory holding "
                    "named users' data: it sees the anonymous partition only. Did you forget "
                    "user_id=?",
                    IsolationWarning,
                    stacklevel=5,
                )
        return value

    def _episodes(self, user: str) -> _query.Query[EpisodeBase]:
        return self.stored.episode.query.filter(user=user)

    def _facts(self, user: str) -> _query.Query[FactBase]:
        return self.stored.fact.query.filter(user=user)

    # -- working blocks

    def working(self, user_id: str | None) -> Steps[list[MemoryBlock]]:
        user = yield from self._checked(user_id, self.stored.block, "working")
        found: list[BlockBase] = yield _All(self.stored.block.query.filter(user=user))
        found.sort(key=lambda b: (b.pinned_order, b.name))
        return [Stored.to_block(b) for b in found]

    def write_block(self, name: str, content: str, user_id: str | None, mode: str) -> Steps[None]:
        """Set or append to a block in one server-side step (``lua/memory_block.lua``)."""
        if not (_is_str(name) and _is_str(content)):
            raise ConfigError(f"a block's name and content are str, got {name!r}, {content!r}")
        block = self.stored.block(
            user=partition(user_id), name=name, content=content, updated_at=_now()
        )
        yield _saved_by(block, "memory_block", mode)

    # -- episodes

    def remember(self, episode: Episode) -> Steps[str]:
        if not isinstance(cast(object, episode), Episode):
            raise ConfigError(f"remember() takes an Episode, got {type(episode).__name__}")
        yield _Save(self.stored.episode, [self.stored.episode_of(episode)])
        return episode.id

    def recall_scored(
        self,
        query: str,
        limit: int,
        time_range: tuple[datetime, datetime] | None,
        user_id: str | None,
    ) -> Steps[list[EpisodeMatch]]:
        user = yield from self._checked(user_id, self.stored.episode, "recall")
        q = self._episodes(user)
        if time_range is not None:
            low, high = time_range
            q = q.filter(occurred_at__gte=low, occurred_at__lte=high)
        hits: list[Hit[EpisodeBase]] = []
        if query.strip():
            hits = yield _Search(q, query, self.hybrid, limit, self.weights)
        if hits:
            return [
                EpisodeMatch(
                    episode=Stored.to_episode(h.record),
                    score=h.score,
                    text_score=h.text_score,
                    vector_score=h.vector_score,
                )
                for h in hits
            ]
        episode = self.stored.episode
        recent: list[EpisodeBase] = yield _All(q.order_by(episode.occurred_at.desc()).limit(limit))
        return [EpisodeMatch(episode=Stored.to_episode(r), score=0.0) for r in recent]

    def session_messages(
        self, session_id: str, user_id: str | None, limit: int
    ) -> Steps[list[Message]]:
        user = yield from self._checked(user_id, self.stored.episode, "session_messages")
        episode = self.stored.episode
        q = self._episodes(user).filter(session_id=session_id)
        latest: list[EpisodeBase] = yield _All(
            q.order_by(episode.occurred_at.desc()).limit(max(1, limit // 2))
        )
        out: list[Message] = []
        for r in reversed(latest):
            if r.input:
                out.append(Message(role="user", content=r.input))
            if r.output:
                out.append(Message(role="assistant", content=r.output))
        return out

    # -- facts

    def append_fact(self, fact: Fact) -> Steps[str]:
        """Record a fact and close what it supersedes in one step (``lua/memory_fact.lua``)."""
        if not isinstance(cast(object, fact), Fact):
            raise ConfigError(f"append() takes a Fact, got {type(fact).__name__}")
        record = self.stored.fact_of(fact)
        yield _saved_by(record, "memory_fact")
        return fact.id

    def fact_query(
        self,
        subject: str | None,
        predicate: str | None,
        object_: str | None,
        valid_at: datetime | None,
        limit: int,
        user_id: str | None,
    ) -> Steps[list[Fact]]:
        user = yield from self._checked(user_id, self.stored.fact, "facts.query")
        q = self._valid(self._facts(user), valid_at)
        if subject is not None:
            q = q.filter(subject=subject)
        if predicate is not None:
            q = q.filter(predicate=predicate)
        q = q.order_by(self.stored.fact.recorded_at.desc())
        if object_ is None:
            q = q.limit(limit)
        found: list[FactBase] = yield _All(q)
        kept = [Stored.to_fact(r) for r in found if object_ is None or r.object == object_]
        return kept[:limit]

    @staticmethod
    def _valid(q: _query.Query[FactBase], valid_at: datetime | None) -> _query.Query[FactBase]:
        if valid_at is None:
            return q
        return q.filter(valid_from__lte=valid_at, valid_until__gt=valid_at)

    def recall_facts(
        self, query: str, limit: int, valid_at: datetime | None, user_id: str | None
    ) -> Steps[list[Fact]]:
        user = yield from self._checked(user_id, self.stored.fact, "recall_facts")
        q = self._valid(self._facts(user), valid_at)
        hits: list[Hit[FactBase]] = []
        if query.strip():
            hits = yield _Search(q, query, False, limit, None)
        if hits:
            return [Stored.to_fact(h.record) for h in hits]
        recent: list[FactBase] = yield _All(
            q.order_by(self.stored.fact.recorded_at.desc()).limit(limit)
        )
        return [Stored.to_fact(r) for r in recent]

    def all_facts(self) -> Steps[list[Fact]]:
        found: list[FactBase] = yield _All(self.stored.fact.query.across_partitions())
        return [Stored.to_fact(r) for r in found]

    def delete_facts(self, user_id: str | None, before: datetime | None) -> Steps[int]:
        q = self._facts(partition(user_id))
        if before is not None:
            q = q.filter(recorded_at__lt=before)
        deleted: int = yield _Delete(q)
        return deleted

    def count_facts(self, user_id: str | None) -> Steps[int]:
        counted: int = yield _Count(self._facts(partition(user_id)))
        return counted

    # -- profile, forget, export

    def profile(self, user_id: str | None) -> Steps[MemoryProfile]:
        user = yield from self._checked(user_id, self.stored.episode, "profile")
        episode, fact = self.stored.episode, self.stored.fact
        episodes: int = yield _Count(self._episodes(user))
        facts: int = yield _Count(self._facts(user))
        blocks: int = yield _Count(self.stored.block.query.filter(user=user))
        latest: list[EpisodeBase] = yield _All(
            self._episodes(user).order_by(episode.occurred_at.desc()).limit(_RECENT)
        )
        sample: list[FactBase] = yield _All(
            self._facts(user).order_by(fact.recorded_at.desc()).limit(10)
        )
        sessions = list(dict.fromkeys(r.session_id for r in latest))[:10]
        return MemoryProfile(
            user_id=user_id,
            episode_count=episodes,
            fact_count=facts,
            block_count=blocks,
            last_seen=latest[0].occurred_at if latest else None,
            recent_sessions=sessions,
            sample_facts=[Stored.to_fact(r) for r in sample],
        )

    def forget(
        self, user_id: str | None, session_id: str | None, before: datetime | None
    ) -> Steps[int]:
        user = partition(user_id)
        if session_id is None and before is None:
            return (yield from self._erase(user))
        q = self._episodes(user)
        if session_id is not None:
            q = q.filter(session_id=session_id)
        if before is not None:
            q = q.filter(occurred_at__lt=before)
        deleted: int = yield _Delete(q)
        if session_id is None:  # facts have no session: a session's forget leaves them
            deleted += yield from self.delete_facts(user_id, before)
        return deleted

    def _erase(self, user: str) -> Steps[int]:
        """Every key of the user's partition of every model, listed from the model's spec: the
        records, deleted with their index entries a batch at a time (``lua/delete.lua``), then
        the partition's own index keys and their companions (statistics, term lists, vector
        counters and tombstones, filters, edges, change logs); the registry's entries and this
        process's caches. The number of episodes and facts there were."""
        blobs = yield from self._blobs(user)
        counted = 0
        for model in (*self.stored.models, *self.extra):
            spec = model.__typedis_spec__
            tag = _keys.tag(spec.name, [user])
            listed, expiring = _keys.all_ids(tag), _keys.expiry(tag)
            cursor = 0
            while True:  # until a whole SSCAN pass finds no record left
                start = cursor
                (cursor, some), more = yield _Send(
                    [
                        _read("SSCAN", listed, cursor, "COUNT", _CHUNK),
                        _read("ZRANGE", expiring, 0, _CHUNK - 1),
                    ]
                )
                cursor = int(cursor)
                ids = sorted({i.decode() for i in [*some, *more]})
                if ids:
                    (deleted,) = yield _Send([_store.delete_call(spec, [(tag, i) for i in ids])])
                    if model in (self.stored.episode, self.stored.fact):
                        counted += deleted
                elif start == 0 and cursor == 0:
                    break
            suffixes = [ix.suffix + c for ix in spec.indexes for c in ("", *ix.kind.companions)]
            calls = [_read("SREM", _keys.partitions(spec.name), tag, write=True)]
            if suffixes:
                keys = [f"{tag}:{suffix}" for suffix in suffixes]
                calls.append(_scripts.Call(_DEL, keys, (), _identity, write=True))
            yield _Send(calls)
            _maintenance.unregistered(spec, tag)
            drop_caches(tag)
        if blobs:
            blobs -= yield from self._blobs(None)
            yield _DropBlobs(blobs)
        return counted

    def _blobs(self, user: str | None) -> Steps[set[str]]:
        """The content-store digests the ``models=`` records of a partition name (None: of
        every partition the registries list)."""
        named: set[str] = set()
        for model in self.extra:
            fields = content_fields(model)
            if fields:
                spec = model.__typedis_spec__
                q = model.query
                q = q.across_partitions() if user is None else q.filter(**{spec.partition[0]: user})
                named |= digests((yield _All(q)), fields)
        return named

    def export(self, user_id: str | None) -> Steps[MemoryExport]:
        user = partition(user_id)
        blocks = yield from self.working(user_id)
        episode, fact = self.stored.episode, self.stored.fact
        episodes: list[EpisodeBase] = yield _All(
            self._episodes(user).order_by(episode.occurred_at.asc())
        )
        facts: list[FactBase] = yield _All(self._facts(user).order_by(fact.recorded_at.asc()))
        records: dict[str, list[dict[str, JsonValue]]] = {}
        states: dict[str, ModelState] = {}
        for model in self.extra:
            spec = model.__typedis_spec__
            tag = _keys.tag(spec.name, [user])
            state = ModelState()
            records[spec.name] = []
            ids = yield from self._ids(tag)
            for start in range(0, len(ids), CHUNK):
                (part,) = yield _Send([records_call(model, tag, ids[start : start + CHUNK])])
                for record, hidden in part:
                    records[spec.name].append(record.model_dump(mode="json"))
                    if hidden is not None:
                        state.records.append(hidden)
            ((state.edges, state.predictions),) = yield _Send([links_call(model, tag)])
            states[spec.name] = state
        return MemoryExport(
            user_id=user_id,
            blocks=blocks,
            episodes=[Stored.to_episode(r) for r in episodes],
            facts=[Stored.to_fact(r) for r in facts],
            records=records,
            state=states,
        )

    def _ids(self, tag: str) -> Steps[list[str]]:
        """The ids of a partition's records (``SSCAN`` of its id set, which lists every one),
        sorted."""
        ids: set[str] = set()
        cursor = None
        while cursor != 0:
            ((cursor, some),) = yield _Send(
                [_read("SSCAN", _keys.all_ids(tag), cursor or 0, "COUNT", CHUNK)]
            )
            cursor = int(cursor)
            ids.update(i.decode() for i in some)
        return sorted(ids)

    def restore(self, export: MemoryExport) -> Steps[int]:
        user = partition(export.user_id)
        strays = [e.id for e in export.episodes if e.user_id != export.user_id]
        strays += [f.id for f in export.facts if f.user_id != export.user_id]
        if strays:
            raise ConfigError(
                f"restore(): the export is {export.user_id!r}'s, but {strays[:3]} belong to "
                "another user (nothing was written)"
            )
        extra: list[tuple[type[Model], list[Model], list[_scripts.Call[None]]]] = []
        for model in self.extra:  # every check before the first write
            spec = model.__typedis_spec__
            found = [model.model_validate(d) for d in export.records.get(spec.name, [])]
            tag = _keys.tag(spec.name, [user])
            strange = [r for r in found if located(r)[0] != tag]
            if strange:
                raise ConfigError(
                    f"restore(): the export is {export.user_id!r}'s, but {spec.name} record "
                    f"{located(strange[0])[1]!r} is another partition's (nothing was written)"
                )
            state = export.state.get(spec.name, ModelState())
            ids = [located(r)[1] for r in found]
            extra.append((model, found, restore_calls(model, tag, state, ids)))
        yield _Save(self.stored.block, [self.stored.block_of(b, user) for b in export.blocks])
        yield _Save(self.stored.episode, [self.stored.episode_of(e) for e in export.episodes])
        yield _Save(self.stored.fact, [self.stored.fact_of(f) for f in export.facts])
        written = len(export.blocks) + len(export.episodes) + len(export.facts)
        for model, found, calls in extra:
            yield _Save(model, found)
            for call in calls:
                yield _Write(model.__typedis_spec__, call)
            written += len(found)
        return written


# ---- the two memories -----------------------------------------------------------------------


class RedisFactStore:
    """The bi-temporal facts of a ``RedisMemory`` (LoomFlow's ``FactStore``), asyncio.

    ``SyncRedisFactStore`` is its sync twin (``SyncRedisMemory.facts``).

    Examples:
        >>> from typedis.memory import Fact, RedisMemory
        >>> async def main() -> None:
        ...     memory = RedisMemory()
        ...     fact = Fact(user_id="ann", subject="ann", predicate="drinks", object="tea")
        ...     await memory.facts.append(fact)
    """

    def __init__(self, core: _Core) -> None:
        self._core = core

    async def append(self, fact: Fact) -> str:
        """Record ``fact``, closing the validity of the versions it supersedes (same user,
        subject and predicate) in the same atomic step; its id."""
        return await adrive(self._core.append_fact(fact))

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
        """The user's facts with the given fields (valid at ``valid_at``), latest recorded
        first."""
        return await adrive(
            self._core.fact_query(subject, predicate, object_, valid_at, limit, user_id)
        )

    async def recall_text(
        self,
        query: str,
        *,
        limit: int = 5,
        valid_at: datetime | None = None,
        user_id: str | None = None,
    ) -> list[Fact]:
        """The user's facts best matching ``query`` (BM25 over "subject predicate object"),
        valid at ``valid_at`` if given; the latest recorded when nothing matches."""
        return await adrive(self._core.recall_facts(query, limit, valid_at, user_id))

    async def all_facts(self) -> list[Fact]:
        """Every user's facts (every partition the registry lists)."""
        return await adrive(self._core.all_facts())

    async def delete(self, *, user_id: str | None = None, before: datetime | None = None) -> int:
        """Delete the user's facts (those recorded before ``before``); how many."""
        return await adrive(self._core.delete_facts(user_id, before))

    async def count(self, *, user_id: str | None = None) -> int:
        """How many facts (every version) the user has."""
        return await adrive(self._core.count_facts(user_id))

    async def aclose(self) -> None:
        """Nothing to close: the connection is typedis's (``typedis.connect``)."""


class SyncRedisFactStore:
    """``RedisFactStore`` on the sync client: the same methods, returning values.

    Examples:
        >>> from typedis.memory import Fact, SyncRedisMemory
        >>> memory = SyncRedisMemory()
        >>> memory.facts.count(user_id="nobody")
        0
    """

    def __init__(self, core: _Core) -> None:
        self._core = core

    def append(self, fact: Fact) -> str:
        """``RedisFactStore.append``."""
        return drive(self._core.append_fact(fact))

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
        """``RedisFactStore.query``."""
        return drive(self._core.fact_query(subject, predicate, object_, valid_at, limit, user_id))

    def recall_text(
        self,
        query: str,
        *,
        limit: int = 5,
        valid_at: datetime | None = None,
        user_id: str | None = None,
    ) -> list[Fact]:
        """``RedisFactStore.recall_text``."""
        return drive(self._core.recall_facts(query, limit, valid_at, user_id))

    def all_facts(self) -> list[Fact]:
        """``RedisFactStore.all_facts``."""
        return drive(self._core.all_facts())

    def delete(self, *, user_id: str | None = None, before: datetime | None = None) -> int:
        """``RedisFactStore.delete``."""
        return drive(self._core.delete_facts(user_id, before))

    def count(self, *, user_id: str | None = None) -> int:
        """``RedisFactStore.count``."""
        return drive(self._core.count_facts(user_id))


class RedisMemory:
    """LoomFlow's ``Memory`` on Redis, asyncio; ``SyncRedisMemory`` is the sync twin.

    Args:
        namespace: the models' name prefix (``<namespace>.Episode``...): two memories of one
            namespace share their data.
        embedder: with one, each episode gets a vector and recall is hybrid (BM25 and cosine
            fused, ``weights``); without, recall is BM25.
        weights: the fusion's ``SearchWeights`` (docs/retrieval.md); None: the defaults.
        models: more models holding users' data, each partitioned by one field whose value is
            the user id (``""`` for the anonymous partition): ``forget`` erases the user's
            partition of each, ``export`` and ``restore`` carry its records.

    Raises:
        ConfigError: an empty namespace, or one in use with another embedder.

    Examples:
        >>> from typedis.memory import Episode, RedisMemory
        >>> async def main() -> None:
        ...     memory = RedisMemory()
        ...     episode = Episode(user_id="ann", session_id="s1", input="hi", output="hello")
        ...     await memory.remember(episode)
        ...     print(await memory.recall("hello", user_id="ann"))
    """

    def __init__(
        self,
        *,
        namespace: str = "memory",
        embedder: EmbeddingProvider | None = None,
        weights: SearchWeights | None = None,
        models: Sequence[type[Model]] = (),
    ) -> None:
        self._core = _Core(namespace, embedder, weights, models)
        self.facts = RedisFactStore(self._core)

    async def working(self, *, user_id: str | None = None) -> list[MemoryBlock]:
        """The user's blocks in ``pinned_order``."""
        return await adrive(self._core.working(user_id))

    async def update_block(self, name: str, content: str, *, user_id: str | None = None) -> None:
        """Set a block's content; a new block takes the next ``pinned_order``, a stored one
        keeps its own (one atomic step)."""
        await adrive(self._core.write_block(name, content, user_id, "set"))

    async def append_block(self, name: str, content: str, *, user_id: str | None = None) -> None:
        """Append to a block (created if absent) in one atomic step on the server: concurrent
        appends all land."""
        await adrive(self._core.write_block(name, content, user_id, "append"))

    async def remember(self, episode: Episode) -> str:
        """Store an episode in its user's partition (embedded first, with an embedder); its
        id."""
        return await adrive(self._core.remember(episode))

    async def recall(
        self,
        query: str,
        *,
        kind: str = "episodic",
        limit: int = 5,
        time_range: tuple[datetime, datetime] | None = None,
        user_id: str | None = None,
    ) -> list[Episode]:
        """The user's episodes best matching ``query`` (within ``time_range``); the latest
        when nothing matches. ``kind`` is accepted for LoomFlow and ignored (facts:
        ``recall_facts``)."""
        found = await adrive(self._core.recall_scored(query, limit, time_range, user_id))
        return [m.episode for m in found]

    async def recall_scored(
        self,
        query: str,
        *,
        kind: str = "episodic",
        limit: int = 5,
        time_range: tuple[datetime, datetime] | None = None,
        user_id: str | None = None,
    ) -> list[EpisodeMatch]:
        """``recall`` with the scores: the fused score, BM25 and cosine (``Query.search``);
        the latest episodes, when nothing matches, score 0."""
        return await adrive(self._core.recall_scored(query, limit, time_range, user_id))

    async def recall_facts(
        self,
        query: str,
        *,
        limit: int = 5,
        valid_at: datetime | None = None,
        user_id: str | None = None,
    ) -> list[Fact]:
        """``facts.recall_text``: the user's facts best matching ``query``, valid at
        ``valid_at`` if given."""
        return await adrive(self._core.recall_facts(query, limit, valid_at, user_id))

    async def session_messages(
        self, session_id: str, *, user_id: str | None = None, limit: int = 20
    ) -> list[Message]:
        """The last ``limit`` messages of a session, oldest first (a user and an assistant
        message per episode)."""
        return await adrive(self._core.session_messages(session_id, user_id, limit))

    async def profile(self, *, user_id: str | None = None) -> MemoryProfile:
        """Counts, last activity, recent sessions (among the latest 100 episodes) and the 10
        latest facts of a user."""
        return await adrive(self._core.profile(user_id))

    async def forget(
        self,
        *,
        user_id: str | None = None,
        session_id: str | None = None,
        before: datetime | None = None,
    ) -> int:
        """Erase a user's data; the number of episodes and facts erased.

        With neither ``session_id`` nor ``before``: every trace of the user (docs/agent-memory.md,
        "Erasure and export"; no SCAN: the keys are listed from the models' specs). Otherwise the
        user's episodes of that session and/or occurred before ``before``, and (without
        ``session_id``) the facts recorded before ``before``.
        """
        return await adrive(self._core.forget(user_id, session_id, before))

    async def export(self, *, user_id: str | None = None) -> MemoryExport:
        """Everything ``forget(user_id=...)`` erases, as JSON-ready models: the records and
        the memory primitives' state of the ``models`` records (``MemoryExport.state``); what
        is derived from the records (indexes, text statistics, bloom bits) is not exported.
        Reading it is no use of the records (no access is staged)."""
        return await adrive(self._core.export(user_id))

    async def restore(self, export: MemoryExport) -> int:
        """Write an export back (the import: blocks, episodes with their vectors, every fact
        version as it was, the records of ``models`` with their state, the indexes rebuilt);
        the number of records written.

        Raises:
            ConfigError: a record of another user, or a state that names no restored record,
                holds no hidden field or text its primitive writes, or names no field of its
                kind (nothing was written).
        """
        return await adrive(self._core.restore(export))


class SyncRedisMemory:
    """``RedisMemory`` on the sync client: the same constructor and method names.

    Examples:
        >>> from typedis.memory import SyncRedisMemory
        >>> memory = SyncRedisMemory()
        >>> memory.append_block("persona", "terse. ", user_id="ann")
        >>> [b.content for b in memory.working(user_id="ann")]
        ['terse. ']
    """

    def __init__(
        self,
        *,
        namespace: str = "memory",
        embedder: EmbeddingProvider | None = None,
        weights: SearchWeights | None = None,
        models: Sequence[type[Model]] = (),
    ) -> None:
        self._core = _Core(namespace, embedder, weights, models)
        self.facts = SyncRedisFactStore(self._core)

    def working(self, *, user_id: str | None = None) -> list[MemoryBlock]:
        """``RedisMemory.working``."""
        return drive(self._core.working(user_id))

    def update_block(self, name: str, content: str, *, user_id: str | None = None) -> None:
        """``RedisMemory.update_block``."""
        drive(self._core.write_block(name, content, user_id, "set"))

    def append_block(self, name: str, content: str, *, user_id: str | None = None) -> None:
        """``RedisMemory.append_block``."""
        drive(self._core.write_block(name, content, user_id, "append"))

    def remember(self, episode: Episode) -> str:
        """``RedisMemory.remember``."""
        return drive(self._core.remember(episode))

    def recall(
        self,
        query: str,
        *,
        kind: str = "episodic",
        limit: int = 5,
        time_range: tuple[datetime, datetime] | None = None,
        user_id: str | None = None,
    ) -> list[Episode]:
        """``RedisMemory.recall``."""
        found = drive(self._core.recall_scored(query, limit, time_range, user_id))
        return [m.episode for m in found]

    def recall_scored(
        self,
        query: str,
        *,
        kind: str = "episodic",
        limit: int = 5,
        time_range: tuple[datetime, datetime] | None = None,
        user_id: str | None = None,
    ) -> list[EpisodeMatch]:
        """``RedisMemory.recall_scored``."""
        return drive(self._core.recall_scored(query, limit, time_range, user_id))

    def recall_facts(
        self,
        query: str,
        *,
        limit: int = 5,
        valid_at: datetime | None = None,
        user_id: str | None = None,
    ) -> list[Fact]:
        """``RedisMemory.recall_facts``."""
        return drive(self._core.recall_facts(query, limit, valid_at, user_id))

    def session_messages(
        self, session_id: str, *, user_id: str | None = None, limit: int = 20
    ) -> list[Message]:
        """``RedisMemory.session_messages``."""
        return drive(self._core.session_messages(session_id, user_id, limit))

    def profile(self, *, user_id: str | None = None) -> MemoryProfile:
        """``RedisMemory.profile``."""
        return drive(self._core.profile(user_id))

    def forget(
        self,
        *,
        user_id: str | None = None,
        session_id: str | None = None,
        before: datetime | None = None,
    ) -> int:
        """``RedisMemory.forget``."""
        return drive(self._core.forget(user_id, session_id, before))

    def export(self, *, user_id: str | None = None) -> MemoryExport:
        """``RedisMemory.export``."""
        return drive(self._core.export(user_id))

    def restore(self, export: MemoryExport) -> int:
        """``RedisMemory.restore``."""
        return drive(self._core.restore(export))
