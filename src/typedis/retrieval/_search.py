"""``Query.search()``: the steps behind ``search`` / ``asearch``.

Text only: BM25 candidates with their records (``_text``). Vector only: the nearest vectors
(cosine) with their records (``_vectors``); a text given as ``vector=`` is embedded first, by
``embedded`` / ``aembedded`` (the provider's I/O, sync or async, before the steps run).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .._errors import QueryError
from ._hit import Hit
from ._text import check_k, text_hits
from ._vectors import provider, ranked, unit_query

if TYPE_CHECKING:
    from .._model import Model
    from .._query._query import Query, Steps

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
    if weights is not None or (text is not None and vector is not None):
        raise QueryError(f"{where}: hybrid search (text and vector, weights) is not available yet")
    if vector is not None:
        if isinstance(vector, str):
            raise QueryError(f"{where}: a text vector= is embedded by search() / asearch()")
        unit = unit_query(query.model.__typedis_spec__, vector)
        nearest = yield from ranked(query, unit, check_k(where, k), load=True)
        return [Hit(r, s, vector_score=s) for _, s, r in nearest if r is not None]
    if text is None:
        raise QueryError(f"{where}: give a text (or vector=) to search for")
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
