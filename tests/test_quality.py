"""RetrievalQuality (``typedis.retrieval``): each formula and default by value, against the server.

The pure formulas (feeling of knowing, spread, confidence, staleness) are checked against a
plain-Python statement of the documented definitions, with hypothesis; ``from_records`` reads
composite scores and the Bloom filter's answers from a real server, in one round trip.
"""

from __future__ import annotations

import asyncio
import math
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from typedis import Confidence, Decaying, Key, Model, ModelError, QueryError, Sorted, field
from typedis.memory import Defaults, Fingerprinted, composite_score
from typedis.retrieval import CueFeeling, RetrievalQuality
from typedis.retrieval._quality import (
    FOK_CUE_FAMILIARITY,
    FOK_PARTIAL_RETRIEVAL,
    FOK_SUBTHRESHOLD_ACTIVATION,
    NEUTRAL_FAMILIARITY,
    avg_confidence,
    feeling_of_knowing,
    score_spread,
)


class QFact(Model, partition="user"):
    user: Key[str]
    id: Key[str]
    body: Fingerprinted[str] = field(default="")
    weight: Sorted[float | None] = field(default=None)
    certainty: Confidence = field(default=0.5)
    fresh: Decaying[float] = field(default=1.0, rate=0.1)


class QPlain(Model):
    id: Key[str]
    weight: Sorted[float] = field(default=0.0)


# ---- the documented constants and defaults --------------------------------------------------


def test_the_documented_weights_and_defaults() -> None:
    assert (FOK_CUE_FAMILIARITY, FOK_PARTIAL_RETRIEVAL, FOK_SUBTHRESHOLD_ACTIVATION) == (
        0.4,
        0.4,
        0.2,
    )
    assert NEUTRAL_FAMILIARITY == 0.5
    q = RetrievalQuality()
    assert (q.avg_confidence, q.score_spread, q.fok_score, q.staleness_ratio) == (0, 0, 0, 0)
    assert (q.score_distribution, dict(q.per_cue_fok)) == ((), {})
    fok, _ = feeling_of_knowing(["a"], None, 10, [], 10, 0.5)
    assert fok == pytest.approx(0.4 * 0.5 + 0.4 * 1.0)  # max_items 10 is the denominator


# ---- pure formulas, by value ----------------------------------------------------------------

SCORES = st.lists(
    st.floats(-5, 5, allow_nan=False) | st.sampled_from([0.0, 0.5, 1e-12]), max_size=12
)


@given(
    cues=st.lists(st.text(max_size=5), min_size=1, max_size=4, unique=True),
    known=st.none() | st.booleans(),
    found=st.integers(0, 30),
    scores=SCORES,
    max_items=st.integers(1, 20),
    threshold=st.sampled_from([0.0, 0.25, 0.5, 1.0]),
)
def test_feeling_of_knowing_is_the_documented_mean(
    cues: list[str],
    known: bool | None,
    found: int,
    scores: list[float],
    max_items: int,
    threshold: float,
) -> None:
    familiar = None if known is None else dict.fromkeys(cues, known)
    fok, per_cue = feeling_of_knowing(cues, familiar, found, scores, max_items, threshold)
    partial = min(found, max_items) / max_items
    sub = sum(1 for s in scores if 0 < s < threshold) / len(scores) if scores else 0.0
    f = 0.5 if known is None else float(known)
    want = 0.4 * f + 0.4 * partial + 0.2 * sub
    assert fok == pytest.approx(want)
    assert per_cue == {c: CueFeeling(f, partial, sub, pytest.approx(want)) for c in cues}
    assert 0.0 <= fok <= 1.0


def test_feeling_of_knowing_by_value_and_without_cues() -> None:
    fok, per_cue = feeling_of_knowing(
        ["tea", "dogs"], {"tea": True, "dogs": False}, 3, [0.1, 0.6, 0.0], 10, 0.5
    )
    assert per_cue["tea"] == CueFeeling(1.0, 0.3, 1 / 3, pytest.approx(0.4 + 0.12 + 0.2 / 3))
    assert per_cue["dogs"].component_score == pytest.approx(0.12 + 0.2 / 3)
    assert fok == pytest.approx((0.4 + 2 * (0.12 + 0.2 / 3)) / 2)
    assert feeling_of_knowing([], None, 5, [1.0], 10, 0.5) == (0.0, {})


@given(scores=SCORES)
def test_spread_is_the_coefficient_of_variation(scores: list[float]) -> None:
    got = score_spread(scores)
    if not scores or abs(statistics.fmean(scores)) < 1e-9:
        assert got == 0.0
    else:
        assert got == pytest.approx(statistics.pstdev(scores) / statistics.fmean(scores))


def test_spread_by_value() -> None:
    assert score_spread([1.0, 3.0]) == pytest.approx(0.5)
    assert score_spread([2.0, 2.0, 2.0]) == 0.0
    assert score_spread([-1.0, 1.0]) == 0.0  # mean 0: undefined, 0.0


def test_avg_confidence_by_value() -> None:
    facts = [QFact(user="u", id=str(i), certainty=c) for i, c in enumerate([0.2, 0.8, 0.5])]
    assert avg_confidence(facts, QFact.certainty) == pytest.approx(0.5)
    assert avg_confidence(facts, None) == 1.0  # no Confidence field: nothing against it
    assert avg_confidence([], QFact.certainty) == 0.0


# ---- from_records against the server --------------------------------------------------------


def test_from_records_reads_composite_scores_and_familiarity() -> None:
    a = QFact(user="ann", id="a", body="green tea", weight=1.0, certainty=0.9).save()
    b = QFact(user="ann", id="b", body="coffee", weight=3.0, certainty=0.3).save()
    c = QFact(user="ann", id="c", body="dogs", weight=None).save()  # no score: counts 0.0
    weights = {QFact.weight: 1.0}
    q = RetrievalQuality.from_records([a, b, c], {"drink": "tea", "pet": "cats"}, weights)
    assert q.score_distribution == (1.0, 3.0, 0.0)
    assert q.score_spread == pytest.approx(
        statistics.pstdev([1, 3, 0]) / statistics.fmean([1, 3, 0])
    )
    assert q.avg_confidence == pytest.approx((0.9 + 0.3 + 0.5) / 3)
    tea, cats = q.per_cue_fok["tea"], q.per_cue_fok["cats"]
    assert (tea.cue_familiarity, cats.cue_familiarity) == (1.0, 0.0)
    assert tea.partial_retrieval_count == pytest.approx(0.3)  # 3 of max_items 10
    assert tea.subthreshold_activation == 0.0  # no score in (0, 0.5)
    assert q.fok_score == pytest.approx(((0.4 + 0.12) + 0.12) / 2)
    assert q.staleness_ratio == 0.0  # the Decaying field is not in the weights
    # the composite matches composite_score's, which it reuses
    mine = QFact.query.filter(user="ann")
    assert {r.id: s for r, s in composite_score(mine, weights)} == {"a": 1.0, "b": 3.0}


def test_from_records_without_weights_or_cues() -> None:
    a = QFact(user="ann", id="a", weight=0.2).save()
    q = RetrievalQuality.from_records([a])
    assert (q.score_spread, q.score_distribution, q.staleness_ratio, q.fok_score) == (0, (), 0, 0)
    assert q.avg_confidence == 0.5
    assert RetrievalQuality.from_records([]) == RetrievalQuality()


def test_staleness_counts_decayed_values_below_the_threshold() -> None:
    old = QFact(user="ann", id="old", fresh=1.0).save()
    new = QFact(user="ann", id="new", fresh=1.0).save()
    old.touch(QFact.fresh, datetime.now(UTC) - timedelta(days=30))  # 1.0 * e^-3 ≈ 0.05
    old = QFact.query.filter(user="ann", id="old").get()
    q = RetrievalQuality.from_records([old, new], None, {QFact.fresh: 1.0})
    assert q.staleness_ratio == 0.5
    q = RetrievalQuality.from_records(
        [old, new], None, {QFact.fresh: 1.0}, surfacing_threshold=0.01
    )
    assert q.staleness_ratio == 0.0
    # the composite of a Decaying field is ln(its value now)
    assert q.score_distribution[0] == pytest.approx(math.log(old.decayed(QFact.fresh)), abs=1e-3)


def test_subthreshold_activation_and_max_items() -> None:
    facts = [
        QFact(user="ann", id=str(i), weight=w).save() for i, w in enumerate([0.1, 0.3, 0.7, 2])
    ]
    q = RetrievalQuality.from_records(facts, "x", {QFact.weight: 1.0}, max_items=2)
    cue = q.per_cue_fok["x"]
    assert (cue.partial_retrieval_count, cue.subthreshold_activation) == (1.0, 0.5)
    assert cue.cue_familiarity == 0.0  # nothing was ever saved with a word "x"
    q = RetrievalQuality.from_records(facts, "x", {QFact.weight: 1.0}, surfacing_threshold=1.0)
    assert q.per_cue_fok["x"].subthreshold_activation == 0.75


def test_a_model_without_fingerprint_is_neutrally_familiar() -> None:
    p = QPlain(id="p", weight=2.0).save()
    q = RetrievalQuality.from_records([p], {"a": "x"}, {QPlain.weight: 1.0})
    assert q.per_cue_fok["x"].cue_familiarity == 0.5
    assert q.avg_confidence == 1.0  # no Confidence field


def test_records_of_several_partitions_are_read_together() -> None:
    a = QFact(user="ann", id="a", body="tea", weight=1.0).save()
    b = QFact(user="bob", id="b", body="cats", weight=2.0).save()
    q = RetrievalQuality.from_records([a, b], "cats", {QFact.weight: 1.0})
    assert q.score_distribution == (1.0, 2.0)
    assert q.per_cue_fok["cats"].cue_familiarity == 1.0  # bob's filter knows it


def test_the_async_twin_agrees() -> None:
    a = QFact(user="ann", id="a", body="tea", weight=1.0).save()
    args: tuple[Any, ...] = ([a], "tea", {QFact.weight: 1.0})
    assert asyncio.run(RetrievalQuality.afrom_records(*args)) == RetrievalQuality.from_records(
        *args
    )


def test_bad_arguments_are_typed_errors() -> None:
    a = QFact(user="ann", id="a").save()
    p = QPlain(id="p").save()
    with pytest.raises(ModelError, match="one model"):
        RetrievalQuality.from_records([a, p])
    with pytest.raises(ModelError, match="never saved"):
        RetrievalQuality.from_records([QFact(user="ann", id="z")])
    with pytest.raises(ModelError, match="list of records"):
        RetrievalQuality.from_records("abc")  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="max_items"):
        RetrievalQuality.from_records([a], max_items=0)
    with pytest.raises(QueryError, match="surfacing_threshold"):
        RetrievalQuality.from_records([a], surfacing_threshold=math.nan)
    with pytest.raises(QueryError, match="query_cues"):
        RetrievalQuality.from_records([a], {"a": 1})  # type: ignore[dict-item]
    with pytest.raises(QueryError, match="field references"):
        RetrievalQuality.from_records([a], None, {"weight": 1.0})
    with pytest.raises(QueryError, match="empty"):
        RetrievalQuality.from_records([a], None, {})
    assert Defaults.INITIAL_CONFIDENCE == 0.5
