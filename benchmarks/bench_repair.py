"""Index repair: ``check_indexes()`` and ``rebuild_indexes()`` against a raw SCAN of the same keys.

N records of a model with a key, an ``Indexed``, a ``Unique`` and a ``Sorted`` field (and the
prefix indexes of its str fields) are saved once. Each round then times, in turn:
- typedis ``check_indexes()`` on the healthy data (reads every record and index key);
- typedis ``rebuild_indexes()`` after the index keys were deleted (untimed), as after an
  import of the hashes alone: a clean pass, then one ``reindex`` call per 1,000 records;
- raw redis-py: ``SCAN MATCH {td:BenchRepair}:* COUNT 1000`` over the same keys, the floor of
  any whole-model pass (no typedis call can list the keys faster);
- raw redis-py: that SCAN plus a pipelined ``HGETALL`` of every record, the floor of reading
  the records once.

Run: `.venv/bin/python benchmarks/bench_repair.py [--n 100000] [--rounds 3]` (REDIS_URL for
another server: it FLUSHes that database, so a scratch one).
"""

from __future__ import annotations

import redis
from _common import Contender, arguments, race, report, setup

from typedis import Indexed, Key, Model, Sorted, Unique


class BenchRepair(Model):
    name: Key[str]
    cuisine: Indexed[str]
    email: Unique[str]
    rating: Sorted[float] = 0.0


PATTERN = "{td:BenchRepair}:*"
RECORDS = b"{td:BenchRepair}:r:"


def scan(raw: redis.Redis) -> list[bytes]:
    return list(raw.scan_iter(match=PATTERN, count=1000))


def main() -> None:
    args = arguments((__doc__ or "").splitlines()[0])
    n: int = args.n
    _, raw = setup(args.force)
    raw.flushdb()
    for start in range(0, n, 1000):
        BenchRepair.save_many(
            [
                BenchRepair(name=f"s{i}", cuisine=f"c{i % 50}", email=f"s{i}@x", rating=i % 997)
                for i in range(start, min(start + 1000, n))
            ]
        )
    keys = len(scan(raw))
    print(f"N = {n:,} records ({keys:,} keys), best of {args.rounds} rounds\n")

    def nothing() -> None:
        return None

    def drop_indexes() -> None:
        index_keys = [k for k in scan(raw) if not k.startswith(RECORDS)]
        for start in range(0, len(index_keys), 1000):
            raw.delete(*index_keys[start : start + 1000])

    def check(_: None) -> None:
        assert BenchRepair.check_indexes().total == 0

    def rebuild(_: None) -> None:
        assert BenchRepair.rebuild_indexes() == n

    def raw_scan(_: None) -> None:
        scan(raw)

    def raw_scan_read(_: None) -> None:
        records = [k for k in scan(raw) if k.startswith(RECORDS)]
        for start in range(0, len(records), 1000):
            pipe = raw.pipeline(transaction=False)
            for key in records[start : start + 1000]:
                pipe.hgetall(key)
            pipe.execute()

    best = race(
        n,
        args.rounds,
        [
            Contender("check_indexes", nothing, check),
            Contender("rebuild_indexes", drop_indexes, rebuild),
            Contender("raw SCAN", nothing, raw_scan),
            Contender("raw SCAN+HGETALL", nothing, raw_scan_read),
        ],
    )
    for name, speed in best.items():
        print(f"{name:<17} {n / speed:8.2f} s  ({speed:,.0f} records/s)")
    print()
    report("against a raw SCAN of the keys", best["raw SCAN"], **best)
    report("against a raw SCAN and HGETALL of every record", best["raw SCAN+HGETALL"], **best)
    raw.flushdb()


if __name__ == "__main__":
    main()
