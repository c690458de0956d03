"""Running the evaluation: load a corpus into a server, search it per arm, score the answers.

The arms are ``text`` (``search(text=q)``), ``vector`` (``search(vector=q)``, the question
embedded by the configured provider) and ``hybrid`` (``search(text=q, vector=q,
weights=...)``). Every question is searched in its own user's partition; a hit from another
user counts as leakage. Choosing the weights (``tune``) re-fuses, on the client, the text and
vector candidates the two single-source arms returned, with exactly the fusion ``search``
runs, over a grid of weights.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeAlias

from .. import Key, Model, Sorted, field
from ..retrieval import Embedding, SearchWeights, Text
from ..retrieval._fusion import Located, Scored, fuse, shortlist
from ._corpus import KINDS, Corpus, Question
from ._metrics import auroc, best_threshold, percentile, session_metrics, turn_metrics

Arm: TypeAlias = Literal["text", "vector", "hybrid"]
ARMS: tuple[Arm, ...] = ("text", "vector", "hybrid")
DEPTH = 50  # results per question: enough for session-level k widening and for tuning


class EvalTurn(Model, partition="user"):
    """A turn as the harness stores it: one partition per user."""

    user: Key[str]
    id: Key[str]
    session: str
    role: str
    at: Sorted[datetime]
    body: Text[str]
    vec: Embedding = field(default=None, source="body")


@dataclass(frozen=True, slots=True)
class Answer:
    """What one arm returned for one question."""

    question: Question
    ranked: tuple[str, ...]  # turn ids, best first
    scores: tuple[float, ...]
    text_scores: tuple[float | None, ...]
    vector_scores: tuple[float | None, ...]
    seconds: float
    leaked: int  # hits from another user


def load(corpus: Corpus, batch: int = 500) -> None:
    """Store every turn of ``corpus`` (embedded on save by the configured provider)."""
    turns = [
        EvalTurn(user=t.user, id=t.id, session=t.session, role=t.role, at=t.at, body=t.text)
        for t in corpus.turns
    ]
    for i in range(0, len(turns), batch):
        EvalTurn.save_many(turns[i : i + batch])


def ask(question: Question, arm: Arm, weights: SearchWeights | None, depth: int = DEPTH) -> Answer:
    """Search one question in its user's partition with one arm."""
    q = EvalTurn.query.filter(user=question.user)
    start = time.perf_counter()
    if arm == "text":
        hits = q.search(question.text, k=depth)
    elif arm == "vector":
        hits = q.search(vector=question.text, k=depth)
    else:
        hits = q.search(question.text, vector=question.text, k=depth, weights=weights)
    seconds = time.perf_counter() - start
    return Answer(
        question,
        tuple(h.record.id for h in hits),
        tuple(h.score for h in hits),
        tuple(h.text_score for h in hits),
        tuple(h.vector_score for h in hits),
        seconds,
        sum(h.record.user != question.user for h in hits),
    )


def run(
    corpus: Corpus, arm: Arm, weights: SearchWeights | None = None, k: int = DEPTH
) -> list[Answer]:
    """Every question of ``corpus`` with one arm, ``k`` results each."""
    return [ask(q, arm, weights, k) for q in corpus.questions]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def score(corpus: Corpus, answers: Sequence[Answer]) -> dict[str, Any]:
    """The metrics of one arm's answers: per kind, abstention, leakage, latency."""
    per_kind: dict[str, list[dict[str, float]]] = {k: [] for k in KINDS if k != "absent"}
    sizes: dict[str, Mapping[str, int]] = {}
    for a in answers:
        q = a.question
        if q.kind == "absent":
            continue
        if q.user not in sizes:
            sizes[q.user] = corpus.session_sizes(q.user)
        of = {t: corpus.session_of(q.user, t) for t in a.ranked} | {
            t: corpus.session_of(q.user, t) for t in q.answers
        }
        row = {f"turn {m}": v for m, v in turn_metrics(a.ranked, q.answers).items()}
        row |= {
            f"session {m}": v
            for m, v in session_metrics(a.ranked, q.answers, of, sizes[q.user]).items()
        }
        if q.kind == "update":
            row["current@1"] = float(bool(a.ranked) and a.ranked[0] in q.answers)
            first_stale = next((i for i, t in enumerate(a.ranked) if t in q.stale), None)
            first_now = next((i for i, t in enumerate(a.ranked) if t in q.answers), None)
            row["stale above current"] = float(
                first_stale is not None and (first_now is None or first_stale < first_now)
            )
        per_kind[q.kind].append(row)
    table: dict[str, dict[str, float]] = {}
    for kind, rows in [*per_kind.items(), ("all", [r for rs in per_kind.values() for r in rs])]:
        names = sorted({n for r in rows for n in r})
        table[kind] = {n: _mean([r[n] for r in rows if n in r]) for n in names}
    counts = {k: sum(a.question.kind == k for a in answers) for k in KINDS}
    return {
        "metrics": table,
        "questions": counts,
        "abstention": _abstention(answers),
        "leaked hits": sum(a.leaked for a in answers),
        "latency ms": {
            "p50": percentile([a.seconds * 1000 for a in answers], 50),
            "p95": percentile([a.seconds * 1000 for a in answers], 95),
        },
    }


def _abstention(answers: Sequence[Answer]) -> dict[str, float]:
    """How well the best score of a question separates answerable from absent ones."""
    out: dict[str, float] = {}
    for name in ("score", "cosine", "bm25"):
        pos: list[float] = []
        neg: list[float] = []
        for a in answers:
            if name == "score":
                found: Sequence[float | None] = a.scores[:1] or (0.0,)
            else:
                found = a.vector_scores if name == "cosine" else a.text_scores
            known = [s for s in found if s is not None]
            if known:
                (neg if a.question.kind == "absent" else pos).append(max(known))
        if pos and neg:
            out[f"{name} auroc"] = auroc(pos, neg)
            out[f"{name} best accuracy"] = best_threshold(pos, neg)[1]
    return out


def vectors() -> dict[tuple[str, str], list[float]]:
    """Every stored turn's vector, by (user, id): what supersession compares when tuning."""
    out: dict[tuple[str, str], list[float]] = {}
    for tag_records in _by_user():
        for r in tag_records:
            if r.vec is not None:
                out[(r.user, r.id)] = r.vec
    return out


def _by_user() -> list[list[EvalTurn]]:
    users = sorted({u for (u,) in EvalTurn.query.across_partitions().values(EvalTurn.user)})
    return [EvalTurn.query.filter(user=u).all() for u in users]


def tune(
    corpus: Corpus,
    text: Sequence[Answer],
    vector: Sequence[Answer],
    grid: Sequence[SearchWeights],
    stored: Mapping[tuple[str, str], Sequence[float]],
) -> list[tuple[SearchWeights, dict[str, float]]]:
    """Each weighting of ``grid``, scored on the fusion of the single-source candidates (the
    fusion ``search`` runs: ``shortlist``, then ``fuse`` with recency, supersession and
    diversity from the stored turns)."""
    at = {(t.user, t.id): t.at.timestamp() for t in corpus.turns}
    prepared: list[
        tuple[Question, Scored, Scored, dict[Located, float], dict[Located, Sequence[float]]]
    ] = []
    for ta, va in zip(text, vector, strict=True):
        q = ta.question
        tcands: Scored = [
            ((q.user, r), s)
            for r, s in zip(ta.ranked, ta.text_scores, strict=True)
            if s is not None
        ]
        vcands: Scored = [
            ((q.user, r), s)
            for r, s in zip(va.ranked, va.vector_scores, strict=True)
            if s is not None
        ]
        pool = {c for c, _ in tcands} | {c for c, _ in vcands}
        times = {c: at[c] for c in pool}
        vecs = {c: stored[c] for c in pool if c in stored}
        prepared.append((q, tcands, vcands, times, vecs))
    out: list[tuple[SearchWeights, dict[str, float]]] = []
    for w in grid:
        fused_answers: list[Answer] = []
        for q, tcands, vcands, times, vecs in prepared:
            memory = {c: {"recency": t} for c, t in times.items()}
            chosen = vecs if w.vector > 0 and w.diversity > 0 else None
            read = shortlist(tcands, vcands, w, DEPTH, chosen)
            fused = fuse(tcands, vcands, w, memory, vecs, read)
            fused_answers.append(
                Answer(
                    q,
                    tuple(f.at[1] for f in fused),
                    tuple(f.score for f in fused),
                    tuple(f.text for f in fused),
                    tuple(f.vector for f in fused),
                    0.0,
                    0,
                )
            )
        m = score(corpus, fused_answers)["metrics"]
        out.append(
            (
                w,
                {
                    "session recall@5": m["all"]["session recall@5"],
                    "paraphrase session recall@5": m["paraphrase"]["session recall@5"],
                    "current@1": m["update"]["current@1"],
                    "turn ndcg@10": m["all"]["turn ndcg@10"],
                },
            )
        )
    return out
