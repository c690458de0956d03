"""Typed pub/sub: ``Channel[M]`` publishes pydantic models and subscribers receive them validated.

Wire format: msgpack of ``["td:msg:1", <model name>, <the model's dump>]``; the first item marks
(and versions) a typedis message, the second tells a message of another model from one of this
channel's. The dump is pydantic's Python-mode dump with what msgpack cannot carry in its
JSON-mode form (datetime, Decimal, UUID, enum... as text): unlike a JSON-mode dump, bytes travel
as msgpack binary (any bytes, not only UTF-8) and floats keep inf and nan. The Redis channel
is ``td:ch:<name>`` (escaped like a key), so ACL users need ``&td:ch:*``.

A subscriber holds one connection of the read client's pool from ``with``/``async with`` entry
until exit; its messages are decoded by the shared ``_Receiver``, which reports and skips a
message it cannot read instead of raising in the consumer's loop. Pub/sub does not store
messages: a subscriber receives what is published while it is subscribed, and a dropped
connection (redis-py reconnects and resubscribes) loses what was published meanwhile.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar, cast

import msgpack
from pydantic import BaseModel, TypeAdapter
from pydantic_core import to_jsonable_python

from . import _codec, _keys
from ._connection import get_connection
from ._errors import CorruptRecord, ModelError
from ._scripts import command, typed_errors

M = TypeVar("M", bound=BaseModel)

OnError = Callable[[bytes, Exception], object]

MARK = "td:msg:1"  # a typedis message, format 1
log = logging.getLogger("typedis")


Reply = dict[str, Any] | None  # a redis-py pub/sub reply


class PubSub(Protocol):
    """What typedis uses of redis-py's ``PubSub`` (whose own typing is partial)."""

    connection: Any

    def subscribe(self, *channels: str) -> object: ...
    def get_message(self, ignore_subscribe: bool, timeout: float | None) -> Reply: ...
    def close(self) -> None: ...


class AsyncPubSub(Protocol):
    """What typedis uses of redis-py's asyncio ``PubSub``."""

    connection: Any

    async def subscribe(self, *channels: str) -> object: ...
    async def get_message(self, ignore_subscribe: bool, timeout: float | None) -> Reply: ...
    async def aclose(self) -> None: ...


class Channel(Generic[M]):
    """A pub/sub channel of one pydantic model (typedis models included).

    Args:
        model: the class of the messages.
        name: the channel's name; Redis sees ``td:ch:<name>`` (escaped like a key).

    Examples:
        >>> from pydantic import BaseModel
        >>> class Ping(BaseModel):
        ...     n: int
        >>> pings = Channel(Ping, "pings")
        >>> pings.redis_name
        'td:ch:pings'
        >>> with pings.subscribe() as sub:
        ...     pings.publish(Ping(n=1))
        ...     sub.get(timeout=5)
        1
        Ping(n=1)
    """

    def __init__(self, model: type[M], name: str) -> None:
        self.model = model
        self.name = name
        self.redis_name = f"{_keys.NAMESPACE}:ch:{_keys.escape(name)}"
        self._type = model.__qualname__
        self._adapter: TypeAdapter[M] = TypeAdapter(model)

    def __repr__(self) -> str:
        return f"Channel({self._type}, {self.name!r})"

    def encode(self, message: M) -> bytes:
        """The bytes ``publish`` sends for ``message``.

        Raises:
            ModelError: ``message`` is not an instance of the channel's model, or holds a
                value msgpack cannot carry (an int beyond 64 bits).
        """
        if not isinstance(message, self.model):
            raise ModelError(
                f"{self!r}.publish() takes a {self._type}, got {type(message).__name__}"
            )
        data = self._adapter.dump_python(message, round_trip=True)
        try:
            return msgpack.packb(
                [MARK, self._type, data], default=to_jsonable_python, use_bin_type=True
            )
        except (TypeError, ValueError, OverflowError) as error:
            raise ModelError(f"{self!r}: cannot send {message!r}: {error}") from error

    def decode(self, raw: bytes) -> M:
        """The message in ``raw``, validated.

        Raises:
            CorruptRecord: ``raw`` is not a typedis message of this channel's model.
            pydantic.ValidationError: it is, but its data does not validate.
        """
        try:
            data = _codec.unpack(raw)
        except CorruptRecord:
            data = None
        if not (isinstance(data, list) and len(data) == 3 and data[0] == MARK):  # pyright: ignore[reportUnknownArgumentType]
            raise CorruptRecord("not a message typedis published")
        if data[1] != self._type:
            raise CorruptRecord(f"a message of {data[1]!r}, not of {self._type!r}")
        return self._adapter.validate_python(data[2])

    def publish(self, message: M) -> int:
        """Send ``message`` to the channel's current subscribers.

        Returns:
            How many subscribers received it (on a cluster, of the node it reached).

        Raises:
            ModelError: ``message`` is not an instance of the channel's model.
            PermissionDenied: the ACL user may not publish to ``td:ch:<name>``.
            ServerUnavailable: nothing was sent.
            OutcomeUnknown: the reply was lost: it was delivered once or not at all.
        """
        raw = self.encode(message)
        with typed_errors(f"publish to {self.redis_name}", write=True):
            return int(command(get_connection().writer, "PUBLISH", self.redis_name, raw))

    async def apublish(self, message: M) -> int:
        """``publish`` on the asyncio client."""
        raw = self.encode(message)
        with typed_errors(f"publish to {self.redis_name}", write=True):
            reply = command(get_connection().awriter, "PUBLISH", self.redis_name, raw)
            return int(await cast(Awaitable[Any], reply))

    def subscribe(self, on_error: OnError | None = None) -> Subscription[M]:
        """A subscription, open inside ``with``: ``with channel.subscribe() as sub: for m in sub``.

        Args:
            on_error: called as ``on_error(raw, error)`` for each message that cannot be
                read (then skipped); without it, such a message is logged as a warning on the
                ``typedis`` logger. What ``on_error`` raises propagates to the consumer.
        """
        return Subscription(self, on_error)

    def asubscribe(self, on_error: OnError | None = None) -> AsyncSubscription[M]:
        """``subscribe`` on the asyncio client: ``async with channel.asubscribe() as sub``."""
        return AsyncSubscription(self, on_error)


class _Receiver(Generic[M]):
    """What both subscriptions share: reading replies into messages, reporting bad ones.

    ``skipped`` counts the messages reported and skipped.
    """

    def __init__(self, channel: Channel[M], on_error: OnError | None) -> None:
        self.channel = channel
        self.skipped = 0
        self._on_error = on_error

    def _accept(self, reply: Reply) -> M | None:
        """The message in a redis-py pub/sub reply, or None (no message, or a skipped one).

        Subscription replies are dropped by redis-py (``get_message(True, ...)``), so a reply
        is a published message.
        """
        if reply is None:
            return None
        raw: bytes = reply["data"]
        try:
            return self.channel.decode(raw)
        except Exception as error:  # a custom validator may raise anything: still skip it
            self.skipped += 1
            if self._on_error is not None:
                self._on_error(raw, error)
            else:
                log.warning("%r skipped a message: %s (%r)", self.channel, error, raw)
            return None

    @staticmethod
    def _deadline(timeout: float | None) -> float | None:
        return None if timeout is None else time.monotonic() + timeout

    @staticmethod
    def _left(deadline: float | None) -> float | None:
        return None if deadline is None else max(0.0, deadline - time.monotonic())

    @staticmethod
    def _gave_up(reply: Reply, deadline: float | None) -> bool:
        """Whether ``get`` returns None: no reply came and the time is up.

        A reply (a skipped message) reads on even past the deadline: the next may be good.
        """
        return reply is None and deadline is not None and time.monotonic() >= deadline

    def _closed(self) -> ModelError:
        return ModelError(
            f"this subscription to {self.channel!r} is not open: use it inside "
            "`with channel.subscribe() as sub:` (`async with channel.asubscribe()`)"
        )

    @property
    def _what(self) -> str:
        return f"subscription to {self.channel.redis_name}"


class Subscription(_Receiver[M]):
    """Messages of a ``Channel``, received while open (``with channel.subscribe() as sub``).

    Iterating waits for each next message until the loop breaks or the subscription closes;
    ``get(timeout=...)`` waits at most that long. A message that cannot be read is reported
    (``on_error``, else a warning) and skipped, and counted in ``skipped``.
    """

    _pubsub: PubSub | None = None

    def __enter__(self) -> Self:
        """Subscribe, and wait for the server to confirm it.

        Raises:
            PermissionDenied: the ACL user may not subscribe to ``td:ch:<name>``.
            ServerUnavailable: the server cannot be reached.
        """
        client: Any = get_connection().client  # redis-py leaves pubsub() untyped
        pubsub = cast(PubSub, client.pubsub())
        try:
            with typed_errors(self._what):
                pubsub.subscribe(self.channel.redis_name)
                pubsub.get_message(False, timeout=pubsub.connection.socket_timeout)
        except BaseException:
            pubsub.close()
            raise
        self._pubsub = pubsub
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Unsubscribe and give the connection back (``with`` does it on exit)."""
        if self._pubsub is not None:
            self._pubsub.close()
            self._pubsub = None

    def get(self, timeout: float | None = None) -> M | None:
        """The next message, or None if none came within ``timeout`` seconds (None: wait).

        Raises:
            ModelError: the subscription is not open.
            ServerUnavailable: the connection was lost and could not be made again.
        """
        deadline = self._deadline(timeout)
        while True:
            if self._pubsub is None:
                raise self._closed()
            with typed_errors(self._what):
                reply = self._pubsub.get_message(True, timeout=self._left(deadline))
            message = self._accept(reply)
            if message is not None or self._gave_up(reply, deadline):
                return message

    def __iter__(self) -> Iterator[M]:
        while self._pubsub is not None:
            message = self.get()
            if message is not None:
                yield message


class AsyncSubscription(_Receiver[M]):
    """``Subscription`` on the asyncio client: ``async with channel.asubscribe() as sub``."""

    _pubsub: AsyncPubSub | None = None

    async def __aenter__(self) -> Self:
        """Subscribe, and wait for the server to confirm it (raises as ``Subscription``)."""
        client: Any = get_connection().aclient
        pubsub = cast(AsyncPubSub, client.pubsub())
        try:
            with typed_errors(self._what):
                await pubsub.subscribe(self.channel.redis_name)
                await pubsub.get_message(False, timeout=pubsub.connection.socket_timeout)
        except BaseException:
            await pubsub.aclose()
            raise
        self._pubsub = pubsub
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Unsubscribe and give the connection back (``async with`` does it on exit)."""
        if self._pubsub is not None:
            await self._pubsub.aclose()
            self._pubsub = None

    async def get(self, timeout: float | None = None) -> M | None:
        """The next message, or None if none came within ``timeout`` seconds (None: wait)."""
        deadline = self._deadline(timeout)
        while True:
            if self._pubsub is None:
                raise self._closed()
            with typed_errors(self._what):
                reply = await self._pubsub.get_message(True, timeout=self._left(deadline))
            message = self._accept(reply)
            if message is not None or self._gave_up(reply, deadline):
                return message

    async def __aiter__(self) -> AsyncIterator[M]:
        while self._pubsub is not None:
            message = await self.get()
            if message is not None:
                yield message
