"""Bulk changes on n records (default 100,000): time per record and client memory.

Per round, in turn: ``save_many`` of fresh records (the reference: one ``save_many.lua`` call
per 1,000), ``bulk_create`` of the same records (a generator: one batch held at a time),
``bulk_update`` by query of a field the query filters on (half the records, listed on the
server and popped 1,000 at a time), ``bulk_update`` by query of every record, ``bulk_delete``
by query. The model is the harness's ``BenchPlace`` (Key, Indexed, Sorted...). Medians over the
rounds; the peak client memory (tracemalloc) of a ``bulk_update`` of every record is set beside
that of ``query.keys()``, which holds every id.

Run: ``.venv/bin/python benchmarks/bench_bulk.py [--n 100000] [--rounds 3]``
(REDIS_URL at a scratch database: the benchmark FLUSHes it).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterator

from _common import setup
from harness.contenders import BenchPlace

CUISINES = [f"c{i}" for i in range(10)]


def places(n: int) -> Iterator[BenchPlace]:
    return (
        BenchPlace(name=f"p{i:07d}", cuisine=CUISINES[i % 2], rating=(i * 7919 % n) / 7)
        for i in range(n)
    )


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def peak(run: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--force", action="store_true", help="run on a database holding keys")
    args = parser.parse_args()
    n = args.n
    _, raw = setup(args.force)
    q = BenchPlace.query
    phases: dict[str, Callable[[], object]] = {
        "save_many (fresh)": lambda: BenchPlace.save_many(list(places(n))),
        "bulk_create": lambda: BenchPlace.bulk_create(places(n)),
        "bulk_update, filtered field (half)": lambda: BenchPlace.bulk_update(
            q.filter(BenchPlace.cuisine == "c1"), cuisine="c2"
        ),
        "bulk_update, every record": lambda: BenchPlace.bulk_update(q, rating=1.0),
        "bulk_delete, every record": lambda: BenchPlace.bulk_delete(q),
    }
    times: dict[str, list[float]] = {name: [] for name in phases}
    memory: list[tuple[int, int]] = []
    for _ in range(args.rounds):
        raw.flushdb()
        for name, run in phases.items():
            if name == "bulk_create":
                raw.flushdb()
            if name == "bulk_delete, every record":
                memory.append(
                    (peak(lambda: q.keys()), peak(lambda: BenchPlace.bulk_update(q, rating=2.0)))
                )
            times[name].append(timed(run))
    raw.flushdb()
    print(f"{n} records, {args.rounds} rounds, medians")
    for name, runs in times.items():
        done = n // 2 if "half" in name else n
        median = statistics.median(runs)
        print(f"  {name:<36} {median:7.2f} s  {median / done * 1e6:6.1f} µs/record")
    keys, bulk = (statistics.median(m[i] for m in memory) for i in (0, 1))
    print(f"  client memory: query.keys() {keys / 1e6:.1f} MB, bulk_update {bulk / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
