"""``Query[M]``: the builder behind ``Model.query``, and its two executors.

Builder methods return new queries. Every terminal method plans the query (pure, see
``_planner``) into one call of the model library's ``query`` function (``lua/query.lua``), or,
for a query over several partitions or shards, one call per tag (a ``Fanout``) whose replies
are merged here. Each terminal method is written once as a generator of steps (the calls to
send together, answered with their replies); ``_drive`` runs it on the sync clients,
``_adrive`` on the asyncio clients (``send`` / ``asend``: one pipeline).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import AsyncIterator, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import islice
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from .. import _keys, _lua, _scripts, _store
from .._errors import NotFound, QueryError
from .._markers import GeoPoint
from . import _conditions as c
from ._planner import Fanout, Plan, describe, needs_registry, plan
from ._refs import ConfidenceRef, DecayRef, FieldRef, GeoRef, Ordering, Rank, SortedRef

if TYPE_CHECKING:
    from .._model import Model
    from .._spec import ModelSpec
    from ..retrieval._hit import Hit

M = TypeVar("M", bound="Model")
T1 = TypeVar("T1")
T2 = TypeVar("T2")
T3 = TypeVar("T3")
R = TypeVar("R")

Steps = Generator[list["_scripts.Call[Any]"], list[Any], R]
"""A terminal method's work: yields the calls to send together, is sent their replies."""
Located = tuple[str, str]  # (tag, record id)

_LOOKUPS = ("eq", "ne", "in", "isnull", "startswith", "lt", "lte", "gt", "gte", "between")
_EARTH_RADIUS_M = 6372797.560856  # the radius Redis uses for GEO distances
_UNITS = {"m": 1.0, "km": 1000.0, "mi": 1609.34, "ft": 0.3048}


@dataclass(frozen=True, slots=True)
class Profile:
    """What the query function did for one run of a query (``Query.profile()``)."""

    shape: str  # the shape it ran: the plan's, or "sort" where an ordered scan gave up
    walked: int  # ids its walks looked at
    stored: int  # ids it wrote to scratch keys (set algebra over the matches)
    found: int  # ids on the page (for a count: the count)


@dataclass(frozen=True, slots=True)
class Query(Generic[M]):
    """A query over the records of one model. Build it with ``Model.query``."""

    model: type[M]
    where: c.Cond[M] | None = None
    ordering: Ordering[M] | None = None
    skip: int = 0
    take: int | None = None
    spread: bool = False  # across_partitions(): over every partition the registry lists

    # ---- building -------------------------------------------------------------------------

    def filter(self, *conds: c.Cond[M], **lookups: Any) -> Query[M]:
        """Keep records matching every condition (and Popoto-style ``field__op=value``)."""
        _check_conditions(conds)
        parts = [*conds, *_lookups(self.model, lookups)]
        if self.where is not None:
            parts.insert(0, self.where)
        if not parts:
            return self
        where = parts[0] if len(parts) == 1 else c.And(tuple(parts))
        return replace(self, where=where)

    def across_partitions(self) -> Query[M]:
        """Run over every partition of a partitioned model, where the query names none.

        The partitions are those the model's registry lists (one ``SMEMBERS``; an ACL user
        who may not read it gets ``PermissionDenied``); each runs the query in one function
        call, all sent in one pipeline, and the pages are merged here (docs/partitions.md).
        A query that names its partitions (``==`` or ``in_()`` on the partition fields)
        needs no opt-in, nor does one of a model declared ``shards=``.
        """
        return replace(self, spread=True)

    def exclude(self, *conds: c.Cond[M], **lookups: Any) -> Query[M]:
        """Drop records matching all the given conditions."""
        parts = [*conds, *_lookups(self.model, lookups)]
        if not parts:
            return self
        return self.filter(c.Not(parts[0] if len(parts) == 1 else c.And(tuple(parts))))

    def order_by(
        self,
        ordering: Ordering[M] | SortedRef[M, Any] | ConfidenceRef[M] | DecayRef[M, Any] | Rank[M],
    ) -> Query[M]:
        """Order results by a Sorted field or a ``Rank`` of them, computed on the server.

        ``order_by(Shop.rating.desc())``; ``order_by((Shop.rating * 0.7 + Shop.visits * 0.3)
        .desc())``; a bare reference or rank is ascending.
        """
        given: object = ordering  # typed, but given by users at run time
        if isinstance(ordering, FieldRef | Rank):
            ordering = Ordering(ordering)
        elif not isinstance(given, Ordering):
            name = self.model.__name__
            field = given in self.model.model_fields
            hint = f"; for that field, {name}.{given}.asc()" if field else ""
            raise QueryError(
                f"{name}.query.order_by() takes a field reference ({name}.field, "
                f"{name}.field.desc()) or a Rank of them, got {given!r}{hint}"
            )
        return replace(self, ordering=ordering)

    def _decaying(self, ref: DecayRef[M, Any] | None, n: int, at: datetime | None) -> Query[M]:
        """This query ordered by ``ref``'s decayed value at ``at``, limited to ``n``."""
        if ref is None:
            refs = [r for r in self.model.__typedis_refs__.values() if isinstance(r, DecayRef)]
            if len(refs) != 1:
                raise QueryError(
                    f"{self.model.__name__} has {len(refs)} Decaying fields: name the one to "
                    "rank by, top_by_decay(Model.field, n)"
                )
            ref = refs[0]
        return self.order_by(ref.decayed(at)).limit(n)

    def limit(self, n: int) -> Query[M]:
        """At most ``n`` results (an int >= 0)."""
        return replace(self, take=self._whole("limit", n, 0))

    def offset(self, n: int) -> Query[M]:
        """Skip the first ``n`` results (an int >= 0)."""
        return replace(self, skip=self._whole("offset", n, 0))

    def _whole(self, what: str, n: object, least: int) -> int:
        """``n`` as an int of at least ``least`` (``QueryError`` naming ``what`` otherwise)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < least:
            raise QueryError(
                f"{self.model.__name__}.query.{what}(): takes an int >= {least}, got {n!r}"
            )
        return n

    def plan(self, mode: str = "records", *, exact: bool = True) -> Plan:
        """The planned function call (pure: no Redis involved); ``exact``: of a count.

        Raises:
            QueryError: the query runs over several partitions or shards (one plan each:
                see ``explain()``).
        """
        _exact(exact)
        p: Plan | Fanout | None = None
        if not (self.spread and needs_registry(self.model, self.where)):
            p = plan(self.model, self.where, self.ordering, self.skip, self.take, mode)
        if not isinstance(p, Plan):
            raise QueryError(
                f"this {self.model.__name__} query runs over several partitions or shards, one "
                "plan each: explain() shows them"
            )
        return p if exact else replace(p, exact=False)

    def explain(self, mode: str = "records", *, exact: bool = True) -> str:
        """The plan in words: filter, order, page, shape and cost class.

        ``explain("count")`` tells how ``count()`` runs, ``explain("count", exact=False)``
        how ``count(exact=False)`` does. A query across partitions reads the registry of
        partitions to say over how many it fans out; any other query reads nothing.
        """
        return _drive(self._explain(mode, exact))

    async def aexplain(self, mode: str = "records", *, exact: bool = True) -> str:
        """``explain()`` on the asyncio client."""
        return await _adrive(self._explain(mode, exact))

    def profile(self) -> Profile:
        """Run the query's page selection on the server and say what it cost: the shape run
        and the ids it walked and stored, as ``all()`` runs it. No record is returned and no
        read hook runs.

        Raises:
            QueryError: the query runs over several partitions or shards (``plan()``).
        """
        p = replace(self.plan(), profile=True)

        def decode(reply: list[Any]) -> Profile:
            shape, walked, stored, found = reply
            return Profile(shape.decode(), int(walked), int(stored), int(found))

        profile: Profile = _scripts.run(self._call(p, decode))
        return profile

    def _explain(self, mode: str, exact: bool) -> Steps[str]:
        p = yield from self._planned(mode, exact)
        return f"{self.model.__name__} {describe(p)}"

    def _planned(self, mode: str, exact: bool = True) -> Steps[Plan | Fanout]:
        """The plan, or the fan-out, of this query (reading the registry of partitions for a
        query across partitions)."""
        inexact = not _exact(exact)
        tags: list[str] | None = None
        if self.spread and needs_registry(self.model, self.where):
            (tags,) = yield [_registry_call(self.model.__typedis_spec__)]
        p = plan(self.model, self.where, self.ordering, self.skip, self.take, mode, tags)
        if isinstance(p, Fanout):
            return replace(p, plans=tuple(replace(x, exact=not inexact) for x in p.plans))
        return replace(p, exact=False) if inexact else p

    # ---- steps (one per terminal method, shared by both executors) ---------------------------

    def _call(self, p: Plan, decode: Any) -> _scripts.Call[Any]:
        return query_call(self.model.__typedis_spec__, p, decode)

    def _records(self, p: Plan) -> _scripts.Call[list[M]]:
        model = self.model

        def decode(flat: list[Any]) -> list[M]:
            pairs = iter(flat)  # id, values, id, values...
            rows: Iterable[tuple[bytes, Any]] = zip(pairs, pairs, strict=True)
            if p.sorted_by_client:
                rows = sorted(rows, key=itemgetter(0))
            read, tag = _store.reader(model), p.tag
            return [read(row, (tag, rid.decode())) for rid, row in rows]

        return self._call(p, decode)

    def _all(self, take: int | None = None) -> Steps[list[M]]:
        """The matching records (of the first ``take``, if given)."""
        query = self if take is None else replace(self, take=take)
        p = yield from query._planned("records")
        if isinstance(p, Fanout):
            return (yield from query._merged_records(p))
        (found,) = yield [query._records(p)]
        page: list[M] = found
        return page

    def _merged_records(self, f: Fanout) -> Steps[list[M]]:
        """The records of a fan-out, merged. Read in the same calls, unless the model's kinds
        run a read hook on each record read: then its page is selected first (ids and
        scores) and only its records are read, so no record cut by the merge counts as read."""
        desc = f.descending
        if f.plans and f.plans[0].reads:
            located = yield from self._merged_ids(f)
            return (yield from self._loaded(located))
        f = f.with_mode("records" if desc is None else "scored")
        replies = yield from self._pages(f, _rows(desc is not None), desc)
        read = _store.reader(self.model)
        return [read(row, (tag, rid.decode())) for tag, rid, row in _merge(f, replies, desc)]

    def _merged_ids(self, f: Fanout) -> Steps[list[Located]]:
        """The (tag, id) of a fan-out's page, merged (ids and scores only: no record read)."""
        desc = f.descending
        f = f.with_mode("ids" if desc is None else "ranked")
        replies = yield from self._pages(f, _ids(desc is not None), desc)
        return [(tag, rid.decode()) for tag, rid, _ in _merge(f, replies, desc)]

    def _pages(self, f: Fanout, decode: Any, desc: bool | None) -> Steps[list[list[Row]]]:
        """Each tag's page for the merge: its first ``offset + limit`` matches (k).

        A limited page over P tags first asks each for a share: ``2·⌈k/P⌉ + 1`` matches when
        ordered, ``⌈k/P⌉`` when not. A tag that returned all it was asked for and may hold
        more of the page (ordered: its last match comes before the k-th of them all; not
        ordered: they are fewer than k) is asked again for k, in a second pipeline. With
        matches spread evenly, one round reads about 2k records instead of P·k.
        """
        first = f.share
        if first is None:
            return (yield [self._call(p, decode) for p in f.plans])
        k = f.offset + f.limit
        pages: list[list[Row]] = yield [
            self._call(replace(p, limit=first), decode) for p in f.plans
        ]
        full = [i for i, page in enumerate(pages) if len(page) == first]
        if desc is None:
            short = full if sum(map(len, pages)) < k else []
        else:
            ranks = (_rank(score, rid, desc) for page in pages for rid, _, score in page)
            least = heapq.nsmallest(k, ranks)
            kth = least[-1] if len(least) == k else None
            short = [
                i
                for i in full
                if kth is None or _rank(pages[i][-1][2], pages[i][-1][0], desc) < kth
            ]
        if short:
            again: list[list[Row]] = yield [self._call(f.plans[i], decode) for i in short]
            for i, page in zip(short, again, strict=True):
                pages[i] = page
        return pages

    def _loaded(self, located: list[Located]) -> Steps[list[M]]:
        """The live records at these (tag, id), in that order."""
        records = yield from self._read(located)
        return [r for r in records if r is not None]

    def _read(self, located: list[Located]) -> Steps[list[M | None]]:
        """The records at these (tag, id), in that order (None: missing or expired): one load
        per tag (a call spans one slot), the loads sent together."""
        by_tag: dict[str, list[Located]] = {}
        for at in located:
            by_tag.setdefault(at[0], []).append(at)
        replies = yield [_store.load_call(self.model, ats) for ats in by_tag.values()]
        found: dict[Located, M | None] = {}
        for ats, records in zip(by_tag.values(), replies, strict=True):
            found.update(zip(ats, records, strict=True))
        return [found[at] for at in located]

    def _first(self) -> Steps[M | None]:
        found = yield from self._all(1)
        return found[0] if found else None

    def _get(self, conds: Sequence[c.Cond[M]], lookups: dict[str, Any]) -> Steps[M]:
        """The one record matching (also) ``conds`` and ``lookups``."""
        query = replace(self.filter(*conds, **lookups), take=2)
        p = yield from query._planned("records")
        found: list[M]
        if isinstance(p, Fanout):
            found = yield from query._merged_records(p)
        elif p.where[0] != "ids" or p.offset:
            (found,) = yield [query._records(p)]
        else:  # by key: read the records themselves, without the query function
            ids = list(dict.fromkeys(p.where[1]))
            if len(ids) == 1:
                (one,) = yield [_store.load_one_call(self.model, (p.tag, ids[0]))]
                found = _found(one)
            else:
                (records,) = yield [_store.load_call(self.model, [(p.tag, i) for i in ids])]
                found = _found_all(records)
        return query._get_one(found)

    def _count(self, exact: bool) -> Steps[int]:
        p = yield from self._planned("count", exact)
        plans = p.plans if isinstance(p, Fanout) else (p,)
        counts = yield [self._call(x, int) for x in plans]
        return sum(counts)

    def _exists(self) -> Steps[bool]:
        """Whether any record matches: at most one id from each tag, no record read."""
        p = yield from replace(self, take=1)._planned("ids")
        plans = p.plans if isinstance(p, Fanout) else (p,)
        if isinstance(p, Fanout) and self.skip:  # the offset counts matches of every tag
            return bool((yield from self._merged_ids(p)))
        pages = yield [self._call(x, list) for x in plans]
        return any(pages)

    def _located(self) -> Steps[list[Located]]:
        """The (tag, id) of every match, in order."""
        p = yield from self._planned("ids")
        if isinstance(p, Fanout):
            return (yield from self._merged_ids(p))
        (ids,) = yield [self._call(p, list)]
        return [(p.tag, i.decode()) for i in ids]

    def _get_one(self, found: list[M]) -> M:
        """The single record of a ``get()`` (``self`` is the filtered query)."""
        if not found:
            raise NotFound(f"no {self.model.__name__} matches {self.where!r}")
        if len(found) > 1:
            raise QueryError(f"several {self.model.__name__} records match {self.where!r}")
        return found[0]

    # ---- sync -------------------------------------------------------------------------------

    def all(self) -> list[M]:
        """Every matching record, in order."""
        return _drive(self._all())

    def first(self) -> M | None:
        """The first matching record, or None."""
        return _drive(self._first())

    def get(self, *conds: c.Cond[M], **lookups: Any) -> M:
        """The one record matching (also) these conditions.

        Raises:
            NotFound: none matches.
            QueryError: several match.
        """
        return _drive(self._get(conds, lookups))

    def count(self, *, exact: bool = True) -> int:
        """How many records match (over several partitions or shards: their counts summed).

        Args:
            exact: count the live records only: O(matches) on the server, as each match's
                hash is checked (one deleted outside typedis is not counted) and expired
                records not yet swept are left out. ``False``: count by the indexes alone,
                O(1) for every record or one equality set, O(log N) for one range (see
                ``explain()``), counting expired records not yet swept and records deleted
                outside typedis.

        Raises:
            QueryError: ``exact`` is not a bool.
        """
        return _drive(self._count(exact))

    def exists(self) -> bool:
        """Whether any record matches."""
        return _drive(self._exists())

    def keys(self) -> list[str]:
        """The matching records' Redis keys, in order."""
        return [_keys.record(tag, i) for tag, i in _drive(self._located())]

    def get_many(self, keys: Iterable[Any]) -> list[M | None]:
        """Records by key values (a tuple per record for several key fields), in that order;
        None for a key that holds no live record."""
        return _drive(self._read(_located(self.model, keys)))

    @overload
    def values(self, a: FieldRef[M, T1], /) -> list[tuple[T1]]: ...
    @overload
    def values(self, a: FieldRef[M, T1], b: FieldRef[M, T2], /) -> list[tuple[T1, T2]]: ...
    @overload
    def values(
        self, a: FieldRef[M, T1], b: FieldRef[M, T2], c: FieldRef[M, T3], /
    ) -> list[tuple[T1, T2, T3]]: ...
    @overload
    def values(self, *refs: FieldRef[M, Any]) -> list[tuple[Any, ...]]: ...
    def values(self, *refs: FieldRef[M, Any]) -> list[tuple[Any, ...]]:
        """The values of these fields for each matching record, in order."""
        return [tuple(getattr(r, ref.name) for ref in refs) for r in self.all()]

    def iter(self, batch_size: int = 1000) -> Iterator[M]:
        """Iterate over all matches, reading ``batch_size`` (>= 1) records per call."""
        self._whole("iter", batch_size, 1)
        return self._iter(batch_size)

    def _iter(self, batch_size: int) -> Iterator[M]:
        located = _drive(self._located())
        for start in range(0, len(located), batch_size):
            yield from _drive(self._loaded(located[start : start + batch_size]))

    def top_by_decay(
        self, ref: DecayRef[M, Any] | None = None, n: int = 10, at: datetime | None = None
    ) -> list[M]:
        """The ``n`` matches whose Decaying field ``ref`` is largest once decayed to ``at``.

        ``ref`` may be left out when the model has one Decaying field; ``at`` defaults to the
        server's now. Exponential curves cost O(log N + n) without filters; power curves visit
        touch days best bound first (see docs/memory.md).
        """
        return self._decaying(ref, n, at).all()

    def with_distances(self) -> list[tuple[M, float]]:
        """Every match with its distance from the center of the query's ``within()``, nearest
        first; a match without a point (one found by another part of an ``|``) is at ``inf``."""
        return _by_distance(self.where, self.all())

    def search(
        self,
        text: str | None = None,
        *,
        vector: Sequence[float] | str | None = None,
        k: int = 10,
        weights: object = None,
    ) -> list[Hit[M]]:
        """The ``k`` records that best match ``text`` (BM25 over the model's ``Text`` field)
        or ``vector`` (cosine over its ``Embedding`` field; a str is embedded by the field's
        provider), among those the query's filters admit, best first (docs/retrieval.md).

        Raises:
            QueryError: the model has no Text field, ``k`` is not an int >= 1, or the query
                has an order, offset or limit (search ranks by score and takes ``k``).
        """
        from ..retrieval import _search  # retrieval is built on the query layer

        vector = _search.embedded(self, vector)
        return _drive(_search.search(self, text, vector, k, weights))

    # ---- async --------------------------------------------------------------------------------

    async def aall(self) -> list[M]:
        """``all()`` on the asyncio client."""
        return await _adrive(self._all())

    async def afirst(self) -> M | None:
        """``first()`` on the asyncio client."""
        return await _adrive(self._first())

    async def aget(self, *conds: c.Cond[M], **lookups: Any) -> M:
        """``get()`` on the asyncio client."""
        return await _adrive(self._get(conds, lookups))

    async def acount(self, *, exact: bool = True) -> int:
        """``count()`` on the asyncio client."""
        return await _adrive(self._count(exact))

    async def aexists(self) -> bool:
        """``exists()`` on the asyncio client."""
        return await _adrive(self._exists())

    async def atop_by_decay(
        self, ref: DecayRef[M, Any] | None = None, n: int = 10, at: datetime | None = None
    ) -> list[M]:
        """``top_by_decay()`` on the asyncio client."""
        return await self._decaying(ref, n, at).aall()

    async def aget_many(self, keys: Iterable[Any]) -> list[M | None]:
        """``get_many()`` on the asyncio client."""
        return await _adrive(self._read(_located(self.model, keys)))

    async def asearch(
        self,
        text: str | None = None,
        *,
        vector: Sequence[float] | str | None = None,
        k: int = 10,
        weights: object = None,
    ) -> list[Hit[M]]:
        """``search()`` on the asyncio client."""
        from ..retrieval import _search  # retrieval is built on the query layer

        vector = await _search.aembedded(self, vector)
        return await _adrive(_search.search(self, text, vector, k, weights))

    def aiter(self, batch_size: int = 1000) -> AsyncIterator[M]:
        """``iter()`` on the asyncio client."""
        self._whole("aiter", batch_size, 1)
        return self._aiter(batch_size)

    async def _aiter(self, batch_size: int) -> AsyncIterator[M]:
        located = await _adrive(self._located())
        for start in range(0, len(located), batch_size):
            for r in await _adrive(self._loaded(located[start : start + batch_size])):
                yield r


# ---- the executors ----------------------------------------------------------------------------


def send(calls: list[_scripts.Call[Any]]) -> list[Any]:
    """The replies of calls sent together: one call alone, several in one pipeline (the one
    place a query's calls are sent; on a cluster, one pipeline per node)."""
    return [_scripts.run(calls[0])] if len(calls) == 1 else _scripts.run_many(calls)


async def asend(calls: list[_scripts.Call[Any]]) -> list[Any]:
    """``send()`` on the asyncio clients."""
    return [await _scripts.arun(calls[0])] if len(calls) == 1 else await _scripts.arun_many(calls)


def _drive(steps: Steps[R]) -> R:
    """Run a terminal method's steps on the sync clients."""
    try:
        calls = next(steps)
        while True:
            calls = steps.send(send(calls))
    except StopIteration as done:
        result: R = done.value
        return result


async def _adrive(steps: Steps[R]) -> R:
    """Run a terminal method's steps on the asyncio clients."""
    try:
        calls = next(steps)
        while True:
            calls = steps.send(await asend(calls))
    except StopIteration as done:
        result: R = done.value
        return result


def _registry_call(spec: ModelSpec) -> _scripts.Call[list[str]]:
    """The read of the tags the registry of a partitioned model lists (sorted)."""

    def decode(members: set[bytes] | list[bytes]) -> list[str]:
        return sorted(m.decode() for m in members)

    key = _keys.partitions(spec.name)
    return _scripts.Call(_scripts.Read("SMEMBERS"), (key,), (), decode, write=False)


# ---- merging the pages of a fan-out ----------------------------------------------------------

Entry = tuple[Any, str, bytes, Any]  # (merge key, tag, id, the record's values or its score)
Row = tuple[bytes, Any, Any]  # a tag's match: (id, its values or None, its score or None)


@dataclass(frozen=True, slots=True)
class _Desc:
    """An id that sorts in descending order (ties of a descending order: ``ZRANGE ... REV``)."""

    rid: bytes

    def __lt__(self, other: _Desc) -> bool:
        return self.rid > other.rid


def _rows(scored: bool) -> Any:
    """The decoder of one tag's page of records: (id, values, score or None) triples."""

    def decode(flat: list[Any]) -> list[tuple[bytes, Any, Any]]:
        it = iter(flat)
        if scored:
            return list(zip(it, it, it, strict=True))
        return [(rid, row, None) for rid, row in zip(it, it, strict=True)]

    return decode


def _ids(scored: bool) -> Any:
    """The decoder of one tag's page of ids: (id, None, score or None) triples."""

    def decode(flat: list[Any]) -> list[tuple[bytes, Any, Any]]:
        if not scored:
            return [(rid, None, None) for rid in flat]
        it = iter(flat)
        return [(rid, None, score) for rid, score in zip(it, it, strict=True)]

    return decode


def _merge(
    f: Fanout, pages: list[list[tuple[bytes, Any, Any]]], desc: bool | None
) -> list[tuple[str, bytes, Any]]:
    """The page of a fan-out from each tag's first ``offset + limit`` matches: (tag, id, row).

    Ordered: a k-way merge on the score, then the id, as one tag orders (``ZRANGE``: ties by
    id, reversed when descending; records without a score last, by id). Unordered without a
    limit: by id (a tag's page comes by id, or, read in place, is ordered by id here first:
    ``sorted_by_client``). Unordered with a limit: the pages joined, in no defined order. Then
    the offset and the limit.
    """
    sources: list[Iterable[Entry]]
    if desc is None:
        sources = [
            sorted(entries) if p.sorted_by_client else entries
            for p, page in zip(f.plans, pages, strict=True)
            for entries in ([(rid, p.tag, rid, row) for rid, row, _ in page],)
        ]
        merged: Iterable[Entry] = (
            (e for source in sources for e in source) if f.limit >= 0 else heapq.merge(*sources)
        )
    else:
        sources = [
            [(_rank(score, rid, desc), p.tag, rid, row) for rid, row, score in page]
            for p, page in zip(f.plans, pages, strict=True)
        ]
        merged = heapq.merge(*sources, key=lambda e: e[0])
    stop = None if f.limit < 0 else f.offset + f.limit
    return [(tag, rid, row) for _, tag, rid, row in islice(merged, f.offset, stop)]


def _rank(score: bytes | None, rid: bytes, desc: bool) -> tuple[int, float, Any]:
    """The merge key of a record: scored ones first, by score (its direction), then by id."""
    if score is None:
        return 1, 0.0, rid
    value = float(score)
    return (0, -value, _Desc(rid)) if desc else (0, value, rid)


def _found(record: M | None) -> list[M]:
    return [] if record is None else [record]


def _found_all(records: list[M | None]) -> list[M]:
    return [r for r in records if r is not None]


def query_call(spec: ModelSpec, p: Plan, decode: Any) -> _scripts.Call[Any]:
    """The call of plan ``p``: the ``query`` function of the library of the model of ``spec``."""
    query = _lua.library(spec).function("query")
    return _scripts.Call(query, (_keys.all_ids(p.tag),), (p.program(),), decode, write=False)


def count_call(spec: ModelSpec, tag: str, exact: bool) -> _scripts.Call[int]:
    """The call counting the records of one tag (``exact``: the live ones; see ``count()``)."""
    p = Plan(tag, ["all"], None, 0, -1, "count", (), exact=_exact(exact))
    return query_call(spec, p, int)


def _exact(exact: object) -> bool:
    if not isinstance(exact, bool):
        raise QueryError(f"count(): exact takes True or False, got {exact!r}")
    return exact


def _located(model: type[Model], keys: Iterable[Any]) -> list[tuple[str, str]]:
    spec = model.__typedis_spec__
    out: list[tuple[str, str]] = []
    for key in keys:
        values = _key_tuple(key, multi=len(spec.keys) > 1)
        out.append(spec.locate(spec.key_values(values, {})))
    return out


def _key_tuple(key: Any, *, multi: bool) -> tuple[Any, ...]:
    values: Any = key  # stays Any: narrowing key below must not make the result Unknown
    return tuple(values) if multi and isinstance(key, tuple) else (key,)


def _check_conditions(conds: Sequence[object]) -> None:
    for cond in conds:
        if not isinstance(cond, c.Cond):
            raise QueryError(
                f"filter() takes conditions such as Model.field == value, got {cond!r}"
            )


def _lookups(model: type[M], lookups: dict[str, Any]) -> list[c.Cond[M]]:
    """Popoto-style keyword lookups as conditions: ``rating__gte=4``, ``location=(lat, lon)``."""
    spec = model.__typedis_spec__
    refs = model.__typedis_refs__
    conds: list[c.Cond[M]] = []
    geo_options = {k: v for k, v in lookups.items() if k.endswith(("_radius", "_radius_unit"))}
    for key, value in lookups.items():
        center = key.rsplit("_radius", 1)[0]
        if key in geo_options and center in refs:
            if center not in lookups:  # a radius alone would be silently ignored
                raise QueryError(
                    f"{key}=...: give the center too, {center}=(lat, lon), or drop the radius"
                )
            continue
        name, _, op = key.partition("__")
        if name not in spec.fields:
            raise QueryError(f"{spec.name} has no field {name!r} (in filter {key}=...)")
        ref = refs.get(name)
        if ref is None:
            raise QueryError(f"{spec.name}.{name} is not indexed: it cannot be filtered on")
        op = op or "eq"
        if op not in _LOOKUPS:
            raise QueryError(
                f"unknown lookup {op!r} in {key}=...; use one of {', '.join(_LOOKUPS)}"
            )
        conds.append(_lookup(ref, op, value, key, lookups))
    return conds


def _lookup(ref: FieldRef[Any, Any], op: str, value: Any, key: str, lookups: dict[str, Any]) -> Any:
    if isinstance(ref, GeoRef):
        if op != "eq":
            raise QueryError(
                f"{key}=...: a Geo field takes {ref.name}=(lat, lon) with {ref.name}_radius=..."
            )
        radius = lookups.get(f"{ref.name}_radius")
        if radius is None:
            raise QueryError(f"{key}=...: give the radius as {ref.name}_radius=...")
        return ref.within(value, radius, lookups.get(f"{ref.name}_radius_unit", "km"))
    r: Any = ref
    try:
        if op == "eq":
            return r == value
        if op == "ne":
            return r != value
        if op == "in":
            return r.in_(value)
        if op == "isnull":
            return r.is_none() if value else ~r.is_none()
        if op == "startswith":
            return r.startswith(value)
        if op == "between":
            match value:
                case (low, high):
                    return r.between(low, high)
                case _:
                    raise QueryError(f"{key}=...: takes a (low, high) pair, got {value!r}")
        cond = {"lt": r.__lt__, "lte": r.__le__, "gt": r.__gt__, "gte": r.__ge__}[op](value)
        if cond is NotImplemented:  # object's own comparisons: not a Sorted field
            raise AttributeError(op)
        return cond
    except AttributeError:
        raise QueryError(f"{key}=...: {ref!r} does not support {op!r}") from None


def _by_distance(where: c.Cond[Any] | None, found: list[M]) -> list[tuple[M, float]]:
    within = _find_within(where)
    if within is None:
        raise QueryError("with_distances() needs a within() condition in the query")
    name, scale = within.ref.name, _UNITS[within.unit]
    pairs: list[tuple[M, float]] = []
    for record in found:
        point: GeoPoint | None = getattr(record, name)
        meters = math.inf if point is None else _haversine(within.lat, within.lon, *point)
        pairs.append((record, meters / scale))
    return sorted(pairs, key=lambda pair: pair[1])


def _find_within(cond: c.Cond[Any] | None) -> c.Within[Any] | None:
    if isinstance(cond, c.Within):
        return cond
    if isinstance(cond, c.And | c.Or):
        return next((w for p in cond.parts if (w := _find_within(p)) is not None), None)
    return None


def _haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in meters, as Redis computes GEO distances."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    u = math.sin((p2 - p1) / 2)
    v = math.sin(math.radians(lon2 - lon1) / 2)
    return 2 * _EARTH_RADIUS_M * math.asin(math.sqrt(u * u + math.cos(p1) * math.cos(p2) * v * v))


class QueryAccess:
    """``Model.query``: a fresh ``Query`` of the model it is read from."""

    @overload
    def __get__(self, obj: None, owner: type[M]) -> Query[M]: ...
    @overload
    def __get__(self, obj: M, owner: type[M]) -> Query[M]: ...
    def __get__(self, obj: Any, owner: type[M]) -> Query[M]:
        return Query(owner)
