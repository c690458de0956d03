"""Connection configuration, against the real test server.

Tests that create ACL users, use another database or keep the server busy run on the suite's
own server (`own_server`), never on the one at REDIS_URL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
import redis
from redis.backoff import NoBackoff
from redis.connection import SSLConnection, UnixDomainSocketConnection
from redis.retry import Retry

from typedis import _connection
from typedis import check_connection
from typedis._connection import Connection, connect, get_connection
from typedis._errors import ConfigError, TypedisError


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
