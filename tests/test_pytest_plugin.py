"""The pytest plugin (typedis.pytest_plugin), on small test files run by pytester in-process.

Each run builds its own pytest configuration, loading plugins from their entry points as a
user's run does (`-p no:typedis` turning this one off proves the fixtures come from there).

The runs use database 4 (and 5, an xdist worker's) of the suite's own server (`own_server`, a
Valkey server the session starts: never other databases of a shared server at REDIS_URL), its
database 0 where database 0 itself is the point, or the local cluster (tests/_cluster.py) for
the rules of a cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote, urlsplit

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from redis.connection import parse_url

from _cluster import Cluster, ClusterClient
from typedis import _connection
from typedis.pytest_plugin import _worker_url

pytest_plugins = ["pytester"]

PLUGIN_DB = 4


@pytest.fixture
def plugin_url(own_server: str) -> str:
    """Database 4 of the suite's own server (the runs also use database 5, an xdist worker's:
    never databases of a shared server at REDIS_URL)."""
    return urlsplit(own_server)._replace(path=f"/{PLUGIN_DB}").geturl()


@pytest.fixture
def plugin_db(plugin_url: str) -> Iterator[redis.Redis]:
    """A client on database 4, empty before and after the test."""
    client = redis.Redis.from_url(plugin_url)  # pyright: ignore[reportUnknownMemberType]
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch, plugin_url: str, plugin_db: redis.Redis
) -> pytest.MonkeyPatch:
    """REDIS_URL set to database 4 (emptied), as in a test process outside pytest-xdist."""
    monkeypatch.setenv("REDIS_URL", plugin_url)
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    return monkeypatch


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(source)
    return pytester.runpytest("-p", "no:cacheprovider", *args)


MODEL = """
import pytest
import typedis
from typedis import Key, Model, Sorted, _connection

BEFORE = _connection._default

class Item(Model):
    name: Key[str]
    rank: Sorted[int]
"""


def test_each_test_gets_an_empty_database_as_the_default(
    pytester: pytest.Pytester, env: pytest.MonkeyPatch, plugin_db: redis.Redis
) -> None:
    result = run(
        pytester,
        MODEL
        + """
import os

def test_a(typedis_db):
    assert typedis.get_connection() is typedis_db and typedis_db.url == os.environ["REDIS_URL"]
    Item(name="a", rank=1).save()

def test_b(typedis_db, typedis_redis):
    assert typedis_redis.dbsize() == 0 and Item.query.count() == 0
    Item(name="b", rank=2).save()
    assert typedis_redis.client_info()["db"] == 4

def test_c():
    assert _connection._default is BEFORE  # restored after each test
""",
    )
    result.assert_outcomes(passed=3)
    assert plugin_db.dbsize() == 0  # emptied after the last test too


def test_async_tests_run_on_their_own_loops(
    pytester: pytest.Pytester, env: pytest.MonkeyPatch
) -> None:
    """With asyncio.run() in a plain test, or an async test of an async plugin (anyio's)."""
    result = run(
        pytester,
        MODEL
        + """
import asyncio

async def save_and_count(name):
    await Item(name=name, rank=1).asave()
    return await Item.query.acount()

def test_asyncio_run(typedis_db):
    assert asyncio.run(save_and_count("a")) == 1
    assert asyncio.run(save_and_count("b")) == 2

@pytest.fixture
def anyio_backend():
    return "asyncio"

@pytest.mark.anyio
async def test_async_plugin(typedis_db):
    assert await save_and_count("c") == 1
""",
        "-W",
        "error",
    )
    result.assert_outcomes(passed=2)


def test_a_test_without_its_fixtures_never_connects(
    pytester: pytest.Pytester, env: pytest.MonkeyPatch
) -> None:
    env.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # no server, and database 0
    run(pytester, "def test_plain():\n    pass\n").assert_outcomes(passed=1)


def test_an_unreachable_server_is_a_typed_error(
    pytester: pytest.Pytester, env: pytest.MonkeyPatch
) -> None:
    env.setenv("REDIS_URL", "redis://127.0.0.1:1/4")
    result = run(pytester, "def test_a(typedis_db):\n    pass\n")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*typedis.ServerUnavailable: DBSIZE on redis://127.0.0.1:1/4*"])


DB0_TEST = """
def test_a(typedis_db, typedis_redis):
    assert typedis_redis.client_info()["db"] == 0
"""


def test_database_0_is_refused(
    pytester: pytest.Pytester, env: pytest.MonkeyPatch, own_server: str, own_client: redis.Redis
) -> None:
    env.setenv("REDIS_URL", own_server)
    own_client.set("data", "kept")
    result = run(pytester, DB0_TEST)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["*REDIS_URL redis://*/0 is database 0*--typedis-allow-db0*"])
    assert own_client.get("data") == b"kept"


@pytest.mark.parametrize("how", ["option", "ini"])
def test_database_0_when_allowed(
    pytester: pytest.Pytester,
    env: pytest.MonkeyPatch,
    own_server: str,
    own_client: redis.Redis,
    how: str,
) -> None:
    env.setenv("REDIS_URL", own_server)
    if how == "ini":
        pytester.makeini("[pytest]\ntypedis_allow_db0 = true\n")
    run(pytester, DB0_TEST, *["--typedis-allow-db0"] * (how == "option")).assert_outcomes(passed=1)


def test_a_database_holding_keys_is_refused_and_kept(
    pytester: pytest.Pytester, env: pytest.MonkeyPatch, plugin_db: redis.Redis
) -> None:
    plugin_db.set("data", "kept")
    result = run(pytester, "def test_a(typedis_db):\n    pass\n")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["*typedis: database 4 of redis://*/4 holds 1 keys*"])
    assert plugin_db.get("data") == b"kept"


def test_an_xdist_worker_uses_the_database_after(
    pytester: pytest.Pytester, env: pytest.MonkeyPatch
) -> None:
    env.setenv("PYTEST_XDIST_WORKER", "gw1")
    result = run(
        pytester, 'def test_a(typedis_redis):\n    assert typedis_redis.client_info()["db"] == 5\n'
    )
    result.assert_outcomes(passed=1)


def test_without_redis_url_the_embedded_server_starts_once(
    pytester: pytest.Pytester, env: pytest.MonkeyPatch
) -> None:
    env.delenv("REDIS_URL")
    result = run(
        pytester,
        """
from typedis import _connection

def test_a(typedis_db):
    assert typedis_db.embedded and typedis_db.url == _connection._embedded_url

def test_b(typedis_db):
    assert typedis_db.url == _connection._embedded_url
""",
    )
    result.assert_outcomes(passed=2)


def test_p_no_typedis_turns_the_plugin_off(
    pytester: pytest.Pytester, env: pytest.MonkeyPatch
) -> None:
    result = run(pytester, "def test_a(typedis_db):\n    pass\n", "-p", "no:typedis")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'typedis_db' not found*"])


_URLS = st.one_of(
    st.builds(
        "redis://{}:{}/{}".format,
        st.sampled_from(["127.0.0.1", "db.example"]),
        st.integers(1, 65535),
        st.integers(0, 15),
    ),
    st.builds(
        "unix:///run/{}.sock?db={}".format, st.sampled_from(["redis", "a b"]), st.integers(0, 15)
    ),
    st.builds(
        "rediss://app:{}@db.example:6380/{}?ssl_ca_certs=/etc/ca.pem".format,
        st.text(min_size=1, max_size=8).map(lambda s: quote(s, safe="")),
        st.integers(0, 15),
    ),
)


@given(_URLS, st.integers(0, 15))
def test_worker_n_adds_n_to_the_database_and_keeps_the_rest(url: str, n: int) -> None:
    options = parse_url(url)
    expected = {**options, "db": options.get("db", 0) + n}
    assert parse_url(_worker_url(url, f"gw{n}")) == expected
    assert _worker_url(url, None) == url


# ---- on a cluster: database 0 only, every primary -------------------------------------------


@pytest.fixture
def on_cluster(
    monkeypatch: pytest.MonkeyPatch, cluster: Cluster
) -> Iterator[tuple[pytest.MonkeyPatch, ClusterClient]]:
    """REDIS_URL set to the local cluster (emptied); a raw client whose dbsize() counts the keys
    of every primary."""
    monkeypatch.setenv("REDIS_URL", cluster.url)
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    client = ClusterClient.from_url(cluster.url)  # pyright: ignore[reportUnknownMemberType]
    client.flushdb()
    yield monkeypatch, client
    client.flushdb()
    _connection.close_client(client)


PARTITIONED = """
from typedis import Key, Model

class Visit(Model, partition="city"):
    city: Key[str]
    id: Key[str]

CITIES = [f"city{n}" for n in range(12)]  # their slots are on every primary

def test_a(typedis_db, typedis_redis):
    assert typedis_db.cluster
    Visit.save_many([Visit(city=c, id="a") for c in CITIES])

def test_b(typedis_db):
    assert Visit.query.across_partitions().count() == 0  # every primary was emptied
    Visit.save_many([Visit(city=c, id="b") for c in CITIES])
"""


def test_a_cluster_is_checked_and_emptied_on_every_primary(
    pytester: pytest.Pytester, on_cluster: tuple[pytest.MonkeyPatch, ClusterClient]
) -> None:
    _, client = on_cluster
    result = run(pytester, PARTITIONED, "--typedis-allow-db0")
    result.assert_outcomes(passed=2)
    assert client.dbsize() == 0  # emptied after the last test, on every primary
    keys = [f"{{k{n}}}" for n in range(30)]
    homes = {client.get_node_from_key(k).name for k in keys}  # pyright: ignore[reportUnknownMemberType, reportOptionalMemberAccess]
    assert len(homes) == 3
    for key in keys:
        client.set(key, "kept")
    result = run(pytester, "def test_a(typedis_db):\n    pass\n", "--typedis-allow-db0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(
        ["*typedis: the cluster redis://*/0 holds 30 keys (on its primaries)*"]
    )
    assert client.dbsize() == 30


def test_a_cluster_is_refused_without_allowing_database_0(
    pytester: pytest.Pytester, on_cluster: tuple[pytest.MonkeyPatch, ClusterClient]
) -> None:
    _, client = on_cluster
    client.set("data", "kept")
    result = run(pytester, "def test_a(typedis_db):\n    pass\n")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["*is a cluster, which has only database 0;*--typedis-allow-db0*"])
    assert client.get("data") == b"kept"


def test_a_cluster_is_refused_to_several_xdist_workers(
    pytester: pytest.Pytester, on_cluster: tuple[pytest.MonkeyPatch, ClusterClient]
) -> None:
    env, client = on_cluster
    env.setenv("PYTEST_XDIST_WORKER", "gw1")
    env.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    client.set("data", "kept")
    result = run(pytester, "def test_a(typedis_db):\n    pass\n", "--typedis-allow-db0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["*pytest-xdist's workers would empty each other's records*"])
    assert client.get("data") == b"kept"
