"""The one place that runs server-side code (assembled by ``_lua``) and types redis-py's errors.

A ``Call`` is one invocation plus the function that turns the reply into a result; ``run`` and
``arun`` execute it on the sync and asyncio clients, ``run_many`` / ``arun_many`` pipeline
many. A call may also be a plain read (``Read``: a load by key needs no script unless the
record holds an expiry), whose decoder then asks for the script call ``Instead``. Missing code
(NOSCRIPT, or a function library the server lacks) is loaded and the call sent again: safe,
as nothing ran; an out-of-memory server that refuses to load a library runs the code of an
``allow-oom`` or ``no-writes`` function as a script instead. Writes go to the connection's
writer, which never retries.

Every redis-py error becomes a ``TypedisError`` here (``typed``), the redis-py error chained:
an error reply is ``ServerRefused`` (``ServerFull`` out of memory, ``PermissionDenied`` for an
ACL denial however the server words it, ``CorruptRecord`` for a key of the wrong type); a call
that never reached the server is ``ServerUnavailable``; a write whose reply was lost, or that
was cancelled while it ran, is ``OutcomeUnknown``. Code that sends its own commands (``command``,
``pipeline``) wraps them in ``typed_errors``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Generator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

import redis
import redis.asyncio
from redis.exceptions import (
    AuthenticationError,
    AuthenticationWrongNumberOfArgsError,
    BusyLoadingError,
    MaxConnectionsError,
    NoPermissionError,
    NoScriptError,
    OutOfMemoryError,
)

from . import _keys
from ._codec import Arg as Arg  # re-exported: calls are built with it
from ._connection import get_connection
from ._errors import (
    CorruptRecord,
    OutcomeUnknown,
    PermissionDenied,
    ServerFull,
    ServerRefused,
    ServerUnavailable,
    TypedisError,
)
from ._lua import Function, Script

R = TypeVar("R")
S = TypeVar("S")

Command = tuple[Arg, ...]


@dataclass(frozen=True, slots=True)
class Read:
    """A plain read command of one key, sent without a script (``HMGET key field...``)."""

    name: str


HMGET = Read("HMGET")


@dataclass(slots=True)  # not frozen: built for every call, and frozen __init__ costs more
class Call(Generic[R]):
    """One script or function invocation and how to read its reply."""

    code: Script | Function | Read
    keys: Sequence[str]
    args: Sequence[Arg]
    decode: Callable[[Any], R]
    write: bool

    def attempts(self) -> list[list[Command]]:
        """The commands to send, then those to send if the server lacks the code, and so on.

        The reply of an attempt's last command is the call's reply. The next attempt is sent
        only when the server ran nothing (``_again``), so it is safe.
        """
        code = self.code
        if isinstance(code, Read):
            return [[(code.name, *self.keys, *self.args)]]
        tail = (len(self.keys), *self.keys, *self.args)
        if isinstance(code, Script):
            return [[("EVALSHA", code.sha, *tail)], [("EVAL", code.text, *tail)]]
        attempts: list[list[Command]] = [
            [("FCALL", code.name, *tail)],
            [("FUNCTION", "LOAD", "REPLACE", code.source), ("FCALL", code.name, *tail)],
        ]
        if code.fallback is not None:  # the library could not be loaded: out of memory
            attempts.append([("EVAL", code.fallback.text, *tail)])
        return attempts

    @property
    def what(self) -> str:
        return f"{self.code.name} of {self.keys[0] if self.keys else '?'}"


class Instead(Exception):
    """Raised by a reply decoder when the reply asks for another call: the runners then run
    ``call``, and its result is the first call's (a plain read of a record that holds an
    expiry asks for the load script, which alone reads the server's clock)."""

    def __init__(self, call: Call[Any]) -> None:
        super().__init__(call.what)
        self.call = call


def then(call: Call[R], after: Callable[[R], S]) -> Call[S]:
    """``call`` with ``after`` applied to its result (also to the result of a call it asks for
    ``Instead``)."""
    decode = call.decode

    def done(reply: Any) -> S:
        try:
            result = decode(reply)
        except Instead as instead:
            raise Instead(then(instead.call, after)) from None
        return after(result)

    return Call(call.code, call.keys, call.args, done, call.write)


def _again(error: Exception, sent: Command) -> bool:
    """Whether the server ran nothing and the call's next attempt may work.

    The code was missing; or the server, out of memory, refused to load a library.
    """
    return (
        isinstance(error, NoScriptError)
        or (isinstance(error, redis.ResponseError) and str(error).startswith("Function not found"))
        or (sent[:2] == ("FUNCTION", "LOAD") and isinstance(error, OutOfMemoryError))
    )


# How servers word an ACL denial inside a script, where it comes without the NOPERM prefix:
# the scripts' own check of a derived key (lua/_lib.lua), Redis 7.0 and Valkey on a key a
# script touches or declares.
_DENIED = re.compile(
    r"(typedis: the ACL user may not .*?nothing was written)"
    r"|ACL failure in script|can't access at least one of the keys"
    r"|can't run this command or subcommand"
)
# A key of another type: the scripts' own check (lua/_lib.lua) or the server's.
_WRONG_TYPE = re.compile(r"(typedis: key .*? holds an? \w+, expected an? \w+)|\bWRONGTYPE\b")
# A stored value the scripts cannot read (corrupt() in lua/_base.lua): "TYPEDIS_CORRUPT <field>
# <key>" ("" for the key itself), before the server's " script: ..." suffix.
_CORRUPT = re.compile(r"TYPEDIS_CORRUPT (\S*) (.*?)(?: script: |$)", re.S)
NOT_A_HASH = "holds another Redis type than a hash"  # a record key's, as CorruptRecord says
# Failures before a command was sent: redis-py's wording when connecting or waiting for a
# connection of the pool.
_UNSENT = re.compile(r"connecting to|No connection available")
# redis-py's wording when sending a command failed part-way: the server never got it whole.
_CUT_WHILE_SENDING = re.compile(r"while writing to socket|Timeout writing to socket")
_INSTALL = (
    "an administrator must install the function libraries with "
    "typedis.install_functions(Model, ...) or `typedis install-functions MODULE`"
)


def typed(error: redis.RedisError, what: str, *, write: bool, sent: Command = ()) -> TypedisError:
    """The ``TypedisError`` for a redis-py error met by ``what`` (``sent``: the command), with
    the error as its ``__cause__``."""
    result = _typed(error, what, write, sent)
    result.__cause__ = error
    return result


def _typed(error: redis.RedisError, what: str, write: bool, sent: Command) -> TypedisError:
    if _never_sent(error):
        return ServerUnavailable(f"{what}: {_unsent(error)}; nothing was sent, nothing applied")
    if sent and _CUT_WHILE_SENDING.search(str(error)):  # one command, not received whole
        return ServerUnavailable(
            f"{what}: the connection broke before the request was sent whole ({error}); the "
            "server runs no partial command: nothing was applied"
        )
    if isinstance(error, redis.ConnectionError | redis.TimeoutError):
        if write:
            return OutcomeUnknown(
                f"{what}: the reply was lost ({error}); the write was applied once or not at "
                "all. Re-read to find out."
            )
        return ServerUnavailable(f"{what}: the server did not answer ({error})")
    return _refused(error, what, sent)


def _never_sent(error: redis.RedisError) -> bool:
    """Whether the error came before the command reached the server, or instead of running it."""
    if isinstance(
        error,
        AuthenticationError
        | AuthenticationWrongNumberOfArgsError
        | BusyLoadingError
        | MaxConnectionsError,
    ):
        return True
    lost = isinstance(error, redis.ConnectionError | redis.TimeoutError)
    return lost and _UNSENT.search(str(error)) is not None


def _unsent(error: redis.RedisError) -> str:
    if isinstance(error, AuthenticationError | AuthenticationWrongNumberOfArgsError):
        return f"the server refused the credentials ({error})"
    if isinstance(error, BusyLoadingError):
        return f"the server is loading its data ({error}); try again when it has"
    if isinstance(error, MaxConnectionsError) or "No connection available" in str(error):
        return (
            f"no connection of the pool became free in time ({error}); raise connect()'s "
            "max_connections or pool_timeout"
        )
    return f"the server cannot be reached ({error})"


def _refused(error: redis.RedisError, what: str, sent: Command) -> TypedisError:
    text = str(error)
    if isinstance(error, OutOfMemoryError):  # every script declares flags: refused upfront
        return ServerFull(
            f"{what}: the server is out of memory (maxmemory) and refused the write; nothing "
            "was written. Reads, delete() and sweep_expired() keep working"
        )
    denied = _DENIED.search(text)
    if denied or isinstance(error, NoPermissionError):
        if sent[:2] == ("FUNCTION", "LOAD"):
            return PermissionDenied(
                f"{what}: the server lacks typedis' function library and the ACL user may not "
                f"load it ({text}); {_INSTALL}"
            )
        detail = denied[1] if denied and denied[1] else text
        return PermissionDenied(f"the server's ACL refused: {detail}")
    corrupt = _CORRUPT.search(text)
    if corrupt:
        key = corrupt[2]
        return CorruptRecord(
            "holds a value typedis did not write",
            model=_keys.model_of(key),
            key=key,
            field=corrupt[1] or None,
        )
    wrong = _WRONG_TYPE.search(text)
    if wrong and sent[:1] == (HMGET.name,):  # a record read by key, without the load script
        key = str(sent[1])
        return CorruptRecord(NOT_A_HASH, model=_keys.model_of(key), key=key)
    if wrong:
        return CorruptRecord(
            f"{what}: a key holds data typedis did not write ({wrong[1] or text}); nothing "
            "was written"
        )
    if "invalid bulk length" in text:
        return ServerRefused(
            f"{what}: a value is longer than the server's proto-max-bulk-len ({text}); nothing "
            "was written"
        )
    return ServerRefused(f"{what}: the server refused ({text}); nothing was written")


@contextmanager
def typed_errors(what: str, *, write: bool = False) -> Generator[None]:
    """Raise the redis-py errors of the block as ``TypedisError`` (``typed``)."""
    try:
        yield
    except redis.RedisError as error:
        raise typed(error, what, write=write) from error


class Commands(Protocol):
    """What typedis uses of a redis-py client or pipeline (whose own typing is partial)."""

    def execute_command(self, *args: Any, **options: Any) -> Any: ...


class Pipeline(Commands, Protocol):
    def execute(self, raise_on_error: bool = True) -> list[Any]: ...


def command(client: Commands, *args: Arg) -> Any:
    """Send one raw command (its errors are redis-py's: see ``typed_errors``)."""
    return client.execute_command(*args)


def pipeline(client: redis.Redis | redis.asyncio.Redis) -> Pipeline:
    """A non-transactional pipeline (of the asyncio client: its ``execute()`` is awaited)."""
    pipe: Any = client.pipeline(transaction=False)  # pyright: ignore[reportUnknownMemberType]
    return cast(Pipeline, pipe)


def run(call: Call[R]) -> R:
    """Execute a call on the default connection's sync clients."""
    conn = get_connection()
    conn.warn_if_evicting()
    client = conn.writer if call.write else conn.client
    attempts = call.attempts()
    sent: Command = ()
    reply: Any = None
    try:
        for n, attempt in enumerate(attempts, 1):
            try:
                for sent in attempt:
                    reply = command(client, *sent)
                break
            except redis.ResponseError as error:
                if n == len(attempts) or not _again(error, sent):
                    raise
    except redis.RedisError as error:
        raise typed(error, call.what, write=call.write, sent=sent) from error
    try:
        return call.decode(reply)
    except Instead as instead:
        result: R = run(instead.call)
        return result


async def arun(call: Call[R]) -> R:
    """Execute a call on the default connection's asyncio clients.

    A write cancelled while it ran (``asyncio.timeout``, ``wait_for``) raises ``OutcomeUnknown``:
    it may have reached the server.
    """
    conn = get_connection()
    await conn.awarn_if_evicting()
    client = conn.awriter if call.write else conn.aclient
    attempts = call.attempts()
    sent: Command = ()
    reply: Any = None
    try:
        for n, attempt in enumerate(attempts, 1):
            try:
                for sent in attempt:
                    reply = await cast(Awaitable[Any], command(client, *sent))
                break
            except redis.ResponseError as error:
                if n == len(attempts) or not _again(error, sent):
                    raise
    except redis.RedisError as error:
        raise typed(error, call.what, write=call.write, sent=sent) from error
    except asyncio.CancelledError as cancelled:
        if not call.write:
            raise
        raise OutcomeUnknown(
            f"{call.what}: cancelled while it ran; the write was applied once or not at all. "
            "Re-read to find out."
        ) from cancelled
    try:
        return call.decode(reply)
    except Instead as instead:
        result: R = await arun(instead.call)
        return result


def run_many(calls: Sequence[Call[R]]) -> list[R]:
    """Pipeline many calls (each one atomic on its own; the batch is not a transaction)."""
    if not calls:
        return []
    conn = get_connection()
    conn.warn_if_evicting()
    client = conn.writer if any(c.write for c in calls) else conn.client
    steps = _pipelined(calls)
    queued = next(steps)
    while True:
        results: list[Any] | redis.RedisError
        try:
            pipe = pipeline(client)
            for cmd in queued:
                command(pipe, *cmd)
            results = pipe.execute(raise_on_error=False)
        except redis.RedisError as error:
            results = error
        try:
            queued = steps.send(results)
        except StopIteration as done:
            replies: list[Any] = done.value
            break
    decoded, again, first = _decoded(calls, replies)
    for i, call in again:
        try:
            decoded[i] = run(call)
        except TypedisError as refused:
            first = first or refused
    if first is not None:
        raise first
    return decoded


async def arun_many(calls: Sequence[Call[R]]) -> list[R]:
    """``run_many()`` on the asyncio clients (a batch of writes cancelled while it ran raises
    ``OutcomeUnknown``, as ``arun`` does)."""
    if not calls:
        return []
    conn = get_connection()
    await conn.awarn_if_evicting()
    write = any(c.write for c in calls)
    client = conn.awriter if write else conn.aclient
    steps = _pipelined(calls)
    queued = next(steps)
    while True:
        results: list[Any] | redis.RedisError
        try:
            pipe = pipeline(client)
            for cmd in queued:
                command(pipe, *cmd)
            results = await cast(Awaitable[list[Any]], pipe.execute(raise_on_error=False))
        except redis.RedisError as error:
            results = error
        except asyncio.CancelledError as cancelled:
            if not write:
                raise
            raise OutcomeUnknown(
                f"{calls[0].what} and the rest of its batch: cancelled while they ran; each "
                "write was applied once or not at all. Re-read to find out."
            ) from cancelled
        try:
            queued = steps.send(results)
        except StopIteration as done:
            replies: list[Any] = done.value
            break
    decoded, again, first = _decoded(calls, replies)
    for i, call in again:
        try:
            decoded[i] = await arun(call)
        except TypedisError as refused:
            first = first or refused
    if first is not None:
        raise first
    return decoded


def _pipelined(
    calls: Sequence[Call[Any]],
) -> Generator[list[Command], list[Any] | redis.RedisError, list[Any]]:
    """The pipelines that send ``calls`` (each attempt of the calls still pending): yields the
    commands of one pipeline, is sent their results (or the error sending them raised);
    returns each call's reply, or its ``TypedisError``. ``run_many`` and ``arun_many`` send
    the pipelines."""
    write = any(c.write for c in calls)
    plans = [c.attempts() for c in calls]
    replies: list[Any] = [None] * len(calls)
    pending = list(range(len(calls)))
    step = 0
    while pending:
        queued: list[Command] = []
        loaded: dict[Command, int] = {}  # a library is loaded once per pipeline
        sent: list[list[tuple[Command, int]]] = []  # each pending call's commands
        n = 0
        for i in pending:
            *setup, final = plans[i][step]
            mine: list[tuple[Command, int]] = []
            for cmd in setup:
                if cmd not in loaded:
                    queued.append(cmd)
                    loaded[cmd], n = n, n + 1
                mine.append((cmd, loaded[cmd]))
            queued.append(final)
            mine.append((final, n))
            n += 1
            sent.append(mine)
        results = yield queued
        if isinstance(results, redis.RedisError):
            raise typed(results, calls[pending[0]].what, write=write) from results
        retry: list[int] = []
        for i, mine in zip(pending, sent, strict=True):
            cmd, reply = _first_failure(mine, results)
            if isinstance(reply, redis.ResponseError):
                if step + 1 < len(plans[i]) and _again(reply, cmd):
                    retry.append(i)
                    continue
                reply = typed(reply, calls[i].what, write=calls[i].write, sent=cmd)
            replies[i] = reply
        pending = retry
        step += 1
    return replies


def _decoded(
    calls: Sequence[Call[Any]], replies: list[Any]
) -> tuple[list[Any], list[tuple[int, Call[Any]]], TypedisError | None]:
    """Decode every reply (each sets its record's state) before the first failure is raised:
    the results, the calls their decoders ask for ``Instead`` (by position), the first failure."""
    decoded: list[Any] = []
    again: list[tuple[int, Call[Any]]] = []
    first: TypedisError | None = None
    for i, (call, reply) in enumerate(zip(calls, replies, strict=True)):
        decoded.append(None)
        if isinstance(reply, TypedisError):
            first = first or reply
            continue
        try:
            decoded[i] = call.decode(reply)
        except Instead as instead:
            again.append((i, instead.call))
        except TypedisError as refused:
            first = first or refused
    return decoded, again, first


def _first_failure(sent: list[tuple[Command, int]], results: list[Any]) -> tuple[Command, Any]:
    """A call's first command whose reply is an error, with that reply; else its last one's."""
    for cmd, position in sent:
        if isinstance(results[position], Exception):
            return cmd, results[position]
    cmd, position = sent[-1]
    return cmd, results[position]


def check_connection() -> None:
    """PING the server of the default connection (warning if it can evict keys).

    Raises:
        ServerUnavailable: the server cannot be reached, or refused the credentials.
    """
    conn = get_connection()
    with typed_errors("check_connection()"):
        command(conn.client, "PING")
    conn.warn_if_evicting()
