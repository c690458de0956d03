"""Kind ``bloom``: a Bloom filter on a Redis bitmap, fed by a ``Fingerprint`` field.

Key ``<tag>:b:<field>``: one bitmap per hash tag, so a partitioned model has one filter per
partition. The client tokenizes the field's text and hashes each token to ``hashes`` bit
offsets (double hashing over the two 64-bit halves of a blake2b digest); the save script sets
those bits (``SETBIT``) in the same atomic call that writes the record. A Bloom filter cannot
forget, so deleting a record or changing its text leaves its bits set: ``remove`` is a no-op
and ``check_indexes()`` counts only missing bits (extra bits are expected).

Sizing, for ``capacity`` items at false-positive rate ``error_rate``:
``bits = ceil(-capacity * ln(error_rate) / ln(2)**2)``, ``hashes = round(bits / capacity * ln 2)``.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as declared
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from .._defaults import Defaults
from .._errors import ModelError
from .._markers import Marker
from .._query._refs import FieldRef
from ._kind import AddLua, Arg, Held, IndexKind, Records, Stale

if TYPE_CHECKING:
    from .._codegen import Fresh
    from .._model import Model
    from .._spec import FieldSpec, IndexSpec, ModelSpec

M = TypeVar("M", bound="Model")

DEFAULT_ERROR_RATE = Defaults.BLOOM_ERROR_RATE  # the shipped defaults; Fingerprint() reads
DEFAULT_CAPACITY = Defaults.BLOOM_CAPACITY  # Defaults when it is made
MAX_BITS = 2**32  # the largest bitmap Redis holds (512 MB)

_WORD = re.compile(r"\w+")
_MASK64 = (1 << 64) - 1


def words(text: str) -> list[str]:
    """The default tokenizer: the casefolded words (``\\w+`` runs) of ``text``."""
    return _WORD.findall(text.casefold())


@dataclass(frozen=True, slots=True)
class Fingerprint(Marker):
    """A str field that feeds a Bloom filter (``Annotated[str, Fingerprint(...)]``).

    Args:
        error_rate: target false-positive rate at ``capacity`` items, in (0, 1).
        capacity: the number of distinct tokens the filter is sized for (per partition).
        tokenize: splits a text into the tokens added and looked up (default ``words``); a
            text with no tokens is added and looked up as one token, itself.
    """

    kind: ClassVar[str] = "fingerprint"
    error_rate: float = declared(default_factory=lambda: Defaults.BLOOM_ERROR_RATE)
    capacity: int = declared(default_factory=lambda: Defaults.BLOOM_CAPACITY)
    tokenize: Callable[[str], Iterable[str]] = words


@dataclass(frozen=True, slots=True)
class Sizing:
    """A filter's bitmap size and hash count, and how texts become bit offsets."""

    bits: int
    hashes: int
    tokenize: Callable[[str], Iterable[str]]

    @classmethod
    def of(cls, marker: Fingerprint) -> Sizing:
        """The standard sizing: m = -n ln p / (ln 2)², k = (m / n) ln 2."""
        n, p = marker.capacity, marker.error_rate
        bits = math.ceil(-n * math.log(p) / math.log(2) ** 2)
        return cls(bits, max(1, round(bits / n * math.log(2))), marker.tokenize)

    def tokens(self, text: str) -> list[str]:
        """The distinct tokens of ``text`` (``[text]`` when the tokenizer finds none)."""
        return list(dict.fromkeys(self.tokenize(text))) or [text]

    def offsets(self, token: str) -> list[int]:
        """The ``hashes`` bit offsets of one token."""
        digest = hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        h1 = int.from_bytes(digest[:8], "little")
        h2 = int.from_bytes(digest[8:], "little") | 1
        return [((h1 + i * h2) & _MASK64) % self.bits for i in range(self.hashes)]

    def text_offsets(self, text: str) -> set[int]:
        """Every bit offset a record with this text sets."""
        return {o for token in self.tokens(text) for o in self.offsets(token)}


class FingerprintRef(FieldRef[M, str]):
    """A ``Fingerprint`` field: the Bloom filter it feeds, queried with ``might_exist()`` and
    the other functions of ``typedis.memory``."""

    __slots__ = ()


class BloomKind(IndexKind):
    name = "bloom"
    per_tag = True
    letter = "b"
    redis_type = "string"
    markers = (Fingerprint,)
    reports = ("bloom",)

    def add_lua(self, index: IndexSpec, fresh: Fresh) -> AddLua:
        return fresh.delegated(index)

    def check_field(self, where: str, field: FieldSpec) -> None:
        marker = field.marker
        assert isinstance(marker, Fingerprint)
        if field.annotation is not str:
            raise ModelError(f"{where}: Fingerprint fields need a str (or str | None)")
        p, n = cast(object, marker.error_rate), cast(object, marker.capacity)  # as given
        if isinstance(p, bool) or not isinstance(p, float | int) or not 0 < p < 1:  # also NaN
            raise ModelError(f"{where}: Fingerprint(error_rate=...) must be in (0, 1), got {p!r}")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ModelError(f"{where}: Fingerprint(capacity=...) must be an int >= 1, got {n!r}")
        if not callable(marker.tokenize):
            raise ModelError(f"{where}: Fingerprint(tokenize=...) must be a function str -> tokens")
        if _sizing(marker).bits > MAX_BITS:
            raise ModelError(
                f"{where}: Fingerprint(capacity={n}, error_rate={p}) needs more than 2**32 "
                "bits, the largest Redis bitmap; lower the capacity or raise the error rate"
            )

    def options(self, field: FieldSpec) -> Mapping[str, str | float]:
        sizing = sizing_of(field)
        return {"bits": sizing.bits, "hashes": sizing.hashes}

    def argument(self, field: FieldSpec) -> Callable[[Any], Arg]:
        sizing = sizing_of(field)

        def offsets(value: str | None) -> str:
            return "" if value is None else " ".join(map(str, sizing.text_offsets(value)))

        return offsets

    def ref(self, field: FieldSpec) -> type[FieldRef[Any, Any]]:
        return FingerprintRef

    def check(
        self,
        spec: ModelSpec,
        tag: str,
        index: IndexSpec,
        records: Records,
        held: Held,
        now_ms: float,
    ) -> int:
        """The bits some stored record sets that the filter lacks (extra bits are no fault)."""
        sizing = sizing_of(spec.fields[index.fields[0]])
        name = index.fields[0]
        wanted = {o for v in records.values() if name in v for o in sizing.text_offsets(v[name])}
        bitmap: bytes = held.get(f"{tag}:{index.suffix}", b"")
        return sum(1 for o in wanted if not _bit(bitmap, o))

    def stale(
        self,
        spec: ModelSpec,
        tag: str,
        index: IndexSpec,
        records: Records,
        held: Held,
        now_ms: float,
    ) -> list[Stale]:
        """None: a Bloom filter cannot forget a value (an extra bit is no fault)."""
        return []


def _bit(bitmap: bytes, offset: int) -> bool:
    """Bit ``offset`` of a Redis bitmap (bit 0 is the most significant bit of byte 0)."""
    byte = offset >> 3
    return byte < len(bitmap) and bool(bitmap[byte] >> (7 - (offset & 7)) & 1)


def sizing_of(field: FieldSpec) -> Sizing:
    """The sizing of a ``Fingerprint`` field."""
    marker = field.marker
    assert isinstance(marker, Fingerprint)
    return _sizing(marker)


@functools.cache
def _sizing(marker: Fingerprint) -> Sizing:
    return Sizing.of(marker)


BLOOM = BloomKind()
