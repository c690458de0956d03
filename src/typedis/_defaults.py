"""``Defaults``: the tuning constants of the agent-memory primitives, in one registry.

A declaration module (it imports nothing), so that index kinds can read it. Each constant is
read when a field is declared (a marker's default, an index option computed when its model
class is created) or when a call is made (a function's default argument): assigning
``Defaults.X`` changes the fields and models declared, and the calls made, after it, never a
model class that already exists. An explicit argument always wins over the registry.
"""

from __future__ import annotations

from typing import ClassVar, Literal


class Defaults:
    """Every tuning constant of ``typedis.memory``, as class attributes (override globally).

    Examples:
        >>> Defaults.DECAY_RATE
        0.1
        >>> Defaults.PL_CONFIDENCE_ERROR_THRESHOLD
        0.7
    """

    # Decaying fields (typedis._index.decay_kind), read when the model class is created
    DECAY_RATE: ClassVar[float] = 0.1  # per day
    DECAY_CURVE: ClassVar[Literal["exponential", "power"]] = "exponential"
    # Confidence fields (typedis.memory._confidence): the prior without a field default
    INITIAL_CONFIDENCE: ClassVar[float] = 0.5
    # Observation outcomes (the observation protocol)
    ACTED_CONFIDENCE_SIGNAL: ClassVar[float] = 0.9
    CONTRADICTED_CONFIDENCE_SIGNAL: ClassVar[float] = 0.1
    ACTED_CYCLE_STRENGTHEN_FACTOR: ClassVar[float] = 1.2
    DISMISSED_CYCLE_WEAKEN_FACTOR: ClassVar[float] = 0.8
    CONTRADICTED_CYCLE_WEAKEN_FACTOR: ClassVar[float] = 0.5
    AUTO_DISCHARGE_CONFIDENCE_THRESHOLD: ClassVar[float] = 0.1
    # Write filter (typedis.memory._weights)
    WF_MIN_THRESHOLD: ClassVar[float] = 0.2
    WF_PRIORITY_THRESHOLD: ClassVar[float] = 0.7
    # Co-occurrence (typedis._index.cooccurrence_kind, typedis.memory._cooccurrence)
    CO_OCCURRENCE_DECAY_FACTOR: ClassVar[float] = 0.95
    CO_OCCURRENCE_INITIAL_WEIGHT: ClassVar[float] = 1.0
    CO_OCCURRENCE_DECAY_PER_HOP: ClassVar[float] = 0.5
    # Prediction ledger (typedis.memory._ledger)
    PL_CONFIDENCE_ERROR_THRESHOLD: ClassVar[float] = 0.7
    PL_CONFIDENCE_LOW_SIGNAL: ClassVar[float] = 0.2
    PL_AUTO_RESOLVE_ACTED: ClassVar[float] = 0.1
    PL_AUTO_RESOLVE_DISMISSED: ClassVar[float] = 0.5
    PL_AUTO_RESOLVE_CONTRADICTED: ClassVar[float] = 0.9
    PL_AUTO_RESOLVE_USED: ClassVar[float] = 0.3
    # Existence filter (typedis._index.bloom_kind)
    BLOOM_ERROR_RATE: ClassVar[float] = 0.01
    BLOOM_CAPACITY: ClassVar[int] = 100_000
    # Access tracking (typedis._index.access_kind): read times kept per record
    ACCESS_LOG_SIZE: ClassVar[int] = 100
