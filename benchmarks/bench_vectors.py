"""Exact vector search at scale: ``Model.query.filter(...).search(vector=..., k=10)`` over one
partition of N 384-d vectors, against a raw redis-py + numpy baseline in the same run.

    .venv/bin/python benchmarks/bench_vectors.py --url redis://127.0.0.1:6379/9 --n 100000

Arms (p50 and p95 over ``--queries`` searches, milliseconds; the arms take turns query by
query):
- ``typedis warm``: the client cache is up to date; one round trip (vector_sync says "same",
  the top records load in the same pipeline).
- ``typedis stale``: a write (a new vector for one record), untimed, before each search; the
  sync brings the change, the ranking is patched, and any record missing is loaded.
- ``raw baseline``: what one would write by hand with redis-py and numpy: the matrix of unit
  rows kept in memory with no staleness check at all, the top 10 by a matrix product and
  ``argpartition``, their records read with one pipeline of HGETALLs (no model validation).
- ``typedis cold``: the first search of a new process (the whole partition read), once.

The database given is flushed first.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import redis

import typedis
from typedis import Key, Model, field
from typedis.retrieval import Embedding
from typedis.retrieval._vectors import _CACHES  # pyright: ignore[reportPrivateUsage]

CAVEAT = """\
CAVEAT: a shared, noisy machine (2 cores, other engineers' test runs) runs the client and the
server; compare the arms of one run (the ratio), not absolute numbers across runs."""

DIM = 384


class BvNote(Model, partition="user"):
    user: Key[str]
    id: Key[str]
    body: str = ""
    vec: Embedding = field(default=None, source="body", dimension=DIM)


def _timed(i: int, call: Callable[[int], object]) -> float:
    """Milliseconds ``call(i)`` took."""
    start = time.perf_counter()
    call(i)
    return (time.perf_counter() - start) * 1000


def _percentiles(times: list[float]) -> tuple[float, float]:
    """p50 and p95."""
    ordered = sorted(times)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.95) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--profile", action="store_true", help="profile 20 warm searches")
    args = parser.parse_args()
    typedis.connect(args.url)
    raw = redis.Redis.from_url(args.url)
    raw.flushdb()
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(args.n, DIM)).astype(np.float32)
    start = time.perf_counter()
    BvNote.bulk_create(
        BvNote(user="u", id=f"{i:07d}", vec=vectors[i].tolist()) for i in range(args.n)
    )
    print(f"loaded {args.n} records of {DIM}-d vectors in {time.perf_counter() - start:.1f} s")
    queries = rng.normal(size=(args.queries, DIM)).astype(np.float32)
    query = BvNote.query.filter(user="u")

    start = time.perf_counter()
    first = query.search(vector=queries[0].tolist(), k=10)
    cold = (time.perf_counter() - start) * 1000

    # the baseline: the matrix held by hand, never checked for staleness
    (cache,) = _CACHES.values()
    matrix, ids = cache.matrix[: len(cache.ids)].copy(), list(cache.ids)
    keys = [BvNote(user="u", id=i.split(":")[1]).redis_key if i else "" for i in ids]

    def baseline(i: int) -> None:
        scores = matrix @ (queries[i] / np.linalg.norm(queries[i]))
        top = np.argpartition(-scores, 10)[:10]
        top = top[np.argsort(-scores[top])]
        pipe = raw.pipeline(transaction=False)
        for t in top.tolist():
            pipe.hgetall(keys[t])
        pipe.execute()

    def write(i: int) -> None:  # another client's write: a new vector for one record
        BvNote(user="u", id=f"{i:07d}", vec=rng.normal(size=DIM).tolist()).save()

    def search(i: int) -> None:
        query.search(vector=queries[i].tolist(), k=10)

    # the arms take turns, query by query, so the machine's load falls on all of them alike
    warm, stale, base = [], [], []
    for i in range(args.queries):
        write(i)
        stale.append(_timed(i, search))
        warm.append(_timed(i, search))
        base.append(_timed(i, baseline))
    warm_p, stale_p, base_p = _percentiles(warm), _percentiles(stale), _percentiles(base)
    assert len(first) == 10
    print(CAVEAT)
    print("| arm | p50 ms | p95 ms |\n|---|---|---|")
    print(f"| typedis warm | {warm_p[0]:.2f} | {warm_p[1]:.2f} |")
    print(
        f"| typedis stale (a write just before each search) | {stale_p[0]:.2f} | {stale_p[1]:.2f} |"
    )
    print(f"| raw redis-py + numpy, no staleness check | {base_p[0]:.2f} | {base_p[1]:.2f} |")
    print(f"| typedis cold (first search, whole partition read) | {cold:.0f} | |")
    print(f"warm / baseline p50: {warm_p[0] / base_p[0]:.2f}")
    print(f"stale / baseline p50: {stale_p[0] / base_p[0]:.2f}")
    if args.profile:
        import cProfile

        cProfile.runctx(
            "for i in range(20): query.search(vector=queries[i].tolist(), k=10)",
            globals(),
            {"query": query, "queries": queries},
            sort="cumulative",
        )
    raw.flushdb()


if __name__ == "__main__":
    main()
