"""A query across partitions against the same query on one tag holding the same records.

P partitions of N records each (``across_partitions()``: P query function calls in one
pipeline, merged on the client) against one unpartitioned model holding the same P x N records
(one call), for: a top-100 page, a filter with a limit (ordered and unordered), and counts. It
prints the milliseconds per query (the best of ``--rounds`` rounds of ``--reps`` queries, the
contenders taking turns) and the ratio fan-out / one tag. The rows marked "asyncio" run the
async twins (``aall()``, ``acount()``) on one event loop, each query awaited on its own.

``--cluster`` runs it on a local Valkey Cluster (3 primaries, 1 replica each,
tests/_cluster.py): the partitions spread over the three primaries, the one tag on one of them.

    .venv/bin/python benchmarks/bench_fanout.py                 # 16 partitions x 1,000
    .venv/bin/python benchmarks/bench_fanout.py --partitions 64 --per 250
    .venv/bin/python benchmarks/bench_fanout.py --cluster
    REDIS_URL=redis://127.0.0.1:6379/9 .venv/bin/python benchmarks/bench_fanout.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _common import setup

from typedis import Indexed, Key, Model, Sorted, _maintenance, field, get_connection

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _cluster import Cluster


class FbPart(Model, partition="p"):
    p: Key[str]
    n: Key[int]
    grp: Indexed[str] = field(default="g0")
    score: Sorted[int] = field(default=0)


class FbFlat(Model):
    p: Key[str]
    n: Key[int]
    grp: Indexed[str] = field(default="g0")
    score: Sorted[int] = field(default=0)


def load(partitions: int, per: int) -> None:
    for i in range(partitions):
        rows = [(f"t{i}", n, f"g{n % 10}", (n * 7919 + i * 104729) % 100_000) for n in range(per)]
        FbPart.save_many([FbPart(p=p, n=n, grp=g, score=s) for p, n, g, s in rows])
        FbFlat.save_many([FbFlat(p=p, n=n, grp=g, score=s) for p, n, g, s in rows])


def workloads(
    loop: asyncio.AbstractEventLoop,
) -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    spread = FbPart.query.across_partitions()
    flat = FbFlat.query

    def awaited(query: Callable[[], Awaitable[Any]]) -> Callable[[], Any]:
        return lambda: loop.run_until_complete(query())

    return {
        "top 100 by score": (
            lambda: spread.order_by(FbPart.score.desc()).limit(100).all(),
            lambda: flat.order_by(FbFlat.score.desc()).limit(100).all(),
        ),
        "filter + top 20": (
            lambda: spread.filter(FbPart.grp == "g3").order_by(FbPart.score.desc()).limit(20).all(),
            lambda: flat.filter(FbFlat.grp == "g3").order_by(FbFlat.score.desc()).limit(20).all(),
        ),
        "filter + limit 20 (no order)": (
            lambda: spread.filter(FbPart.grp == "g3").limit(20).all(),
            lambda: flat.filter(FbFlat.grp == "g3").limit(20).all(),
        ),
        "count (exact), filter": (
            lambda: spread.filter(FbPart.grp == "g3").count(),
            lambda: flat.filter(FbFlat.grp == "g3").count(),
        ),
        "count(exact=False), filter": (
            lambda: spread.filter(FbPart.grp == "g3").count(exact=False),
            lambda: flat.filter(FbFlat.grp == "g3").count(exact=False),
        ),
        "top 100 by score, asyncio": (
            awaited(spread.order_by(FbPart.score.desc()).limit(100).aall),
            awaited(flat.order_by(FbFlat.score.desc()).limit(100).aall),
        ),
        "count(exact=False), filter, asyncio": (
            awaited(lambda: spread.filter(FbPart.grp == "g3").acount(exact=False)),
            awaited(lambda: flat.filter(FbFlat.grp == "g3").acount(exact=False)),
        ),
    }


def _keys_of(found: Any) -> Any:
    return [(r.p, r.n) for r in found] if isinstance(found, list) else found


def timed(run: Callable[[], Any], reps: int) -> float:
    """Milliseconds per call of ``run`` over ``reps`` calls."""
    start = time.perf_counter()
    for _ in range(reps):
        run()
    return (time.perf_counter() - start) * 1000 / reps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--per", type=int, default=1000, help="records per partition")
    parser.add_argument("--reps", type=int, default=100, help="queries per timing")
    parser.add_argument("--rounds", type=int, default=5, help="the best round is kept")
    parser.add_argument("--force", action="store_true", help="run on a database holding keys")
    parser.add_argument("--cluster", action="store_true", help="on a local cluster of 3 primaries")
    args = parser.parse_args()
    cluster = Cluster()
    if args.cluster:
        cluster.start()
        os.environ["REDIS_URL"] = cluster.url
    loop = asyncio.new_event_loop()
    try:
        run(args, loop)
    finally:
        loop.run_until_complete(get_connection().aclose())
        loop.close()
        cluster.stop()


def run(args: argparse.Namespace, loop: asyncio.AbstractEventLoop) -> None:
    _, raw = setup(args.force)
    raw.flushdb()
    _maintenance.forget_registrations()
    load(args.partitions, args.per)
    total = args.partitions * args.per
    where = " (on a local cluster of 3 primaries)" if args.cluster else ""
    print(f"{args.partitions} partitions x {args.per} records against one tag of {total}{where}\n")
    print("| query | fan-out ms | one tag ms | ratio |\n|---|---:|---:|---:|")
    for name, (spread, flat) in workloads(loop).items():
        same = _keys_of(spread()) == _keys_of(flat())  # warm: libraries loaded, registry read
        assert same or "no order" in name, name
        best = [float("inf"), float("inf")]
        for r in range(args.rounds):  # the two take turns, the first alternating
            order = (0, 1) if r % 2 == 0 else (1, 0)
            for i in order:
                best[i] = min(best[i], timed((spread, flat)[i], args.reps))
        print(f"| {name} | {best[0]:.2f} | {best[1]:.2f} | {best[0] / best[1]:.1f}x |")
    raw.flushdb()


if __name__ == "__main__":
    main()
