"""Retrieval: text and vector search over a model's records, content kept off Redis, and
context assembly (docs/retrieval.md)."""

from ._embedding import (
    Embedding,
    EmbeddingProvider,
    HashingEmbedder,
    LocalEmbedder,
    NotSemanticWarning,
    configure,
)
from ._fusion import SearchWeights

__all__ = [
    "Embedding",
    "EmbeddingProvider",
    "HashingEmbedder",
    "LocalEmbedder",
    "NotSemanticWarning",
    "SearchWeights",
    "configure",
]
