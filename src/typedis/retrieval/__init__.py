"""Text and vector search, hybrid ranking, content off Redis, context assembly."""

from ._fusion import SearchWeights

__all__ = ["SearchWeights"]
