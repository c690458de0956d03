"""Content off Redis: ``Content[str]`` / ``Content[bytes]`` fields kept in a content store.

The record holds the value's SHA-256 (64 hex digits); the value is written to the store
(content-addressed, so one value is stored once) by the pre-write hook, BEFORE the record's
call is sent: a crash or a refused write between the two leaves at most a blob no record
names, which ``collect_garbage()`` removes once it is older than its grace period. A loaded
record holds a ``Blob`` that knows only its digest; its ``value`` is read from the store on
first access (``aload()`` on the event loop) and kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Annotated,
    Any,
    Generic,
    Protocol,
    TypeVar,
    cast,
    runtime_checkable,
)

from pydantic import AfterValidator, Field, GetCoreSchemaHandler
from pydantic_core import core_schema

from .. import _index, _store
from .._errors import ConfigError, ModelError, NotFound
from .._index.content_kind import CONTENT_KIND, ContentMarker

if TYPE_CHECKING:
    from .._model import Model
    from .._spec import FieldSpec, ModelSpec

CT = TypeVar("CT", str, bytes)


@runtime_checkable
class ContentStore(Protocol):
    """Where ``Content`` values live, by the SHA-256 of their bytes (64 hex digits).

    Examples:
        >>> store = FileContentStore("/tmp/typedis-content-example")
        >>> isinstance(store, ContentStore)
        True
    """

    def put(self, digest: str, data: bytes) -> None:
        """Store ``data`` under ``digest`` (again: refresh its age)."""
        ...

    def get(self, digest: str) -> bytes:
        """The data stored under ``digest`` (``NotFound`` when there is none)."""
        ...

    def delete(self, digest: str) -> None:
        """Remove the data under ``digest``, if any."""
        ...

    def list(self) -> Iterator[tuple[str, float]]:
        """Every stored digest with its age in seconds (since its last ``put``)."""
        ...


class FileContentStore:
    """A content store in a directory: ``<root>/<first 2 hex digits>/<digest>``, each file
    written to a temporary name then renamed (a reader never sees half a value).

    Examples:
        >>> store = FileContentStore("/tmp/typedis-content-example")
        >>> store.put(digest_of(b"hi"), b"hi")
        >>> store.get(digest_of(b"hi"))
        b'hi'
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, digest: str) -> Path:
        if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
            raise ModelError(f"a content digest is 64 lowercase hex digits, got {digest!r}")
        return self.root / digest[:2] / digest

    def put(self, digest: str, data: bytes) -> None:
        """Write ``data`` (once; again only refreshes its age)."""
        path = self._path(digest)
        try:
            if path.exists():
                os.utime(path)
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{digest}.{os.getpid()}.{time.monotonic_ns()}")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError as error:
            raise self._failed("write", error) from error

    def get(self, digest: str) -> bytes:
        """The stored data (``NotFound`` when missing)."""
        try:
            return self._path(digest).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"no content {digest} in {self.root}") from None
        except OSError as error:
            raise self._failed("read", error) from error

    def delete(self, digest: str) -> None:
        """Remove the file, if any."""
        try:
            self._path(digest).unlink(missing_ok=True)
        except OSError as error:
            raise self._failed("delete", error) from error

    def _failed(self, what: str, error: OSError) -> ConfigError:
        return ConfigError(f"FileContentStore({str(self.root)!r}): cannot {what}: {error}")

    def list(self) -> Iterator[tuple[str, float]]:
        """Every stored digest and its age in seconds."""
        now = time.time()
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if folder.is_dir() and len(folder.name) == 2:
                for path in sorted(folder.iterdir()):
                    if len(path.name) == 64:
                        yield path.name, max(0.0, now - path.stat().st_mtime)


@dataclass(slots=True)
class _Settings:
    store: ContentStore | None = None


SETTINGS = _Settings()


def content_store() -> ContentStore:
    """The configured content store (``configure(content_store=...)``), else a
    ``FileContentStore`` under ``$TYPEDIS_CONTENT_PATH`` or ``./.typedis-content``."""
    if SETTINGS.store is None:
        SETTINGS.store = FileContentStore(
            os.environ.get("TYPEDIS_CONTENT_PATH", ".typedis-content")
        )
    return SETTINGS.store


def digest_of(data: bytes) -> str:
    """The SHA-256 of ``data``, as the record holds it (64 hex digits).

    Examples:
        >>> digest_of(b"")[:8]
        'e3b0c442'
    """
    return hashlib.sha256(data).hexdigest()


_MISSING: Any = object()


class Blob(Generic[CT]):
    """The value of a ``Content`` field: its digest, and its value once given or read.

    A record built in code holds its value (written to the store by the next save); a record
    loaded from Redis holds only the digest until ``value`` is read (from the configured
    store, once; ``aload()`` reads it on the event loop). Equal when the digests are.

    Examples:
        >>> b = Blob("a long text")
        >>> b.value
        'a long text'
    """

    __slots__ = ("_text", "_value", "digest")

    def __init__(self, value: CT) -> None:
        self._text = isinstance(value, str)
        self._value: CT = value
        self.digest = digest_of(self._bytes())

    @classmethod
    def stored(cls, digest: str, text: bool) -> Blob[Any]:
        """A value known by its digest only (read from the store on first access)."""
        blob: Blob[Any] = cls.__new__(cls)
        blob._text, blob._value, blob.digest = text, _MISSING, digest
        return blob

    @property
    def loaded(self) -> bool:
        """Whether the value is in memory (given, or read already)."""
        return self._value is not _MISSING

    @property
    def value(self) -> CT:
        """The value, read from the content store on first access."""
        if self._value is _MISSING:
            self._set(content_store().get(self.digest))
        return self._value

    async def aload(self) -> CT:
        """``value``, read in a worker thread when it is not in memory."""
        if self._value is _MISSING:
            self._set(await asyncio.to_thread(content_store().get, self.digest))
        return self._value

    def _set(self, data: bytes) -> None:
        self._value = cast(CT, data.decode() if self._text else data)

    def _bytes(self) -> bytes:
        value: str | bytes = self._value
        return value.encode() if isinstance(value, str) else value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Blob) and other.digest == self.digest  # pyright: ignore[reportUnknownMemberType]

    def __hash__(self) -> int:
        return hash(self.digest)

    def __repr__(self) -> str:
        return f"Blob({self.digest[:12]}…{'' if self.loaded else ', not loaded'})"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return core_schema.no_info_plain_validator_function(
            _as_blob,
            json_schema_input_schema=core_schema.union_schema(
                [core_schema.str_schema(), core_schema.bytes_schema()]
            ),
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda b: b.value, when_used="always"
            ),
        )


def _as_blob(value: Any) -> Blob[Any]:
    if isinstance(value, Blob):
        blob: Blob[Any] = value  # pyright: ignore[reportUnknownVariableType]
        return blob
    if isinstance(value, str):
        return Blob(value)
    if isinstance(value, bytes):
        return Blob(value)
    raise ValueError(f"a Content field takes str or bytes, got {type(value).__name__}")


class _Put(_store.Work[None]):
    def __init__(self, store: ContentStore, blobs: list[Blob[Any]]) -> None:
        self.store, self.blobs = store, blobs

    def run(self) -> None:
        for blob in self.blobs:
            self.store.put(blob.digest, blob._bytes())  # pyright: ignore[reportPrivateUsage]

    async def arun(self) -> None:
        await asyncio.to_thread(self.run)


class _Contents(_store.Preparer):
    """Writes the values of ``Content`` fields to the store before the records' call."""

    def __init__(self, fields: list[FieldSpec]) -> None:
        self.fields = fields

    def records(self, records: Sequence[Model], written: frozenset[str] | None) -> _store.Prepared:
        blobs: dict[str, Blob[Any]] = {}
        for field in self.fields:
            if written is None or field.name in written:
                for record in records:
                    blob = vars(record).get(field.name)
                    if isinstance(blob, Blob) and blob.loaded:
                        blobs[blob.digest] = blob
        if blobs:
            yield _Put(content_store(), list(blobs.values()))

    def changes(self, changes: dict[str, Any]) -> _store.Prepared:
        blobs: dict[str, Blob[Any]] = {}
        for field in self.fields:
            if field.name in changes:
                blob = changes[field.name] = _as_blob(changes[field.name])
                if blob.loaded:
                    blobs[blob.digest] = blob
        if blobs:
            yield _Put(content_store(), list(blobs.values()))


def _preparer(spec: ModelSpec) -> _store.Preparer | None:
    fields = [f for f in spec.fields.values() if isinstance(f.marker, ContentMarker)]
    return _Contents(fields) if fields else None


def collect_garbage(
    model: type[Model], store: ContentStore | None = None, *, grace: float = 3600.0
) -> int:
    """Remove the blobs of ``store`` (default: the configured one) that no record of
    ``model`` names and that are older than ``grace`` seconds; how many were removed.

    Maintenance: it reads every record of the model (every partition the registry lists). The
    grace period covers writes in flight (a value is written to the store before its record),
    so keep it longer than a save can take. A store shared by several models: name each of
    them in turn with a grace long enough, or give each model its own store.

    Examples:
        >>> collect_garbage(Note, grace=24 * 3600)
        0
    """
    store = store or content_store()
    old = {digest for digest, age in store.list() if age >= grace}
    if not old:
        return 0
    names = [
        f
        for f, spec in model.__typedis_spec__.fields.items()
        if isinstance(spec.marker, ContentMarker)
    ]
    query = model.query.across_partitions() if model.__typedis_spec__.partition else model.query
    for record in query.iter():
        for name in names:
            old.discard(cast(Blob[Any], getattr(record, name)).digest)
    for digest in old:
        store.delete(digest)
    return len(old)


def _of_type(text: bool) -> Any:
    def check(blob: Blob[Any]) -> Blob[Any]:
        if blob._text != text:  # pyright: ignore[reportPrivateUsage]
            raise ValueError(f"this Content field takes {'str' if text else 'bytes'}")
        return blob

    return check


def _decoder(text: bool) -> Callable[[bytes], Blob[Any]]:
    def decode(raw: bytes) -> Blob[Any]:
        return Blob.stored(raw.decode(), text)

    return decode


_index.register(CONTENT_KIND)
_store.add_preparer(_preparer)

if TYPE_CHECKING:
    from typing import overload

    class Content(Generic[CT]):
        """A ``str`` or ``bytes`` field kept in a content store; the record holds its digest.

        Examples:
            >>> class Doc(Model):
            ...     body: Content[str]
        """

        @overload
        def __get__(self, obj: None, owner: Any) -> Content[CT]: ...
        @overload
        def __get__(self, obj: object, owner: Any) -> Blob[CT]: ...
        def __get__(self, obj: object, owner: Any) -> Any: ...
        def __set__(self, obj: object, value: CT | Blob[CT]) -> None: ...
else:

    class _ContentAlias:
        def __getitem__(self, item: Any) -> Any:
            if item not in (str, bytes):
                raise ModelError(f"Content[...] takes str or bytes, got {item!r}")
            return Annotated[
                Blob[item],
                AfterValidator(_of_type(item is str)),
                Field(validate_default=True),  # a default str or bytes becomes a Blob too
                ContentMarker(_decoder(item is str)),
            ]

    Content = _ContentAlias()
