"""Text search p50 at 20,000 records per tenant: a rare-term and a common-term query, with and
without pruning, against a raw redis-py baseline, measured in the same run.

Each of several tenants (partitions) holds N notes of 8 to 40 words drawn from a Zipf-like
vocabulary of 5,000 words (word i has weight 1/(i+1)), so the head words sit in a large share
of the notes and the tail words in a handful. Contenders, each returning the top 10 with their
records:
- typedis ``Model.query.filter(user=...).search(text, k=10)``: one function call, MaxScore-
  style bounds (``lua/text_search.lua``);
- the same call with pruning off: every posting of every query term is scored on the server;
- raw redis-py: one pipeline reading the statistics and the whole posting lists of the query
  terms (``ZRANGE ... WITHSCORES``) and the document lengths, BM25 computed in Python, then one
  pipelined ``HGETALL`` of the top 10 (two round trips, typedis' own key layout).

Run: `.venv/bin/python benchmarks/bench_text.py [--n 20000] [--tenants 3] [--queries 200]`
(REDIS_URL=redis://127.0.0.1:6379/<db> for a Redis 7.0; the embedded Valkey otherwise).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import redis
from _common import CAVEAT

import typedis
from typedis import Indexed, Key, Model, Text
from typedis._analyzer import STANDARD, terms
from typedis._index.text_kind import K1, B, bm25_idf
from typedis._keys import escape

K = 10
VOCABULARY = [f"w{i}" for i in range(5_000)]
WEIGHTS = [1 / (i + 1) for i in range(len(VOCABULARY))]


class BenchText(Model, partition="user"):
    user: Key[str]
    id: Key[str]
    body: Text[str]
    kind: Indexed[str] = "memo"


def corpus(rng: random.Random, n: int) -> list[str]:
    lengths = [rng.randint(8, 40) for _ in range(n)]
    words = rng.choices(VOCABULARY, WEIGHTS, k=sum(lengths))
    out, at = [], 0
    for size in lengths:
        out.append(" ".join(words[at : at + size]))
        at += size
    return out


def raw_search(raw: redis.Redis, user: str, text: str) -> list[tuple[str, float, Any]]:
    """BM25 top k read with plain commands: statistics and posting lists, scored here."""
    tag = "{td:BenchText:" + escape(user) + "}"
    base = f"{tag}:x:body"
    words = list(dict.fromkeys(terms(STANDARD, text)))
    pipe = raw.pipeline(transaction=False)
    pipe.zcard(base)
    pipe.zscore(f"{base}:s", "len")
    pipe.zscore(f"{base}:s", "ref")
    for w in words:
        pipe.zrange(f"{base}:t:{escape(w)}", 0, -1, withscores=True)
    n, total, ref, *lists = pipe.execute()
    ids = sorted({m for postings in lists for m, _ in postings})
    lengths = dict(zip(ids, raw.zmscore(base, ids), strict=True)) if ids else {}
    avgdl = total / n
    scores: dict[bytes, float] = {}
    for postings in lists:
        idf = bm25_idf(n, len(postings))
        for rid, impact in postings:
            dl = lengths[rid]
            tf = round(impact * K1 * (1 - B + B * dl / ref) / (K1 + 1 - impact))
            w = tf * (K1 + 1) / (tf + K1 * (1 - B + B * dl / avgdl))
            scores[rid] = scores.get(rid, 0.0) + idf * w
    top = sorted(scores.items(), key=lambda p: (-p[1], p[0]))[:K]
    pipe = raw.pipeline(transaction=False)
    for rid, _ in top:
        pipe.hgetall(f"{tag}:r:{rid.decode()}")
    records = pipe.execute()
    return [(rid.decode(), s, r) for (rid, s), r in zip(top, records, strict=True)]


def p50_ms(run: Callable[[str], Any], queries: list[str]) -> float:
    times = []
    for q in queries:
        begin = time.perf_counter()
        run(q)
        times.append(time.perf_counter() - begin)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="records per tenant")
    parser.add_argument("--tenants", type=int, default=3)
    parser.add_argument("--queries", type=int, default=200, help="queries per contender")
    parser.add_argument("--force", action="store_true", help="run on a database holding keys")
    args = parser.parse_args()
    print(CAVEAT)
    conn = typedis.connect()
    raw = redis.Redis.from_url(conn.url)  # pyright: ignore[reportUnknownMemberType]
    info: dict[str, Any] = raw.info("server")  # pyright: ignore[reportUnknownMemberType, reportAssignmentType]
    product = "valkey" if "valkey_version" in info else "redis"
    print(f"server: {product} {info.get('valkey_version') or info.get('redis_version')}")
    if raw.dbsize() and not args.force:
        raise SystemExit("the database holds keys; point REDIS_URL at a scratch db or --force")
    raw.flushdb()
    rng = random.Random(12)
    users = [f"tenant{t}" for t in range(args.tenants)]
    begin = time.perf_counter()
    for user in users:
        texts = corpus(rng, args.n)
        for at in range(0, args.n, 1000):
            BenchText.save_many(
                [
                    BenchText(user=user, id=f"n{i}", body=texts[i], kind=("memo", "task")[i % 2])
                    for i in range(at, min(at + 1000, args.n))
                ]
            )
    elapsed = time.perf_counter() - begin
    print(
        f"loaded {args.tenants} tenants x {args.n:,} notes in {elapsed:.1f} s "
        f"({args.tenants * args.n / elapsed:,.0f} saves/s, save_many of 1,000)\n"
    )
    user = users[0]
    base = "{td:BenchText:" + user + "}:x:body"
    n = raw.zcard(base)

    def df(word: str) -> int:
        return raw.zcard(f"{base}:t:{word}")

    qrng = random.Random(7)
    shapes = {
        "rare (2 tail words)": [
            " ".join(qrng.choice(VOCABULARY[3_000:]) for _ in range(2)) for _ in range(args.queries)
        ],
        "common (2 head words)": [
            " ".join(qrng.sample(VOCABULARY[:5], 2)) for _ in range(args.queries)
        ],
        "mixed (1 head + 2 mid words)": [
            f"{qrng.choice(VOCABULARY[:5])} {qrng.choice(VOCABULARY[50:500])} "
            f"{qrng.choice(VOCABULARY[50:500])}"
            for _ in range(args.queries)
        ],
    }
    query = BenchText.query.filter(user=user)
    filtered = query.filter(kind="task")
    from typedis._query._query import _drive  # pyright: ignore[reportPrivateUsage]
    from typedis.retrieval._text import text_hits

    def exhaustive(q: str) -> object:
        return _drive(text_hits(query, q, K, prune=False))

    for q in ("w0 w1", "w4000 w4001"):  # warm-up, and the three agree on the top k
        a = [(h.record.id, h.score) for h in query.search(q, k=K)]
        b = [(r.id, s) for r, s in _drive(text_hits(query, q, K, prune=False))]
        c = [(rid.split(":", 1)[1], s) for rid, s, _ in raw_search(raw, user, q)]
        assert [x for x, _ in a] == [x for x, _ in b] == [x for x, _ in c], (a, b, c)
        assert all(math.isclose(x, y) for (_, x), (_, y) in zip(a, c, strict=True))
    print(f"tenant {user}: N = {n:,} notes; df of w0..w4: {[df(w) for w in VOCABULARY[:5]]}")
    print(f"top {K} with records, p50 over {args.queries} queries each (ms)\n")
    print(f"{'query':<30} {'search':>8} {'no prune':>9} {'raw':>8} {'filtered':>9}   ratios")
    for label, queries in shapes.items():
        s = p50_ms(lambda q: query.search(q, k=K), queries)
        e = p50_ms(exhaustive, queries)
        r = p50_ms(lambda q: raw_search(raw, user, q), queries)
        f = p50_ms(lambda q: filtered.search(q, k=K), queries)
        print(
            f"{label:<30} {s:>8.2f} {e:>9.2f} {r:>8.2f} {f:>9.2f}   "
            f"search/no-prune {s / e:.2f}, search/raw {s / r:.2f}"
        )
    raw.flushdb()


if __name__ == "__main__":
    main()
