"""Retrieval: text and vector search over a model's records, content kept off Redis, and
context assembly (docs/retrieval.md)."""

from ._config import configure
from ._content import Blob, Content, ContentStore, FileContentStore, collect_garbage
from ._embedding import (
    Embedding,
    EmbeddingProvider,
    HashingEmbedder,
    LocalEmbedder,
    NotSemanticWarning,
)
from ._vectors import vector_candidates as vector_candidates  # registers vector_sync

__all__ = [
    "Blob",
    "Content",
    "ContentStore",
    "Embedding",
    "EmbeddingProvider",
    "FileContentStore",
    "HashingEmbedder",
    "LocalEmbedder",
    "NotSemanticWarning",
    "collect_garbage",
    "configure",
]
