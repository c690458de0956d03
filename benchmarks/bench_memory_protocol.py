"""RedisMemory at 10,000 records of one user: ``forget()`` and ``recall()`` latency.

    .venv/bin/python benchmarks/bench_memory_protocol.py --url redis://127.0.0.1:6379/5 --n 10000

- ``forget``: one user holding ``--n`` episodes (with 64-d vectors, a fact per 10 episodes and
  a block), another user holding the same; ``forget(user_id=...)`` of the first, timed once
  per round (the data written again before each round), beside the raw floor: a hand-written
  SCAN of the user's tags and UNLINK of what it finds, on the same data.
- ``recall``: p50 and p95 of ``recall(query, user_id=..., limit=5)`` over ``--queries``
  queries of two words from the corpus (BM25 + cosine, fused), beside the text-only search
  of the same typedis index (``recall`` on a memory without embedder).

The database given is flushed first.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import warnings

import redis

import typedis
from typedis.memory import Episode, Fact, SyncRedisMemory
from typedis.retrieval import HashingEmbedder, NotSemanticWarning

CAVEAT = """\
CAVEAT: a shared, noisy machine (2 cores, other engineers' test runs) runs the client and the
server; compare the arms of one run (the ratio), not absolute numbers across runs."""

WORDS = [f"w{i}" for i in range(2000)]


def fill(memory: SyncRedisMemory, user: str, n: int, rng: random.Random) -> None:
    episodes = [
        Episode(
            user_id=user,
            session_id=f"s{i // 20}",
            input=" ".join(rng.choices(WORDS, k=8)),
            output=" ".join(rng.choices(WORDS, k=8)),
        )
        for i in range(n)
    ]
    stored = memory._core.stored  # the typedis model behind the memory: a bulk load
    records = [stored.episode_of(e) for e in episodes]
    stored.episode.save_many(records, batch_size=500)
    for i in range(n // 10):
        memory.facts.append(
            Fact(user_id=user, subject=user, predicate=f"p{i % 50}", object=rng.choice(WORDS))
        )
    memory.update_block("persona", "terse", user_id=user)


def raw_forget(client: redis.Redis, user: str) -> int:
    removed = 0
    for model in ("bench.Block", "bench.Episode", "bench.Fact"):
        tag = "{td:" + model + ":" + user + "}"
        keys = list(client.scan_iter(match=tag + ":*", count=1000))
        for start in range(0, len(keys), 1000):
            removed += client.unlink(*keys[start : start + 1000])
        client.srem("{td:" + model + "}:partitions", tag)
    return removed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="redis://127.0.0.1:6379/5")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    warnings.simplefilter("ignore", NotSemanticWarning)
    typedis.connect(args.url)
    client = redis.Redis.from_url(args.url)
    client.flushdb()
    rng = random.Random(7)
    memory = SyncRedisMemory(namespace="bench", embedder=HashingEmbedder(64))
    text_only = SyncRedisMemory(namespace="bench_text")
    print(CAVEAT)

    fill(memory, "other", args.n, rng)
    times, raw_times, keys = [], [], 0
    for _ in range(args.rounds):
        fill(memory, "ann", args.n, rng)
        keys = len(list(client.scan_iter(match="{td:bench.*:ann}:*", count=1000)))
        start = time.perf_counter()
        memory.forget(user_id="ann")
        times.append(time.perf_counter() - start)
        fill(memory, "ann", args.n, rng)
        start = time.perf_counter()
        raw_forget(client, "ann")
        raw_times.append(time.perf_counter() - start)
    forget_s, raw_s = statistics.median(times), statistics.median(raw_times)
    print(f"forget(): {args.n} episodes + {args.n // 10} facts + 1 block = {keys} keys")
    print(f"  typedis forget   median {forget_s * 1000:8.1f} ms over {args.rounds} rounds")
    print(f"  raw SCAN+UNLINK  median {raw_s * 1000:8.1f} ms   ratio {forget_s / raw_s:.2f}")

    fill(memory, "ann", args.n, rng)
    fill(text_only, "ann", args.n, rng)
    queries = [" ".join(rng.choices(WORDS, k=2)) for _ in range(args.queries)]
    for label, mem in (("hybrid (BM25 + cosine)", memory), ("text only (BM25)", text_only)):
        mem.recall(queries[0], user_id="ann")  # warm: the vector cache, the libraries
        lat = []
        for q in queries:
            start = time.perf_counter()
            mem.recall(q, user_id="ann", limit=5)
            lat.append((time.perf_counter() - start) * 1000)
        lat.sort()
        p50, p95 = lat[len(lat) // 2], lat[int(len(lat) * 0.95)]
        print(f"recall() at {args.n} episodes, {label}: p50 {p50:.1f} ms, p95 {p95:.1f} ms")


if __name__ == "__main__":
    main()
