"""Retrieval metrics as LongMemEval's tooling defines them, abstention and latency summaries.

LongMemEval (``src/retrieval/eval_utils.py``): recall-any@k is 1 when any answer is among the
first k results; NDCG@k uses binary gains and the discount ``1, 1, 1/log2(3), 1/log2(4)...``
(the first two ranks undiscounted), the ideal ranking being every relevant item of the corpus
first. Session level maps each ranked turn to its session and widens k until the first k'
results name k distinct sessions; the relevant items are then every turn of an answering
session, as in its ``evaluate_retrieval_turn2session``. MRR is the reciprocal rank of the
first answer (0 when none is retrieved).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence


def recall_any(ranked: Sequence[str], answers: Collection[str], k: int) -> float:
    """1.0 when any answer is among the first ``k`` of ``ranked``, else 0.0.

    Examples:
        >>> recall_any(["a", "b", "c"], {"c"}, 2), recall_any(["a", "b", "c"], {"c"}, 3)
        (0.0, 1.0)
    """
    return float(any(r in answers for r in ranked[:k]))


def recall_all(ranked: Sequence[str], answers: Collection[str], k: int) -> float:
    """1.0 when every answer is among the first ``k`` of ``ranked``, else 0.0.

    Examples:
        >>> recall_all(["a", "b"], {"a", "b"}, 2), recall_all(["a", "b"], {"a", "c"}, 2)
        (1.0, 0.0)
    """
    top = set(ranked[:k])
    return float(all(a in top for a in answers))


def _dcg(gains: Sequence[float]) -> float:
    return sum(g / (1.0 if i < 2 else math.log2(i + 1)) for i, g in enumerate(gains))


def ndcg(ranked: Sequence[str], answers: Collection[str], k: int, relevant: int) -> float:
    """NDCG@k with binary gains, ``relevant`` items of the corpus being answers.

    Examples:
        >>> ndcg(["x", "a"], {"a"}, 10, 1)
        1.0
        >>> round(ndcg(["x", "y", "a"], {"a"}, 10, 1), 4)  # 1 / log2(3)
        0.6309
    """
    ideal = _dcg([1.0] * min(relevant, k))
    if ideal == 0:
        return 0.0
    return _dcg([1.0 if r in answers else 0.0 for r in ranked[:k]]) / ideal


def mrr(ranked: Sequence[str], answers: Collection[str]) -> float:
    """The reciprocal rank of the first answer in ``ranked`` (0.0 when none is there).

    Examples:
        >>> mrr(["x", "a", "b"], {"a", "b"})
        0.5
    """
    return next((1.0 / (i + 1) for i, r in enumerate(ranked) if r in answers), 0.0)


def turn_metrics(ranked: Sequence[str], answers: Collection[str]) -> dict[str, float]:
    """Turn-level recall-any@5/@10, NDCG@10 and MRR of one ranked list of turn ids.

    Examples:
        >>> turn_metrics(["x", "a"], {"a"})["mrr"]
        0.5
    """
    return {
        "recall@5": recall_any(ranked, answers, 5),
        "recall@10": recall_any(ranked, answers, 10),
        "ndcg@10": ndcg(ranked, answers, 10, len(answers)),
        "mrr": mrr(ranked, answers),
    }


def session_metrics(
    ranked: Sequence[str],
    answers: Collection[str],
    session_of: Mapping[str, str],
    sizes: Mapping[str, int],
) -> dict[str, float]:
    """Session-level recall-any@5/@10, NDCG@10 and MRR of a ranked list of turn ids.

    ``session_of`` maps a turn id to its session, ``sizes`` a session to its number of turns
    (the ideal NDCG counts every turn of an answering session, as LongMemEval does).

    Examples:
        >>> of = {"a1": "A", "a2": "A", "b1": "B"}
        >>> session_metrics(["a1", "a2", "b1"], {"b1"}, of, {"A": 2, "B": 1})["recall@5"]
        1.0
    """
    gold = {session_of[a] for a in answers}
    sessions = [session_of[r] for r in ranked]
    relevant = sum(sizes[s] for s in gold)
    out: dict[str, float] = {}
    for k in (5, 10):
        wide = k  # widen until the first `wide` results name k distinct sessions
        while wide < len(sessions) and len(set(sessions[:wide])) < k:
            wide += 1
        out[f"recall@{k}"] = recall_any(sessions, gold, wide)
        if k == 10:
            out["ndcg@10"] = ndcg(sessions, gold, wide, relevant)
    out["mrr"] = mrr(sessions, gold)
    return out


def auroc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """The probability that a random positive scores above a random negative (ties: 1/2).

    Examples:
        >>> auroc([0.9, 0.8], [0.1, 0.85])
        0.75
    """
    if not positive or not negative:
        return math.nan
    wins = sum((p > n) + 0.5 * (p == n) for p in positive for n in negative)
    return wins / (len(positive) * len(negative))


def best_threshold(positive: Sequence[float], negative: Sequence[float]) -> tuple[float, float]:
    """The threshold that best separates the two groups (answer when score >= it) and the
    accuracy it reaches on them.

    Examples:
        >>> best_threshold([0.9, 0.8], [0.1, 0.85])
        (0.8, 0.75)
    """
    scored = [(s, True) for s in positive] + [(s, False) for s in negative]
    best = (math.inf, len(negative) / max(1, len(scored)))  # answer nothing
    for t in sorted({s for s, _ in scored}):
        right = sum((s >= t) == pos for s, pos in scored)
        if right / len(scored) > best[1]:
            best = (t, right / len(scored))
    return best


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, by linear interpolation.

    Examples:
        >>> percentile([1.0, 2.0, 3.0, 4.0], 50)
        2.5
    """
    if not values:
        return math.nan
    ordered = sorted(values)
    at = (len(ordered) - 1) * q / 100
    low = math.floor(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)
