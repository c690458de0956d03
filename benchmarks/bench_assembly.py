"""``ContextAssembler.assemble()`` at 20,000 records per tenant, against the composite query alone.

``--tenants`` partitions (default 3) of ``--n`` records each (default 20,000) with two ranked
fields (a Sorted importance, a Confidence), a ``Text`` body of 12 words drawn from 5,000 by
Zipf's law, and
co-occurrence edges (200 records of each tenant linked to two others). Then, round-robin over
the tenants, ``--queries`` times each:

- ``composite``: ``composite_score(query, weights, limit=10)`` in the tenant: one call, the
  floor an assembly builds on;
- ``search``: ``query.search("w40 w700", k=50)``: the BM25 search alone, records read;
- ``push``: ``assemble()`` without cues (the push path: one call);
- ``assemble``: ``assemble("w40 w700")``: the search pull path with co-occurrence, the push
  path, a 2,000-token budget (three round trips: search with the push path, propagation, the
  boosted composite of the candidates);
- ``assemble+quality``: the same with ``assess_quality=True``;
- with ``--vectors``, ``assemble+vectors``: ``assemble("w40 w700")`` on a twin model whose
  records (the same ones) also have an ``Embedding`` of their text (``HashingEmbedder(384)``:
  deterministic and cheap, matching shared words, not meanings; it prices the vector source,
  not its quality): the cues embedded, their 50 nearest fetched in the search's round trip,
  the union ranked (the same round trips as ``assemble``); and ``vectors, weight 0``: the same
  model with ``vector_weight=0`` (BM25 alone), so the vector source's own cost shows.

The contenders take turns, call by call, so a load that drifts weighs on all of them alike.
It prints each median (p50) in ms, its ratio to ``composite`` and the round trips.

Run: ``.venv/bin/python benchmarks/bench_assembly.py [--n 20000] [--tenants 3] [--queries 50]
[--vectors]``
(``REDIS_URL=redis://127.0.0.1:6379/11`` for Redis 7.0).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

from _common import median_ms, setup

from typedis import Confidence, Key, Model, Sorted, field
from typedis.memory import Associations, composite_score, link
from typedis.retrieval import ContextAssembler, Embedding, HashingEmbedder, NotSemanticWarning, Text

CHUNK = 5_000
VOCABULARY = [f"w{i}" for i in range(5_000)]
ZIPF = [1 / (rank + 1) for rank in range(len(VOCABULARY))]  # word frequencies as in text
CUES = "w40 w700"  # a common word and a rarer one


class BenchBase(Model, partition="tenant", abstract=True):
    tenant: Key[str]
    id: Key[str]
    text: Text[str] = field(default="")
    importance: Sorted[float] = field(default=0.0)
    certainty: Confidence = field(default=0.5)
    related: Associations = field(default=None)


class BenchMemory(BenchBase):
    pass


class BenchVectorMemory(BenchBase):
    vec: Embedding = field(default=None, source="text", provider=HashingEmbedder(384))


def fill(model: type[BenchBase], tenant: str, n: int, rng: random.Random) -> None:
    for start in range(0, n, CHUNK):
        model.save_many(
            [
                model(
                    tenant=tenant,
                    id=f"m{i:06d}",
                    text=" ".join(rng.choices(VOCABULARY, ZIPF, k=12)),
                    importance=rng.random(),
                    certainty=rng.random(),
                )
                for i in range(start, min(n, start + CHUNK))
            ]
        )
    # edges from the records most likely to be candidates (and some others) to two others each
    top = composite_score(model.query.filter(tenant=tenant), {model.importance: 1.0}, limit=200)
    for record, _ in top:
        for other in rng.sample(range(n), 2):
            link(model.related, record, model(tenant=tenant, id=f"m{other:06d}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="records per tenant")
    parser.add_argument("--tenants", type=int, default=3, help="tenants (partitions)")
    parser.add_argument("--queries", type=int, default=50, help="calls per contender")
    parser.add_argument(
        "--vectors", action="store_true", help="also time assemble() with a vector source"
    )
    parser.add_argument("--force", action="store_true", help="run on a database holding keys")
    args = parser.parse_args()
    _, raw = setup(args.force)
    raw.flushdb()
    warnings.simplefilter("ignore", NotSemanticWarning)  # said above: it prices, not judges
    tenants = [f"t{i}" for i in range(args.tenants)]
    models: list[type[BenchBase]] = (
        [BenchMemory, BenchVectorMemory] if args.vectors else [BenchMemory]
    )
    began = time.perf_counter()
    for model in models:
        rng = random.Random(7)  # the same records in each model
        for tenant in tenants:
            fill(model, tenant, args.n, rng)
    print(
        f"{args.tenants} tenants x {args.n:,} records filled in {time.perf_counter() - began:.0f} s"
    )
    weights = {BenchMemory.importance: 0.6, BenchMemory.certainty: 0.4}
    assembler = ContextAssembler(BenchMemory, weights, max_items=10, max_tokens=2000)
    vector_weights = {BenchVectorMemory.importance: 0.6, BenchVectorMemory.certainty: 0.4}
    semantic = ContextAssembler(BenchVectorMemory, vector_weights, max_items=10, max_tokens=2000)
    turn = iter(range(10**9))

    def tenant() -> dict[str, Any]:
        return {"tenant": tenants[next(turn) % len(tenants)]}

    def composite() -> None:
        assert len(composite_score(BenchMemory.query.filter(**tenant()), weights, limit=10)) == 10

    trips: dict[str, int] = {}

    def assembly(
        name: str, cues: str | None, quality: bool, by: ContextAssembler[Any] = assembler
    ) -> Callable[[], None]:
        def run() -> None:
            result = by.assemble(cues, partition_filters=tenant(), assess_quality=quality)
            assert result.records and all(
                r.tenant == result.records[0].tenant for r in result.records
            )
            trips[name] = result.round_trips

        return run

    def search() -> None:
        assert BenchMemory.query.filter(**tenant()).search(CUES, k=50)

    contenders = {
        "composite": composite,
        "search": search,
        "push": assembly("push", None, False),
        "assemble": assembly("assemble", CUES, False),
        "assemble+quality": assembly("assemble+quality", CUES, True),
    }
    if args.vectors:
        contenders["assemble+vectors"] = assembly("assemble+vectors", CUES, False, semantic)
        bm25 = ContextAssembler(
            BenchVectorMemory, vector_weights, max_items=10, max_tokens=2000, vector_weight=0.0
        )
        contenders["vectors, weight 0"] = assembly("vectors, weight 0", CUES, False, bm25)
    for run in contenders.values():  # warm up
        median_ms(run, 3)
    # interleaved: each round times every contender once, so load drifts hit them alike
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.queries):
        for name, run in contenders.items():
            began = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - began) * 1000)
    medians = {name: statistics.median(ms) for name, ms in times.items()}
    floor = medians["composite"]
    for name, ms in medians.items():
        rt = trips.get(name, 1)
        print(f"  {name:<16} p50 {ms:6.2f} ms  ({ms / floor:4.2f} x composite, {rt} round trips)")
    raw.flushdb()


if __name__ == "__main__":
    main()
