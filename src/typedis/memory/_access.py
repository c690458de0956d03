"""Access tracking: reads staged when records are hydrated, then confirmed or discarded.

A model tracks access by declaring one ``AccessCount`` field (``hits: AccessCount =
field(default=0)``), indexed by kind ``access`` (``typedis._index.access_kind``): a sorted set
of the confirmed read counts, so queries can order or rank by access frequency. Every record a
query or load of such a model returns gets one staged read in the same server call; the staged
reads and the capped log of confirmed read times are hidden fields of the record's own hash.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from pydantic import Field

from .. import _index, _keys, _lua, _scripts
from .._errors import ModelError
from .._index.access_kind import ACCESS, AccessCountMarker
from .._scripts import arun, run
from ._hidden import located, not_live, read_call

if TYPE_CHECKING:
    from typing import overload

    from .._model import Model
    from .._query._refs import SortedRef

    M = TypeVar("M", bound=Model)

    class AccessCount:
        """The confirmed read count of a record that tracks access; ranked through a sorted set."""

        @overload
        def __get__(self, obj: None, owner: type[M]) -> SortedRef[M, int]: ...
        @overload
        def __get__(self, obj: object, owner: Any) -> int: ...
        def __get__(self, obj: object, owner: Any) -> Any: ...
        def __set__(self, obj: object, value: int) -> None: ...
else:
    AccessCount = Annotated[int, Field(ge=0), AccessCountMarker()]

R = TypeVar("R")

_index.register(ACCESS)
_lua.operation("access_confirm")
_lua.operation("access_discard")


def _counter(record: Model, caller: str) -> str:
    """The name of the AccessCount field of the record's model."""
    spec = record.__typedis_spec__
    names = [n for n, f in spec.fields.items() if isinstance(f.marker, AccessCountMarker)]
    if len(names) != 1:
        raise ModelError(
            f"{caller}(): {spec.name} does not track access; declare one field "
            f"'hits: AccessCount = field(default=0)'"
            if not names
            else f"{caller}(): {spec.name} has several AccessCount fields {names}; keep one"
        )
    return names[0]


def _write_call(
    record: Model, caller: str, operation: str, args: list[_scripts.Arg], ok: Callable[[Any], R]
) -> _scripts.Call[R]:
    spec = record.__typedis_spec__
    tag, rid = located(record)

    def done(reply: list[Any]) -> R:
        status = reply[0]
        if status == b"ok":
            return ok(reply)
        if status == b"missing":
            raise not_live(record, caller)
        raise ModelError(
            f"{spec.name}({rid!r}): the stored access count is not a non-negative integer; "
            "nothing was written (save() a valid value first)"
        )

    function = _lua.library(spec).function(operation)
    return _scripts.Call(function, (_keys.record(tag, rid),), args, done, write=True)


def _confirm_call(record: Model) -> _scripts.Call[int]:
    name = _counter(record, "confirm_access")
    tag, rid = located(record)

    def ok(reply: list[Any]) -> int:
        vars(record)[name] = int(reply[2])
        return int(reply[1])

    log = next(ix for ix in record.__typedis_spec__.indexes if ix.kind is ACCESS).options["log"]
    args: list[_scripts.Arg] = [tag, rid, name, log]
    return _write_call(record, "confirm_access", "access_confirm", args, ok)


def confirm_access(record: Model) -> int:
    """Promote the record's staged reads to confirmed ones, atomically.

    Adds their number to the AccessCount field (on the server, in its index and on ``record``)
    and their times to the access log (the latest 100 kept).

    Returns:
        The number of staged reads promoted (0 when none were staged).

    Raises:
        NotFound: the record is not stored (or expired); nothing was written.
        ModelError: the record's model has no AccessCount field.
        OutcomeUnknown: the reply was lost; the promotion happened once or not at all.

    Examples:
        >>> Note.query.filter(Note.topic == "x").all()  # stages a read of each note returned
        >>> confirm_access(note)
        1
    """
    return run(_confirm_call(record))


async def aconfirm_access(record: Model) -> int:
    """``confirm_access()`` on the asyncio client."""
    return await arun(_confirm_call(record))


def _discard_call(record: Model) -> _scripts.Call[int]:
    name = _counter(record, "discard_staged_access")
    return _write_call(
        record, "discard_staged_access", "access_discard", [name], lambda r: int(r[1])
    )


def discard_staged_access(record: Model) -> int:
    """Drop the record's staged reads (confirmed ones stay); returns how many were dropped.

    Raises:
        NotFound: the record is not stored (or expired).
        ModelError: the record's model has no AccessCount field.
    """
    return run(_discard_call(record))


async def adiscard_staged_access(record: Model) -> int:
    """``discard_staged_access()`` on the asyncio client."""
    return await arun(_discard_call(record))


def _times(text: bytes | None) -> list[datetime]:
    if not text:
        return []
    return [datetime.fromtimestamp(int(ms) / 1000, UTC) for ms in text.split(b",")]


def _read_call(
    record: Model, caller: str, decode: Callable[[int, list[datetime]], R]
) -> _scripts.Call[R]:
    name = _counter(record, caller)

    def done(values: list[bytes | None]) -> R:
        count, log = values
        return decode(int(count or 0), _times(log))

    return read_call(record, (name, f"~acc:log:{name}"), done, caller)


def _count(count: int, log: list[datetime]) -> int:
    return count


def _last(count: int, log: list[datetime]) -> datetime | None:
    return log[-1] if log else None


def _log(count: int, log: list[datetime]) -> list[datetime]:
    return log


def access_count(record: Model) -> int:
    """The record's confirmed read count, read from the server (0 if never confirmed).

    Raises:
        NotFound: the record is not stored (or expired).
        ModelError: the record's model has no AccessCount field.
    """
    return run(_read_call(record, "access_count", _count))


async def aaccess_count(record: Model) -> int:
    """``access_count()`` on the asyncio client."""
    return await arun(_read_call(record, "access_count", _count))


def last_accessed(record: Model) -> datetime | None:
    """When the latest confirmed read happened (server time, UTC); None if never confirmed.

    Raises:
        NotFound: the record is not stored (or expired).
        ModelError: the record's model has no AccessCount field.
    """
    return run(_read_call(record, "last_accessed", _last))


async def alast_accessed(record: Model) -> datetime | None:
    """``last_accessed()`` on the asyncio client."""
    return await arun(_read_call(record, "last_accessed", _last))


def access_log(record: Model) -> list[datetime]:
    """The times of the latest 100 confirmed reads (server time, UTC), oldest first.

    Raises:
        NotFound: the record is not stored (or expired).
        ModelError: the record's model has no AccessCount field.
    """
    return run(_read_call(record, "access_log", _log))


async def aaccess_log(record: Model) -> list[datetime]:
    """``access_log()`` on the asyncio client."""
    return await arun(_read_call(record, "access_log", _log))
