"""Agent-memory primitives built on typedis' index kinds and model operations.

Each primitive lives in a private module of this package and registers what it needs (an index
kind with ``typedis._index.register``, a server-side model operation with
``typedis._lua.operation``); this module re-exports the public names.
"""

from __future__ import annotations

from .._defaults import Defaults
from .._index.bloom_kind import Fingerprint, FingerprintRef, words
from .._index.cooccurrence_kind import CoOccurrence, CoOccurrenceRef
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
from ._bloom import (
    Fingerprinted,
    adefinitely_missing,
    afill_ratio,
    amight_exist,
    amight_exist_batch,
    amight_exist_count,
    definitely_missing,
    fill_ratio,
    might_exist,
    might_exist_batch,
    might_exist_count,
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
from ._cooccurrence import (
    Associations,
    alink,
    aneighbors,
    apropagate,
    link,
    neighbors,
    propagate,
)
from ._weights import (
    InteractionWeight,
    Priority,
    WriteDecision,
    afiltered_save,
    decide_write,
    filtered_save,
)

__all__ = [
    "AccessCount",
    "Associations",
    "CoOccurrence",
    "CoOccurrenceRef",
    "ConfidenceData",
    "Defaults",
    "Fingerprint",
    "FingerprintRef",
    "Fingerprinted",
    "InteractionWeight",
    "Priority",
    "WriteDecision",
    "aaccess_count",
    "aaccess_log",
    "access_count",
    "access_log",
    "aconfirm_access",
    "adefinitely_missing",
    "adiscard_staged_access",
    "afill_ratio",
    "afiltered_save",
    "aget_confidence",
    "aget_confidence_data",
    "alast_accessed",
    "alink",
    "amight_exist",
    "amight_exist_batch",
    "amight_exist_count",
    "aneighbors",
    "apropagate",
    "aupdate_confidence",
    "confirm_access",
    "decide_write",
    "definitely_missing",
    "discard_staged_access",
    "fill_ratio",
    "filtered_save",
    "get_confidence",
    "get_confidence_data",
    "last_accessed",
    "link",
    "might_exist",
    "might_exist_batch",
    "might_exist_count",
    "neighbors",
    "propagate",
    "update_confidence",
    "words",
]
