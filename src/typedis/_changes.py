"""``ChangeLog[M]``: a typed consumer of a model's change log, over Redis consumer groups.

A model declared ``changes=True`` appends one stream entry per record each write changes, in
the write's own script (``_index/changes_kind.py`` writes them, ``lua/index/changes.lua``
says their layout). This module reads them back as ``Change[M]`` objects: a consumer group is
created once (``create_group``), each consumer ``read``s the events new to the group, ``ack``s
what it handled, and ``claim``s the events another consumer read but never acknowledged (it
crashed) once they have been idle long enough. An entry that cannot be read back (not an
event, or a record the model no longer validates) is reported and acknowledged, never raised
in the consumer's loop.

Each operation is one command, built and parsed by the same code for the sync and asyncio
clients (``_Command``); replies are read in both RESP2 and RESP3 shapes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, cast, get_args

import redis

from . import _keys, _store
from ._connection import get_connection
from ._errors import CorruptRecord, ModelError, QueryError
from ._maintenance import tag_for
from ._scripts import typed

if TYPE_CHECKING:
    from ._model import Model

M = TypeVar("M", bound="Model")
R = TypeVar("R")

Op = Literal["create", "update", "delete", "touch"]
OnError = Callable[[str, Mapping[bytes, bytes], Exception], object]
Entry = tuple[bytes, Mapping[bytes, bytes] | None]  # a stream entry as redis-py gives it

_OPS: tuple[str, ...] = get_args(Op)
_BLOCK_MS = 1000  # the longest one blocking read waits on the server (read() loops for more),
# unless half the connection's socket timeout is shorter
log = logging.getLogger("typedis")


@dataclass(frozen=True, slots=True)
class Change(Generic[M]):
    """One event of a change log: a record created, updated, touched or deleted.

    Attributes:
        event: the stream entry's id (``"1717000000000-0"``): what ``ack`` takes.
        op: ``"create"``, ``"update"``, ``"touch"`` (a Decaying field's decay restarted) or
            ``"delete"`` (deleted, swept after expiry, or moved away to another key).
        key: the record's Redis key.
        id: the record's id within its tag (its escaped key values joined by ``:``).
        fields: the fields the write changed: every field holding a value for a create, those
            whose stored value changed for an update (none for a save that changed nothing),
            the touched field for a touch, none for a delete.
        record: the record after the write, validated by pydantic; None for a delete.
    """

    event: str
    op: Op
    key: str
    id: str
    fields: tuple[str, ...]
    record: M | None


@dataclass(frozen=True, slots=True)
class PendingChange:
    """An event read by a consumer of the group and not yet acknowledged.

    Attributes:
        event: the stream entry's id.
        consumer: the consumer that read it last.
        idle: seconds since it was last delivered.
        deliveries: how many times it was delivered (read or claimed).
    """

    event: str
    consumer: str
    idle: float
    deliveries: int


@dataclass(frozen=True, slots=True)
class _Batch(Generic[M]):
    """Events read, and the ids of the entries reported and skipped (to acknowledge)."""

    changes: list[Change[M]]
    skipped: list[str]
    cursor: str = "0-0"  # XAUTOCLAIM's next start ("0-0": the scan is complete)


@dataclass(frozen=True, slots=True)
class _Command(Generic[R]):
    """One command of the consumer and how its reply becomes the result (sync or async)."""

    what: str
    args: tuple[Any, ...]
    parse: Callable[[Any], R]
    write: bool = True
    options: Mapping[str, Any] | None = None
    accept: str = ""  # a refusal that is an answer: its reply is None (BUSYGROUP)


class ChangeLog(Generic[M]):
    """A consumer of a model's change log, in a consumer group.

    Args:
        model: a model declared with ``changes=True`` (or ``changes=ChangeStream(...)``).
        group: the consumer group's name: the consumers of one group share its events, each
            event going to one of them; every group gets every event.
        consumer: this consumer's name within the group (what ``pending()`` shows).
        partition: the partition's values, in ``partition=`` order, for a partitioned model
            (each partition has its own log).
        on_error: called as ``on_error(event, fields, error)`` for each entry that cannot be
            read (then acknowledged and skipped); without it, such an entry is logged as a
            warning on the ``typedis`` logger. What ``on_error`` raises propagates.

    Raises:
        ModelError: the model keeps no change log.
        QueryError: partition values missing, or given for a model that is not partitioned.

    Examples:
        >>> log = ChangeLog(Order, "billing", "worker-1")
        >>> log.create_group()
        True
        >>> for change in log.read(count=100, timeout=5):
        ...     handle(change)
        ...     log.ack(change)
    """

    def __init__(
        self,
        model: type[M],
        group: str,
        consumer: str,
        *,
        partition: Sequence[Any] = (),
        on_error: OnError | None = None,
    ) -> None:
        spec = model.__typedis_spec__
        if not any(ix.kind.name == "changes" for ix in spec.indexes):
            raise ModelError(
                f"{spec.name} keeps no change log: declare it `class {spec.name}(Model, "
                "changes=True)`"
            )
        for name, value in (("group", group), ("consumer", consumer)):
            if not isinstance(cast(object, value), str) or not value:
                raise QueryError(f"ChangeLog({spec.name}): {name}= must be a non-empty str")
        self.model = model
        self.group = group
        self.consumer = consumer
        self.tag = tag_for(spec, tuple(partition))
        self.key = _keys.changes(self.tag)
        self.skipped = 0
        self._on_error = on_error
        self._read = _store.reader(model)
        self._blank: list[bytes | None] = [None] * len(spec.hidden)

    def __repr__(self) -> str:
        return f"ChangeLog({self.model.__name__}, {self.group!r}, {self.consumer!r})"

    # ---- the commands, shared by both clients ------------------------------------------------

    def _create(self, start: str) -> _Command[bool]:
        args = ("XGROUP", "CREATE", self.key, self.group, start, "MKSTREAM")
        what = f"creating group {self.group} of {self.key}"
        return _Command(what, args, lambda reply: reply is not None, accept="BUSYGROUP")

    def _read_new(self, count: int, block_ms: int | None) -> _Command[_Batch[M]]:
        _positive("count", count)
        block = () if block_ms is None else ("BLOCK", block_ms)
        args = ("XREADGROUP", "GROUP", self.group, self.consumer, "COUNT", count, *block)
        return _Command(
            f"reading {self.key} as {self.group}/{self.consumer}",
            (*args, "STREAMS", self.key, ">"),
            lambda reply: self._changes(_streamed(reply)),
        )

    def _ack(self, changes: Sequence[Change[M] | str]) -> _Command[int]:
        ids = [c if isinstance(c, str) else c.event for c in changes]
        return _Command(
            f"acknowledging events of {self.key}", ("XACK", self.key, self.group, *ids), int
        )

    def _pending(self, count: int) -> _Command[list[PendingChange]]:
        _positive("count", count)
        return _Command(
            f"reading the pending events of {self.key}",
            ("XPENDING", self.key, self.group, "-", "+", count),
            _pending_list,
            write=False,
            options={"parse_detail": True},
        )

    def _claim(self, min_idle: float, count: int, start: str) -> _Command[_Batch[M]]:
        _positive("count", count)
        idle = cast(object, min_idle)
        if isinstance(idle, bool) or not isinstance(idle, int | float) or not idle >= 0:
            raise QueryError(f"{self!r}.claim(): min_idle= must be seconds >= 0, got {min_idle!r}")
        args = ("XAUTOCLAIM", self.key, self.group, self.consumer, int(min_idle * 1000), start)
        return _Command(f"claiming events of {self.key}", (*args, "COUNT", count), self._claimed)

    # ---- reading replies ---------------------------------------------------------------------

    def _changes(self, entries: Sequence[Entry], cursor: str = "0-0") -> _Batch[M]:
        """The events of stream entries; an unreadable one is reported, to be acknowledged."""
        batch: _Batch[M] = _Batch([], [], cursor)
        for raw_id, fields in entries:
            event = raw_id.decode()
            try:
                batch.changes.append(self.change(event, fields))
            except Exception as error:  # a custom validator may raise anything: still skip it
                batch.skipped.append(event)
                self._report(event, fields or {}, error)
        return batch

    def _claimed(self, reply: Any) -> _Batch[M]:
        """XAUTOCLAIM's reply: the next cursor and the claimed events. The ids of events
        trimmed away before anyone acknowledged them (Redis 7: the third item, already gone
        from the pending list) are reported."""
        for raw in reply[2] if len(reply) > 2 else ():
            gone = CorruptRecord("was trimmed from the stream before it was acknowledged")
            self._report(raw.decode(), {}, gone)
        return self._changes(reply[1], reply[0].decode())

    def _kept(self, batch: _Batch[M]) -> _Command[int] | None:
        """The acknowledgement of a batch's skipped entries, if it has any."""
        return self._ack(batch.skipped) if batch.skipped else None

    def _report(self, event: str, fields: Mapping[bytes, bytes], error: Exception) -> None:
        self.skipped += 1
        if self._on_error is not None:
            self._on_error(event, fields, error)
        else:
            log.warning("%r skipped event %s: %s (%r)", self, event, error, fields)

    def change(self, event: str, fields: Mapping[bytes, bytes] | None) -> Change[M]:
        """The event in one stream entry's fields.

        Raises:
            CorruptRecord: the entry is not an event of this log, or its record does not
                validate (``CorruptRecord.field`` names the field).
        """
        op = (fields or {}).get(b"~op", b"").decode(errors="replace")
        rid = (fields or {}).get(b"~id")
        if fields is None or op not in _OPS or rid is None:
            raise CorruptRecord(f"entry {event} of {self.key} is not a change event")
        record_id = rid.decode(errors="surrogateescape")
        record = None
        if op != "delete":
            row = [fields.get(name.encode()) for name in self.model.__typedis_spec__.stored]
            record = self._read([*row, *self._blank], (self.tag, record_id))
        changed = tuple(fields.get(b"~changed", b"").decode().split())
        key = _keys.record(self.tag, record_id)
        return Change(event, cast(Op, op), key, record_id, changed, record)

    # ---- sync ----------------------------------------------------------------------------------

    def create_group(self, start: str = "0") -> bool:
        """Create the consumer group (and the stream, if no write made it yet); idempotent.

        Args:
            start: the first event the group reads: ``"0"`` every event the log holds,
                ``"$"`` only those appended from now, or an event id.

        Returns:
            True if it was created, False if the group existed already (left as it is).

        Raises:
            PermissionDenied: the ACL user may not use the stream.
            ServerRefused: the log's key holds another type, or ``start`` is no event id.
        """
        return _run(self._create(start))

    def read(self, count: int = 100, timeout: float | None = None) -> list[Change[M]]:
        """Up to ``count`` events new to the group, now delivered to this consumer.

        Each stays pending (``pending()``) until acknowledged (``ack``): a consumer that
        crashes before acknowledging leaves it for another to ``claim``. An entry that cannot
        be read is reported, acknowledged and read past (``on_error``).

        Args:
            count: at most this many events.
            timeout: wait at most this many seconds for an event when none is new; None
                (default) does not wait.

        Raises:
            ServerRefused: the group does not exist (``create_group()``).
            OutcomeUnknown: the reply was lost: the events it delivered are pending, for
                ``claim``.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            batch = _run(self._read_new(count, _block(deadline)))
            if skipped := self._kept(batch):
                _run(skipped)
            if _done(batch, deadline):
                return batch.changes

    def ack(self, *changes: Change[M] | str) -> int:
        """Acknowledge handled events (``Change`` objects or their ids); the number acknowledged
        (an event already acknowledged, or read by another group, counts 0)."""
        return _run(self._ack(changes)) if changes else 0

    def pending(self, count: int = 100) -> list[PendingChange]:
        """Up to ``count`` events the group's consumers read and have not acknowledged, oldest
        first."""
        return _run(self._pending(count))

    def claim(self, min_idle: float, count: int = 100) -> list[Change[M]]:
        """Take over up to ``count`` pending events idle for at least ``min_idle`` seconds (their
        consumer died or hangs): they are delivered to this consumer, which handles and
        acknowledges them as read ones.

        An event trimmed away (``maxlen``) before anyone acknowledged it is reported, as an
        unreadable one is.

        Raises:
            QueryError: ``min_idle`` is not a number of seconds >= 0.
            ServerRefused: the group does not exist.
        """
        out: list[Change[M]] = []
        cursor = "0-0"
        while True:
            batch = _run(self._claim(min_idle, count - len(out), cursor))
            if skipped := self._kept(batch):
                _run(skipped)
            out += batch.changes
            cursor = batch.cursor
            if cursor == "0-0" or len(out) >= count:
                return out

    # ---- async ---------------------------------------------------------------------------------

    async def acreate_group(self, start: str = "0") -> bool:
        """``create_group`` on the asyncio client."""
        return await _arun(self._create(start))

    async def aread(self, count: int = 100, timeout: float | None = None) -> list[Change[M]]:
        """``read`` on the asyncio client."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            batch = await _arun(self._read_new(count, _block(deadline)))
            if skipped := self._kept(batch):
                await _arun(skipped)
            if _done(batch, deadline):
                return batch.changes

    async def aack(self, *changes: Change[M] | str) -> int:
        """``ack`` on the asyncio client."""
        return await _arun(self._ack(changes)) if changes else 0

    async def apending(self, count: int = 100) -> list[PendingChange]:
        """``pending`` on the asyncio client."""
        return await _arun(self._pending(count))

    async def aclaim(self, min_idle: float, count: int = 100) -> list[Change[M]]:
        """``claim`` on the asyncio client."""
        out: list[Change[M]] = []
        cursor = "0-0"
        while True:
            batch = await _arun(self._claim(min_idle, count - len(out), cursor))
            if skipped := self._kept(batch):
                await _arun(skipped)
            out += batch.changes
            cursor = batch.cursor
            if cursor == "0-0" or len(out) >= count:
                return out


def _positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise QueryError(f"{name}= must be a positive int, got {value!r}")


def _done(batch: _Batch[Any], deadline: float | None) -> bool:
    """Whether ``read`` returns this batch: it holds events, or it read nothing (only skipped
    entries: read on, more may follow them) and there is no time left to wait."""
    if batch.changes:
        return True
    return not batch.skipped and (deadline is None or time.monotonic() >= deadline)


def _block(deadline: float | None) -> int | None:
    """The BLOCK of one read before ``deadline`` (None: no BLOCK, the read does not wait),
    short enough that the reply comes before the socket times out."""
    if deadline is None:
        return None
    timeout = get_connection().socket_timeout
    longest = _BLOCK_MS if timeout is None else min(_BLOCK_MS, int(timeout * 500))
    return max(1, min(longest, int((deadline - time.monotonic()) * 1000)))


def _streamed(reply: Any) -> list[Entry]:
    """The entries of an XREADGROUP reply over one stream: RESP3 ``{key: [entries]}`` (redis-py
    wraps the entries in one more list), RESP2 ``[[key, entries]]``; nothing: empty or nil."""
    if not reply:
        return []
    if isinstance(reply, dict):
        (entries,) = cast(dict[bytes, list[list[Entry]]], reply).values()
        return entries[0]
    return cast(list[list[list[Entry]]], reply)[0][1]


def _pending_list(reply: Any) -> list[PendingChange]:
    return [
        PendingChange(
            p["message_id"].decode(),
            p["consumer"].decode(),
            p["time_since_delivered"] / 1000,
            p["times_delivered"],
        )
        for p in cast(list[dict[str, Any]], reply)
    ]


def _unless_accepted(command: _Command[Any], error: redis.RedisError) -> None:
    """Raise the server's refusal typed, unless it is the answer the command accepts."""
    accepted = isinstance(error, redis.ResponseError) and str(error).startswith(command.accept)
    if command.accept and accepted:
        return None
    raise typed(error, command.what, write=command.write) from error


def _run(command: _Command[R]) -> R:
    connection = get_connection()
    client: Any = connection.writer if command.write else connection.client
    try:
        reply = client.execute_command(*command.args, **(command.options or {}))
    except redis.RedisError as error:
        _unless_accepted(command, error)
        reply = None
    return command.parse(reply)


async def _arun(command: _Command[R]) -> R:
    connection = get_connection()
    client: Any = connection.awriter if command.write else connection.aclient
    try:
        reply = await cast(
            Awaitable[Any], client.execute_command(*command.args, **(command.options or {}))
        )
    except redis.RedisError as error:
        _unless_accepted(command, error)
        reply = None
    return command.parse(reply)
