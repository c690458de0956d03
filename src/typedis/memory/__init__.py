"""Agent-memory primitives built on typedis' index kinds and model operations.

Each primitive lives in a private module of this package and registers what it needs (an index
kind with ``typedis._index.register``, a server-side model operation with
``typedis._lua.operation``); this module re-exports the public names.
"""

from __future__ import annotations

from ._access import (
    AccessCount,
    aaccess_count,
    aaccess_log,
    access_count,
    access_log,
    aconfirm_access,
    adiscard_staged_access,
    alast_accessed,
    confirm_access,
    discard_staged_access,
    last_accessed,
)
from ._confidence import (
    ConfidenceData,
    aget_confidence,
    aget_confidence_data,
    aupdate_confidence,
    get_confidence,
    get_confidence_data,
    update_confidence,
)

__all__: list[str] = []
__all__ += [
    "ConfidenceData",
    "aget_confidence",
    "aget_confidence_data",
    "aupdate_confidence",
    "get_confidence",
    "get_confidence_data",
    "update_confidence",
]
__all__ += [
    "AccessCount",
    "aaccess_count",
    "aaccess_log",
    "access_count",
    "access_log",
    "aconfirm_access",
    "adiscard_staged_access",
    "alast_accessed",
    "confirm_access",
    "discard_staged_access",
    "last_accessed",
]
