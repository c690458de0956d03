"""Write throughput: `Model.save()` / `Model.save_many()` against raw redis-py EVALSHA.

The raw baseline does the same writes as typedis at minimum: one Lua call per object doing HSET
of the 6 fields, SADD to the class set, SADD to the index set and ZADD to the sorted set. It
checks nothing (no old values, no key types, no uniqueness, no expiry): a floor, not a rival.
Model instances are built (validated) before the clock starts; the raw phase builds its
argument lists inside the timed loop. `BenchPlace` also keeps the prefix indexes of its two str
index fields (two more ZADDs per save); `lean` is the same model with `prefix_index=False`,
which does the baseline's writes exactly.

Run: `make bench`, or `.venv/bin/python benchmarks/bench_save.py [--n 20000] [--rounds 5]`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
from _common import BenchPlace, Contender, arguments, race, report, rows, setup

from typedis import Indexed, Key, field


class BenchLean(BenchPlace):
    """BenchPlace without prefix indexes: the writes of the raw baseline, no more."""

    name: Key[str] = field(prefix_index=False)
    cuisine: Indexed[str] = field(prefix_index=False)


RAW_SAVE = """
redis.call('HSET', KEYS[1], 'name', ARGV[1], 'cuisine', ARGV[2], 'rating', ARGV[3],
           'city', ARGV[4], 'visits', ARGV[5], 'note', ARGV[6])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
return 1
"""
BATCH = 1_000


def raw_args(row: dict[str, Any]) -> tuple[Any, ...]:
    name = row["name"]
    return (
        4,
        f"{{raw:BenchPlace}}:r:{name}",
        "{raw:BenchPlace}:all",
        f"{{raw:BenchPlace}}:i:cuisine:{row['cuisine']}",
        "{raw:BenchPlace}:z:rating",
        name, row["cuisine"], repr(row["rating"]), row["city"], row["visits"], row["note"],
    )  # fmt: skip


def main() -> None:
    args = arguments((__doc__ or "").splitlines()[0])
    n: int = args.n
    conn, raw = setup(args.force)
    sha: str = raw.script_load(RAW_SAVE)  # pyright: ignore[reportUnknownMemberType, reportAssignmentType]
    data = rows(n)
    print(f"N = {n:,} objects per phase, best of {args.rounds} rounds\n")

    def fresh(model: type[BenchPlace]) -> Callable[[], list[BenchPlace]]:
        def build() -> list[BenchPlace]:
            raw.flushdb()
            return [model(**row) for row in data]

        return build

    def save_each(model: type[BenchPlace]) -> Callable[[list[BenchPlace]], None]:
        def run(models: list[BenchPlace]) -> None:
            for m in models:
                m.save()
            check(raw, f"{{td:{model.__name__}}}:all", n)

        return run

    def fresh_rows() -> list[dict[str, Any]]:
        raw.flushdb()
        return data

    def raw_single(batch: list[dict[str, Any]]) -> None:
        evalsha = raw.evalsha
        for row in batch:
            evalsha(sha, *raw_args(row))

    def typedis_pipelined(models: list[BenchPlace]) -> None:
        for i in range(0, len(models), BATCH):
            BenchPlace.save_many(models[i : i + BATCH])
        check(raw, "{td:BenchPlace}:all", n)

    def raw_pipelined(batch: list[dict[str, Any]]) -> None:
        for i in range(0, len(batch), BATCH):
            pipe = raw.pipeline(transaction=False)
            for row in batch[i : i + BATCH]:
                pipe.evalsha(sha, *raw_args(row))
            pipe.execute()

    BenchPlace(**data[0]).save()  # warm-up: load typedis' scripts, open the connections
    BenchLean(**data[0]).save()
    single = race(
        n,
        args.rounds,
        [
            Contender("typedis", fresh(BenchPlace), save_each(BenchPlace)),
            Contender("lean", fresh(BenchLean), save_each(BenchLean)),
            Contender("raw", fresh_rows, raw_single),
        ],
    )
    report("save, one script call per object (Model.save() vs EVALSHA)", **single)
    piped = race(
        n,
        args.rounds,
        [
            Contender("typedis", fresh(BenchPlace), typedis_pipelined),
            Contender("raw", fresh_rows, raw_pipelined),
        ],
    )
    report(f"save, pipelined {BATCH:,} at a time (save_many vs pipelined EVALSHA)", **piped)
    raw.flushdb()
    conn.close()


def check(raw: redis.Redis, key: str, n: int) -> None:
    """The typedis phase really stored n records (a SCARD: negligible next to n writes)."""
    stored = raw.scard(key)
    assert stored == n, f"expected {n} records, found {stored}"


if __name__ == "__main__":
    main()
