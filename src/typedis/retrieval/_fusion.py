"""Hybrid ranking: text, vector and memory signals fused into one score.

Each source's candidates (BM25 best first, cosine best first) are normalised per query, so
that a source's best candidate scores 1 whatever its raw scale: ``"minmax"`` maps the scores of
a source's candidates onto [0, 1]; ``"rrf"`` scores rank r as ``(c + 1) / (c + r)`` (1 at rank
1), weighted reciprocal rank fusion. The fused score is the weighted sum of the normalised
sources and of the memory signals, each in [0, 1]:

- ``recency``: the record's time (a ``Sorted`` datetime field) mapped onto [0, 1] over the
  candidates (the newest 1, the oldest 0), so that of two records saying the same thing the
  later one wins: "what is X now" finds the current value before a superseded one;
- ``decay``: a ``Decaying`` field's value now, divided by the largest among the candidates;
- ``confidence``: a ``Confidence`` field's value.

Then **supersession** (``supersede`` > 0): a candidate is superseded by a later one about the
same subject — their vectors at least ``same`` similar (cosine), both matching the query's
words (both BM25 candidates, when the text source takes part), and the later one scoring at
least ``supersede`` times as much for this query — and then ranks just below it (its signal
``superseded`` is 1). The earlier statement of a fact that changed gives way to the later one.
The word test keeps a paraphrase's answer, which shares no word with the question, from giving
way to later chatter that is merely close to it in meaning.

Last, **diversity** (maximal marginal relevance): the hits are chosen best first, each time
the candidate whose score less ``diversity`` times its greatest cosine to a hit already chosen
(its ``redundancy``) is highest, and that is its score. A repeat of a better hit (an
assistant's stock reply, a fact said twice) gives way to the next distinct candidate instead
of filling the list; a superseded candidate still ranks below what supersedes it. With the
vector source searched, the records ``search`` reads are chosen this way too (``shortlist``),
from the vectors its round trip brought up to date.

A source or signal of weight 0 takes no part: its candidates are not fetched, and the ranking
is the one the other sources give. The default weights are measured on the evaluation
harness' tuning seeds (``python -m typedis.eval``; ``benchmarks/results/retrieval.md``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, cast

from .._errors import QueryError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from .._model import Model
    from .._spec import ModelSpec

Located: TypeAlias = tuple[str, str]  # (tag, record id), as in typedis._query._query
Scored: TypeAlias = Sequence[tuple[Located, float]]
Vector: TypeAlias = "Sequence[float] | npt.NDArray[np.floating[Any]]"
Method: TypeAlias = Literal["minmax", "rrf"]
"""How a source's scores are normalised before they are weighted."""

# Measured on the harness' tuning seeds (1, 3, 4 and 5; benchmarks/results/retrieval.md,
# "Choosing the default weights"): of the grid, the weighting whose worst ratio to the three
# targets (session recall@5 0.90, paraphrased 0.85, current value first 0.80) is best.
DEFAULT_TEXT = 0.1
DEFAULT_VECTOR = 0.9
DEFAULT_RECENCY = 0.0
DEFAULT_SUPERSEDE = 0.5
DEFAULT_SAME = 0.3
DEFAULT_DIVERSITY = 1.0


@dataclass(frozen=True, slots=True)
class SearchWeights:
    """How ``Query.search`` fuses its sources into one score (``typedis.retrieval``).

    Weights are finite and >= 0; a weight of 0 leaves its source or signal out. A memory
    signal whose field the model lacks is left out too.

    Attributes:
        text: the weight of the BM25 scores (normalised per query).
        vector: the weight of the cosine scores (normalised per query).
        recency: the weight of the record's time over the candidates (newest 1, oldest 0).
        decay: the weight of a ``Decaying`` field's value now (over the candidates' largest).
        confidence: the weight of a ``Confidence`` field's value.
        supersede: a later candidate scoring at least this fraction of an earlier one's score
            (``same`` similar, and both matching the query's words when text is searched)
            supersedes it: the earlier ranks just below (0: off; <= 1).
        same: the cosine from which two candidates' vectors speak of the same subject.
        diversity: how much a candidate's greatest cosine to a better hit takes off its score
            (maximal marginal relevance; 0: off). Needs the candidates' vectors.
        method: ``"minmax"`` (scores onto [0, 1]) or ``"rrf"`` (weighted reciprocal ranks).
        rrf_k: the constant c of ``(c + 1) / (c + rank)`` (``"rrf"`` only).
        depth: candidates taken from each source (at least ``k`` are taken).
        time_field: the ``Sorted`` datetime field of ``recency``; None: the model's only one.

    Examples:
        >>> SearchWeights(text=1.0, vector=0.0).vector
        0.0
        >>> SearchWeights(text=-1.0)
        Traceback (most recent call last):
        ...
        typedis.QueryError: SearchWeights: text must be a finite number >= 0, got -1.0
    """

    text: float = DEFAULT_TEXT
    vector: float = DEFAULT_VECTOR
    recency: float = DEFAULT_RECENCY
    decay: float = 0.0
    confidence: float = 0.0
    supersede: float = DEFAULT_SUPERSEDE
    same: float = DEFAULT_SAME
    diversity: float = DEFAULT_DIVERSITY
    method: Method = "minmax"
    rrf_k: int = 60
    depth: int = 50
    time_field: str | None = None

    def __post_init__(self) -> None:
        for f in fields(self)[:8]:
            value: object = getattr(self, f.name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                raise QueryError(
                    f"SearchWeights: {f.name} must be a finite number >= 0, got {value!r}"
                )
        if self.supersede > 1 or self.same > 1:
            raise QueryError(
                f"SearchWeights: supersede and same are at most 1, got {self.supersede!r} "
                f"and {self.same!r}"
            )
        if self.method not in ("minmax", "rrf"):
            raise QueryError(
                f"SearchWeights: method must be 'minmax' or 'rrf', got {self.method!r}"
            )
        for name in ("rrf_k", "depth"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise QueryError(f"SearchWeights: {name} must be an int >= 1, got {value!r}")
        if not isinstance(cast(object, self.time_field), str | None):
            raise QueryError(
                f"SearchWeights: time_field must be a field name or None, got {self.time_field!r}"
            )

    @property
    def memory(self) -> tuple[tuple[str, float], ...]:
        """The memory signals of weight > 0, by name."""
        named = (
            ("recency", self.recency),
            ("decay", self.decay),
            ("confidence", self.confidence),
        )
        return tuple((n, w) for n, w in named if w > 0)


@dataclass(frozen=True, slots=True)
class Fused:
    """One candidate's fused score, its raw source scores and its normalised signals."""

    at: Located
    score: float
    text: float | None
    vector: float | None
    signals: Mapping[str, float]


def _normalised(scored: Scored, weights: SearchWeights) -> dict[Located, float]:
    if weights.method == "rrf":
        c = weights.rrf_k
        return {at: (c + 1) / (c + rank) for rank, (at, _) in enumerate(scored, 1)}
    if not scored:
        return {}
    low = min(s for _, s in scored)
    span = max(s for _, s in scored) - low
    return {at: (s - low) / span if span > 0 else 1.0 for at, s in scored}


def fuse(
    text: Scored | None,
    vector: Scored | None,
    weights: SearchWeights,
    memory: Mapping[Located, Mapping[str, float]] | None = None,
    vectors: Mapping[Located, Vector] | None = None,
    among: Sequence[Located] | None = None,
) -> list[Fused]:
    """Every candidate of the weighted sources, best first (ties by id, then tag).

    ``text`` and ``vector`` are a source's candidates with their raw scores (None: not
    searched); ``memory`` the raw memory values of the candidates (``"recency"``: a timestamp,
    ``"decay"``: a value >= 0, ``"confidence"``: a value in [0, 1]), read from the records;
    ``vectors`` the candidates' vectors, which supersession and diversity compare (a candidate
    without one is similar to nothing). With ``among``, only those candidates are ranked
    (``shortlist()`` names them: the records ``search`` reads).

    Examples:
        >>> a, b = ("t", "a"), ("t", "b")
        >>> w = SearchWeights(text=1.0, vector=1.0, recency=0.0)
        >>> [(f.at[1], f.score) for f in fuse([(a, 9.0), (b, 3.0)], [(b, 0.8), (a, 0.4)], w)]
        [('a', 1.0), ('b', 1.0)]
    """
    sources = [
        (scored, weight)
        for scored, weight in ((text, weights.text), (vector, weights.vector))
        if scored is not None and weight > 0
    ]
    raw_text = dict(text) if text is not None and weights.text > 0 else {}
    raw_vector = dict(vector) if vector is not None and weights.vector > 0 else {}
    pool: dict[Located, float] = {}
    for scored, weight in sources:
        for at, s in _normalised(scored, weights).items():
            pool[at] = pool.get(at, 0.0) + weight * s
    if among is not None:
        pool = {at: pool[at] for at in among if at in pool}
    signals = _signals(pool, memory or {}, weights)
    scores = {
        at: score + sum(w * signals[at].get(n, 0.0) for n, w in weights.memory)
        for at, score in pool.items()
    }
    superseders: dict[Located, list[Located]] = {}
    if weights.supersede > 0 and vectors:
        times = {at: m["recency"] for at, m in (memory or {}).items() if "recency" in m}
        worded = set(raw_text) if text is not None and weights.text > 0 else None
        for at, (score, by) in _superseded(scores, times, vectors, weights, worded).items():
            scores[at] = score
            signals[at]["superseded"] = 1.0
            superseders[at] = by
    order = sorted(pool, key=lambda at: (-scores[at], at[1], at[0]))
    if weights.diversity > 0 and vectors and len(order) > 1:
        redundancy = _diversified(order, scores, vectors, weights.diversity, superseders)
        for at, r in redundancy.items():
            signals[at]["redundancy"] = r
    return [
        Fused(at, scores[at], raw_text.get(at), raw_vector.get(at), signals[at]) for at in order
    ]


def shortlist(
    text: Scored | None,
    vector: Scored | None,
    weights: SearchWeights,
    k: int,
    vectors: Mapping[Located, Vector] | None = None,
) -> list[Located]:
    """The candidates whose records ``search`` reads for ``k`` hits: the best ``max(2 k, 20)``
    by the sources' fused score, chosen with diversity when their ``vectors`` are known."""
    keep = max(2 * k, 20)
    plain = replace(weights, recency=0.0, decay=0.0, confidence=0.0, supersede=0.0, diversity=0.0)
    fused = fuse(text, vector, plain)
    order = [f.at for f in fused]
    if weights.diversity > 0 and vectors and len(order) > keep:
        scores = {f.at: f.score for f in fused}
        _diversified(order, scores, vectors, weights.diversity, {}, picks=keep)
    return order[:keep]


def _units(
    ats: Sequence[Located], vectors: Mapping[Located, Vector]
) -> Any:  # an (n, d) float64 array: unit rows, zero rows for no vector or a zero vector
    import numpy as np

    rows = [vectors.get(at) for at in ats]
    width = max((len(v) for v in rows if v is not None), default=0)
    if all(v is not None and len(v) == width for v in rows):
        raw = np.asarray(rows, dtype=np.float64)  # one copy (the cache's rows: float32)
    else:
        raw = np.zeros((len(ats), width))
        for i, v in enumerate(rows):
            if v is not None and len(v) == width:
                raw[i] = v
    norms = np.linalg.norm(raw, axis=1, keepdims=True)
    return raw / np.where(norms > 0, norms, 1.0)


def _superseded(
    scores: Mapping[Located, float],
    times: Mapping[Located, float],
    vectors: Mapping[Located, Vector],
    weights: SearchWeights,
    worded: set[Located] | None = None,
) -> dict[Located, tuple[float, list[Located]]]:
    """The superseded candidates: each one's new score, just below the lowest ranked of those
    that supersede it (latest first, so a chain of updates ranks newest first), and those.
    With ``worded`` (the text source's candidates), only those take part, as superseded or
    superseding."""
    import numpy as np

    ats = sorted(
        (at for at in scores if at in times and at in vectors and (worded is None or at in worded)),
        key=lambda a: -times[a],
    )
    if len(ats) < 2:
        return {}
    unit = _units(ats, vectors)
    directed = unit.any(axis=1)  # a zero vector has no direction: similar to nothing
    base = np.asarray([scores[at] for at in ats])
    t = np.asarray([times[at] for at in ats])
    # by[i, j]: ats[j] supersedes ats[i] (later, same subject, scoring enough), all pairs in
    # one product; only the rows with some superseder are walked, in order (latest first)
    by = (
        ((unit @ unit.T) >= weights.same)
        & directed[:, None]
        & directed[None, :]
        & (t[None, :] > t[:, None])
        & (base[None, :] >= weights.supersede * base[:, None])
    )
    final = base.copy()
    out: dict[Located, tuple[float, list[Located]]] = {}
    for i in np.flatnonzero(by.any(axis=1)).tolist():  # ats[j] with by[i, j] have j < i
        below = float(final[by[i]].min()) - _BELOW
        if below < final[i]:
            final[i] = below
            out[ats[i]] = (below, [ats[j] for j in np.flatnonzero(by[i]).tolist()])
    return out


def _diversified(
    order: list[Located],
    scores: dict[Located, float],
    vectors: Mapping[Located, Vector],
    diversity: float,
    superseders: Mapping[Located, Sequence[Located]],
    picks: int | None = None,
) -> dict[Located, float]:
    """Maximal marginal relevance, in place: ``order`` becomes the greedy choice (its first
    ``picks``, or all) of the best ``score - diversity * redundancy`` (a candidate's greatest
    cosine, if positive, to those already chosen), which becomes its score; a superseded
    candidate waits for its superseders. Returns the redundancy of each chosen candidate that
    had one."""
    import numpy as np

    n = len(order)
    unit = _units(order, vectors)
    similar = np.clip(unit @ unit.T, 0.0, None)
    base = np.asarray([scores[at] for at in order])
    place = {at: i for i, at in enumerate(order)}
    waiting = np.zeros(n, dtype=np.int64)  # superseders not yet chosen
    unblocks: list[list[int]] = [[] for _ in range(n)]
    for at, by in superseders.items():
        waiting[place[at]] = len(by)
        for b in by:
            unblocks[place[b]].append(place[at])
    redundancy = np.zeros(n)
    open_ = waiting == 0  # neither chosen nor waiting
    chosen: list[int] = []
    out: dict[Located, float] = {}
    last = math.inf
    for _ in range(n if picks is None else min(picks, n)):
        value = np.where(open_, base - diversity * redundancy, -np.inf)
        j = int(np.argmax(value))  # the first best: ties keep the score, id, tag order
        score = float(value[j])
        if score > last:  # a superseded candidate freed: just below its superseder
            score = last - _BELOW
        last = score
        scores[order[j]] = score
        if redundancy[j] > 0:
            out[order[j]] = float(redundancy[j])
        chosen.append(j)
        open_[j] = False
        for i in unblocks[j]:
            waiting[i] -= 1
            open_[i] = waiting[i] == 0
        np.maximum(redundancy, similar[j], out=redundancy)
    order[:] = [order[j] for j in chosen]
    return out


_BELOW = 1e-9  # how far below its superseder a superseded candidate ranks


def _signals(
    pool: Mapping[Located, float],
    memory: Mapping[Located, Mapping[str, float]],
    weights: SearchWeights,
) -> dict[Located, dict[str, float]]:
    """Each candidate's memory signals, normalised over the candidates, by name."""
    out: dict[Located, dict[str, float]] = {at: {} for at in pool}
    for name, _ in weights.memory:
        values = {at: memory[at][name] for at in pool if name in memory.get(at, {})}
        if not values:
            continue
        if name == "recency":
            low, high = min(values.values()), max(values.values())
            scaled = {
                at: (v - low) / (high - low) if high > low else 1.0 for at, v in values.items()
            }
        elif name == "decay":
            top = max(values.values())
            scaled = {at: v / top if top > 0 else 0.0 for at, v in values.items()}
        else:  # confidence, superseded: in [0, 1] already
            scaled = {at: min(1.0, max(0.0, v)) for at, v in values.items()}
        for at, v in scaled.items():
            out[at][name] = v
    return out


def memory_fields(spec: ModelSpec, weights: SearchWeights) -> dict[str, str]:
    """The field each weighted memory signal reads (signals the model cannot give left out).

    Raises:
        QueryError: ``time_field`` names no ``Sorted`` date or datetime field of the model.
    """
    found: dict[str, str] = {}
    wanted = dict(weights.memory)
    if "recency" in wanted or weights.supersede > 0:  # supersession compares times too
        times = [
            f.name
            for f in spec.fields.values()
            if f.kind == "sorted"
            and isinstance(f.annotation, type)
            and issubclass(f.annotation, date)
        ]
        if weights.time_field is not None:
            if weights.time_field not in times:
                raise QueryError(
                    f"SearchWeights: time_field={weights.time_field!r} is not a Sorted date or "
                    f"datetime field of {spec.name} (those are: {times})"
                )
            found["recency"] = weights.time_field
        elif len(times) == 1:
            found["recency"] = times[0]
    for signal, kind in (("decay", "decaying"), ("confidence", "confidence")):
        named = [f.name for f in spec.fields.values() if f.kind == kind]
        if signal in wanted and len(named) == 1:
            found[signal] = named[0]
    return found


def record_memory(record: Model, fields_: Mapping[str, str]) -> dict[str, float]:
    """The raw memory values of one loaded record (a field holding None gives none)."""
    from .. import _store

    out: dict[str, float] = {}
    for signal, name in fields_.items():
        value: Any = getattr(record, name)
        if value is None:
            continue
        if signal == "recency":
            when = (
                value
                if isinstance(value, datetime)
                else datetime(value.year, value.month, value.day)
            )
            out[signal] = when.timestamp()
        elif signal == "decay":
            out[signal] = _store.decayed_value(record, getattr(type(record), name), None)
        else:
            out[signal] = float(value)
    return out
