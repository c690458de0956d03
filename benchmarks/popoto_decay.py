"""Popoto's own top_by_decay at growing sizes, for comparison with bench_decay.py.

Popoto is not a typedis dependency: run this with the virtualenv the harness makes for it
(``benchmarks/.popoto-venv``, created by ``make bench``) against a scratch database, e.g.
``REDIS_URL=redis://127.0.0.1:6379/14 benchmarks/.popoto-venv/bin/python
benchmarks/popoto_decay.py`` (not named ``bench_*``: ``make bench-memory`` runs in typedis'
own environment, without Popoto).
Records are created with Popoto's ``bulk_create`` (bases random in [0, 10)); their decay
timestamps are then spread over a year in Popoto's own sorted set, as touches would leave them.
It prints the median time of ``top_by_decay(n=10)``, Popoto's power curve (an O(N) Lua scan).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

import redis
from popoto import DecayingSortedField, FloatField, Model, UniqueKeyField  # type: ignore[import-not-found]

YEAR = 365 * 86400


class PopotoMemory(Model):  # type: ignore[misc]
    key = UniqueKeyField()
    strength = FloatField(default=1.0)
    last = DecayingSortedField(decay_rate=0.1, base_score_field="strength")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=20)
    args = parser.parse_args()
    raw = redis.Redis.from_url(os.environ["REDIS_URL"])
    if raw.dbsize():
        raise SystemExit("point REDIS_URL at an empty scratch database")
    now = time.time()
    first = None
    for n in (int(s) for s in args.sizes.split(",")):
        raw.flushdb()
        rng = random.Random(7)
        began = time.perf_counter()
        PopotoMemory.bulk_create(
            [PopotoMemory(key=f"m{i:07d}", strength=rng.random() * 10) for i in range(n)]
        )
        zkey = str(DecayingSortedField.get_sortedset_db_key(PopotoMemory, "last"))
        members = raw.zrange(zkey, 0, -1)
        pipe = raw.pipeline(transaction=False)
        for member in members:
            pipe.zadd(zkey, {member: now - YEAR + rng.random() * YEAR})
        pipe.execute()
        print(
            f"N = {n:,}: filled in {time.perf_counter() - began:.0f} s ({len(members):,} in {zkey})"
        )
        times = []
        for _ in range(args.queries):
            start = time.perf_counter()
            PopotoMemory.query.top_by_decay("last", n=10)
            times.append(time.perf_counter() - start)
        median = statistics.median(times) * 1000
        first = first or median
        print(f"  popoto top_by_decay(n=10): {median:.2f} ms (growth {median / first:.2f}x)")
    raw.flushdb()


if __name__ == "__main__":
    main()
