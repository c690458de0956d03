"""The results of ``python -m typedis.eval`` as Markdown."""

from __future__ import annotations

import math
from typing import Any

_COLUMNS = (
    ("turn recall@5", "turn R@5"),
    ("turn recall@10", "turn R@10"),
    ("turn ndcg@10", "turn NDCG@10"),
    ("turn mrr", "turn MRR"),
    ("session recall@5", "session R@5"),
    ("session recall@10", "session R@10"),
    ("session ndcg@10", "session NDCG@10"),
    ("session mrr", "session MRR"),
    ("current@1", "current@1"),
)
_CAVEAT = (
    "Latency was measured on a shared 2-core machine loaded by other work: read it as an "
    "order of magnitude, not a benchmark."
)


def _f(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _arms_table(arms: dict[str, Any]) -> list[str]:
    lines = [
        "| arm | questions | n | " + " | ".join(short for _, short in _COLUMNS) + " |",
        "|---|---|---:|" + "---:|" * len(_COLUMNS),
    ]
    for arm, scored in arms.items():
        counts = scored["questions"]
        for kind, row in scored["metrics"].items():
            n = (
                sum(v for k, v in counts.items() if k != "absent")
                if kind == "all"
                else counts[kind]
            )
            cells = " | ".join(_f(row.get(name)) for name, _ in _COLUMNS)
            lines.append(f"| {arm} | {kind} | {n} | {cells} |")
    return lines


def _others_table(arms: dict[str, Any]) -> list[str]:
    lines = [
        "| arm | AUROC best score | AUROC best cosine | AUROC best BM25 | best-threshold accuracy "
        "(score) | leaked hits | p50 ms | p95 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for arm, s in arms.items():
        a = s["abstention"]
        lines.append(
            f"| {arm} | {_f(a.get('score auroc'))} | {_f(a.get('cosine auroc'))} | "
            f"{_f(a.get('bm25 auroc'))} | {_f(a.get('score best accuracy'))} | "
            f"{s['leaked hits']} | {_f(s['latency ms']['p50'])} | {_f(s['latency ms']['p95'])} |"
        )
    return lines


def _seeds(seeds: list[int]) -> str:
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, seeds))


def _per_seed_table(per_seed: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| seed | arm | session R@5 | paraphrase session R@5 | current@1 | turn NDCG@10 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for seed, arms in per_seed.items():
        for arm, m in arms.items():
            lines.append(
                f"| {seed} | {arm} | {_f(m['all'].get('session recall@5'))} | "
                f"{_f(m['paraphrase'].get('session recall@5'))} | "
                f"{_f(m['update'].get('current@1'))} | {_f(m['all'].get('turn ndcg@10'))} |"
            )
    return lines


def markdown(result: dict[str, Any]) -> str:
    """The results file: each arm and question type, abstention, leakage, latency, tuning."""
    out = [
        "# Retrieval evaluation",
        "",
        f"Written by `{result['command']}` (`typedis.eval`, docs/retrieval.md#evaluation).",
        f"Server {result['server']}; {result['machine']}; embedder `{result['embedder']}`; "
        f"{result['shape']['users']} users x {result['shape']['sessions']} sessions x "
        f"{result['shape']['turns']} turns per seed. {_CAVEAT}",
        "",
        f"## Held-out {_seeds(result['seeds'])}: each arm, each question type",
        "",
        f"The hybrid arm's weights, chosen on {_seeds(result['tune seeds'])} (below) as those "
        "whose worst ratio to the targets (session recall@5 0.90, paraphrased 0.85, "
        "current@1 0.80) is best: "
        + ", ".join(f"{k} {v}" for k, v in result["default"].items())
        + (
            " (`SearchWeights()`'s defaults)."
            if result.get("is SearchWeights()")
            else " (not `SearchWeights()`'s defaults)."
        )
        + " Recall is LongMemEval's recall-any; `n` counts the questions; `current@1`: the "
        "turn holding the current value of an updated fact ranks first.",
        "",
        *_arms_table(result["arms"]),
        "",
        "## Abstention, leakage, latency (held out)",
        "",
        "AUROC: how well a question's best score separates the answerable questions from the "
        "`absent` ones (0.5: not at all). Leaked hits: results from another user's partition, "
        "over every question (must be 0).",
        "",
        *_others_table(result["arms"]),
        "",
    ]
    if "per seed" in result:
        out += [
            "## Each held-out seed",
            "",
            "The same answers, seed by seed: how much one seed's 20 users move the figures.",
            "",
            *_per_seed_table(result["per seed"]),
            "",
        ]
    if "scale" in result:
        s = result["scale"]
        out += [
            f"## Latency at {s['turns']:,} turns in one tenant",
            "",
            f"`search(..., k=10)` for each question of the tenant; loading (embedding "
            f"included) took {s['load seconds']:.1f} s. {_CAVEAT}",
            "",
            "| arm | p50 ms | p95 ms |",
            "|---|---:|---:|",
            *(
                f"| {arm} | {_f(s[arm]['p50'])} | {_f(s[arm]['p95'])} |"
                for arm in s
                if arm not in ("turns", "load seconds")
            ),
            "",
        ]
    if "locomo" in result:
        out += ["## LoCoMo file", "", *_arms_table(result["locomo"]), ""]
    tuning = sorted(
        result["tuning"],
        key=lambda r: (-r["session recall@5"], -r["current@1"], -r["turn ndcg@10"]),
    )
    out += [
        f"## Choosing the default weights (tuning {_seeds(result['tune seeds'])})",
        "",
        "Each weighting re-fuses the text and vector candidates (50 each) of every question of "
        "the tuning seeds; best first. The row with `rrf`, text 1, vector 1, recency 0, "
        "diversity 0 is plain RRF.",
        "",
        "| method | text | vector | recency | supersede | same | diversity | session R@5 | "
        "paraphrase session R@5 | current@1 | turn NDCG@10 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {r['weights']['method']} | {r['weights']['text']} | {r['weights']['vector']} | "
            f"{r['weights']['recency']} | {r['weights']['supersede']} | "
            f"{r['weights']['same'] if r['weights']['supersede'] else '—'} | "
            f"{r['weights'].get('diversity', 0.0)} | "
            f"{_f(r['session recall@5'])} | "
            f"{_f(r['paraphrase session recall@5'])} | {_f(r['current@1'])} | "
            f"{_f(r['turn ndcg@10'])} |"
            for r in tuning
        ),
        "",
    ]
    return "\n".join(out)
