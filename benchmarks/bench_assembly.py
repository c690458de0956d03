"""``ContextAssembler.assemble()`` at 20,000 records per tenant, against the composite query alone.

``--tenants`` partitions (default 3) of ``--n`` records each (default 20,000) with two ranked
fields (a Sorted importance, a Confidence), a Bloom-filtered text and co-occurrence edges (each
record linked to two others of its tenant). Then, round-robin over the tenants, ``--queries``
times each:

- ``composite``: ``composite_score(query, weights, limit=10)`` in the tenant: one call, the
  floor an assembly builds on;
- ``push``: ``assemble()`` without cues (the push path: one call);
- ``blind``: ``assemble("...")`` on a model without a Text field: the cue-blind pull path with
  co-occurrence (three round trips: candidates, propagation, the boosted composite);
- ``blind+quality``: the same with ``assess_quality=True`` (the Bloom read rides along).

It prints each median (p50) in ms, its ratio to ``composite`` and the round trips.

Run: ``.venv/bin/python benchmarks/bench_assembly.py [--n 20000] [--tenants 3] [--queries 50]``
(``REDIS_URL=redis://127.0.0.1:6379/11`` for Redis 7.0).
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from typing import Any

from _common import median_ms, setup

from typedis import Confidence, Key, Model, Sorted, field
from typedis.memory import Associations, Fingerprinted, composite_score, link
from typedis.retrieval import ContextAssembler

CHUNK = 5_000
WORDS = ["tea", "coffee", "deploy", "cluster", "dog", "cat", "green", "blue", "train", "plane"]


class BenchMemory(Model, partition="tenant"):
    tenant: Key[str]
    id: Key[str]
    text: Fingerprinted[str] = field(default="")
    importance: Sorted[float] = field(default=0.0)
    certainty: Confidence = field(default=0.5)
    related: Associations = field(default=None)


def fill(tenant: str, n: int, rng: random.Random) -> None:
    for start in range(0, n, CHUNK):
        BenchMemory.save_many(
            [
                BenchMemory(
                    tenant=tenant,
                    id=f"m{i:06d}",
                    text=" ".join(rng.sample(WORDS, 4)),
                    importance=rng.random(),
                    certainty=rng.random(),
                )
                for i in range(start, min(n, start + CHUNK))
            ]
        )
    # edges from the records most likely to be candidates (and some others) to two others each
    top = composite_score(
        BenchMemory.query.filter(tenant=tenant), {BenchMemory.importance: 1.0}, limit=200
    )
    for record, _ in top:
        for other in rng.sample(range(n), 2):
            link(BenchMemory.related, record, BenchMemory(tenant=tenant, id=f"m{other:06d}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="records per tenant")
    parser.add_argument("--tenants", type=int, default=3, help="tenants (partitions)")
    parser.add_argument("--queries", type=int, default=50, help="calls per contender")
    parser.add_argument("--force", action="store_true", help="run on a database holding keys")
    args = parser.parse_args()
    _, raw = setup(args.force)
    raw.flushdb()
    rng = random.Random(7)
    tenants = [f"t{i}" for i in range(args.tenants)]
    began = time.perf_counter()
    for tenant in tenants:
        fill(tenant, args.n, rng)
    print(
        f"{args.tenants} tenants x {args.n:,} records filled in {time.perf_counter() - began:.0f} s"
    )
    weights = {BenchMemory.importance: 0.6, BenchMemory.certainty: 0.4}
    assembler = ContextAssembler(BenchMemory, weights, max_items=10, max_tokens=2000)
    turn = iter(range(10**9))

    def tenant() -> dict[str, Any]:
        return {"tenant": tenants[next(turn) % len(tenants)]}

    def composite() -> None:
        assert len(composite_score(BenchMemory.query.filter(**tenant()), weights, limit=10)) == 10

    trips: dict[str, int] = {}

    def assembly(name: str, cues: str | None, quality: bool) -> Callable[[], None]:
        def run() -> None:
            result = assembler.assemble(cues, partition_filters=tenant(), assess_quality=quality)
            assert result.records and all(
                r.tenant == result.records[0].tenant for r in result.records
            )
            trips[name] = result.round_trips

        return run

    contenders = {
        "composite": composite,
        "push": assembly("push", None, False),
        "blind": assembly("blind", "green tea", False),
        "blind+quality": assembly("blind+quality", "green tea", True),
    }
    for run in contenders.values():  # warm up
        median_ms(run, 3)
    medians = {name: median_ms(run, args.queries) for name, run in contenders.items()}
    floor = medians["composite"]
    for name, ms in medians.items():
        rt = trips.get(name, 1)
        print(f"  {name:<14} p50 {ms:6.2f} ms  ({ms / floor:4.2f} x composite, {rt} round trips)")
    raw.flushdb()


if __name__ == "__main__":
    main()
