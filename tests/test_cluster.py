"""typedis on a real local Valkey Cluster (3 primaries, 1 replica each; tests/_cluster.py).

The key paths on records spread over every primary: writes and reads by key, queries, batches
and bulk changes, partitions on different nodes, maintenance visiting every primary, function
libraries on every primary (and back on a node that lost them), typed cluster errors. The
whole model and query suites also run on a cluster with `TYPEDIS_TEST_CLUSTER=1`
(tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

import pytest
import redis
from redis.asyncio.connection import AbstractConnection as AsyncConnection
from redis.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MovedError,
    NoPermissionError,
    RedisClusterException,
    SlotNotCoveredError,
    TryAgainError,
)

import typedis
from _acl import connected_as
from _cluster import Cluster
from _util import dumped
from typedis import (
    Connection,
    Indexed,
    Key,
    KeyMutationError,
    Model,
    OutcomeUnknown,
    PermissionDenied,
    ServerRefused,
    ServerUnavailable,
    Sorted,
    Unique,
    UniqueViolation,
    _connection,
    _lua,
    _maintenance,
    _scripts,
    _store,
)


class ClShop(Model):
    name: Key[str]
    cuisine: Indexed[str]
    email: Unique[str]
    rating: Sorted[float] = 0.0
    visits: int = 0


class ClVisit(Model, partition="city"):
    city: Key[str]
    id: Key[str]
    score: Sorted[int] = 0


SHOPS = [f"shop{n}" for n in range(30)]
CITIES = [f"city{n}" for n in range(12)]


@pytest.fixture
def nodes(cluster: Cluster) -> Iterator[RedisCluster]:
    """typedis connected to the cluster (emptied) for one test; a raw cluster client."""
    conn = typedis.connect(cluster.url, cluster=True)
    raw = RedisCluster.from_url(cluster.url)  # pyright: ignore[reportUnknownMemberType]
    raw.flushdb()
    _maintenance.forget_registrations()
    yield raw
    _connection.close_client(raw)
    conn.close()


def _node_of(raw: RedisCluster, key: str) -> str:
    node: Any = raw.get_node_from_key(key)  # pyright: ignore[reportUnknownMemberType]
    return str(node.name)


def _shops() -> list[ClShop]:
    return [
        ClShop(name=n, cuisine="Thai" if i % 2 else "Lao", email=f"{n}@x", rating=i)
        for i, n in enumerate(SHOPS)
    ]


def test_connect_detects_the_cluster(cluster: Cluster, nodes: RedisCluster) -> None:
    detected = typedis.connect(cluster.url)
    assert detected.cluster is True
    assert isinstance(detected.writer, RedisCluster)
    assert isinstance(detected.client, RedisCluster)
    single = Connection(cluster.url, cluster=False)
    assert single.cluster is False
    assert isinstance(single.writer, redis.Redis)
    single.close()
    detected.close()


def test_close_closes_the_connections_to_every_node(cluster: Cluster, nodes: RedisCluster) -> None:
    """redis-py's ``close()`` of a cluster client leaves its nodes' connections open (until
    collected); ``Connection.close()`` closes them."""

    def connected() -> int:
        return sum(int(n.client().info("clients")["connected_clients"]) for n in cluster.live())

    before = connected()
    conn = typedis.connect(cluster.url, cluster=True)
    ClVisit.save_many([ClVisit(city=c, id="v") for c in CITIES])  # writes on every primary
    assert ClVisit.query.across_partitions().count() == len(CITIES)
    assert connected() > before
    conn.close()
    deadline = time.monotonic() + 5
    while connected() != before and time.monotonic() < deadline:  # the nodes see them close
        time.sleep(0.01)
    assert connected() == before


def test_a_server_that_cannot_be_reached_is_asked_again() -> None:
    conn = Connection("redis://127.0.0.1:1/0")
    assert conn.cluster is False
    assert conn._cluster is None  # pyright: ignore[reportPrivateUsage]  # not settled yet
    conn.close()


def test_a_single_server_client_on_a_cluster_says_so(cluster: Cluster, nodes: RedisCluster) -> None:
    elsewhere = next(
        c
        for c in CITIES
        if not _node_of(nodes, f"{{td:ClVisit:{c}}}").endswith(f":{cluster.nodes[0].port}")
    )
    single = typedis.connect(cluster.url, cluster=False)
    with pytest.raises(ServerUnavailable, match="cluster=True") as caught:
        ClVisit(city=elsewhere, id="a").save()
    assert isinstance(caught.value.__cause__, MovedError)
    single.close()


def test_save_load_query_delete(nodes: RedisCluster) -> None:
    shops = _shops()
    for shop in shops:
        shop.save()
    homes = {_node_of(nodes, shop.redis_key) for shop in shops}
    assert len(homes) == 1  # an unpartitioned model is one hash tag: one slot
    assert ClShop.load("shop7") == shops[7]
    thai = ClShop.query.filter(ClShop.cuisine == "Thai").all()
    assert {s.name for s in thai} == {s.name for s in shops if s.cuisine == "Thai"}
    assert ClShop.query.filter(ClShop.cuisine == "Lao").count() == 15
    best = ClShop.query.order_by(ClShop.rating.desc()).limit(3).all()
    assert [s.name for s in best] == ["shop29", "shop28", "shop27"]
    assert shops[3].atomic_increment("visits", 5) == 5
    assert ClShop.load("shop3").visits == 5
    with pytest.raises(UniqueViolation):
        ClShop(name="other", cuisine="Lao", email="shop1@x").save()
    assert shops[0].delete() is True
    assert not ClShop.exists(shops[0])
    assert ClShop.check_indexes().total == 0


def test_batches_and_bulk_changes_across_nodes(nodes: RedisCluster) -> None:
    ClShop.save_many(_shops(), batch_size=7)
    assert ClShop.count() == len(SHOPS)
    visits = [ClVisit(city=c, id=str(n), score=n) for n in range(5) for c in CITIES]
    assert ClVisit.bulk_create(visits, batch_size=4) == len(visits)
    assert len({_node_of(nodes, v.redis_key) for v in visits}) == 3
    assert ClShop.bulk_update(ClShop.query.filter(ClShop.cuisine == "Thai"), visits=9) == 15
    assert {s.visits for s in ClShop.query.filter(ClShop.cuisine == "Thai").all()} == {9}
    assert ClShop.bulk_delete(ClShop.query.filter(ClShop.cuisine == "Lao")) == 15
    assert ClShop.count() == 15
    assert ClVisit.check_indexes().total == 0
    assert ClShop.check_indexes().total == 0


def test_partitions_on_different_nodes(nodes: RedisCluster) -> None:
    for n, city in enumerate(CITIES):
        ClVisit(city=city, id="a", score=n + 1).save()
        ClVisit(city=city, id="b", score=-n).save()
    homes = {_node_of(nodes, ClVisit(city=c, id="a").redis_key) for c in CITIES}
    assert len(homes) == 3
    for city in CITIES:
        assert ClVisit.count(city) == 2
        top = ClVisit.query.filter(ClVisit.city == city).order_by(ClVisit.score.desc()).first()
        assert top is not None and top.id == "a"
    assert sorted(_maintenance.tags(ClVisit.__typedis_spec__)) == sorted(
        _maintenance.tag_for(ClVisit.__typedis_spec__, [c]) for c in CITIES
    )


def test_maintenance_visits_every_primary(nodes: RedisCluster) -> None:
    ClShop.save_many(_shops())
    for city in CITIES:
        ClVisit(city=city, id="a").save()
    stale = ClShop(name="shop5", cuisine="Lao", email="shop5@x").redis_key
    nodes.delete(stale)  # a record gone behind typedis' back: its entries are stale
    assert ClShop.check_indexes().total > 0
    assert ClShop.clean_indexes().total > 0
    assert ClShop.check_indexes().total == 0
    assert ClShop.rebuild_indexes() == len(SHOPS) - 1
    assert ClVisit.delete_all() == len(CITIES)
    assert ClShop.delete_all() == len(SHOPS) - 1
    left = [k for node in nodes.get_primaries() for k in nodes.scan_iter(target_nodes=node)]  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    # What stays: the registry of partitions (as on a single server).
    assert [k for k in left if b"ClShop" in k or b"ClVisit" in k] == [b"{td:ClVisit}:partitions"]  # pyright: ignore[reportUnknownVariableType]


class ClTemp(Model, partition="city", ttl=1):
    city: Key[str]
    id: Key[str]
    rank: Sorted[int] = 0


def test_sweep_expired_on_every_node(nodes: RedisCluster) -> None:
    for city in CITIES:
        ClTemp(city=city, id="t").save()
    assert len({_node_of(nodes, ClTemp(city=c, id="t").redis_key) for c in CITIES}) == 3
    for _ in range(200):  # each expires a second after its save
        if not any(ClTemp.count(city) for city in CITIES):
            break
        time.sleep(0.05)
    assert all(ClTemp.count(city, exact=False) == 1 for city in CITIES)  # expired, not swept
    assert ClTemp.sweep_expired() == len(CITIES)
    assert all(ClTemp.count(city, exact=False) == 0 for city in CITIES)


def _libraries(node: redis.Redis) -> set[str]:
    listed: list[dict[bytes, Any]] = node.execute_command("FUNCTION", "LIST")  # pyright: ignore[reportUnknownMemberType]
    return {entry[b"library_name"].decode() for entry in listed}


def test_functions_on_every_primary(cluster: Cluster, nodes: RedisCluster) -> None:
    name = _lua.library(ClShop.__typedis_spec__).name
    assert typedis.install_functions(ClShop, ClVisit) == [
        name,
        _lua.library(ClVisit.__typedis_spec__).name,
    ]
    for node in cluster.primaries():
        assert name in _libraries(node.client())
    assert name in typedis.prune_functions(ClVisit)
    for node in cluster.primaries():
        assert name not in _libraries(node.client())


def test_a_node_that_lost_its_functions_gets_them_back(
    cluster: Cluster, nodes: RedisCluster
) -> None:
    shops = _shops()
    ClShop.save_many(shops)
    name = _lua.library(ClShop.__typedis_spec__).name
    home = _node_of(nodes, shops[0].redis_key)
    (flushed,) = [n for n in cluster.primaries() if home.endswith(f":{n.port}")]
    flushed.client().execute_command("FUNCTION", "FLUSH")
    assert name not in _libraries(flushed.client())
    on_it = shops
    on_it[0].model_copy(update={"rating": 99.0}).save()  # one call: reloads, then runs once
    assert name in _libraries(flushed.client())
    assert ClShop.load(on_it[0].name).rating == 99.0
    flushed.client().execute_command("FUNCTION", "FLUSH")
    ClShop.save_many([s.model_copy(update={"visits": 1}) for s in shops])  # a pipeline
    assert {s.visits for s in ClShop.query.all()} == {1}
    flushed.client().execute_command("FUNCTION", "FLUSH")

    async def reads() -> list[ClShop]:
        try:
            return await ClShop.query.filter(ClShop.cuisine == "Lao").aall()
        finally:
            await typedis.get_connection().aclose()

    assert len(asyncio.run(reads())) == 15
    assert ClShop.check_indexes().total == 0


def _dumped(cluster: Cluster) -> dict[Any, Any]:
    """Every key of every primary with its DUMP (``_util.dumped``)."""
    found: dict[Any, Any] = {}
    for node in cluster.primaries():
        found.update(dumped(node.client()))
    return found


def test_a_batch_whose_user_may_not_load_the_libraries_says_who_installs_them(
    cluster: Cluster, nodes: RedisCluster
) -> None:
    """No primary holds the library and the ACL user may not load it: the loads that a batch
    (a query over partitions on every primary) sends each node before its pipeline are
    refused, and the error says who installs the libraries, as a single call's (a save's)
    does; sync and asyncio. Nothing is written."""
    ClVisit.save_many([ClVisit(city=c, id="v", score=1) for c in CITIES])
    user, password = "cl-no-load", "cl-no-load-s3cret"
    rules = ("reset", "on", f">{password}", "~*", "&*", "+@all", "-function|load")
    for node in cluster.live():
        client = node.client()
        client.execute_command("ACL", "SETUSER", user, *rules)
        if client.info("replication")["role"] == "master":
            client.execute_command("FUNCTION", "FLUSH")
    before = _dumped(cluster)
    query = ClVisit.query.across_partitions()
    changed = [ClVisit(city=c, id="v", score=2) for c in CITIES]

    async def refused(call: Callable[[], Awaitable[object]]) -> PermissionDenied:
        try:
            with pytest.raises(PermissionDenied) as caught:
                await call()
            return caught.value
        finally:
            await typedis.get_connection().aclose()

    errors: list[PermissionDenied] = []
    try:
        with connected_as(cluster.url, user, password):
            for call in (query.count, query.all, lambda: ClVisit.save_many(changed)):
                with pytest.raises(PermissionDenied) as caught:
                    call()
                errors.append(caught.value)
            for acall in (query.acount, query.aall, lambda: ClVisit.asave_many(changed)):
                errors.append(asyncio.run(refused(acall)))
    finally:
        for node in cluster.live():
            node.client().execute_command("ACL", "DELUSER", user)
    for error in errors:
        assert "typedis.install_functions(Model, ...)" in str(error)
        assert isinstance(error.__cause__, NoPermissionError)
    assert _dumped(cluster) == before


def test_a_full_cluster_reads_a_batch_by_script_when_the_library_cannot_be_loaded(
    cluster: Cluster, nodes: RedisCluster
) -> None:
    """Out of memory, no primary holds the library: each node refuses its load, and the
    batch's read-only calls run their code as a script instead (as on one server)."""
    ClVisit.save_many([ClVisit(city=c, id="v", score=1) for c in CITIES])
    primaries = cluster.primaries()
    for node in primaries:
        node.client().execute_command("FUNCTION", "FLUSH")
        node.client().config_set("maxmemory", 1)
    query = ClVisit.query.across_partitions()

    async def aall() -> list[ClVisit]:
        try:
            return await query.aall()
        finally:
            await typedis.get_connection().aclose()

    try:
        assert query.count() == len(CITIES)
        assert sorted(v.city for v in asyncio.run(aall())) == sorted(CITIES)
    finally:
        for node in primaries:
            node.client().config_set("maxmemory", 0)


def test_async_calls_on_the_cluster(nodes: RedisCluster) -> None:
    async def main() -> tuple[ClShop, int, int]:
        try:
            for shop in _shops():
                await shop.asave()
            loaded = await ClShop.aload("shop4")
            count = await ClShop.query.filter(ClShop.cuisine == "Thai").acount()
            report = await ClShop.acheck_indexes()
            return loaded, count, report.total
        finally:
            await typedis.get_connection().aclose()

    loaded, count, mismatches = asyncio.run(main())
    assert loaded.name == "shop4"
    assert count == 15
    assert mismatches == 0


def test_calls_route_without_asking_the_server_for_keys(
    cluster: Cluster, nodes: RedisCluster
) -> None:
    for node in cluster.primaries():
        node.client().config_resetstat()
    ClVisit.save_many([ClVisit(city=c, id="a") for c in CITIES])
    for city in CITIES:
        ClVisit(city=city, id="b").save()
        assert ClVisit.query.filter(ClVisit.city == city).count() == 2
    for node in cluster.primaries():
        stats: dict[str, Any] = node.client().info("commandstats")  # pyright: ignore[reportUnknownMemberType]
        assert "cmdstat_command|getkeys" not in stats
        assert stats["cmdstat_fcall"]["calls"] > 0


@pytest.mark.parametrize(
    ("error", "typed", "says"),
    [
        (MovedError("3999 127.0.0.1:7000"), ServerUnavailable, "did not run it"),
        (AskError("3999 127.0.0.1:7000"), ServerUnavailable, "did not run it"),
        (TryAgainError("Multiple keys request during rehashing"), ServerUnavailable, "try again"),
        (ClusterDownError("The cluster is down"), ServerUnavailable, "nothing was applied"),
        (SlotNotCoveredError("Slot 5 not covered"), ServerUnavailable, "nothing was applied"),
        (RedisClusterException("keys must map to the same key slot"), ServerRefused, "slots"),
        (
            redis.ResponseError("ERR Attempted to access a non local key in a cluster node"),
            ServerUnavailable,
            "nothing was written",
        ),
        (
            redis.ResponseError(
                "Script attempted to access keys that do not hash to the same slot"
            ),
            ServerRefused,
            "different slots",
        ),
    ],
    ids=["moved", "ask", "tryagain", "clusterdown", "uncovered", "crossslot", "moving", "slots"],
)
def test_cluster_errors_are_typed_as_not_applied(
    error: Exception, typed: type[Exception], says: str
) -> None:
    result = _scripts.typed(error, "save of k", write=True)  # type: ignore[arg-type]
    assert isinstance(result, typed)
    assert says in str(result)
    assert result.__cause__ is error


def test_a_lost_reply_stays_unknown_when_the_slot_map_cannot_be_refreshed() -> None:
    # The cluster client refreshes its slot map after a lost reply; when that fails too, what
    # the write met is still the lost reply.
    lost = redis.ConnectionError("Error while reading from socket: connection reset")
    refresh = RedisClusterException("Redis Cluster cannot be connected.")
    refresh.__context__ = lost
    assert isinstance(_scripts.typed(refresh, "save of k", write=True), OutcomeUnknown)
    assert isinstance(_scripts.typed(refresh, "load of k", write=False), ServerUnavailable)


def test_an_unreachable_cluster_says_nothing_was_sent() -> None:
    conn = typedis.connect("redis://127.0.0.1:1/0", cluster=True)
    with pytest.raises(ServerUnavailable, match="nothing was sent") as caught:
        ClShop(name="a", cuisine="Lao", email="a@x").save()
    assert caught.value.__cause__ is not None
    conn.close()


# ---- a failover and a resharding during a write loop -------------------------------------


class ClCounter(Model, partition="city"):
    city: Key[str]
    id: Key[str]
    n: Sorted[int] = 0


@dataclass
class Tally:
    """What a write loop saw: per partition, the increments acknowledged and those unknown;
    the records whose save was acknowledged."""

    counters: dict[str, ClCounter]
    tried: int = 0
    acked: Counter[str] = dataclass_field(default_factory=Counter[str])
    unknown: Counter[str] = dataclass_field(default_factory=Counter[str])
    refused: int = 0
    saved: list[ClVisit] = dataclass_field(default_factory=list[ClVisit])

    def write(self, n: int) -> None:
        """One step: an increment of a partition's counter and a new record's save."""
        city = CITIES[n % len(CITIES)]
        self.tried += 2
        try:
            self.counters[city].atomic_increment("n", 1)
            self.acked[city] += 1
        except OutcomeUnknown:
            self.unknown[city] += 1
        except ServerUnavailable:
            self.refused += 1
        visit = ClVisit(city=city, id=str(n), score=n)
        try:
            visit.save()
            self.saved.append(visit)
        except OutcomeUnknown:
            self.unknown["saves"] += 1
        except ServerUnavailable:
            self.refused += 1

    def check(self) -> str:
        """Acknowledged writes all present, none applied twice, indexes clean; the figures."""
        for city in CITIES:
            n = ClCounter.load(city, "c").n
            assert self.acked[city] <= n <= self.acked[city] + self.unknown[city], city
        for visit in self.saved:
            assert ClVisit.load(visit.city, visit.id) == visit
        mismatches = ClCounter.check_indexes().total + ClVisit.check_indexes().total
        assert mismatches == 0
        return (
            f"tried {self.tried}, acknowledged {sum(self.acked.values()) + len(self.saved)}, "
            f"unknown {sum(self.unknown.values())}, refused (not applied) {self.refused}, "
            f"found afterwards {len(self.saved)} saves and every acknowledged increment, "
            f"index mismatches {mismatches}"
        )


@pytest.fixture
def own_cluster() -> Iterator[Cluster]:
    """A cluster of this test's own (it kills or reshards nodes), typedis connected to it."""
    mine = Cluster()
    mine.start()
    conn = typedis.connect(mine.url, cluster=True, socket_timeout=2)
    _maintenance.forget_registrations()
    try:
        yield mine
    finally:
        conn.close()
        mine.stop()


def _tally() -> Tally:
    counters = {c: ClCounter(city=c, id="c") for c in CITIES}
    ClCounter.save_many(list(counters.values()))
    return Tally(counters)


def test_a_primary_killed_during_a_write_loop(
    own_cluster: Cluster, summary_line: Callable[[str], None]
) -> None:
    tally = _tally()
    victim = own_cluster.nodes[0]
    n = 0
    while n < 200:  # writes before the kill
        tally.write(n)
        n += 1
    victim.kill()
    after = 0
    while after < 200 and n < 100_000:  # until 200 writes after its replica took over
        tally.write(n)
        n += 1
        if after or (len(own_cluster.primaries()) == 3 and own_cluster.ready()):
            after += 1
    assert own_cluster.ready()
    assert len(own_cluster.primaries()) == 3  # the replica was promoted
    summary_line(f"cluster failover during a write loop: {tally.check()}")


def test_a_slot_moved_during_a_write_loop(
    own_cluster: Cluster, summary_line: Callable[[str], None]
) -> None:
    for n in range(300):  # records in every partition, so the slot has keys to move
        ClVisit(city=CITIES[n % len(CITIES)], id=f"pre{n}").save()
    tally = _tally()
    slot = key_slot(ClVisit(city=CITIES[0], id="x").redis_key.encode())
    source = own_cluster.owner(slot)
    target = next(p for p in own_cluster.primaries() if p.port != source.port)
    step = iter(range(100_000))

    def writes() -> None:
        for _ in range(5):
            tally.write(next(step) * len(CITIES))  # the moving partition's writes
            tally.write(next(step))

    moved = own_cluster.move_slot(slot, target, writes)
    for _ in range(50):
        writes()
    assert own_cluster.owner(slot).port == target.port
    assert moved > 0
    summary_line(f"cluster slot migration during a write loop ({moved} keys): {tally.check()}")


# ---- batches on a cluster: one pipeline per node, sync and asyncio ----------------------------


def _stat(cluster: Cluster, name: str) -> int:
    """A command's calls (INFO commandstats) summed over every primary."""
    total = 0
    for node in cluster.primaries():
        stats: dict[str, Any] = node.client().info("commandstats")  # pyright: ignore[reportUnknownMemberType]
        total += int(stats.get(f"cmdstat_{name}", {}).get("calls", 0))
    return total


def test_an_async_fanout_sends_one_pipeline_per_node(
    cluster: Cluster, nodes: RedisCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A count over 12 partitions on 3 primaries: each node gets one request (its calls in one
    pipeline), the nodes at once; the FCALLs the primaries ran add up to the 12."""
    ClVisit.save_many([ClVisit(city=c, id=str(n), score=n) for c in CITIES for n in range(3)])
    sent: Counter[int] = Counter()
    send = AsyncConnection.send_packed_command

    async def counted(self: AsyncConnection, command: Any, check_health: bool = True) -> None:
        sent[int(self.port)] += 1
        await send(self, command, check_health)

    query = ClVisit.query.across_partitions()

    async def main() -> tuple[int, int, dict[int, int], list[ClVisit]]:
        try:
            await query.acount()  # first use: the slot map, the eviction policy check
            monkeypatch.setattr(AsyncConnection, "send_packed_command", counted)
            before = _stat(cluster, "fcall")
            count = await query.acount()
            calls, per_node = _stat(cluster, "fcall") - before, dict(sent)
            top = await query.order_by(ClVisit.score.desc()).limit(5).aall()
            return count, calls, per_node, top
        finally:
            await typedis.get_connection().aclose()

    count, calls, per_node, top = asyncio.run(main())
    assert count == len(CITIES) * 3 and calls == len(CITIES)
    assert len({_node_of(nodes, ClVisit(city=c, id="x").redis_key) for c in CITIES}) == 3
    registry = int(_node_of(nodes, "{td:ClVisit}:partitions").rsplit(":", 1)[1])
    # one request per primary, and the read of the registry of partitions before it
    assert per_node == {n.port: 1 + (n.port == registry) for n in cluster.primaries()}
    assert [v.score for v in top] == [2] * 5


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_batch_of_writes_follows_moved_only_and_loads_libraries_once_per_node(
    cluster: Cluster, nodes: RedisCluster, flavour: str
) -> None:
    """One batch of writes (12 increments over 3 primaries, one new record's save) while the
    client's slot map is stale for one partition (its node answers MOVED: followed, applied
    once), another partition's slot is migrating (the save meets ASK: ServerUnavailable,
    nothing written) and no primary holds the libraries (each node loads it once)."""
    counters = {c: ClCounter(city=c, id="c") for c in CITIES}
    ClCounter.save_many(list(counters.values()))
    stale_city, moving_city = CITIES[0], CITIES[1]
    stale = key_slot(counters[stale_city].redis_key.encode())
    moving = key_slot(counters[moving_city].redis_key.encode())
    source, target = cluster.owner(moving), cluster.owner(stale)
    if source.port == target.port:
        target = next(p for p in cluster.primaries() if p.port != source.port)
    for node in cluster.primaries():
        node.client().execute_command("FUNCTION", "FLUSH")
    new = ClCounter(city=moving_city, id="new")
    calls = [_store.increment_call(counters[c], "n", 1) for c in CITIES]
    calls.append(
        _store.save_call(new, update_fields=None, migrate_key=False, ttl=None, expire_at=None)
    )
    src, dst = source.client(), target.client()
    dst.execute_command(
        "CLUSTER", "SETSLOT", moving, "IMPORTING", src.execute_command("CLUSTER", "MYID")
    )
    src.execute_command(
        "CLUSTER", "SETSLOT", moving, "MIGRATING", dst.execute_command("CLUSTER", "MYID")
    )
    loads = _stat(cluster, "function|load")

    def keys_in_slot() -> int:
        return sum(
            int(n.client().execute_command("CLUSTER", "COUNTKEYSINSLOT", moving))
            for n in (source, target)
        )

    stored = keys_in_slot()

    def misdirect(client: Any) -> None:  # the slot map of the client says: the wrong primary
        right = client.get_node_from_key(counters[stale_city].redis_key)
        wrong = next(n for n in client.get_primaries() if n.name != right.name)
        client.nodes_manager.slots_cache[stale] = [wrong]

    async def batch() -> None:
        try:
            client: Any = typedis.get_connection().awriter
            await client.initialize()
            misdirect(client)
            await _scripts.arun_many(calls)
        finally:
            await typedis.get_connection().aclose()

    try:
        with pytest.raises(ServerUnavailable, match="redirected") as refused:
            if flavour == "sync":
                misdirect(typedis.get_connection().writer)
                _scripts.run_many(calls)
            else:
                asyncio.run(batch())
    finally:
        for raw in (src, dst):
            raw.execute_command("CLUSTER", "SETSLOT", moving, "STABLE")
    assert isinstance(refused.value.__cause__, AskError)
    assert {c: ClCounter.load(c, "c").n for c in CITIES} == dict.fromkeys(CITIES, 1)
    assert _stat(cluster, "function|load") - loads == 3  # ClCounter's, once on each primary
    assert not ClCounter.exists(new) and keys_in_slot() == stored
    assert ClCounter.check_indexes().total == 0


def test_a_move_to_another_partition_is_refused_on_a_cluster(nodes: RedisCluster) -> None:
    """Two partitions are two slots: the move is refused before anything is sent, naming the
    model, both partitions and what to do instead; the record stays where it was."""
    visit = ClVisit(city=CITIES[0], id="v", score=3).save()
    visit.city = CITIES[1]
    for save in (
        lambda: visit.save(migrate_key=True),
        lambda: asyncio.run(visit.asave(migrate_key=True)),
    ):
        with pytest.raises(KeyMutationError) as refused:
            save()
        says = str(refused.value)
        assert (
            "ClVisit record from partition {td:ClVisit:city0} to partition {td:ClVisit:city1}"
            in says
        )
        assert "model_copy()" in says and "bulk_create()" in says and "nothing was written" in says
    assert ClVisit.load(CITIES[0], "v").score == 3
    assert not ClVisit.exists(ClVisit(city=CITIES[1], id="v"))
    moved = ClVisit(city=CITIES[1], id="v", score=3).save()  # what the error says to do
    ClVisit(city=CITIES[0], id="v").delete()
    assert ClVisit.query.filter(ClVisit.city == CITIES[1]).all() == [moved]
    assert ClVisit.check_indexes().total == 0


def test_an_async_batch_meeting_a_dead_primary(own_cluster: Cluster) -> None:
    """A batch of increments over 12 partitions while one primary is dead: that node's calls
    fail (typed, named), the other nodes' are applied once; after its replica took over, the
    same client reads the slot map again and the next batch is applied everywhere."""
    counters = {c: ClCounter(city=c, id="c") for c in CITIES}
    ClCounter.save_many(list(counters.values()))
    victim = own_cluster.owner(key_slot(counters[CITIES[0]].redis_key.encode()))
    replica = own_cluster.nodes[own_cluster.nodes.index(victim) + 3]
    dead = {
        c for c in CITIES if own_cluster.owner(key_slot(counters[c].redis_key.encode())) is victim
    }
    calls = [_store.increment_call(counters[c], "n", 1) for c in CITIES]

    def replicated() -> bool:
        offset = victim.client().info("replication")["master_repl_offset"]
        return bool(replica.client().info("replication")["slave_repl_offset"] >= offset)

    async def batches() -> Exception:
        try:
            await _scripts.arun_many(calls)  # every node's connection open
            while not replicated():
                await asyncio.sleep(0.01)
            victim.kill()
            with pytest.raises((ServerUnavailable, OutcomeUnknown)) as failed:
                await _scripts.arun_many(calls)
            while not (own_cluster.ready() and len(own_cluster.primaries()) == 3):
                await asyncio.sleep(0.05)
            await _scripts.arun_many(calls)
            return failed.value
        finally:
            await typedis.get_connection().aclose()

    error = asyncio.run(batches())
    assert any(f"{{td:ClCounter:{c}}}" in str(error) for c in dead)
    found = {c: ClCounter.load(c, "c").n for c in CITIES}
    assert {c: n for c, n in found.items() if c not in dead} == dict.fromkeys(set(CITIES) - dead, 3)
    assert {found[c] for c in dead} <= {2, 3}  # the failed call: applied once or not at all
    assert ClCounter.check_indexes().total == 0
