"""Confidence updates per second: ``update_confidence()`` against a raw redis-py script.

typedis runs one registered operation per update: it checks the record is live and the key
types, applies new = prior + (signal - prior) / sqrt(n + 1), counts the evidence in hidden hash
fields and moves the record in the field's sorted index. The raw baseline is the same formula
as a bare EVALSHA (HGET prior and count, HSET the new value, HINCRBY the count, ZADD the index):
no checks, no validation. Both update the same N records in turn, one call per update.

Run: `make bench`, or `.venv/bin/python benchmarks/bench_confidence.py [--n 20000] [--rounds 5]`.
"""

from __future__ import annotations

import random
from typing import Any

from _common import Contender, arguments, race, report, setup

from typedis import Confidence, Key, Model, field
from typedis.memory import update_confidence

RAW = """
local prior = tonumber(redis.call('HGET', KEYS[1], 'certainty') or '0.5')
local n = tonumber(redis.call('HGET', KEYS[1], '~n') or '0')
local signal = tonumber(ARGV[1])
local new = prior + (signal - prior) / math.sqrt(n + 1)
redis.call('HSET', KEYS[1], 'certainty', string.format('%.17g', new))
redis.call('HINCRBY', KEYS[1], '~n', 1)
redis.call('ZADD', KEYS[2], new, ARGV[2])
return tostring(new)
"""


class BenchBelief(Model):
    name: Key[str]
    certainty: Confidence = field(default=0.5)


def main() -> None:
    args = arguments((__doc__ or "").splitlines()[0])
    n: int = args.n
    _, raw = setup(args.force)
    records = [BenchBelief(name=f"b{i:07d}") for i in range(n)]
    BenchBelief.save_many(records)
    rng = random.Random(7)
    signals = [rng.random() for _ in range(n)]
    sha: Any = raw.script_load(RAW)

    def typed(_: None) -> None:
        for record, signal in zip(records, signals, strict=True):
            update_confidence(record, BenchBelief.certainty, signal)

    def bare(_: None) -> None:
        for i, signal in enumerate(signals):
            raw.evalsha(sha, 2, f"raw:{i}", "raw:index", signal, str(i))

    best = race(
        n,
        args.rounds,
        [Contender("typedis", lambda: None, typed), Contender("raw", lambda: None, bare)],
    )
    report(
        "confidence update, one call each (update_confidence vs EVALSHA)",
        best["raw"],
        typedis=best["typedis"],
    )
    raw.flushdb()


if __name__ == "__main__":
    main()
