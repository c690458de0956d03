"""The one place that runs server-side code (assembled by ``_lua``).

A ``Call`` is one invocation plus the function that turns the reply into a result; ``run`` and
``arun`` execute it on the sync and asyncio clients, ``run_many`` pipelines many. Missing code
(NOSCRIPT, or a function library the server lacks) is loaded and the call sent again: safe,
as nothing ran. An ACL denial, however the server words it, raises ``PermissionDenied``.
Writes go to the connection's writer, which never retries, and a timeout or
dropped connection during a write raises ``OutcomeUnknown`` instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

import redis
from redis.exceptions import NoPermissionError, NoScriptError

from ._codec import Arg as Arg  # re-exported: calls are built with it
from ._connection import get_connection
from ._errors import OutcomeUnknown, PermissionDenied, TypedisError
from ._lua import Function, Script

R = TypeVar("R")


@dataclass(slots=True)  # not frozen: built for every call, and frozen __init__ costs more
class Call(Generic[R]):
    """One script or function invocation and how to read its reply."""

    code: Script | Function
    keys: Sequence[str]
    args: Sequence[Arg]
    decode: Callable[[Any], R]
    write: bool

    def attempts(self) -> Iterator[list[tuple[Arg, ...]]]:
        """The commands to send, then those to send if the server lacks the code.

        The reply of an attempt's last command is the call's reply. Nothing ran when the
        server reports missing code, so the second attempt is safe.
        """
        tail = (len(self.keys), *self.keys, *self.args)
        code = self.code
        if isinstance(code, Script):
            yield [("EVALSHA", code.sha, *tail)]
            yield [("EVAL", code.text, *tail)]
        else:
            yield [("FCALL", code.name, *tail)]
            yield [("FUNCTION", "LOAD", "REPLACE", code.source), ("FCALL", code.name, *tail)]

    def unknown(self, error: Exception) -> OutcomeUnknown:
        return OutcomeUnknown(
            f"{self.code.name} of {self.keys[0] if self.keys else '?'}: the reply was lost "
            f"({error}); the write was applied once or not at all. Re-read to find out."
        )


def _missing(error: object) -> bool:
    """Whether a server error says the script or function is not loaded (nothing ran)."""
    return isinstance(error, NoScriptError) or (
        isinstance(error, redis.ResponseError) and str(error).startswith("Function not found")
    )


_LOST = (redis.ConnectionError, redis.TimeoutError)

# How servers word an ACL denial inside a script, where it comes without the NOPERM prefix:
# the scripts' own check of a derived key (lua/_lib.lua), Redis 7.0 and Valkey on a key a
# script touches or declares.
_DENIED = re.compile(
    r"(typedis: the ACL user may not .*?nothing was written)"
    r"|ACL failure in script|can't access at least one of the keys"
)


def _server_error(error: Exception) -> Exception:
    """What to raise for an error reply: ``PermissionDenied`` for an ACL denial, else itself."""
    text = str(error)
    found = _DENIED.search(text) if isinstance(error, redis.ResponseError) else None
    if not (found or isinstance(error, NoPermissionError)):
        return error
    detail = found[1] if found and found[1] else text
    denied = PermissionDenied(f"the server's ACL refused: {detail}")
    denied.__cause__ = error
    return denied


class Commands(Protocol):
    """What typedis uses of a redis-py client or pipeline (whose own typing is partial)."""

    def execute_command(self, *args: Any, **options: Any) -> Any: ...


class Pipeline(Commands, Protocol):
    def execute(self, raise_on_error: bool = True) -> list[Any]: ...


def command(client: Commands, *args: Arg) -> Any:
    """Send one raw command."""
    return client.execute_command(*args)


def pipeline(client: redis.Redis) -> Pipeline:
    """A non-transactional pipeline."""
    pipe: Any = client.pipeline(transaction=False)  # pyright: ignore[reportUnknownMemberType]
    return cast(Pipeline, pipe)


def run(call: Call[R]) -> R:
    """Execute a call on the default connection's sync clients."""
    conn = get_connection()
    client = conn.writer if call.write else conn.client
    reply: Any = None
    try:
        for attempt in call.attempts():
            try:
                for cmd in attempt:
                    reply = command(client, *cmd)
                break
            except redis.ResponseError as error:
                if not _missing(error):
                    raise _server_error(error)  # noqa: B904 (the cause is set when it differs)
    except _LOST as error:
        if call.write:
            raise call.unknown(error) from error
        raise
    return call.decode(reply)


async def arun(call: Call[R]) -> R:
    """Execute a call on the default connection's asyncio clients."""
    conn = get_connection()
    client = conn.awriter if call.write else conn.aclient
    reply: Any = None
    try:
        for attempt in call.attempts():
            try:
                for cmd in attempt:
                    reply = await cast(Awaitable[Any], command(client, *cmd))
                break
            except redis.ResponseError as error:
                if not _missing(error):
                    raise _server_error(error)  # noqa: B904 (the cause is set when it differs)
    except _LOST as error:
        if call.write:
            raise call.unknown(error) from error
        raise
    return call.decode(reply)


def run_many(calls: Sequence[Call[R]]) -> list[R]:
    """Pipeline many calls (each one atomic on its own; the batch is not a transaction)."""
    if not calls:
        return []
    conn = get_connection()
    client = conn.writer if any(c.write for c in calls) else conn.client
    replies: list[Any] = [None] * len(calls)
    pending = list(range(len(calls)))
    try:
        for attempt in (0, 1):  # 1: for the calls whose code the server lacked
            pipe = pipeline(client)
            setup: set[tuple[Arg, ...]] = set()  # a library is loaded once per pipeline
            last: list[int] = []  # where each pending call's reply is
            sent = 0
            for i in pending:
                *loads, final = list(calls[i].attempts())[attempt]
                for cmd in (*(c for c in loads if c not in setup), final):
                    command(pipe, *cmd)
                    sent += 1
                setup.update(loads)
                last.append(sent - 1)
            results = pipe.execute(raise_on_error=False)
            retry: list[int] = []
            for i, position in zip(pending, last, strict=True):
                result = results[position]
                if _missing(result):
                    retry.append(i)
                else:
                    replies[i] = result  # a server error is kept and raised after decoding
            pending = retry
            if not pending:
                break
    except _LOST as error:
        raise calls[pending[0] if pending else 0].unknown(error) from error
    # Decode every reply (each sets its record's state) before raising the first failure.
    decoded: list[Any] = []
    first: Exception | None = None
    for call, reply in zip(calls, replies, strict=True):
        if isinstance(reply, Exception):
            first = first or _server_error(reply)
            decoded.append(None)
            continue
        try:
            decoded.append(call.decode(reply))
        except TypedisError as refused:
            first = first or refused
            decoded.append(None)
    if first is not None:
        raise first
    return decoded
