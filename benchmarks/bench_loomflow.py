"""Recall latency through LoomFlow's ``Memory`` protocol: typedis' ``LoomflowMemory`` (over
``RedisMemory``) against LoomFlow's own ``loomflow.memory.redis.RedisMemory``, on the same
server, measured in the same run.

LoomFlow's Redis backend needs RediSearch for its indexed mode; on a plain Redis or Valkey (as
here) it runs its brute-force mode: each recall SCANs every episode key of every user, reads
each hash, and ranks by cosine in Python (``use_vector_index=False``; its ``HashEmbedder``
gives the vectors, as it does by default without an embedder). Ours answers from the user's
BM25 postings on the server (``Query.search``), one partition per user. Both hold the same
episodes: ``--users`` users with ``--episodes`` each, sentences of 6 to 20 words from a
Zipf-like vocabulary of 2,000 words; each query is 2 words drawn the same way.

Run: `.venv/bin/python benchmarks/bench_loomflow.py [--episodes 2000] [--users 5]`
(REDIS_URL=redis://127.0.0.1:6379/<db> for a Redis 7.0; the embedded Valkey otherwise; the
database is FLUSHed).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

from _common import setup
from loomflow.core.types import Episode
from loomflow.memory.embedder import HashEmbedder
from loomflow.memory.redis import RedisMemory as LoomflowRedisMemory
from redis.asyncio import Redis as AsyncRedis

from typedis.integrations.loomflow import LoomflowMemory

VOCABULARY = [f"w{i}" for i in range(2_000)]
WEIGHTS = [1 / (i + 1) for i in range(len(VOCABULARY))]


def sentence(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choices(VOCABULARY, WEIGHTS, k=rng.randint(low, high)))


async def timed(call: Callable[[], Awaitable[Any]], repeat: int) -> list[float]:
    """The latency of each of ``repeat`` calls, in ms."""
    out: list[float] = []
    for _ in range(repeat):
        start = time.perf_counter()
        await call()
        out.append((time.perf_counter() - start) * 1000)
    return out


def line(name: str, samples: list[float]) -> str:
    p50 = statistics.median(samples)
    p95 = sorted(samples)[max(0, int(len(samples) * 0.95) - 1)]
    return f"  {name:<44} p50 {p50:9.2f} ms   p95 {p95:9.2f} ms   ({len(samples)} calls)"


async def main(args: argparse.Namespace) -> None:
    conn, raw = setup(args.force)
    raw.flushdb()
    rng = random.Random(7)
    users = [f"user{u}" for u in range(args.users)]
    ours = LoomflowMemory()
    client = AsyncRedis.from_url(conn.url)
    theirs = LoomflowRedisMemory(client, embedder=HashEmbedder(), use_vector_index=False)

    start = time.perf_counter()
    for user in users:
        for i in range(args.episodes):
            episode = Episode(
                session_id=f"{user}-s{i % 10}",
                user_id=user,
                input=sentence(rng, 6, 20),
                output=sentence(rng, 6, 20),
            )
            await ours.remember(episode)
            await theirs.remember(episode)
    total = args.users * args.episodes
    print(
        f"{total} episodes ({args.users} users) written to both in "
        f"{time.perf_counter() - start:.1f} s\n"
    )

    queries = [(rng.choice(users), sentence(rng, 2, 2)) for _ in range(args.queries)]
    ours_ms: list[float] = []
    theirs_ms: list[float] = []
    for i, (user, text) in enumerate(queries):

        async def our_recall(user: str = user, text: str = text) -> Any:
            return await ours.recall(text, user_id=user, limit=5)

        async def their_recall(user: str = user, text: str = text) -> Any:
            return await theirs.recall(text, user_id=user, limit=5)

        ours_ms += await timed(our_recall, 1)
        if i < args.their_queries:
            theirs_ms += await timed(their_recall, 1)

    print(f"recall(query, user_id=..., limit=5) at {total} episodes:")
    print(line("typedis LoomflowMemory (BM25 on the server)", ours_ms))
    print(line("LoomFlow RedisMemory (brute force, no RediSearch)", theirs_ms))
    ratio = statistics.median(theirs_ms) / statistics.median(ours_ms)
    print(f"  p50 ratio LoomFlow / typedis: {ratio:.1f}x")
    await client.aclose()
    raw.flushdb()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="LoomFlow recall latency: ours and theirs")
    parser.add_argument("--episodes", type=int, default=2_000, help="episodes per user")
    parser.add_argument("--users", type=int, default=5)
    parser.add_argument("--queries", type=int, default=200, help="recalls timed for typedis")
    parser.add_argument(
        "--their-queries", type=int, default=20, help="recalls timed for LoomFlow (each scans)"
    )
    parser.add_argument("--force", action="store_true", help="run on a database holding keys")
    warnings.simplefilter("ignore")  # LoomFlow's deprecation notices are not the measurement
    asyncio.run(main(parser.parse_args()))
