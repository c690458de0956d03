"""``Query.search()``: the steps behind ``search`` / ``asearch``.

Text only: BM25 candidates with their records (``_text``). Vector only: the nearest vectors
(cosine) with their records (``_vectors``); a text given as ``vector=`` is embedded first, by
``embedded`` / ``aembedded`` (the provider's I/O, sync or async, before the steps run). Text
and vector, or ``weights``: the hybrid path (``hybrid``), each weighted source's candidates
fetched together (one round trip), the shortlisted records read, and ``_fusion.fuse`` ranking
them with the memory signals.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .._errors import QueryError
from ._fusion import SearchWeights, fuse, memory_fields, record_memory, shortlist
from ._hit import Hit
from ._text import check_k, text_candidates, text_hits
from ._vectors import cached_vectors, provider, ranked, unit_query, vector_candidates

if TYPE_CHECKING:
    from .._model import Model
    from .._query._query import Located, Query, Steps
    from .._spec import ModelSpec

M = TypeVar("M", bound="Model")


def search(
    query: Query[M],
    text: str | None,
    vector: Sequence[float] | str | None,
    k: int,
    weights: object,
) -> Steps[list[Hit[M]]]:
    """The hits of ``query.search(...)``, best first."""
    where = f"{query.model.__name__}.query.search()"
    if weights is not None and not isinstance(weights, SearchWeights):
        raise QueryError(f"{where}: weights takes a SearchWeights, got {weights!r}")
    if text is None and vector is None:
        raise QueryError(f"{where}: give a text (or vector=) to search for")
    if weights is not None or (text is not None and vector is not None):
        if isinstance(vector, str):
            raise QueryError(f"{where}: a text vector= is embedded by search() / asearch()")
        return (yield from hybrid(query, text, vector, k, weights or SearchWeights()))
    if vector is not None:
        if isinstance(vector, str):
            raise QueryError(f"{where}: a text vector= is embedded by search() / asearch()")
        unit = unit_query(query.model.__typedis_spec__, vector)
        nearest = yield from ranked(query, unit, check_k(where, k), load=True)
        return [Hit(r, s, vector_score=s) for _, s, r in nearest if r is not None]
    assert text is not None
    found = yield from text_hits(query, text, k)
    return [Hit(record, score, text_score=score) for record, score in found]


def embedded(query: Query[Any], vector: Sequence[float] | str | None) -> Sequence[float] | None:
    """A ``vector=`` given as text, embedded by the provider of the model's Embedding field."""
    if not isinstance(vector, str):
        return vector
    (found,) = provider(query.model.__typedis_spec__).embed([vector])
    return found


async def aembedded(
    query: Query[Any], vector: Sequence[float] | str | None
) -> Sequence[float] | None:
    """``embedded()`` with the provider's ``aembed``."""
    if not isinstance(vector, str):
        return vector
    (found,) = await provider(query.model.__typedis_spec__).aembed([vector])
    return found


def together(*steps: Steps[Any]) -> Steps[list[Any]]:
    """Several generators of steps side by side: each round sends every one's calls in one
    batch, so independent sources cost one round trip, not one each."""
    results: list[Any] = [None] * len(steps)
    pending: dict[int, list[Any]] = {}
    for i, s in enumerate(steps):
        try:
            pending[i] = next(s)
        except StopIteration as done:
            results[i] = done.value
    while pending:
        sent = list(pending.items())
        replies = yield [call for _, calls in sent for call in calls]
        pending, at = {}, 0
        for i, calls in sent:
            try:
                pending[i] = steps[i].send(replies[at : at + len(calls)])
            except StopIteration as done:
                results[i] = done.value
            at += len(calls)
    return results


def nothing() -> Steps[None]:
    """A source not searched: sends nothing."""
    yield from ()


def hybrid(
    query: Query[M],
    text: str | None,
    vector: Sequence[float] | None,
    k: int,
    weights: SearchWeights,
) -> Steps[list[Hit[M]]]:
    """The fused ranking: each weighted source's ``max(k, weights.depth)`` best candidates,
    their records, the memory signals the weights ask for, ``_fusion.fuse``."""
    where = f"{query.model.__name__}.query.search()"
    k = check_k(where, k)
    spec = query.model.__typedis_spec__
    n = max(k, weights.depth)
    use_text = text is not None and weights.text > 0
    use_vector = vector is not None and weights.vector > 0
    if not (use_text or use_vector):
        raise QueryError(
            f"{where}: every source given has weight 0 (text {weights.text}, vector "
            f"{weights.vector}); give a text or vector whose weight is > 0"
        )
    fields = memory_fields(spec, weights)
    found = yield from together(
        text_candidates(query, text, n) if use_text and text is not None else nothing(),
        vector_candidates(query, vector, n) if use_vector and vector is not None else nothing(),
    )
    text_found: list[tuple[Located, float]] | None = found[0] if use_text else None
    vector_found: list[tuple[Located, float]] | None = found[1] if use_vector else None
    compared = weights.supersede > 0 or weights.diversity > 0
    candidates = [at for at, _ in (text_found or [])] + [at for at, _ in (vector_found or [])]
    # the vector source's round trip made the cache exact: the candidates' vectors come from it
    cached = cached_vectors(spec, candidates) if use_vector and compared else None
    pool = shortlist(text_found, vector_found, weights, k, cached)
    if not pool:
        return []
    loaded = yield from _read(query, pool)
    records = {at: r for at, r in zip(pool, loaded, strict=True) if r is not None}
    memory = {at: record_memory(r, fields) for at, r in records.items()}
    vectors = cached if cached is not None or not compared else _vectors_of(spec, records)
    fused = fuse(
        _live(text_found, records, pool),
        _live(vector_found, records, pool),
        weights,
        memory,
        vectors,
        [at for at in pool if at in records],
    )[:k]
    return [
        Hit(records[f.at], f.score, text_score=f.text, vector_score=f.vector, signals=f.signals)
        for f in fused
    ]


def _vectors_of(spec: ModelSpec, records: dict[Located, Any]) -> dict[Located, Any]:
    """The records' vectors (their Embedding field), which supersession and diversity compare
    when the vector source was not searched (else the cache gives them)."""
    vec = next((f.name for f in spec.fields.values() if f.kind == "embedding"), None)
    if vec is None:
        return {}
    return {at: v for at, r in records.items() if (v := getattr(r, vec)) is not None}


def _live(
    found: list[tuple[Located, float]] | None, records: dict[Located, Any], pool: list[Located]
) -> list[tuple[Located, float]] | None:
    """The candidates, less those shortlisted whose record is gone since they were scored."""
    if found is None:
        return None
    gone = set(pool) - set(records)
    return [(at, s) for at, s in found if at not in gone]


def _read(query: Query[M], located: list[Located]) -> Generator[Any, Any, list[M | None]]:
    return (yield from query._read(located))  # pyright: ignore[reportPrivateUsage]
