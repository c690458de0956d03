"""Composite top-10 over three sources as the model grows, against a raw redis-py floor.

For each size N (default 10,000 and 100,000), N records with three random Sorted scores are
saved, then ``--queries`` times:

- ``typedis``: ``composite_score(Model.query, {a: 0.5, b: 0.3, c: 0.2}, limit=10)``: one script
  call (ZUNIONSTORE ... WEIGHTS into a scratch key, ZRANGE ... BYSCORE REV LIMIT, HMGET of the
  10 records, scratch keys deleted), then 10 objects validated with their scores;
- ``raw``: ``ZUNIONSTORE tmp 3 ... WEIGHTS`` + ``ZRANGE tmp 0 9 REV WITHSCORES`` + ``DEL tmp``
  in one pipeline, then ``HGETALL`` of the 10 ids in a second pipeline (no objects built).

It prints the median time per query and the ratio raw/typedis (1.0: as fast as the floor). The
ZUNIONSTORE over N members dominates both at large N.

Run: `.venv/bin/python benchmarks/bench_composite.py [--sizes 10000,100000] [--queries 30]`.
"""

from __future__ import annotations

import argparse
import random
import time

from _common import median_ms, setup

from typedis import Key, Model, Sorted, field
from typedis.memory import composite_score

CHUNK = 10_000


class CompositeNote(Model):
    name: Key[str]
    a: Sorted[float] = field(default=0.0)
    b: Sorted[float] = field(default=0.0)
    c: Sorted[float] = field(default=0.0)
    text: str = ""


def fill(n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    for start in range(0, n, CHUNK):
        CompositeNote.save_many(
            [
                CompositeNote(
                    name=f"n{i:07d}", a=rng.random(), b=rng.random(), c=rng.random(), text="note"
                )
                for i in range(start, min(n, start + CHUNK))
            ]
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated record counts")
    parser.add_argument("--queries", type=int, default=30, help="queries per contender and size")
    parser.add_argument("--force", action="store_true", help="run on a database holding keys")
    args = parser.parse_args()
    _, raw = setup(args.force)
    tag = "{td:CompositeNote}"
    weights = {CompositeNote.a: 0.5, CompositeNote.b: 0.3, CompositeNote.c: 0.2}

    def typedis_top() -> None:
        found = composite_score(CompositeNote.query, weights, limit=10)
        assert len(found) == 10

    def raw_top() -> None:
        tmp = f"{tag}:bench"
        pipe = raw.pipeline(transaction=False)
        pipe.zunionstore(tmp, {f"{tag}:z:a": 0.5, f"{tag}:z:b": 0.3, f"{tag}:z:c": 0.2})
        pipe.zrange(tmp, 0, 9, desc=True, withscores=True)
        pipe.delete(tmp)
        top = pipe.execute()[1]
        pipe = raw.pipeline(transaction=False)
        for rid, _ in top:
            pipe.hgetall(f"{tag}:r:{rid.decode()}")
        assert len(pipe.execute()) == 10

    for n in [int(s) for s in args.sizes.split(",")]:
        raw.flushdb()
        began = time.perf_counter()
        fill(n)
        print(f"N = {n:,}: filled in {time.perf_counter() - began:.0f} s")
        ours, floor = median_ms(typedis_top, 3), median_ms(raw_top, 3)  # warm up
        ours, floor = median_ms(typedis_top, args.queries), median_ms(raw_top, args.queries)
        print(
            f"  composite_score top-10 of 3 sources: typedis {ours:.2f} ms, raw {floor:.2f} ms "
            f"(ratio raw/typedis = {floor / ours:.2f})"
        )
    raw.flushdb()


if __name__ == "__main__":
    main()
