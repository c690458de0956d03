"""Hybrid ``search()`` p50 on one tenant of the evaluation corpus (``typedis.eval``).

``load`` stores one user of ``--turns`` turns (held-out seed 2, embedded by the local model)
and writes the tenant's questions with their vectors to ``--questions``; ``time`` then runs
``search(q, vector=v, k=--k, weights=...)`` for every question ``--passes`` times, the query
vector given (no embedding timed), and prints the p50. Run ``time`` with the code to compare
first on ``PYTHONPATH`` (e.g. another checkout's ``src``), alternating, on the same data::

    REDIS_URL=redis://127.0.0.1:6379/12 python benchmarks/bench_hybrid.py load
    REDIS_URL=... PYTHONPATH=../main/src python benchmarks/bench_hybrid.py time --k 10
    REDIS_URL=... python benchmarks/bench_hybrid.py time --k 10

The weights are fixed (``WEIGHTS``), so both sides do the same fusion work; ``--diversity D``
also times the same weights with ``diversity=D`` (maximal marginal relevance), the two
alternated pass by pass, and prints the ratio. A shared, loaded machine: compare the ratio
of runs made side by side.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

import typedis
from typedis import connect
from typedis._maintenance import delete_all
from typedis.eval import _harness as h
from typedis.eval._generate import generate
from typedis.retrieval import LocalEmbedder, SearchWeights, configure

WEIGHTS = SearchWeights(text=0.1, vector=0.9, recency=0.1, supersede=0.5, same=0.3, diversity=0.0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("step", choices=("load", "time"))
    p.add_argument("--turns", type=int, default=20_000)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--passes", type=int, default=15)
    p.add_argument("--diversity", type=float, help="also time WEIGHTS with this diversity")
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
    weightings = [WEIGHTS]
    if args.diversity is not None:
        weightings.append(replace(WEIGHTS, diversity=args.diversity))
    user, text, vector = questions[0]
    for w in weightings:
        h.EvalTurn.query.filter(user=user).search(text, vector=vector, k=args.k, weights=w)
    ms: list[list[float]] = [[] for _ in weightings]
    for _ in range(args.passes):
        for w, timed in zip(weightings, ms, strict=True):
            for user, text, vector in questions:
                query = h.EvalTurn.query.filter(user=user)
                start = time.perf_counter()
                query.search(text, vector=vector, k=args.k, weights=w)
                timed.append((time.perf_counter() - start) * 1000)
    where = Path(typedis.__file__).parents[2]
    p50 = [statistics.median(timed) for timed in ms]
    for w, timed, median in zip(weightings, ms, p50, strict=True):
        print(f"{where} k={args.k} diversity={w.diversity} n={len(timed)} p50 {median:.2f} ms")
    if len(p50) == 2:
        print(f"diversity {args.diversity} / none: {p50[1] / p50[0]:.2f}x")


if __name__ == "__main__":
    main()
