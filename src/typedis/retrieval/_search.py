"""``Query.search()``: the steps behind ``search`` / ``asearch``.

Text only for now: BM25 candidates with their records (``_text``). A vector asks for an
``Embedding`` field, which the vector path adds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeVar

from .._errors import QueryError
from ._hit import Hit
from ._text import text_hits

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
    if vector is not None or weights is not None:
        raise QueryError(f"{where}: vector search needs an Embedding field (not available yet)")
    if text is None:
        raise QueryError(f"{where}: give a text to search for")
    found = yield from text_hits(query, text, k)
    return [Hit(record, score, text_score=score) for record, score in found]
