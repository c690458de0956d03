"""``Hit[M]``: one result of ``Query.search()``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from .._model import Model

M = TypeVar("M", bound="Model")


@dataclass(frozen=True, slots=True)
class Hit(Generic[M]):
    """A record found by ``Query.search()``, with the scores that ranked it.

    Args:
        record: the record.
        score: the final score; hits come sorted by it, best first (ties by record id).
        text_score: its BM25 score, when the search had a text.
        vector_score: its cosine similarity, when the search had a vector.
        signals: what else went into a hybrid search's ``score``, by name: the memory and
            recency signals (normalised), ``superseded`` (1 when a later hit superseded it)
            and ``redundancy`` (its greatest cosine to a better hit, which ``diversity``
            took off its score).

    Examples:
        >>> class Note(Model):
        ...     id: Key[str]
        ...     body: Text[str]
        >>> Note(id="n1", body="flat white, extra hot").save()
        Note(id='n1', body='flat white, extra hot')
        >>> hit = Note.query.search("flat white")[0]
        >>> hit.record.id, hit.score == hit.text_score, hit.vector_score
        ('n1', True, None)
    """

    record: M
    score: float
    text_score: float | None = None
    vector_score: float | None = None
    signals: Mapping[str, float] = field(default_factory=dict[str, float])
