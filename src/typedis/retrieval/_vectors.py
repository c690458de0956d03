"""Exact cosine search over a partition's vectors, with a client cache that is never stale.

Each process keeps, per partition (hash tag) and ``Embedding`` field, the partition's vectors
as a matrix of unit rows (``_Cache``), with the epoch and version of the vector index it
reflects (``_index/vector_kind.py``: every change of a vector bumps the version in its write's
own script). A search sends, in one pipeline: ``vector_sync`` (the cache's epoch and version;
the server answers "same", or the vectors changed and removed since that version, or all of
them), the ids the query's filters match (only when it has filters beyond its partition), and
the load of the records the cache ranks best. The client then brings the cache up to date and
ranks again: when nothing changed, or the records it needs were loaded already, that was the
only round trip; otherwise it loads the few records missing. No result is ever ranked by a
vector the server no longer holds at the version it answered.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt

from .. import _keys, _lua, _scripts, _store
from .._errors import QueryError
from .._index.vector_kind import EmbeddingMarker
from .._query._planner import Fanout, Plan
from .._query._query import query_call
from ._embedding import EmbeddingProvider, dimension_of, provider_of

if TYPE_CHECKING:
    from .._model import Model
    from .._query._query import Located, Query, Steps
    from .._spec import FieldSpec, IndexSpec, ModelSpec

M = TypeVar("M", bound="Model")
Matrix = npt.NDArray[np.float32]

_lua.operation("vector_sync")


@dataclass(eq=False)
class _Cache:
    """One partition's vectors of one field, as of ``(epoch, version)`` of its vector index."""

    epoch: str = ""
    version: str = "0"
    ids: list[str | None] = field(default_factory=list[str | None])  # row -> id (None: free)
    rows: dict[str, int] = field(default_factory=dict[str, int])  # id -> row
    free: list[int] = field(default_factory=list[int])
    matrix: Matrix = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    lock: threading.Lock = field(default_factory=threading.Lock)
    pending: tuple[list[str], str, str] | None = None  # ids listed (with the epoch and
    # version of the listing) whose vectors are still to be read (fill())

    @property
    def dimension(self) -> int:
        return int(self.matrix.shape[1])

    def apply(self, reply: list[Any]) -> set[str] | None:
        """Bring the cache up to date with a ``vector_sync`` reply: the ids it changed (none
        when it was up to date), or None when it started again from every vector."""
        epoch, version, how = (x.decode() if isinstance(x, bytes) else str(x) for x in reply[:3])
        if how == "same":
            return set()
        ids = [i.decode() for i in reply[3]]
        vectors: list[bytes | None] = [v or None for v in reply[4]]
        changed: set[str] | None = None
        if how == "delta":
            changed = {*ids, *(r.decode() for r in reply[5])}
        if self.epoch == epoch and float(self.version) >= float(version):
            return changed  # another search brought the cache this far already: keep it
        if how == "ids":  # the vectors follow (fill()); until then the cache holds none
            self._reset([], [])
            self.pending, self.epoch, self.version = (ids, epoch, version), "", "0"
            return None
        if how == "full":
            self._reset(ids, vectors)
        else:
            for rid in reply[5]:
                self._drop(rid.decode())
            for rid, raw in zip(ids, vectors, strict=True):
                if raw is None:
                    self._drop(rid)
                else:
                    self._put(rid, self._row(raw))
        self.epoch, self.version = epoch, version
        return changed

    def fill(self, listing: tuple[list[str], str, str], vectors: list[bytes | None]) -> None:
        """Start again from the vectors read for the ids a ``vector_sync`` listed ("ids"), as
        of the version it answered; values read after it are brought in line by the next
        sync's delta. A listing another search replaced meanwhile is dropped."""
        if self.pending is listing:
            ids, self.epoch, self.version = listing
            self._reset(ids, vectors)
            self.pending = None

    def scores(self, ids: set[str], query: Matrix) -> list[tuple[str, float]]:
        """The cosine of the vectors of ``ids`` (those the cache holds) to ``query``."""
        held = [i for i in ids if i in self.rows]
        if not held:
            return []
        found = self.matrix[[self.rows[i] for i in held]] @ query
        return list(zip(held, found.tolist(), strict=True))

    def _reset(self, ids: list[str], vectors: list[bytes | None]) -> None:
        kept = [(i, v) for i, v in zip(ids, vectors, strict=True) if v is not None]
        lengths = {len(v) for _, v in kept}
        if len(lengths) > 1:
            raise _mixed(sorted(n // 4 for n in lengths))
        width = lengths.pop() // 4 if lengths else 0
        matrix = np.frombuffer(b"".join(v for _, v in kept), "<f4").reshape(len(kept), width)
        self.matrix = _unit(matrix.astype(np.float32))
        self.ids = [i for i, _ in kept]
        self.rows = {i: n for n, (i, _) in enumerate(kept)}
        self.free = []

    def _row(self, raw: bytes) -> Matrix:
        row: Matrix = np.frombuffer(raw, "<f4").astype(np.float32)
        if self.rows and row.shape[0] != self.dimension:
            raise _mixed(sorted({row.shape[0], self.dimension}))
        unit: Matrix = _unit(row.reshape(1, -1))[0]
        return unit

    def _put(self, rid: str, row: Matrix) -> None:
        at = self.rows.get(rid)
        if at is None:
            if not self.rows:
                self.matrix, self.ids, self.free = np.zeros((0, row.shape[0]), np.float32), [], []
            if self.free:
                at = self.free.pop()
                self.ids[at] = rid
            else:
                at = len(self.ids)
                if at == self.matrix.shape[0]:  # grow by half again: amortised appends
                    grown = np.zeros((max(16, at + at // 2), row.shape[0]), np.float32)
                    grown[:at] = self.matrix
                    self.matrix = grown
                self.ids.append(rid)
            self.rows[rid] = at
        self.matrix[at] = row

    def _drop(self, rid: str) -> None:
        at = self.rows.pop(rid, None)
        if at is not None:
            self.ids[at] = None
            self.matrix[at] = 0.0
            self.free.append(at)

    def rank(
        self, query: Matrix, n: int, allowed: set[str] | None, skip: set[str]
    ) -> list[tuple[str, float]]:
        """The ``n`` ids of best cosine to the unit vector ``query`` (ties by id), among
        ``allowed`` (None: all) less ``skip``."""
        if not self.rows or n <= 0:
            return []
        if query.shape[0] != self.dimension:
            raise QueryError(
                f"search(vector=...): a vector of {query.shape[0]} values; the partition's "
                f"vectors have {self.dimension}"
            )
        scores = self.matrix[: len(self.ids)] @ query
        hidden = [*self.free, *(r for i in skip if (r := self.rows.get(i)) is not None)]
        if hidden:
            scores[hidden] = -np.inf
        rows: npt.NDArray[np.int64] | None = None
        if allowed is not None:
            rows = np.fromiter(
                (r for i in allowed if (r := self.rows.get(i)) is not None), np.int64
            )
            scores = scores[rows]
        if scores.size == 0:
            return []
        k = min(n, scores.size)
        cut = np.partition(scores, scores.size - k)[scores.size - k]
        pick = np.nonzero((scores >= cut) & np.isfinite(scores))[0]  # ties with the n-th too
        found: list[tuple[str, float]] = []
        for p in pick.tolist():
            rid = self.ids[p if rows is None else int(rows[p])]
            assert rid is not None
            found.append((rid, float(scores[p])))
        found.sort(key=lambda x: (-x[1], x[0]))
        return found[:n]


def _unit(matrix: Matrix) -> Matrix:
    """Each row scaled to unit length (a zero row stays zero). Rows are first divided by their
    largest magnitude, so float32 neither overflows (values near 3.4e38) nor underflows
    (subnormals) on the way."""
    peak = np.abs(matrix).max(axis=1, keepdims=True) if matrix.size else np.ones((0, 1))
    peak[peak == 0] = 1.0
    scaled = matrix / peak
    norms = np.linalg.norm(scaled, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out: Matrix = (scaled / norms).astype(np.float32)
    return out


def _mixed(lengths: list[int]) -> QueryError:
    return QueryError(
        f"search(vector=...): the partition holds vectors of {lengths} values; re-embed its "
        "records with one provider"
    )


_CACHES: dict[tuple[str, str], _Cache] = {}
_CACHES_LOCK = threading.Lock()


def _cache(tag: str, index: IndexSpec) -> _Cache:
    key = (tag, index.suffix)
    with _CACHES_LOCK:
        found = _CACHES.get(key)
        if found is None:
            found = _CACHES[key] = _Cache()
        return found


def embedding_field(spec: ModelSpec) -> FieldSpec:
    """The model's one ``Embedding`` field (``QueryError`` for none or several)."""
    fields = [f for f in spec.fields.values() if isinstance(f.marker, EmbeddingMarker)]
    if len(fields) != 1:
        raise QueryError(
            f"search(vector=...): {spec.name} has no Embedding field"
            if not fields
            else f"search(vector=...): {spec.name} has several Embedding fields; keep one"
        )
    return fields[0]


def provider(spec: ModelSpec) -> EmbeddingProvider:
    """The provider that embeds a search's text for the model's Embedding field."""
    return provider_of(f"{spec.name}.query.search(vector=...)", embedding_field(spec))


def unit_query(spec: ModelSpec, vector: Sequence[float]) -> Matrix:
    """A query vector as a unit float32 row, checked against the field's length."""
    where = f"{spec.name}.query.search(vector=...)"
    try:
        q = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise QueryError(
            f"{where}: takes a sequence of floats or a str, got {vector!r:.60}"
        ) from error
    if q.ndim != 1 or q.size == 0 or not np.all(np.isfinite(q)):
        raise QueryError(f"{where}: takes a non-empty sequence of finite floats")
    want = dimension_of(embedding_field(spec))
    if want is not None and q.size != want:
        raise QueryError(f"{where}: a vector of {q.size} values; the field takes {want}")
    out: Matrix = _unit(q.reshape(1, -1))[0]
    return out


SYNC_MOST = 4096  # vectors one vector_sync call reads; a full reload of more reads them in
READ_BATCH = 10_000  # pipelines of plain HGETs of this many, not in one long script
_HGET = _scripts.Read("HGET")


def _sync_call(spec: ModelSpec, tag: str, index: IndexSpec, cache: _Cache) -> _scripts.Call[Any]:
    """The ``vector_sync`` call from the cache's version (read under its lock, with what was
    ranked on it)."""
    live = f"{tag}:{index.suffix}"
    return _scripts.Call(
        _lua.library(spec).function("vector_sync"),
        (live, live + ":d", live + ":n"),
        (tag, index.fields[0], cache.epoch, cache.version, SYNC_MOST),
        list,
        write=False,
    )


def _reload(spec: ModelSpec, tag: str, index: IndexSpec, cache: _Cache) -> Steps[None]:
    """Read the vectors of the ids a sync listed, a batch of plain HGETs at a time (no script
    holds the server for the whole partition), then sync again until the cache is current."""
    while (listing := cache.pending) is not None:
        ids, vectors = listing[0], list[bytes | None]()
        for start in range(0, len(ids), READ_BATCH):
            replies: list[bytes | None] = yield [
                _scripts.Call(_HGET, (_keys.record(tag, rid),), (index.fields[0],), _same, False)
                for rid in ids[start : start + READ_BATCH]
            ]
            vectors += replies
        with cache.lock:
            cache.fill(listing, vectors)
            sync = _sync_call(spec, tag, index, cache)
        (reply,) = yield [sync]
        with cache.lock:
            cache.apply(reply)


def _same(reply: Any) -> Any:
    return reply


@dataclass(eq=False)
class _Tag:
    """One partition of a search: its plan, cache, and what the round trip brought."""

    plan: Plan
    cache: _Cache
    guess: list[tuple[str, float]]  # what its cache ranked best before the round trip (the
    # first n loaded with it): without a filter, the ranking itself unless the trip changed
    # one of them beyond the margin
    whole: bool = False  # whether the guess held every vector the cache had
    changed: set[str] | None = None  # the ids the round trip changed (None: all)
    allowed: set[str] | None = None  # the ids its filters admit (None: no filter)
    records: dict[str, Any] = field(default_factory=dict[str, Any])  # id -> record or None
    dead: set[str] = field(default_factory=set[str])  # ids whose record is no longer live


def _ranking(t: _Tag, vector: Matrix, n: int) -> list[tuple[str, float]]:
    """The n best of one tag: from the ranking made before the round trip where it still holds
    (no filter, no record found dead, and at least n of its entries unchanged or all the rows
    in it: every id outside it scores below them), else from the whole matrix."""
    if t.guess and t.changed is not None and t.allowed is None and not t.dead:
        kept = [(rid, s) for rid, s in t.guess if rid not in t.changed]
        if len(kept) >= n or t.whole:
            found = kept + t.cache.scores(t.changed, vector)
            found.sort(key=lambda x: (-x[1], x[0]))
            return found[:n]
    return t.cache.rank(vector, n, t.allowed, t.dead)


def ranked(
    query: Query[M], vector: Matrix, n: int, *, load: bool
) -> Steps[list[tuple[Located, float, M | None]]]:
    """The ``n`` matches of the query (its filters, its partitions) whose vectors are closest
    (cosine) to the unit vector ``vector``, best first (ties by id, then tag), with their
    records when ``load`` (a record no longer live is left out and the next best taken).

    One round trip when the caches are up to date or the records needed came with it; a
    query over several partitions sends each partition's calls in the same pipeline.
    """
    spec, model = query.model.__typedis_spec__, query.model
    where = f"{spec.name}.query.search()"
    index = spec.index_of("vector", embedding_field(spec).name)
    assert index is not None
    if query.ordering is not None or query.skip or query.take is not None:
        raise QueryError(
            f"{where}: search() ranks by score and takes k; drop order_by(), offset() and "
            "limit() from the query"
        )
    planned = yield from query._planned("ids")  # pyright: ignore[reportPrivateUsage]
    plans = list(planned.plans) if isinstance(planned, Fanout) else [planned]
    tags: list[_Tag] = []
    calls: list[_scripts.Call[Any]] = []
    for p in plans:
        cache = _cache(p.tag, index)
        with cache.lock:  # the guess and the version it was made at, read together
            guess = cache.rank(vector, 2 * n + 8, None, set()) if load else []
            calls.append(_sync_call(spec, p.tag, index, cache))
        tags.append(_Tag(p, cache, guess, whole=len(guess) < 2 * n + 8))
        if p.where != ["all"]:
            calls.append(query_call(spec, p, list))
        if guess:
            calls.append(_store.load_call(model, [(p.tag, rid) for rid, _ in guess[:n]]))
    replies = iter((yield calls))
    for t in tags:
        with t.cache.lock:
            t.changed = t.cache.apply(next(replies))
        if t.plan.where != ["all"]:
            t.allowed = {i.decode() for i in next(replies)}
        if t.guess:
            t.records.update(zip((rid for rid, _ in t.guess[:n]), next(replies), strict=True))
    for t in tags:
        if t.cache.pending is not None:
            yield from _reload(spec, t.plan.tag, index, t.cache)
            t.changed = None
    while True:
        best: list[tuple[float, str, _Tag]] = []
        for t in tags:
            with t.cache.lock:
                best += ((s, rid, t) for rid, s in _ranking(t, vector, n))
        best.sort(key=lambda x: (-x[0], x[1], x[2].plan.tag))
        del best[n:]
        if not load:
            return [((t.plan.tag, rid), s, None) for s, rid, t in best]
        missing: dict[int, tuple[_Tag, list[str]]] = {}
        for _, rid, t in best:
            if rid not in t.records:
                missing.setdefault(id(t), (t, []))[1].append(rid)
        if missing:
            loads = [
                _store.load_call(model, [(t.plan.tag, r) for r in ids])
                for t, ids in missing.values()
            ]
            for (t, ids), found in zip(missing.values(), (yield loads), strict=True):
                t.records.update(zip(ids, found, strict=True))
        gone = [(rid, t) for _, rid, t in best if t.records[rid] is None]
        if not gone:
            return [((t.plan.tag, rid), s, t.records[rid]) for s, rid, t in best]
        for rid, t in gone:
            t.dead.add(rid)


def vector_candidates(
    query: Query[M], vector: Sequence[float], n: int
) -> Steps[list[tuple[Located, float]]]:
    """The ``n`` matches of the query (one partition, its filters) whose vectors are closest to
    ``vector`` (cosine), best first, ties by id: the vector signal of a search."""
    found = yield from ranked(
        query, unit_query(query.model.__typedis_spec__, vector), n, load=False
    )
    return [(located, score) for located, score, _ in found]


def cached_vectors(spec: ModelSpec, located: Sequence[Located]) -> dict[Located, Matrix]:
    """The unit vectors of these records as this process's caches hold them: exact as of the
    version the last search of their partitions answered (``vector_candidates`` brings them
    up to date in its round trip), so a hybrid search compares its candidates without
    reading their vectors again."""
    index = spec.index_of("vector", embedding_field(spec).name)
    assert index is not None
    by_tag: dict[str, list[str]] = {}
    for tag, rid in dict.fromkeys(located):
        by_tag.setdefault(tag, []).append(rid)
    out: dict[Located, Matrix] = {}
    for tag, ids in by_tag.items():
        cache = _cache(tag, index)
        with cache.lock:
            held = [(rid, row) for rid in ids if (row := cache.rows.get(rid)) is not None]
            block = cache.matrix[[row for _, row in held]]  # a copy, taken under the lock
        out.update(((tag, rid), v) for (rid, _), v in zip(held, block, strict=True))
    return out


def drop_caches(tag: str) -> None:
    """Drop this process's vector caches of one partition (its data was erased)."""
    with _CACHES_LOCK:
        for key in [key for key in _CACHES if key[0] == tag]:
            del _CACHES[key]
