"""``python -m typedis.eval``: generate, load, search with each arm, write the results table.

Tunes the hybrid weights on some seeds (``--tune-seeds``) and reports every arm on others
(``--seeds``): data never seen while tuning, built the same way. Then, with ``--scale N``,
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
from ..retrieval._fusion import DEFAULT_SAME
from . import _harness as h
from ._corpus import Corpus
from ._generate import generate, generate_many
from ._locomo import load_locomo
from ._report import markdown


def _grid() -> list[SearchWeights]:
    """The weightings tried on the tuning seeds (plain RRF, text alone, vector alone first)."""
    out = [
        PLAIN_RRF,
        SearchWeights(text=1.0, vector=0.0, recency=0.0, supersede=0.0, diversity=0.0),
        SearchWeights(text=0.0, vector=1.0, recency=0.0, supersede=0.0, diversity=0.0),
    ]
    supersession = ((0.0, DEFAULT_SAME), (0.5, 0.3), (0.7, 0.3), (0.5, 0.4))
    shapes = itertools.product((0.1, 0.2, 0.3), (0.0, 0.1, 0.2), supersession, (0.0, 0.5, 1.0, 1.5))
    for text, recency, (supersede, same), diversity in shapes:
        out.append(
            _split(text, recency=recency, supersede=supersede, same=same, diversity=diversity)
        )
    for text, recency, diversity in itertools.product((0.1, 0.2, 0.3), (0.0, 0.1), (0.0, 1.0)):
        out.append(_split(text, recency=recency, diversity=diversity, method="rrf"))
    return out


def _split(text: float, **rest: Any) -> SearchWeights:
    """Weights giving ``text`` to the text source and the rest of 1 to the vector source."""
    return SearchWeights(text=text, vector=round(1 - text, 2), **rest)


def _described(w: SearchWeights) -> dict[str, Any]:
    """The weights the grid varies, by name."""
    names = ("method", "text", "vector", "recency", "supersede", "same", "diversity")
    return {name: getattr(w, name) for name in names}


PLAIN_RRF = SearchWeights(
    text=1.0, vector=1.0, recency=0.0, supersede=0.0, diversity=0.0, method="rrf"
)
TARGETS = {"session recall@5": 0.90, "paraphrase session recall@5": 0.85, "current@1": 0.80}
"""Issue #12's targets: the default weights are those whose worst ratio to them is best."""


def _choose(grid: list[tuple[SearchWeights, dict[str, float]]]) -> SearchWeights:
    """The weighting whose worst ratio to the targets is best (then recall, then NDCG)."""

    def merit(row: tuple[SearchWeights, dict[str, float]]) -> tuple[float, float, float]:
        m = row[1]
        worst = min(m[name] / target for name, target in TARGETS.items())
        return (worst, m["session recall@5"], m["turn ndcg@10"])

    return max(grid, key=merit)[0]


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
    p.add_argument("--tune-seeds", type=int, nargs="+", default=[1, 3, 4, 5])
    p.add_argument("--seeds", type=int, nargs="+", default=[2, 6, 7, 8], help="held out")
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
        "tune seeds": args.tune_seeds,
        "seeds": args.seeds,
    }
    try:
        tuning = generate_many(args.tune_seeds, **shape)
        _fresh(tuning)
        text = h.run(tuning, "text")
        vector = h.run(tuning, "vector")
        grid = h.tune(tuning, text, vector, _grid(), h.vectors())
        result["tuning"] = [{"weights": _described(w), **m} for w, m in grid]
        default = _choose(grid)
        result["default"] = _described(default)
        result["is SearchWeights()"] = default == SearchWeights()
        held = generate_many(args.seeds, **shape)
        result["load seconds"] = _fresh(held)
        answers = _arms(held, default)
        result["arms"] = {arm: h.score(held, a) for arm, a in answers.items()}
        result["per seed"] = {
            seed: {
                arm: h.score(held, [a for a in found if a.question.user.startswith(f"s{seed}.")])[
                    "metrics"
                ]
                for arm, found in answers.items()
            }
            for seed in args.seeds
        }
        if args.locomo is not None:
            locomo = load_locomo(args.locomo)
            _fresh(locomo)
            result["locomo"] = {
                arm: h.score(locomo, a) for arm, a in _arms(locomo, default).items()
            }
        if args.scale:
            sessions = max(2, args.scale // args.turns)
            big = generate(args.seeds[0], users=1, sessions=sessions, turns=args.turns)
            result["scale"] = {"turns": len(big.turns), "load seconds": _fresh(big)}
            for arm, timed in _arms(big, default, 10).items():
                result["scale"][arm] = h.score(big, timed)["latency ms"]
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
