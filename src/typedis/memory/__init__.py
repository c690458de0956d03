"""Agent-memory primitives built on typedis' index kinds and model operations.

Each primitive lives in a private module of this package and registers what it needs (an index
kind with ``typedis._index.register``, a server-side model operation with
``typedis._lua.operation``); this module re-exports the public names.
"""

from __future__ import annotations

__all__: list[str] = []
