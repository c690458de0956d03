"""Limits pushed down: limited queries at 1k / 10k / 100k records, against raw redis-py.

Three shapes (issue #9, item 4), each returning 100 records:
- ``order_by(rating.desc()).limit(100)``: the index page (raw: ``ZRANGE ... REV 0 99``);
- ``filter(cuisine == c3).limit(100)``, a tenth of the records: the scan with early stop (raw:
  ``SSCAN ... COUNT 100``);
- ``filter(cuisine == c3).order_by(rating.desc()).limit(100)``: the ordered scan with early
  stop (raw: ``ZRANGE ... REV`` of 1,500 ids, ``SMISMEMBER``, the first 100 members);
each raw contender followed by pipelined ``HGETALL`` and ``model_validate``. ``--expired`` adds
one expired, unswept record first (before #9 it sent the index page through an O(N)
intersection). Contenders alternate within each round; medians; compare the ratios.

Run: ``.venv/bin/python benchmarks/bench_limits.py [--expired] [--rounds 15] [--sizes ...]``
(REDIS_URL at a scratch database: the benchmark FLUSHes it).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from _common import CAVEAT
from harness.contenders import BenchPlace, PlainPlace

import typedis
from typedis import _keys

CUISINES = [f"c{i}" for i in range(10)]


def fill(n: int) -> None:
    """Records 0 .. n - 1 (those saved already are kept), ratings scattered."""
    have = BenchPlace.count()
    BenchPlace.save_many(
        [
            BenchPlace(name=f"p{i:07d}", cuisine=CUISINES[i % 10], rating=(i * 7919 % n) / 7)
            for i in range(have, n)
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--expired", action="store_true")
    args = parser.parse_args()
    print(CAVEAT)
    conn = typedis.connect()
    raw: Any = conn.client
    raw.flushdb()
    tag = _keys.tag("BenchPlace")
    zkey, skey = f"{tag}:z:rating", f"{tag}:i:cuisine:c3"

    def read(ids: list[bytes]) -> list[PlainPlace]:
        pipe = raw.pipeline(transaction=False)
        for i in ids:
            pipe.hgetall(_keys.record(tag, i.decode()))
        return [
            PlainPlace.model_validate({k.decode(): v for k, v in h.items()}) for h in pipe.execute()
        ]

    def raw_filtered_top() -> list[PlainPlace]:
        ids = raw.zrange(zkey, 0, 1499, desc=True)
        return read([i for i, m in zip(ids, raw.smismember(skey, ids), strict=True) if m][:100])

    query = BenchPlace.query
    thai = query.filter(BenchPlace.cuisine == "c3")
    shapes: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
        "top 100": (
            lambda: query.order_by(BenchPlace.rating.desc()).limit(100).all(),
            lambda: read(raw.zrange(zkey, 0, 99, desc=True)),
        ),
        "eq, limit 100": (
            lambda: thai.limit(100).all(),
            lambda: read(raw.sscan(skey, 0, count=100)[1][:100]),
        ),
        "eq, top 100": (
            lambda: thai.order_by(BenchPlace.rating.desc()).limit(100).all(),
            raw_filtered_top,
        ),
    }
    for n in args.sizes:
        fill(n)
        if args.expired:
            gone = datetime.now(UTC) - timedelta(seconds=1)
            BenchPlace(name="expired", cuisine="c3", rating=1e9).save(expire_at=gone)
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for name, contenders in shapes.items():
                for who, run in zip(("typedis", "raw"), contenders, strict=True):
                    start = time.perf_counter()
                    run()
                    times.setdefault((name, who), []).append(time.perf_counter() - start)
        for name in shapes:
            t = statistics.median(times[name, "typedis"]) * 1000
            r = statistics.median(times[name, "raw"]) * 1000
            print(
                f"N={n:>8,}  {name:<14} typedis {t:7.2f} ms   raw {r:6.2f} ms   ratio {t / r:5.2f}"
            )
        BenchPlace.sweep_expired()
    raw.flushdb()
    conn.close()


if __name__ == "__main__":
    main()
