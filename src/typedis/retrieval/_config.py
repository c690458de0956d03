"""``configure()``: the process-wide defaults of retrieval (embedding provider, content store)."""

from __future__ import annotations

from typing import Any, cast

from .._errors import ModelError
from ._content import SETTINGS as CONTENT
from ._content import ContentStore
from ._embedding import SETTINGS as EMBEDDING
from ._embedding import EmbeddingProvider

_KEEP: Any = ...


def configure(
    *,
    embedder: EmbeddingProvider | None = _KEEP,
    content_store: ContentStore | None = _KEEP,
) -> None:
    """Set the process-wide defaults; an argument left out keeps its setting.

    Args:
        embedder: the provider of ``Embedding`` fields without one of their own
            (``field(provider=...)``) and of ``search(vector="text")``; None: none.
        content_store: where ``Content`` values live; None: a ``FileContentStore`` under
            ``$TYPEDIS_CONTENT_PATH``, else ``./.typedis-content``.

    Examples:
        >>> configure(embedder=HashingEmbedder(384), content_store=FileContentStore("/data/blobs"))
    """
    if embedder is not _KEEP:
        given = cast(object, embedder)
        if given is not None and not isinstance(given, EmbeddingProvider):
            raise ModelError(
                "configure(embedder=...) takes an EmbeddingProvider (dimension, embed, aembed), "
                f"got {embedder!r}"
            )
        EMBEDDING.embedder = embedder
    if content_store is not _KEEP:
        given = cast(object, content_store)
        if given is not None and not isinstance(given, ContentStore):
            raise ModelError(
                "configure(content_store=...) takes a ContentStore (put, get, delete, list), "
                f"got {content_store!r}"
            )
        CONTENT.store = content_store
