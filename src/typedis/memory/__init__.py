"""Agent-memory primitives built on typedis' index kinds and model operations.

Each primitive lives in a private module of this package and registers what it needs (an index
kind with ``typedis._index.register``, a server-side model operation with
``typedis._lua.operation``); this module re-exports the public names.
"""

from __future__ import annotations

from .._index.bloom_kind import Fingerprint, FingerprintRef, words
from .._index.cooccurrence_kind import CoOccurrence, CoOccurrenceRef
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
from ._cooccurrence import (
    Associations,
    alink,
    aneighbors,
    apropagate,
    link,
    neighbors,
    propagate,
)

__all__: list[str] = []
__all__ += [
    "Fingerprint",
    "FingerprintRef",
    "Fingerprinted",
    "adefinitely_missing",
    "afill_ratio",
    "amight_exist",
    "amight_exist_batch",
    "amight_exist_count",
    "definitely_missing",
    "fill_ratio",
    "might_exist",
    "might_exist_batch",
    "might_exist_count",
    "words",
]
__all__ += [
    "Associations",
    "CoOccurrence",
    "CoOccurrenceRef",
    "alink",
    "aneighbors",
    "apropagate",
    "link",
    "neighbors",
    "propagate",
]
