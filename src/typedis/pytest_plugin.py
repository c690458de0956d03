"""typedis' pytest plugin: an empty database for each test that asks for one.

Installing typedis registers it (the `typedis` entry point of `pytest11`); `-p no:typedis`
turns it off. It adds fixtures and options, and one autouse fixture that connects to nothing:
the models a test defines leave the registry of models (`typedis.models()`) when it ends, so
that tests may each define their own `Item`. A run that requests none of its other fixtures
never connects to anything. docs/testing.md is the user's guide.

The server is `REDIS_URL`'s, else the embedded Valkey server, started once per test process.
On `REDIS_URL`'s server each test process keeps to one database: the URL's, plus N for
pytest-xdist's worker `gwN`. Database 0 is refused unless allowed, and so is a database that
holds keys when the session first uses it, since the fixtures empty it (`FLUSHDB`, never
`FLUSHALL`) before and after every test. A cluster has database 0 only: it is used when allowed,
by one test process, its keys counted and emptied on every primary.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from redis.cluster import RedisCluster
from redis.connection import parse_url  # pyright: ignore[reportUnknownVariableType]

import typedis._connection as _connection
from typedis import _registry, _scripts
from typedis._connection import Connection

__all__ = ["typedis_connection", "typedis_db", "typedis_redis"]

_ALLOW_DB0 = "typedis_allow_db0"


def pytest_addoption(parser: pytest.Parser) -> None:
    why = "let typedis' fixtures use and empty database 0 of REDIS_URL's server"
    parser.getgroup("typedis").addoption(
        "--typedis-allow-db0", action="store_true", dest=_ALLOW_DB0, help=why
    )
    parser.addini(_ALLOW_DB0, why, type="bool", default=False)


def _worker_url(url: str, worker: str | None) -> str:
    """The URL of one test process's database: the URL's database, plus N for worker `gwN`.

    `_worker_url("redis://127.0.0.1:6379/4", "gw2")` is `"redis://127.0.0.1:6379?db=6"`.
    """
    if not worker:
        return url
    db = _database(url) + int(worker.removeprefix("gw"))
    parts = urlsplit(url)
    # `?db=`: redis-py reads it before the path, and a unix socket URL has no other way.
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "db"]
    path = parts.path if parts.scheme == "unix" else ""
    return f"{parts.scheme}://{parts.netloc}{path}?{urlencode([*query, ('db', str(db))])}"


@pytest.fixture(scope="session")
def typedis_connection(pytestconfig: pytest.Config) -> Iterator[Connection]:
    """The test process's `Connection`, checked once; prefer `typedis_db`, which empties it.

    Raises:
        ServerUnavailable: (or another `TypedisError`) the server cannot be reached.
        pytest.Exit: (exit status 4) database 0 of `REDIS_URL`'s server without
            `--typedis-allow-db0` or ini `typedis_allow_db0 = true` (a cluster's only database
            is 0), a database holding keys (on a cluster: on any primary), or a cluster shared
            by several pytest-xdist workers.
    """
    conn = Connection()  # REDIS_URL's server (its URL checked here), else the embedded one
    allowed = pytestconfig.getoption(_ALLOW_DB0) or pytestconfig.getini(_ALLOW_DB0)
    if not conn.embedded and conn.cluster:  # asks the server (INFO cluster)
        _check_cluster(conn, allowed=bool(allowed))
    else:
        conn = _check_database(conn, allowed=bool(allowed))
    keys = _everywhere(conn, "DBSIZE")
    if keys:
        held = (
            f"the cluster {conn.redacted_url} holds {keys} keys (on its primaries)"
            if conn.cluster
            else f"database {_database(conn.url)} of {conn.redacted_url} holds {keys} keys"
        )
        pytest.exit(
            f"typedis: {held}, and typedis' fixtures empty it before and after each test; use "
            "an empty database, or empty this one (FLUSHDB) if its data is a test's leftovers",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )
    yield conn
    conn.close()


@pytest.fixture(autouse=True)
def _typedis_models() -> Iterator[None]:
    """The registry of models as it was before the test: the models it defined are gone."""
    with _registry.kept():
        yield


@pytest.fixture
def typedis_db(typedis_connection: Connection) -> Iterator[Connection]:
    """An empty database, its `Connection` typedis' default during the test.

    Emptied before and after the test; the previous default connection comes back afterwards.
    Async code (`asave`, `aall`...) works too: it opens asyncio clients on the running loop,
    which close when the loop ends.
    """
    previous = _connection._default  # pyright: ignore[reportPrivateUsage]
    _empty(typedis_connection)
    _connection._default = typedis_connection  # pyright: ignore[reportPrivateUsage]
    try:
        yield typedis_connection
    finally:
        _connection._default = previous  # pyright: ignore[reportPrivateUsage]
        _empty(typedis_connection)


@pytest.fixture
def typedis_redis(typedis_db: Connection) -> _connection.Client:
    """A redis-py client on the test's empty database (replies are bytes; on a cluster, a
    `RedisCluster`)."""
    return typedis_db.client


def _database(url: str) -> int:
    """The database redis-py selects for a URL it accepts (`?db=`, else the path, else 0)."""
    options: dict[str, Any] = parse_url(url)  # type: ignore[no-untyped-call]
    return int(options.get("db", 0))


def _check_database(conn: Connection, *, allowed: bool) -> Connection:
    """One server: the test process's database (the URL's, plus N for worker `gwN`), refused
    if it is database 0 and that is not allowed."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker and not conn.embedded:  # the embedded server is each process's own already
        conn.close()
        conn = Connection(_worker_url(conn.url, worker))
    if _database(conn.url) == 0 and not conn.embedded and not allowed:
        pytest.exit(
            f"typedis: REDIS_URL {conn.redacted_url} is database 0, which typedis' fixtures "
            "empty before and after each test; point REDIS_URL at a test database "
            f"(redis://host:6379/1) or pass {_ALLOW}",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )
    return conn


def _check_cluster(conn: Connection, *, allowed: bool) -> None:
    """A cluster has only database 0, which the fixtures empty on every primary: refused unless
    allowed, and refused to several pytest-xdist workers, which would empty each other's."""
    if not allowed:
        pytest.exit(
            f"typedis: REDIS_URL {conn.redacted_url} is a cluster, which has only database 0; "
            "typedis' fixtures empty it (FLUSHDB on every primary) before and after each test. "
            f"Point REDIS_URL at a cluster kept for tests and pass {_ALLOW}",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1) > 1:
        pytest.exit(
            f"typedis: REDIS_URL {conn.redacted_url} is a cluster, which has only database 0: "
            "pytest-xdist's workers would empty each other's records; run the tests on a "
            "cluster in one process (without -n)",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


_ALLOW = "--typedis-allow-db0 (ini: typedis_allow_db0 = true)"


def _everywhere(conn: Connection, *args: str) -> Any:
    """Send a command to the server, or to every primary of a cluster (the replies summed)."""
    client: Any = conn.client
    options = {"target_nodes": RedisCluster.PRIMARIES} if conn.cluster else {}
    with _scripts.typed_errors(f"{args[0]} on {conn.redacted_url}"):
        return client.execute_command(*args, **options)


def _empty(conn: Connection) -> None:
    _everywhere(conn, "FLUSHDB")
