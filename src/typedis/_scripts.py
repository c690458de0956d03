"""The one place that runs server-side code (assembled by ``_lua``) and types redis-py's errors.

A ``Call`` is one invocation plus the function that turns the reply into a result; ``run`` and
``arun`` execute it on the sync and asyncio clients, ``run_many`` / ``arun_many`` pipeline
many. A call may also be a plain read (``Read``: a load by key needs no script unless the
record holds an expiry), whose decoder then asks for the script call ``Instead``. Missing code
(NOSCRIPT, or a function library the server lacks) is loaded and the call sent again: safe,
as nothing ran; an out-of-memory server that refuses to load a library runs the code of an
``allow-oom`` or ``no-writes`` function as a script instead. Writes go to the connection's
writer, which never retries.

On a cluster the same calls go through redis-py's cluster clients: a call's keys share one hash
tag, so one slot and one node. A MOVED, ASK or TRYAGAIN reply means the node ran nothing: reads
follow them (redis-py does), writes follow MOVED only (``_on_slot_node`` says why); a missing
library is loaded on the node that owns the call's slot (once per node in a batch), then the
call is sent again; a load the node refuses is the error of each call that needed it, as on one
server. A batch is one pipeline per node, the nodes' sent together (sync and asyncio); a
pipeline of writes never re-sends a command whose reply was lost (``send_pipeline``).

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
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

import redis
from redis.asyncio.cluster import PipelineCommand as AsyncPipelineCommand
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import PipelineCommand, RedisCluster
from redis.exceptions import (
    AskError,
    AuthenticationError,
    AuthenticationWrongNumberOfArgsError,
    BusyLoadingError,
    ClusterCrossSlotError,
    ClusterDownError,
    MaxConnectionsError,
    MovedError,
    NoPermissionError,
    NoScriptError,
    OutOfMemoryError,
    RedisClusterException,
    SlotNotCoveredError,
    TryAgainError,
)

from . import _keys
from ._codec import Arg as Arg  # re-exported: calls are built with it
from ._connection import AsyncClient, Client, get_connection
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
Loads = list[tuple[Command, Sequence[str]]]  # libraries to load first, by a call's keys

Failure = (redis.RedisError, RedisClusterException)
"""What redis-py raises: its errors, and the cluster client's, which are not ``RedisError``."""
RedisFailure = redis.RedisError | RedisClusterException


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
# A command of a script that its node may not run now (Valkey and Redis): a key of the slot
# that is migrating and not here, or a cluster that is down.
_SLOT_MOVING = re.compile(r"access a non local key in a cluster node|while the cluster is down")
_INSTALL = (
    "an administrator must install the function libraries with "
    "typedis.install_functions(Model, ...) or `typedis install-functions MODULE`"
)


def typed(error: RedisFailure, what: str, *, write: bool, sent: Command = ()) -> TypedisError:
    """The ``TypedisError`` for a redis-py error met by ``what`` (``sent``: the command), with
    the error as its ``__cause__``."""
    result = _typed(error, what, write, sent)
    result.__cause__ = error
    return result


def _typed(error: RedisFailure, what: str, write: bool, sent: Command) -> TypedisError:
    lost = error.__context__
    if isinstance(error, RedisClusterException) and isinstance(
        lost, redis.ConnectionError | redis.TimeoutError
    ):  # the slot map's refresh after a lost reply failed too: what the call met is the loss
        return _typed(lost, what, write, sent)
    if isinstance(error, RedisClusterException | ClusterDownError | AskError | TryAgainError):
        return _cluster_refused(error, what)
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


def _cluster_refused(error: RedisFailure, what: str) -> TypedisError:
    """What a cluster answered instead of running a call, or what its client refused to send."""
    text = str(error)
    if isinstance(error, AskError | TryAgainError):  # MovedError too: redirected past redis-py's
        return ServerUnavailable(  # limit, or sent to a cluster node by a single server's client
            f"{what}: the cluster redirected the request ({type(error).__name__}: {text}) and "
            "the node did not run it; nothing applied. Slots are moving, try again (or, if it "
            "never works, connect(..., cluster=True))"
        )
    if isinstance(error, ClusterDownError | SlotNotCoveredError):
        return ServerUnavailable(
            f"{what}: the cluster cannot serve the slot ({text}); nothing was applied. A "
            "failover or a resharding is under way, try again"
        )
    if "same key slot" in text or "same slot" in text:
        return ServerRefused(
            f"{what}: the keys belong to different slots ({text}); nothing was sent"
        )
    if "cannot be connected" in text or "No targets" in text:
        return ServerUnavailable(
            f"{what}: no node of the cluster answers ({text}); nothing was sent, nothing applied"
        )
    return ServerRefused(f"{what}: the cluster client refused ({text}); nothing was sent")


def _refused(error: redis.RedisError, what: str, sent: Command) -> TypedisError:
    text = str(error)
    if _SLOT_MOVING.search(text):  # a script met a key of its slot on another node: the typedis
        return ServerUnavailable(  # scripts check every key they write before the first write
            f"{what}: the call's slot is moving between nodes, or the cluster is down ({text});"
            " nothing was written. Try again"
        )
    if isinstance(error, ClusterCrossSlotError) or "do not hash to the same slot" in text:
        return ServerRefused(
            f"{what}: the keys belong to different slots of the cluster ({text}); nothing was "
            "written"
        )
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
    except Failure as error:
        raise typed(error, what, write=write) from error


class Commands(Protocol):
    """What typedis uses of a redis-py client or pipeline (whose own typing is partial)."""

    def execute_command(self, *args: Any, **options: Any) -> Any: ...


class Pipeline(Commands, Protocol):
    def execute(self, raise_on_error: bool = True) -> list[Any]: ...


def command(client: Commands, *args: Arg) -> Any:
    """Send one raw command (its errors are redis-py's: see ``typed_errors``)."""
    return client.execute_command(*args)


def pipeline(client: Client | AsyncClient) -> Pipeline:
    """A non-transactional pipeline (on a cluster, one per node, sent together; of an asyncio
    client: its ``execute()`` is awaited)."""
    pipe: Any = client.pipeline(transaction=False)  # pyright: ignore[reportUnknownMemberType]
    return cast(Pipeline, pipe)


def send_pipeline(client: Client, commands: Sequence[Command], *, write: bool) -> list[Any]:
    """Pipeline ``commands``, each one's error in its place (redis-py's: see ``typed``).

    redis-py's cluster pipeline re-sends, one by one, the commands of a node whose replies were
    lost, which could run a write twice; so on a cluster the pipeline is sent without following
    anything (one pipeline per node), then the commands ``_sent_again`` names are sent again on
    their own.
    """
    pipe: Any = client.pipeline(transaction=False)  # pyright: ignore[reportUnknownMemberType]
    if not isinstance(client, RedisCluster):
        for args in commands:
            pipe.execute_command(*args)
        return cast(list[Any], pipe.execute(raise_on_error=False))
    stack = [PipelineCommand(args, {}, n) for n, args in enumerate(commands)]  # type: ignore[no-untyped-call]
    replies: list[Any] = pipe.send_cluster_commands(
        stack, raise_on_error=False, allow_redirections=False
    )
    for n in _sent_again(client, replies, write):
        try:
            replies[n] = _send(client, commands[n], write)
        except Failure as error:
            replies[n] = error
    return replies


def _sent_again(client: Client | AsyncClient, replies: list[Any], write: bool) -> list[int]:
    """The commands of a cluster pipeline to send again on their own (by position): those a
    node did not run because their slot is elsewhere (of a write, only MOVED: ``_on_slot_node``
    says why), and the reads whose node failed (the read client retries them)."""
    lost = (redis.ConnectionError, redis.TimeoutError)
    if any(isinstance(reply, lost) for reply in replies):
        _map_again(client)
    again = (MovedError,) if write else (AskError, TryAgainError, *lost)
    return [n for n, reply in enumerate(replies) if isinstance(reply, again)]


def _map_again(client: Client | AsyncClient) -> None:
    """Have a cluster client read the slot map again after a node failed (a failover may have
    given its slots to a replica): the sync client now, the asyncio client on its next call."""
    cluster: Any = client  # redis-py leaves the cluster client's methods unannotated
    if isinstance(client, RedisCluster):
        with suppress(*Failure):  # the cluster is still down: a later call asks again
            cluster.nodes_manager.initialize()
    else:
        cluster._initialize = True


# Redirects a write follows (redis-py's limit for a command).
_REDIRECTS = 16


def _send(client: Client, cmd: Command, write: bool) -> Any:
    """Send one command: a write of a script or function on a cluster by ``_on_slot_node``."""
    if write and isinstance(client, RedisCluster) and cmd[0] in _CODE and int(cmd[2]) > 0:
        return _on_slot_node(client, cmd)
    return command(client, *cmd)


_CODE = frozenset({"FCALL", "EVALSHA", "EVAL"})


def _on_slot_node(client: RedisCluster, cmd: Command) -> Any:
    """Send a write (``FCALL``, ``EVALSHA`` or ``EVAL``) to the primary of its first key's slot,
    following MOVED only.

    redis-py also follows ASK, sending the call to the node importing a slot that is migrating.
    There a script may create a key of the slot that the migrating node still holds (typedis'
    scripts derive their index keys from the record's tag, undeclared): the migration's
    ``MIGRATE`` of that key then fails (BUSYKEY) and the index is split between two nodes. So a
    write met by ASK (or TRYAGAIN) is not sent on: ``ServerUnavailable``, nothing ran. On the
    migrating node a script that touches a key already moved fails before its first write.
    """
    cluster: Any = client  # redis-py leaves the cluster client's methods unannotated
    moved: MovedError | None = None
    for _ in range(_REDIRECTS):
        node = cluster.get_node_from_key(cmd[3])
        try:
            return cluster.get_redis_connection(node).execute_command(*cmd)
        except MovedError as error:
            moved = error
            cluster.nodes_manager.move_slot(error)
        except (redis.ConnectionError, redis.TimeoutError):
            _map_again(client)  # the next call finds the slot's new owner
            raise
    assert moved is not None
    raise moved


async def _asend(client: AsyncClient, cmd: Command, write: bool) -> Any:
    """``_send`` on an asyncio client."""
    if not (write and isinstance(client, AsyncRedisCluster) and cmd[0] in _CODE and int(cmd[2])):
        return await cast(Awaitable[Any], command(client, *cmd))
    cluster: Any = client
    await cluster.initialize()  # once: the slot map
    moved: MovedError | None = None
    for _ in range(_REDIRECTS):
        node = cluster.get_node_from_key(cmd[3])
        try:
            return await node.execute_command(*cmd)
        except MovedError as error:
            moved = error
            await cluster.nodes_manager.move_slot(error)
        except (redis.ConnectionError, redis.TimeoutError):
            _map_again(client)  # the next call finds the slot's new owner
            raise
    assert moved is not None
    raise moved


def _load(client: Client, loads: Loads, replies: dict[tuple[Command, str], Any]) -> list[Any]:
    """Send the ``FUNCTION LOAD``s of a batch, each library once per node (``replies``: those
    sent, by load and node name): each load's reply, or the redis-py error it met."""
    where = _where(client, loads)
    for at, node in dict(where).items():
        if at not in replies:
            try:
                replies[at] = _load_on(client, at[0], node)
            except Failure as error:
                replies[at] = error
    return [replies[at] for at, _ in where]


async def _aload(
    client: AsyncClient, loads: Loads, replies: dict[tuple[Command, str], Any]
) -> list[Any]:
    """``_load`` on an asyncio client: the loads of several nodes sent concurrently."""
    where = _where(client, loads)
    unsent = {at: node for at, node in where if at not in replies}
    sent = await asyncio.gather(
        *(_load_on(client, load, node) for (load, _), node in unsent.items()),
        return_exceptions=True,
    )
    for at, reply in zip(unsent, sent, strict=True):
        if isinstance(reply, BaseException) and not isinstance(reply, Failure):
            raise reply
        replies[at] = reply
    return [replies[at] for at, _ in where]


def _where(client: Client | AsyncClient, loads: Loads) -> list[tuple[tuple[Command, str], Any]]:
    """Where each load of ``loads`` (a library, the keys of a call that lacks it) goes, as
    ``((load, node name), node)``: on a cluster, the primary owning the keys' slot; on one
    server, or without keys, the client's server (``""``, ``None``)."""
    where: list[tuple[tuple[Command, str], Any]] = []
    for load, keys in loads:
        node = _node(client, keys)
        where.append(((load, "" if node is None else str(node.name)), node))
    return where


def _node(client: Client | AsyncClient, keys: Sequence[str]) -> Any:
    """The cluster primary owning the slot of ``keys``; ``None`` (the client's server) on one
    server or without keys."""
    if isinstance(client, RedisCluster | AsyncRedisCluster) and keys:
        return cast(Any, client).get_node_from_key(keys[0])
    return None


def _load_on(client: Client | AsyncClient, load: Command, node: Any) -> Any:
    """Send ``load`` to ``node`` (``_node``); of an asyncio client: the awaitable."""
    if node is None:
        return command(client, *load)
    return cast(Any, client).execute_command(*load, target_nodes=node)


async def _asend_pipeline(client: AsyncClient, commands: Sequence[Command], *, write: bool) -> Any:
    """``send_pipeline`` on an asyncio client.

    On a cluster the commands are grouped by the primary owning their slot and each group is
    one pipeline, the nodes' pipelines sent concurrently. redis-py's asyncio cluster pipeline
    is not used: it gives up the replies of every node when one node's connection fails (what
    was written elsewhere would be reported as not sent), and retries the whole pipeline. Here
    a node that fails gives its error to its own commands only; then the commands
    ``_sent_again`` names are sent again on their own.
    """
    if not isinstance(client, AsyncRedisCluster):
        pipe = pipeline(client)
        for args in commands:
            command(pipe, *args)
        return await cast(Awaitable[list[Any]], pipe.execute(raise_on_error=False))
    cluster: Any = client  # redis-py leaves the cluster client's methods unannotated
    await cluster.initialize()  # once: the slot map
    nodes: dict[str, tuple[Any, list[AsyncPipelineCommand]]] = {}
    for n, args in enumerate(commands):
        node = cluster.get_node_from_key(args[3] if args[0] in _CODE else args[1])
        nodes.setdefault(node.name, (node, []))[1].append(AsyncPipelineCommand(n, *args))
    sent = await asyncio.gather(
        *(node.execute_pipeline(stack) for node, stack in nodes.values()),
        return_exceptions=True,
    )
    replies: list[Any] = [None] * len(commands)
    for (_, stack), outcome in zip(nodes.values(), sent, strict=True):
        if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
            raise outcome
        for cmd in stack:  # a node that failed: each of its commands met that failure
            replies[cmd.position] = outcome if isinstance(outcome, Exception) else cmd.result
    for n in _sent_again(client, replies, write):
        try:
            replies[n] = await _asend(client, commands[n], write)
        except Failure as error:
            replies[n] = error
    return replies


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
                for load in attempt[:-1]:
                    sent = load
                    _load_on(client, load, _node(client, call.keys))
                sent = attempt[-1]
                reply = _send(client, sent, call.write)
                break
            except redis.ResponseError as error:
                if n == len(attempts) or not _again(error, sent):
                    raise
    except Failure as error:
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
                for load in attempt[:-1]:
                    sent = load
                    await _load_on(client, load, _node(client, call.keys))
                sent = attempt[-1]
                reply = await _asend(client, sent, call.write)
                break
            except redis.ResponseError as error:
                if n == len(attempts) or not _again(error, sent):
                    raise
    except Failure as error:
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
    write = any(c.write for c in calls)
    client = conn.writer if write else conn.client
    steps = _pipelined(calls, isinstance(client, RedisCluster))
    loads, queued = next(steps)
    loaded_on: dict[tuple[Command, str], Any] = {}  # on a cluster: loads' replies, by node
    while True:
        results: list[Any] | RedisFailure
        try:
            loaded = _load(client, loads, loaded_on)
            results = loaded + send_pipeline(client, queued, write=write)
        except Failure as error:
            results = error
        try:
            loads, queued = steps.send(results)
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
    steps = _pipelined(calls, isinstance(client, AsyncRedisCluster))
    loads, queued = next(steps)
    loaded_on: dict[tuple[Command, str], Any] = {}  # on a cluster: loads' replies, by node
    while True:
        results: list[Any] | RedisFailure
        try:
            loaded = await _aload(client, loads, loaded_on)
            results = loaded + await _asend_pipeline(client, queued, write=write)
        except Failure as error:
            results = error
        except asyncio.CancelledError as cancelled:
            if not write:
                raise
            raise OutcomeUnknown(
                f"{calls[0].what} and the rest of its batch: cancelled while they ran; each "
                "write was applied once or not at all. Re-read to find out."
            ) from cancelled
        try:
            loads, queued = steps.send(results)
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
    calls: Sequence[Call[Any]], cluster: bool
) -> Generator[tuple[Loads, list[Command]], list[Any] | RedisFailure, list[Any]]:
    """The pipelines that send ``calls`` (each attempt of the calls still pending): yields the
    commands of one pipeline (on a cluster, with the libraries to load first on the nodes of
    their calls' slots), is sent the replies of those loads then of the pipeline (or the error
    sending the pipeline raised); returns each call's reply, or its ``TypedisError``.
    ``run_many`` and ``arun_many`` send them."""
    write = any(c.write for c in calls)
    plans = [c.attempts() for c in calls]
    replies: list[Any] = [None] * len(calls)
    pending = list(range(len(calls)))
    step = 0
    while pending:
        attempts = [plans[i][step] for i in pending]
        loads: Loads = []  # on a cluster: loaded by the sender, their replies first
        queued: list[Command] = []
        loaded: dict[Command, int] = {}  # on one server: a library is loaded once per pipeline
        sent: list[list[tuple[Command, int]]] = []  # each pending call's commands, by reply
        n = sum(len(attempt) - 1 for attempt in attempts) if cluster else 0
        for i, (*setup, final) in zip(pending, attempts, strict=True):
            mine: list[tuple[Command, int]] = []
            for cmd in setup:
                if cluster:  # a library is loaded on the node of the call's slot, first
                    mine.append((cmd, len(loads)))
                    loads.append((cmd, calls[i].keys))
                    continue
                if cmd not in loaded:
                    queued.append(cmd)
                    loaded[cmd], n = n, n + 1
                mine.append((cmd, loaded[cmd]))
            queued.append(final)
            mine.append((final, n))
            n += 1
            sent.append(mine)
        results = yield loads, queued
        if isinstance(results, Failure):
            raise typed(results, calls[pending[0]].what, write=write) from results
        retry: list[int] = []
        for i, mine in zip(pending, sent, strict=True):
            cmd, reply = _first_failure(mine, results)
            if isinstance(reply, redis.ResponseError):
                if step + 1 < len(plans[i]) and _again(reply, cmd):
                    retry.append(i)
                    continue
                reply = typed(reply, calls[i].what, write=calls[i].write, sent=cmd)
            elif isinstance(reply, Failure):  # its node's connection failed, maybe mid-pipeline
                reply = typed(reply, calls[i].what, write=calls[i].write)
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
