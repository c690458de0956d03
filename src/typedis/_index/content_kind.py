"""Kind ``content``: fields whose values live in a content store (``retrieval.Content``).

It indexes nothing: it gives the field its codec (the record holds the SHA-256 of the value,
64 hex digits; the value itself is written to the store before the record, by the pre-write
hook of ``typedis.retrieval``) and checks the field's type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from .._codec import FieldCodec
from .._errors import ModelError
from .._markers import Marker
from ._kind import IndexKind, Shape

if TYPE_CHECKING:
    from .._spec import FieldSpec


@dataclass(frozen=True, slots=True)
class ContentMarker(Marker):
    """Marks a field kept in a content store; ``decode`` makes its value from a stored
    digest (``typedis.retrieval``'s lazily loaded ``Blob``)."""

    kind: ClassVar[str] = "content"
    decode: Callable[[bytes], Any]


class ContentKind(IndexKind):
    name = "content"
    letter = "c"
    redis_type = "string"
    markers: ClassVar[tuple[type[Marker], ...]] = (ContentMarker,)

    def applies(self, field: FieldSpec, shape: Shape) -> bool:
        return False  # no index: the record holds the value's digest

    def check_field(self, where: str, field: FieldSpec) -> None:
        if field.nullable:
            raise ModelError(f"{where}: a Content field holds a value (not None)")

    def codec(self, marker: Marker, annotation: Any) -> FieldCodec:
        """The value's digest, read back as a lazily loaded value (``marker.decode``)."""
        assert isinstance(marker, ContentMarker)
        return FieldCodec("content", _digest_of, marker.decode, None)


def _digest_of(value: Any) -> str:
    digest: str = value.digest
    return digest


CONTENT_KIND = ContentKind()
