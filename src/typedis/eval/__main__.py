"""``python -m typedis.eval``: generate, load, search with each arm, write the results table.

Tunes the hybrid weights on one seed (``--tune-seed``) and reports every arm on another
(``--seed``): data never seen while tuning, built the same way. Then, with ``--scale N``,
measures search latency on one tenant of N turns. Writes ``<out>.md`` and ``<out>.json``.
The database it is given is emptied of the harness' model first and after; it refuses a
database holding other keys unless ``--force``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

from .. import connect
from .._maintenance import delete_all
from ..retrieval import HashingEmbedder, LocalEmbedder, SearchWeights, configure
from ..retrieval._fusion import DEFAULT_SAME, Method
from . import _harness as h
from ._corpus import Corpus
from ._generate import generate
from ._locomo import load_locomo
from ._report import markdown


def _grid() -> list[SearchWeights]:
    """The weightings tried on the tuning seed (plain RRF first)."""
    out = [
        SearchWeights(text=1.0, vector=1.0, recency=0.0, supersede=0.0, method="rrf"),  # plain
        SearchWeights(text=1.0, vector=0.0, recency=0.0, supersede=0.0),  # text alone
        SearchWeights(text=0.0, vector=1.0, recency=0.0, supersede=0.0),  # vector alone
    ]
    methods: tuple[Method, ...] = ("minmax", "rrf")
    shapes = itertools.product(
        methods,
        (0.1, 0.2, 0.3, 0.5),
        (0.0, 0.1, 0.2),
        ((0.0, DEFAULT_SAME), (0.7, 0.3), (0.8, 0.3), (0.9, 0.3), (0.8, 0.4), (0.8, 0.5)),
    )
    for method, text, recency, (supersede, same) in shapes:
        out.append(
            SearchWeights(
                text=text,
                vector=round(1 - text, 2),
                recency=recency,
                supersede=supersede,
                same=same,
                method=method,
            )
        )
    finer = itertools.product(
        (0.1, 0.2), (0.0, 0.1), (0.5, 0.6, 0.7, 0.8, 0.9), (0.3, 0.35, 0.4, 0.45, 0.5)
    )
    for text, recency, supersede, same in finer:
        w = SearchWeights(
            text=text, vector=round(1 - text, 2), recency=recency, supersede=supersede, same=same
        )
        if w not in out:
            out.append(w)
    return out


TARGETS = {"session recall@5": 0.90, "paraphrase session recall@5": 0.85, "current@1": 0.80}
"""Issue #12's targets: the default weights are those whose worst ratio to them is best."""


def _choose(grid: list[tuple[SearchWeights, dict[str, float]]]) -> SearchWeights:
    """The weighting whose worst ratio to the targets is best (then recall, then NDCG)."""

    def merit(row: tuple[SearchWeights, dict[str, float]]) -> tuple[float, float, float]:
        m = row[1]
        worst = min(m[name] / target for name, target in TARGETS.items())
        return (worst, m["session recall@5"], m["turn ndcg@10"])

    return max(grid, key=merit)[0]


PLAIN_RRF = SearchWeights(text=1.0, vector=1.0, recency=0.0, supersede=0.0, method="rrf")


def _arms(corpus: Corpus, weights: SearchWeights, k: int = h.DEPTH) -> dict[str, list[h.Answer]]:
    """Each arm's answers, and plain RRF's (the hybrid arm with unweighted RRF) beside them."""
    out: dict[str, list[h.Answer]] = {
        arm: h.run(corpus, arm, weights if arm == "hybrid" else None, k) for arm in h.ARMS
    }
    out["hybrid, plain RRF"] = h.run(corpus, "hybrid", PLAIN_RRF, k)
    return out


def _fresh(corpus: Corpus) -> float:
    delete_all(h.EvalTurn)
    start = time.perf_counter()
    h.load(corpus)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m typedis.eval", description=__doc__)
    p.add_argument("--embedder", choices=("local", "hashing"), default="local")
    p.add_argument("--tune-seed", type=int, default=1)
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--sessions", type=int, default=30)
    p.add_argument("--turns", type=int, default=10)
    p.add_argument("--scale", type=int, default=0, help="turns of the one-tenant latency run")
    p.add_argument("--locomo", type=Path, help="also run on this LoCoMo JSON file")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/retrieval"))
    p.add_argument("--force", action="store_true", help="use a database holding other keys")
    args = p.parse_args(argv)

    conn = connect()
    raw: Any = conn.client
    own = sum(1 for _ in raw.scan_iter(match="\\{td:EvalTurn*", count=1000))
    if int(raw.dbsize()) > own and not args.force:
        print(
            f"{conn.redacted_url} holds keys: give an empty database (REDIS_URL) or --force",
            file=sys.stderr,
        )
        return 2
    configure(embedder=LocalEmbedder() if args.embedder == "local" else HashingEmbedder(384))
    shape = {"users": args.users, "sessions": args.sessions, "turns": args.turns}
    info: dict[str, Any] = raw.info("server")
    result: dict[str, Any] = {
        "command": "python -m typedis.eval " + " ".join(argv if argv is not None else sys.argv[1:]),
        "server": f"{'valkey' if 'valkey_version' in info else 'redis'} "
        f"{info.get('valkey_version') or info.get('redis_version')}",
        "machine": f"{platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}",
        "embedder": args.embedder,
        "shape": shape,
        "tune seed": args.tune_seed,
        "seed": args.seed,
    }
    try:
        tuning = generate(args.tune_seed, **shape)
        _fresh(tuning)
        text = h.run(tuning, "text")
        vector = h.run(tuning, "vector")
        grid = h.tune(tuning, text, vector, _grid(), h.vectors())
        result["tuning"] = [
            {
                "weights": {
                    "method": w.method,
                    "text": w.text,
                    "vector": w.vector,
                    "recency": w.recency,
                    "supersede": w.supersede,
                    "same": w.same,
                },
                **m,
            }
            for w, m in grid
        ]
        default = _choose(grid)
        result["default"] = {
            "method": default.method,
            "text": default.text,
            "vector": default.vector,
            "recency": default.recency,
            "supersede": default.supersede,
            "same": default.same,
        }
        result["is SearchWeights()"] = default == SearchWeights()
        held = generate(args.seed, **shape)
        result["load seconds"] = _fresh(held)
        result["arms"] = {arm: h.score(held, a) for arm, a in _arms(held, default).items()}
        if args.locomo is not None:
            locomo = load_locomo(args.locomo)
            _fresh(locomo)
            result["locomo"] = {
                arm: h.score(locomo, a) for arm, a in _arms(locomo, default).items()
            }
        if args.scale:
            sessions = max(2, args.scale // args.turns)
            big = generate(args.seed, users=1, sessions=sessions, turns=args.turns)
            result["scale"] = {"turns": len(big.turns), "load seconds": _fresh(big)}
            for arm, answers in _arms(big, default, 10).items():
                result["scale"][arm] = h.score(big, answers)["latency ms"]
    finally:
        delete_all(h.EvalTurn)
        conn.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
