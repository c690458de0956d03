"""Hybrid ``search()`` p50 on one tenant of the evaluation corpus (``typedis.eval``).

``load`` stores one user of ``--turns`` turns (held-out seed 2, embedded by the local model)
and writes the tenant's questions with their vectors to ``--questions``; ``time`` then runs
``search(q, vector=v, k=--k, weights=...)`` for every question ``--passes`` times, the query
vector given (no embedding timed), and prints the p50. Run ``time`` with the code to compare
first on ``PYTHONPATH`` (e.g. another checkout's ``src``), alternating, on the same data::

    REDIS_URL=redis://127.0.0.1:6379/12 python benchmarks/bench_hybrid.py load
    REDIS_URL=... PYTHONPATH=../main/src python benchmarks/bench_hybrid.py time --k 10
    REDIS_URL=... python benchmarks/bench_hybrid.py time --k 10

The weights are fixed (those of ``SearchWeights()`` on this branch), so both sides do the
same fusion work. A shared, loaded machine: compare the ratio of runs made side by side.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import typedis
from typedis import connect
from typedis._maintenance import delete_all
from typedis.eval import _harness as h
from typedis.eval._generate import generate
from typedis.retrieval import LocalEmbedder, SearchWeights, configure

WEIGHTS = SearchWeights(text=0.1, vector=0.9, recency=0.1, supersede=0.5, same=0.3)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("step", choices=("load", "time"))
    p.add_argument("--turns", type=int, default=20_000)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--passes", type=int, default=15)
    p.add_argument("--questions", type=Path, default=Path("/tmp/bench_hybrid_questions.json"))
    args = p.parse_args()
    connect()
    embedder = LocalEmbedder()
    configure(embedder=embedder)
    if args.step == "load":
        corpus = generate(2, users=1, sessions=args.turns // 10, turns=10)
        delete_all(h.EvalTurn)
        h.load(corpus)
        vectors = embedder.embed([q.text for q in corpus.questions])
        found = [[q.user, q.text, list(v)] for q, v in zip(corpus.questions, vectors, strict=True)]
        args.questions.write_text(json.dumps(found))
        print(f"{len(corpus.turns)} turns, {len(found)} questions")
        return
    questions = json.loads(args.questions.read_text())
    user, text, vector = questions[0]
    h.EvalTurn.query.filter(user=user).search(text, vector=vector, k=args.k, weights=WEIGHTS)
    ms: list[float] = []
    for _ in range(args.passes):
        for user, text, vector in questions:
            query = h.EvalTurn.query.filter(user=user)
            start = time.perf_counter()
            query.search(text, vector=vector, k=args.k, weights=WEIGHTS)
            ms.append((time.perf_counter() - start) * 1000)
    where = Path(typedis.__file__).parents[2]
    print(f"{where} k={args.k} searches={len(ms)} p50 {statistics.median(ms):.2f} ms")


if __name__ == "__main__":
    main()
