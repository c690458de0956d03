"""Kind ``vector``: which records of a partition hold an ``Embedding``, versioned for caches.

The vector itself is the record's field, stored as packed little-endian float32 (``codec``).
Key ``<tag>:v:<field>``: a sorted set of the ids of the records holding a vector, scored by
the version of their last change. Companions: ``:d``, the ids whose vector went (a delete, an
expiry sweep, a move, a None), scored by the version of that change, the oldest dropped beyond
``TOMBSTONES``; ``:n``, the partition's counters: member ``v`` its version (bumped by every
change of a vector, in the write's own script, and by the repairs: ``clean_indexes()`` removes
a stale id as a delete does, ``rebuild_indexes()`` re-adds an id as a save does), ``e`` its
epoch (the server's time in microseconds when the key was made: a cache of an earlier life of
the key is never taken for this one) and ``f`` its floor (a cache older than it reloads
whole). Clients keep the vectors of a partition and bring them up to date with
``typedis.retrieval``'s sync call.
"""

from __future__ import annotations

import math
import struct
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast

from .._codec import FieldCodec
from .._errors import ModelError
from .._markers import Marker
from ._kind import AddLua, Held, IndexKind, Records

if TYPE_CHECKING:
    from .._codegen import Fresh
    from .._spec import FieldSpec, IndexSpec, ModelSpec

TOMBSTONES = 10_000  # removed ids a partition remembers for caches brought up to date


@dataclass(frozen=True, slots=True)
class EmbeddingMarker(Marker):
    """Marks a vector field (``typedis.retrieval.Embedding``)."""

    kind: ClassVar[str] = "embedding"


def pack(vector: Sequence[float]) -> bytes:
    """A vector as stored: packed little-endian float32."""
    return struct.pack(f"<{len(vector)}f", *vector)


def unpack(raw: bytes) -> list[float]:
    """A stored vector (packed little-endian float32) as floats."""
    if len(raw) % 4:
        raise ValueError(f"a stored vector is whole float32 values; got {len(raw)} bytes")
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def as_float32(vector: Sequence[float]) -> list[float]:
    """A vector's values as float32 holds them (what a save stores and a load gives back);
    refuses an empty vector and values that are not finite float32 numbers."""
    if not vector:
        raise ValueError("a vector has at least one value")
    try:
        values = unpack(pack(vector))
    except OverflowError:
        values = [math.inf]
    if not all(map(math.isfinite, values)):
        raise ValueError("vector values must be finite float32 numbers (not NaN, inf or beyond)")
    return values


VECTOR = FieldCodec("vector", pack, unpack, None)


class VectorKind(IndexKind):
    name = "vector"
    letter = "v"
    redis_type = "zset"
    markers: ClassVar[tuple[type[Marker], ...]] = (EmbeddingMarker,)
    companions = (":d", ":n")
    reports = ("vector",)
    per_tag = True  # a partition's vectors are read a partition at a time
    option_names: ClassVar[Mapping[str, str]] = {
        "source": "Embedding fields",
        "provider": "Embedding fields",
        "dimension": "Embedding fields",
    }

    def check_field(self, where: str, field: FieldSpec) -> None:
        if not field.options.source:
            raise ModelError(
                f"{where}: an Embedding field names its source field: field(source='body')"
            )
        dimension = cast(object, field.options.dimension)  # typed, but given at run time
        if dimension is not None and (
            isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 1
        ):
            raise ModelError(f"{where}: dimension= takes a positive int, got {dimension!r}")
        provider = cast(object, field.options.provider)
        if provider is not None and not all(
            hasattr(provider, a) for a in ("dimension", "embed", "aembed")
        ):
            raise ModelError(
                f"{where}: provider= takes an EmbeddingProvider (dimension, embed, aembed), "
                f"got {provider!r}"
            )
        if not field.nullable:
            raise ModelError(f"{where}: an Embedding field is None until it is filled")

    def codec(self, marker: Marker, annotation: Any) -> FieldCodec:
        return VECTOR

    def options(self, field: FieldSpec) -> Mapping[str, str | float]:
        return {"tombstones": TOMBSTONES}

    def add_lua(self, index: IndexSpec, fresh: Fresh) -> AddLua:
        return fresh.delegated(index)

    def entries(
        self, spec: ModelSpec, tag: str, index: IndexSpec, records: Records, now_ms: float
    ) -> Counter[Any]:
        key, name = f"{tag}:{index.suffix}", index.fields[0]
        return Counter((key, rid) for rid, v in records.items() if name in v)

    def held(self, held: Held) -> Counter[Any]:
        """The ids the live key holds (the companions hold no record's entry)."""
        out: Counter[Any] = Counter()
        for key, contents in held.items():
            if not key.endswith(self.companions):
                out.update((key, member) for member in contents)
        return out


VECTOR_KIND = VectorKind()
