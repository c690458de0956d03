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

__all__ = [
    "Embedding",
    "EmbeddingProvider",
    "HashingEmbedder",
    "LocalEmbedder",
    "NotSemanticWarning",
    "configure",
]
