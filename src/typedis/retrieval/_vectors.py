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

from .. import _lua, _scripts, _store
from .._errors import QueryError
from .._index.vector_kind import EmbeddingMarker
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

    @property
    def dimension(self) -> int:
        return int(self.matrix.shape[1])

    def apply(self, reply: list[Any]) -> None:
        """Bring the cache up to date with a ``vector_sync`` reply."""
        epoch, version, how = (x.decode() if isinstance(x, bytes) else str(x) for x in reply[:3])
        if how == "same":
            return
        ids = [i.decode() for i in reply[3]]
        vectors: list[bytes | None] = [v or None for v in reply[4]]
        if how == "full":
            self._reset(ids, vectors)
        else:
            for rid in (r.decode() for r in reply[5]):
                self._drop(rid)
            for rid, raw in zip(ids, vectors, strict=True):
                if raw is None:
                    self._drop(rid)
                else:
                    self._put(rid, self._row(raw))
        self.epoch, self.version = epoch, version

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
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out: Matrix = (matrix / norms).astype(np.float32)
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
    norm = float(np.linalg.norm(q))
    out: Matrix = q / norm if norm else q
    return out


def _sync_call(spec: ModelSpec, tag: str, index: IndexSpec, cache: _Cache) -> _scripts.Call[Any]:
    live = f"{tag}:{index.suffix}"
    return _scripts.Call(
        _lua.library(spec).function("vector_sync"),
        (live, live + ":d", live + ":n"),
        (tag, index.fields[0], cache.epoch, cache.version),
        list,
        write=False,
    )


def ranked(
    query: Query[M], vector: Matrix, n: int, *, load: bool
) -> Steps[list[tuple[Located, float, M | None]]]:
    """The ``n`` records of the query's partition matching its filters whose vectors are
    closest (cosine) to the unit vector ``vector``, best first (ties by id), with their
    records when ``load`` (records that are no longer live are left out, and the next best
    taken)."""
    spec = query.model.__typedis_spec__
    index = spec.index_of("vector", embedding_field(spec).name)
    assert index is not None
    try:
        p = query.plan("ids")
    except QueryError as error:
        raise QueryError(
            f"{spec.name}.query.search(): runs on one partition; name it with filter() ({error})"
        ) from error
    tag, filtered = p.tag, p.where != ["all"]
    cache = _cache(tag, index)
    with cache.lock:
        guess = [rid for rid, _ in cache.rank(vector, n, None, set())] if load else []
    calls: list[_scripts.Call[Any]] = [_sync_call(spec, tag, index, cache)]
    if filtered:
        calls.append(query_call(spec, p, list))
    if guess:
        calls.append(_store.load_call(query.model, [(tag, rid) for rid in guess]))
    replies = yield calls
    with cache.lock:
        cache.apply(replies[0])
    allowed = {i.decode() for i in replies[1]} if filtered else None
    records: dict[str, M | None] = dict(zip(guess, replies[-1], strict=True)) if guess else {}
    dead: set[str] = set()
    while True:
        with cache.lock:
            best = cache.rank(vector, n, allowed, dead)
        if not load:
            return [((tag, rid), score, None) for rid, score in best]
        missing = [rid for rid, _ in best if rid not in records]
        if missing:
            (found,) = yield [_store.load_call(query.model, [(tag, rid) for rid in missing])]
            records.update(zip(missing, found, strict=True))
        gone = {rid for rid, _ in best if records[rid] is None}
        if not gone:
            return [((tag, rid), score, records[rid]) for rid, score in best]
        dead |= gone


def vector_candidates(
    query: Query[M], vector: Sequence[float], n: int
) -> Steps[list[tuple[Located, float]]]:
    """The ``n`` matches of the query (one partition, its filters) whose vectors are closest to
    ``vector`` (cosine), best first, ties by id: the vector signal of a search."""
    found = yield from ranked(
        query, unit_query(query.model.__typedis_spec__, vector), n, load=False
    )
    return [(located, score) for located, score, _ in found]
