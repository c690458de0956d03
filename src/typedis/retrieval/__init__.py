"""Retrieval: text search (BM25), the search front door ``Query.search()`` and its results,
and the assembly of prompt context (``ContextAssembler``) with its quality signal.

``Text[str]`` fields are indexed by BM25 postings kept in the record's atomic write;
``Model.query.filter(...).search("text", k=5)`` returns ``Hit`` objects, best first.
``Embedding`` fields hold vectors searched exactly (cosine) with ``search(vector=...)``;
``Content`` fields keep their values in a content store, the record holding their digest.
"""

from __future__ import annotations

from .._analyzer import ENGLISH_STOP_WORDS, Analyzer, StandardAnalyzer
from .._index.text_kind import BM25, Text, TextRef
from ._adaptive import AdaptiveAssembler
from ._assembly import (
    AssemblyResult,
    ContextAssembler,
    OutputFormat,
    TokenCounter,
    approximate_tokens,
)
from ._config import configure
from ._content import Blob, Content, ContentStore, FileContentStore, collect_garbage
from ._embedding import (
    Embedding,
    EmbeddingProvider,
    HashingEmbedder,
    LocalEmbedder,
    NotSemanticWarning,
)
from ._fusion import SearchWeights
from ._hit import Hit
from ._quality import CueFeeling, RetrievalQuality
from ._text import aidf, idf
from ._vectors import vector_candidates as vector_candidates  # registers vector_sync

__all__ = [
    "BM25",
    "ENGLISH_STOP_WORDS",
    "AdaptiveAssembler",
    "Analyzer",
    "AssemblyResult",
    "Blob",
    "Content",
    "ContentStore",
    "ContextAssembler",
    "CueFeeling",
    "Embedding",
    "EmbeddingProvider",
    "FileContentStore",
    "HashingEmbedder",
    "Hit",
    "LocalEmbedder",
    "NotSemanticWarning",
    "OutputFormat",
    "RetrievalQuality",
    "SearchWeights",
    "StandardAnalyzer",
    "Text",
    "TextRef",
    "TokenCounter",
    "aidf",
    "approximate_tokens",
    "collect_garbage",
    "configure",
    "idf",
]
