"""MemoryLifecycle.tick() at 100,000 memories, against reading every memory once.

One partition holds N memories (default 100,000); 1% qualify for promotion (3 confirmed reads,
confidence 0.9, older than 5 minutes) and 1% for forgetting (importance below 0.1, idle a day),
the tick judging them two days later (``at=``). Timed:
- the first ``tick()``: finds the 2% through the indexes, reads them (100 per call) and applies
  each batch in one atomic call;
- a steady-state ``tick()`` (nothing left to do: index counts and range reads only), median;
- the naive baseline: reading every memory of the partition once (``query.iter()``, 1,000 per
  round trip), which any tick that judged records by scanning would cost at least.

Run: `.venv/bin/python benchmarks/bench_lifecycle.py [--n 100000] [--rounds 5]`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from _common import arguments, median_ms, setup

from typedis import AutoKey, Confidence, Decaying, Indexed, Key, Model, Sorted, field, new_id
from typedis.memory import AccessCount, MemoryLifecycle


class BenchLifeMemory(Model, partition="agent"):
    agent: Key[str]
    id: AutoKey = field(default_factory=new_id)
    content: str = ""
    tier: Indexed[str] = field(default="episodic")
    relevance: Decaying[float] = field(default=1.0, rate=0.1)
    certainty: Confidence = field(default=0.5)
    hits: AccessCount = field(default=0)
    created: Sorted[datetime | None] = field(default=None, auto_now_add=True)


def memory(i: int) -> BenchLifeMemory:
    if i % 100 == 1:  # qualifies for promotion
        return BenchLifeMemory(agent="a", content=f"m{i}", hits=3, certainty=0.9)
    if i % 100 == 2:  # qualifies for forgetting
        return BenchLifeMemory(agent="a", content=f"m{i}", relevance=0.05)
    return BenchLifeMemory(agent="a", content=f"m{i}", hits=i % 3, certainty=0.7)


def main() -> None:
    args = arguments((__doc__ or "").splitlines()[0])
    n: int = 100_000 if args.n == 20_000 else args.n  # this benchmark's default is 100,000
    _conn, raw = setup(args.force)
    m = BenchLifeMemory
    life = MemoryLifecycle(
        m,
        tier=m.tier,
        importance=m.relevance,
        confidence=m.certainty,
        access=m.hits,
        created=m.created,
        partition="a",
    )
    at = datetime.now(UTC) + timedelta(days=2)
    first: list[float] = []
    steady: list[float] = []
    scan: list[float] = []
    for _ in range(args.rounds):
        raw.flushdb()
        m.bulk_create(memory(i) for i in range(n))
        begin = time.perf_counter()
        result = life.tick(at=at)
        first.append((time.perf_counter() - begin) * 1000)
        assert (result.promoted, result.forgotten) == (n // 100, n // 100), result
        steady.append(median_ms(lambda: life.tick(at=at), 5))
        scan.append(median_ms(lambda: sum(1 for _ in m.query.filter(m.agent == "a").iter()), 1))
    best_first, best_steady, best_scan = min(first), min(steady), min(scan)
    print(f"N = {n:,} memories, {n // 100:,} promoted and {n // 100:,} forgotten by the first tick")
    print(f"best of {args.rounds} rounds (ms):")
    print(f"  first tick (promote + forget 2%)   {best_first:10.1f}")
    print(f"  steady tick (nothing to do)        {best_steady:10.1f}")
    print(f"  read every memory once (baseline)  {best_scan:10.1f}")
    print(f"  ratio first tick / full read       {best_first / best_scan:10.2f}")
    print(f"  ratio steady tick / full read      {best_steady / best_scan:10.3f}")


if __name__ == "__main__":
    main()
