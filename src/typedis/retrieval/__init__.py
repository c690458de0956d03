"""Retrieval: search over the server's data, and the assembly of prompt context from it."""

from __future__ import annotations

from ._adaptive import AdaptiveAssembler
from ._assembly import (
    AssemblyResult,
    ContextAssembler,
    OutputFormat,
    TokenCounter,
    approximate_tokens,
)
from ._quality import CueFeeling, RetrievalQuality

__all__ = [
    "AdaptiveAssembler",
    "AssemblyResult",
    "ContextAssembler",
    "CueFeeling",
    "OutputFormat",
    "RetrievalQuality",
    "TokenCounter",
    "approximate_tokens",
]
