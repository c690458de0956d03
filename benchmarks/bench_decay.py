"""Top-10 by decay as the model grows: typedis' two curves against a raw redis-py floor.

For each size N (default 10,000 and 100,000; add 1,000,000 with ``--sizes``), N records with
random bases are touched at random times over a year, then ``Model.query.top_by_decay(n=10)``
runs ``--queries`` times per curve:

- ``exponential``: the sorted set's order is the decayed order (one ``ZRANGE ... REV LIMIT``);
- ``power``: Popoto's curve, touch days visited best bound first;
- ``raw``: the floor for any top-10: ``ZRANGE key 0 9 REV`` + ``HGETALL`` of the 10 ids in one
  pipeline, on the exponential model's own keys (no decay computed, no objects built).

It prints the median time per query and the growth from the smallest N, which the design target
wants flat within 2x from 10k to 1M. Popoto itself is measured when the ``popoto`` package is
installed in this environment (``pip install popoto``): its ``top_by_decay`` scans every member.

Run: `.venv/bin/python benchmarks/bench_decay.py [--sizes 10000,100000,1000000]`.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from _common import median_ms, setup

from typedis import Decaying, Key, Model, _scripts, _store, field

CHUNK = 10_000
START = datetime(2025, 11, 1, tzinfo=UTC)


class DecayExp(Model):
    name: Key[str]
    relevance: Decaying[float] = field(default=1.0, rate=0.1)


class DecayPow(Model):
    name: Key[str]
    relevance: Decaying[float] = field(default=1.0, rate=0.1, curve="power")


def fill(model: type[Model], n: int, seed: int = 7) -> None:
    """n records with random bases in [0, 10), touched at random times over 365 days."""
    rng = random.Random(seed)
    ref: Any = model.relevance  # type: ignore[attr-defined]
    for start in range(0, n, CHUNK):
        batch = [
            model(name=f"m{i:07d}", relevance=rng.random() * 10)
            for i in range(start, min(n, start + CHUNK))
        ]
        model.save_many(batch)
        touches = [
            _store.touch_call(r, ref.name, START + timedelta(seconds=rng.random() * 365 * 86400))
            for r in batch
        ]
        _scripts.run_many(touches)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated record counts")
    parser.add_argument("--queries", type=int, default=50, help="queries per curve and size")
    parser.add_argument("--force", action="store_true", help="run on a database holding keys")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    _, raw = setup(args.force)
    at = START + timedelta(days=366)
    key = "{td:DecayExp}:z:relevance"

    def raw_top() -> None:
        ids = raw.zrange(key, 0, 9, desc=True)
        pipe = raw.pipeline(transaction=False)
        for rid in ids:
            pipe.hgetall(f"{{td:DecayExp}}:r:{rid.decode()}")
        pipe.execute()

    results: dict[int, dict[str, float]] = {}
    for n in sizes:
        raw.flushdb()
        began = time.perf_counter()
        fill(DecayExp, n)
        fill(DecayPow, n)
        print(f"N = {n:,}: filled both models in {time.perf_counter() - began:.0f} s")
        results[n] = {
            "exponential": median_ms(
                lambda: DecayExp.query.top_by_decay(n=10, at=at), args.queries
            ),
            "power": median_ms(lambda: DecayPow.query.top_by_decay(n=10, at=at), args.queries),
            "raw": median_ms(raw_top, args.queries),
        }
        row = results[n]
        print(
            f"  top_by_decay(n=10): exponential {row['exponential']:.2f} ms, power "
            f"{row['power']:.2f} ms; raw floor {row['raw']:.2f} ms "
            f"(ratios raw/typedis: {row['raw'] / row['exponential']:.2f}, "
            f"{row['raw'] / row['power']:.2f})"
        )
    first = sizes[0]
    print(f"\ngrowth from the smallest N (median time / median time at N = {first:,})")
    for n in sizes[1:]:
        growth = {c: results[n][c] / results[first][c] for c in results[n]}
        print(
            f"  N = {n:>9,}: exponential {growth['exponential']:.2f}x, power "
            f"{growth['power']:.2f}x, raw {growth['raw']:.2f}x"
        )
    raw.flushdb()


if __name__ == "__main__":
    main()
