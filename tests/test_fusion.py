"""Hybrid ranking (``typedis.retrieval._fusion``): the formulas by value and by property.

By value: min-max and weighted RRF on hand-computed lists, the memory signals. By property
(hypothesis): raising a candidate's score in a weighted source or signal never moves it down;
a source or signal of weight 0 changes nothing; ties go by id (then tag); every candidate keeps
its own (tag, id), so a partition's hits come only from that partition's candidates.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import warnings
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from typedis import Confidence, Key, Model, Query, QueryError, Sorted, field
from typedis._maintenance import delete_all
from typedis.retrieval import Embedding, HashingEmbedder, NotSemanticWarning, SearchWeights, Text
from typedis.retrieval._fusion import Fused, Located, fuse

A, B, C, D = ("t", "a"), ("t", "b"), ("t", "c"), ("t", "d")


def scores(fused: list[Fused]) -> list[tuple[str, float]]:
    return [(f.at[1], round(f.score, 6)) for f in fused]


def test_minmax_by_value() -> None:
    w = SearchWeights(text=0.3, vector=0.7, recency=0.0)
    fused = fuse([(A, 10.0), (B, 5.0), (C, 0.0)], [(B, 0.9), (C, 0.5)], w)
    # text onto [0, 1]: a 1, b 0.5, c 0; vector: b 1, c 0
    assert scores(fused) == [("b", 0.85), ("a", 0.3), ("c", 0.0)]
    assert [(f.text, f.vector) for f in fused] == [(5.0, 0.9), (10.0, None), (0.0, 0.5)]


def test_weighted_rrf_by_value() -> None:
    w = SearchWeights(text=1.0, vector=2.0, recency=0.0, method="rrf", rrf_k=60)
    fused = fuse([(A, 10.0), (B, 5.0)], [(B, 0.9), (C, 0.5)], w)
    expected = {
        "a": 1.0,  # text rank 1: 61/61
        "b": 61 / 62 + 2.0,  # text rank 2, vector rank 1
        "c": 2.0 * 61 / 62,  # vector rank 2
    }
    assert {f.at[1]: f.score for f in fused} == pytest.approx(expected)
    assert [f.at[1] for f in fused] == ["b", "c", "a"]


def test_a_single_candidate_or_equal_scores_normalise_to_one() -> None:
    w = SearchWeights(text=1.0, vector=0.0, recency=0.0)
    assert scores(fuse([(A, 3.0)], None, w)) == [("a", 1.0)]
    assert scores(fuse([(B, 2.0), (A, 2.0)], None, w)) == [("a", 1.0), ("b", 1.0)]


def test_memory_signals_by_value() -> None:
    w = SearchWeights(text=1.0, vector=0.0, recency=0.5, decay=0.2, confidence=0.1)
    memory = {
        A: {"recency": 100.0, "decay": 4.0, "confidence": 0.5},
        B: {"recency": 300.0, "decay": 2.0, "confidence": 1.5},  # clamped to 1
        C: {"recency": 200.0},
    }
    fused = fuse([(A, 2.0), (B, 2.0), (C, 2.0)], None, w, memory)
    got = {f.at[1]: (f.score, dict(f.signals)) for f in fused}
    assert got["a"] == (
        pytest.approx(1 + 0 + 0.2 + 0.05),
        {"recency": 0.0, "decay": 1.0, "confidence": 0.5},
    )
    assert got["b"] == (
        pytest.approx(1 + 0.5 + 0.1 + 0.1),
        {"recency": 1.0, "decay": 0.5, "confidence": 1.0},
    )
    assert got["c"] == (pytest.approx(1 + 0.25), {"recency": 0.5})
    assert [f.at[1] for f in fused] == ["b", "a", "c"]


def test_supersession_by_value() -> None:
    # a (oldest) and c say nearly the same (cosine 0.96); b is about something else
    vectors = {A: [1.0, 0.0], B: [0.0, 1.0], C: [0.96, 0.28]}
    memory = {A: {"recency": 1.0}, B: {"recency": 2.0}, C: {"recency": 3.0}}
    text = [(A, 10.0), (B, 8.0), (C, 7.0), (D, 0.0)]
    w = SearchWeights(text=1.0, vector=0.0, recency=0.0, supersede=0.6, same=0.9, diversity=0.0)
    fused = fuse(text, None, w, memory, vectors)
    # c scores 0.7 >= 0.6 * 1.0: a is superseded, and ranks just below c
    assert [f.at[1] for f in fused] == ["b", "c", "a", "d"]
    assert fused[2].score == pytest.approx(0.7) and fused[2].score < fused[1].score
    assert dict(fused[2].signals) == {"superseded": 1.0}
    # a later record scoring too little, or too different, supersedes nothing
    for weights in (
        SearchWeights(text=1.0, vector=0.0, recency=0.0, supersede=0.8, same=0.9, diversity=0.0),
        SearchWeights(text=1.0, vector=0.0, recency=0.0, supersede=0.6, same=0.97, diversity=0.0),
        SearchWeights(text=1.0, vector=0.0, recency=0.0, supersede=0.0, diversity=0.0),
    ):
        assert [f.at[1] for f in fuse(text, None, weights, memory, vectors)] == ["a", "b", "c", "d"]


def test_a_chain_of_updates_ranks_newest_first() -> None:
    same = [1.0, 0.0]
    vectors = {A: same, B: same, C: same}
    memory = {A: {"recency": 1.0}, B: {"recency": 2.0}, C: {"recency": 3.0}}
    w = SearchWeights(text=1.0, vector=0.0, recency=0.0, supersede=0.5, same=0.9, diversity=0.0)
    fused = fuse([(A, 10.0), (B, 9.0), (C, 8.0), (D, 0.0)], None, w, memory, vectors)
    assert [f.at[1] for f in fused] == ["c", "b", "a", "d"]


def test_only_candidates_matching_the_words_supersede_or_are_superseded() -> None:
    # a: the answer to a paraphrased question (no word shared: not a text candidate); c: later
    # chatter close to it in meaning and matching the question's words
    vectors = {A: [1.0, 0.0], B: [0.0, 1.0], C: [0.96, 0.28]}
    memory = {A: {"recency": 1.0}, B: {"recency": 2.0}, C: {"recency": 3.0}}
    w = SearchWeights(text=0.1, vector=0.9, recency=0.0, supersede=0.5, same=0.9, diversity=0.0)
    vector = [(A, 0.9), (C, 0.5), (B, 0.1)]
    fused = fuse([(C, 4.0), (B, 1.0)], vector, w, memory, vectors)
    # c scores 0.1 + 0.45 >= 0.5 * 0.9, but a matches no word: it keeps its place
    assert scores(fused) == [("a", 0.9), ("c", 0.55), ("b", 0.0)]
    assert not any(f.signals for f in fused)
    # once a matches the question's words too, the later c supersedes it
    fused = fuse([(A, 4.0), (C, 3.0), (B, 1.0)], vector, w, memory, vectors)
    assert [f.at[1] for f in fused] == ["c", "a", "b"]
    assert dict(fused[1].signals) == {"superseded": 1.0}
    # without the text source (vector only), similarity and time alone decide
    v_only = SearchWeights(
        text=0.0, vector=1.0, recency=0.0, supersede=0.5, same=0.9, diversity=0.0
    )
    fused = fuse(None, vector, v_only, memory, vectors)
    assert [f.at[1] for f in fused] == ["c", "a", "b"]
    assert dict(fused[1].signals) == {"superseded": 1.0}


def test_diversity_by_value() -> None:
    # a and b say the same thing (an assistant's stock reply, twice); c says something else
    vectors = {A: [1.0, 0.0], B: [1.0, 0.0], C: [0.6, 0.8]}
    text = [(A, 10.0), (B, 10.0), (C, 9.0), (D, 0.0)]
    w = SearchWeights(text=1.0, vector=0.0, recency=0.0, supersede=0.0, diversity=0.5)
    fused = fuse(text, None, w, {}, vectors)
    # b's score 1 less 0.5 x its cosine 1 to a: below c's 0.9 less 0.5 x 0.6; d has no vector
    assert scores(fused) == [("a", 1.0), ("c", 0.6), ("b", 0.5), ("d", 0.0)]
    assert [dict(f.signals) for f in fused] == [
        {},
        {"redundancy": pytest.approx(0.6)},
        {"redundancy": 1.0},
        {},
    ]
    # diversity 0, or no vectors: the order of the scores
    for off in (replace(w, diversity=0.0), w):
        found = fuse(text, None, off, {}, vectors if off.diversity == 0 else None)
        assert scores(found) == [("a", 1.0), ("b", 1.0), ("c", 0.9), ("d", 0.0)]


def test_a_superseded_candidate_waits_for_its_superseder_under_diversity() -> None:
    # c (later) supersedes a; b, a vector-only candidate chosen first, is close to c but not to
    # a: without the wait, a (0.4 less nothing) would come second
    vectors = {A: [1.0, 0.0, 0.0], B: [0.0, 0.6, 0.8], C: [0.5, 0.0, 0.866]}
    memory = {A: {"recency": 1.0}, C: {"recency": 3.0}}
    w = SearchWeights(text=0.4, vector=0.6, recency=0.0, supersede=0.5, same=0.4, diversity=1.0)
    text = [(A, 9.0), (C, 8.9), (D, 0.0)]
    fused = fuse(text, [(B, 0.9), (D, 0.1)], w, memory, vectors)
    assert [f.at[1] for f in fused] == ["b", "d", "c", "a"]
    assert fused[3].score < fused[2].score
    assert fused[3].signals["superseded"] == 1.0


def test_the_newer_of_two_equal_matches_wins_on_recency() -> None:
    w = SearchWeights(text=0.5, vector=0.5, recency=0.1)
    memory = {A: {"recency": 1.0}, B: {"recency": 2.0}}
    fused = fuse([(A, 5.0), (B, 5.0)], [(A, 0.7), (B, 0.7)], w, memory)
    assert [f.at for f in fused] == [B, A]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"text": -0.1}, "text must be a finite number >= 0"),
        ({"vector": math.nan}, "vector must be a finite number >= 0"),
        ({"recency": True}, "recency must be a finite number >= 0"),
        ({"method": "sum"}, "method must be 'minmax' or 'rrf'"),
        ({"rrf_k": 0}, "rrf_k must be an int >= 1"),
        ({"depth": 1.5}, "depth must be an int >= 1"),
        ({"time_field": 3}, "time_field must be a field name or None"),
    ],
)
def test_bad_weights_are_refused_naming_the_argument(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(QueryError, match=message):
        SearchWeights(**kwargs)  # type: ignore[arg-type]


# ---- properties --------------------------------------------------------------------------

ids = st.sampled_from([("t", c) for c in "abcdefgh"] + [("u", "a"), ("u", "b")])
scored = st.lists(  # a source's candidates come best first
    st.tuples(ids, st.floats(-5, 50, allow_nan=False)), max_size=8, unique_by=lambda p: p[0]
).map(lambda found: sorted(found, key=lambda p: -p[1]))
weight = st.sampled_from([0.0, 0.1, 0.5, 1.0, 3.0])
methods = st.sampled_from(["minmax", "rrf"])


@st.composite
def memories(draw: st.DrawFn) -> dict[Located, dict[str, float]]:
    chosen = draw(st.lists(ids, unique=True, max_size=10))
    value = st.floats(0, 1e6, allow_nan=False)
    return {
        at: {
            "recency": draw(value),
            "decay": draw(value),
            "confidence": draw(st.floats(0, 1)),
        }
        for at in chosen
    }


def _weights(draw: st.DrawFn) -> SearchWeights:
    return SearchWeights(
        text=draw(weight),
        vector=draw(weight),
        recency=draw(weight),
        decay=draw(weight),
        confidence=draw(weight),
        supersede=draw(st.sampled_from([0.0, 0.5, 0.9, 1.0])),
        same=draw(st.sampled_from([0.0, 0.5, 1.0])),
        diversity=draw(st.sampled_from([0.0, 0.5, 1.0, 3.0])),
        method=draw(methods),
    )


def position(fused: list[Fused], at: Located) -> int:
    """How many candidates score strictly above ``at``."""
    mine = next(f.score for f in fused if f.at == at)
    return sum(f.score > mine + 1e-9 for f in fused)


@given(st.data(), scored, scored, memories())
def test_raising_a_text_score_never_moves_it_down(
    data: st.DataObject,
    text: list[tuple[Located, float]],
    vector: list[tuple[Located, float]],
    memory: dict[Located, dict[str, float]],
) -> None:
    w = _weights(data.draw)
    if not text or w.text == 0:
        return
    i = data.draw(st.integers(0, len(text) - 1))
    at, s = text[i]
    before = position(fuse(text, vector, w, memory), at)
    raised = [*text[:i], (at, s + data.draw(st.floats(0.1, 100))), *text[i + 1 :]]
    raised.sort(key=lambda p: -p[1])
    after = position(fuse(raised, vector, w, memory), at)
    assert after <= before


@given(st.data(), scored, memories(), st.sampled_from(["recency", "decay", "confidence"]))
def test_raising_a_memory_signal_never_moves_it_down(
    data: st.DataObject,
    text: list[tuple[Located, float]],
    memory: dict[Located, dict[str, float]],
    signal: str,
) -> None:
    w = _weights(data.draw)
    candidates = [at for at, _ in text if at in memory]
    if not candidates or w.text == 0:
        return
    at = data.draw(st.sampled_from(candidates))
    before = position(fuse(text, None, w, memory), at)
    bigger = dict(memory)
    bigger[at] = {**memory[at], signal: memory[at][signal] + data.draw(st.floats(0.01, 10))}
    assert position(fuse(text, None, w, bigger), at) <= before


@given(st.data(), scored, memories())
def test_a_superseded_candidate_ranks_below_a_later_similar_one(
    data: st.DataObject,
    text: list[tuple[Located, float]],
    memory: dict[Located, dict[str, float]],
) -> None:
    w = _weights(data.draw)
    vectors = {at: [1.0, float(i % 3)] for i, at in enumerate(memory)}
    fused = fuse(text, None, w, memory, vectors)
    place = {f.at: i for i, f in enumerate(fused)}
    for f in fused:
        if f.signals.get("superseded"):
            later = [
                g.at
                for g in fused
                if g.at in memory and memory[g.at]["recency"] > memory[f.at]["recency"]
            ]
            assert any(place[g] < place[f.at] for g in later)
    if w.supersede == 0 and w.diversity == 0:
        assert fused == fuse(text, None, w, memory)


vectors2d = st.dictionaries(
    ids, st.tuples(st.floats(-1, 1), st.floats(-1, 1)).map(list), max_size=10
)


@given(st.data(), scored, scored, memories(), vectors2d)
def test_supersession_never_by_a_dissimilar_or_wordless_candidate(
    data: st.DataObject,
    text: list[tuple[Located, float]],
    vector: list[tuple[Located, float]],
    memory: dict[Located, dict[str, float]],
    vectors: dict[Located, list[float]],
) -> None:
    w = _weights(data.draw)
    fused = fuse(text, vector, w, memory, vectors)
    place = {f.at: i for i, f in enumerate(fused)}
    worded = {at for at, _ in text} if w.text > 0 else None
    unit = {at: [x / n for x in v] for at, v in vectors.items() if (n := math.hypot(*v)) > 0}
    for f in fused:
        if not f.signals.get("superseded"):
            continue
        assert worded is None or f.at in worded
        assert f.at in unit  # a zero vector is similar to nothing
        by = [
            g.at
            for g in fused
            if g.at in memory
            and g.at in unit
            and (worded is None or g.at in worded)
            and memory[g.at]["recency"] > memory[f.at]["recency"]
            and sum(x * y for x, y in zip(unit[g.at], unit[f.at], strict=True)) >= w.same - 1e-9
        ]
        assert any(place[g] < place[f.at] for g in by)  # below a later, similar, worded one


@given(st.data(), scored, scored, memories(), vectors2d)
def test_supersession_is_monotone_and_weight_zero_changes_nothing(
    data: st.DataObject,
    text: list[tuple[Located, float]],
    vector: list[tuple[Located, float]],
    memory: dict[Located, dict[str, float]],
    vectors: dict[Located, list[float]],
) -> None:
    w = _weights(data.draw)
    if w.supersede == 0 and w.diversity == 0:
        assert fuse(text, vector, w, memory, vectors) == fuse(text, vector, w, memory)
    if not text or w.text == 0:
        return
    i = data.draw(st.integers(0, len(text) - 1))
    at, s = text[i]
    before = position(fuse(text, vector, w, memory, vectors), at)
    raised = [*text[:i], (at, s + data.draw(st.floats(0.1, 100))), *text[i + 1 :]]
    raised.sort(key=lambda p: -p[1])
    assert position(fuse(raised, vector, w, memory, vectors), at) <= before


@given(st.data(), scored, scored, memories(), vectors2d)
def test_diversity_reorders_and_lowers_by_redundancy_only(
    data: st.DataObject,
    text: list[tuple[Located, float]],
    vector: list[tuple[Located, float]],
    memory: dict[Located, dict[str, float]],
    vectors: dict[Located, list[float]],
) -> None:
    w = _weights(data.draw)
    fused = fuse(text, vector, w, memory, vectors)
    plain = {f.at: f for f in fuse(text, vector, replace(w, diversity=0.0), memory, vectors)}
    assert {f.at for f in fused} == set(plain)  # nothing dropped, nothing added
    assert all(f.score >= g.score for f, g in itertools.pairwise(fused))  # ranked by score
    for f in fused:
        lowered = plain[f.at].score - w.diversity * f.signals.get("redundancy", 0.0)
        if f.signals.get("superseded"):
            assert f.score <= lowered + 1e-9  # and perhaps lower still, below its superseder
        else:
            assert f.score == pytest.approx(lowered, abs=1e-9)
        assert (w.diversity > 0 and f.at in vectors) or "redundancy" not in f.signals


@given(st.data(), scored, scored, memories())
def test_a_source_of_weight_zero_changes_nothing(
    data: st.DataObject,
    text: list[tuple[Located, float]],
    vector: list[tuple[Located, float]],
    memory: dict[Located, dict[str, float]],
) -> None:
    w = SearchWeights(
        text=data.draw(weight), vector=0.0, recency=data.draw(weight), method=data.draw(methods)
    )
    assert fuse(text, vector, w, memory) == fuse(text, None, w, memory)
    without = SearchWeights(text=w.text, vector=0.0, recency=0.0, method=w.method)
    assert fuse(text, None, without, memory) == fuse(text, None, without, {})


@given(st.data(), scored, scored, memories())
def test_ties_go_by_id_and_partitions_never_mix(
    data: st.DataObject,
    text: list[tuple[Located, float]],
    vector: list[tuple[Located, float]],
    memory: dict[Located, dict[str, float]],
) -> None:
    w = _weights(data.draw)
    fused = fuse(text, vector, w, memory)
    assert fused == sorted(fused, key=lambda f: (-f.score, f.at[1], f.at[0]))
    sources = [s for s, wt in ((text, w.text), (vector, w.vector)) if wt > 0]
    assert {f.at for f in fused} == {at for s in sources for at, _ in s}
    # one partition's candidates in, only that partition's out
    only_t = [p for p in text if p[0][0] == "t"]
    assert all(
        f.at[0] == "t" for f in fuse(only_t, [p for p in vector if p[0][0] == "t"], w, memory)
    )


# ---- the hybrid path of Query.search, on the server ---------------------------------------


class FuNote(Model, partition="user"):
    user: Key[str]
    id: Key[str]
    body: Text[str]
    at: Sorted[datetime]
    vec: Embedding = field(default=None, source="body", provider=HashingEmbedder(64))


class FuMemo(Model, partition="user"):
    user: Key[str]
    id: Key[str]
    body: Text[str]
    at: Sorted[datetime]
    sure: Confidence = field(default=0.5)
    vec: Embedding = field(default=None, source="body", provider=HashingEmbedder(64))


T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _quiet_hashing() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotSemanticWarning)
        yield


def notes(user: str, *bodies: str) -> list[FuNote]:
    out = [
        FuNote(user=user, id=f"n{i}", body=b, at=T0 + timedelta(days=i))
        for i, b in enumerate(bodies)
    ]
    FuNote.save_many(out)
    return out


def test_hybrid_hits_are_fuse_of_the_candidates() -> None:
    saved = notes("ann", "my morning drink is green tea", "the garden needs rain", "tea with milk")
    w = SearchWeights(text=0.3, vector=0.7, recency=0.1, supersede=0.0, diversity=0.0)
    hits = FuNote.query.filter(user="ann").search(
        "morning tea", vector="morning tea", k=3, weights=w
    )
    assert hits[0].record.id == "n0"
    assert all(set(h.signals) == {"recency"} for h in hits)
    # the same scores, recomputed from the hits' raw scores and times
    text = sorted(
        ((("x", h.record.id), h.text_score) for h in hits if h.text_score is not None),
        key=lambda p: -p[1],
    )
    vector = sorted(
        ((("x", h.record.id), h.vector_score) for h in hits if h.vector_score is not None),
        key=lambda p: -p[1],
    )
    memory = {("x", n.id): {"recency": n.at.timestamp()} for n in saved}
    expected = fuse(text, vector, w, memory)
    assert [(h.record.id, h.score) for h in hits] == [(f.at[1], f.score) for f in expected]


def test_supersession_and_diversity_on_cached_vectors_equal_them_on_the_records() -> None:
    # search() compares the vector cache's unit rows; fuse() here the records' own vectors
    saved = notes(
        "ann",
        "my morning drink is green tea",
        "my morning drink is tea with milk",
        "the garden needs rain",
        "morning drink: black coffee now",
        "the morning train was late",
    )
    q = "what is my morning drink now"
    for w in (SearchWeights(), SearchWeights(recency=0.0, same=0.1), SearchWeights(same=0.0)):
        hits = FuNote.query.filter(user="ann").search(q, vector=q, k=5, weights=w)
        text = sorted(
            ((("x", h.record.id), h.text_score) for h in hits if h.text_score is not None),
            key=lambda p: -p[1],
        )
        vector = sorted(
            ((("x", h.record.id), h.vector_score) for h in hits if h.vector_score is not None),
            key=lambda p: -p[1],
        )
        memory = {("x", n.id): {"recency": n.at.timestamp()} for n in saved}
        stored = {("x", n.id): n.vec for n in FuNote.query.filter(user="ann").all()}
        vectors = {at: v for at, v in stored.items() if v is not None}
        expected = fuse(text, vector, w, memory, vectors)
        # float32 cache rows against the records' vectors: equal to rounding
        assert [h.record.id for h in hits] == [f.at[1] for f in expected]
        for h, f in zip(hits, expected, strict=True):
            assert h.score == pytest.approx(f.score, abs=1e-6)
            assert dict(h.signals) == pytest.approx(dict(f.signals), abs=1e-6)
    assert any("superseded" in h.signals for h in hits)


def test_the_current_value_outranks_the_superseded_one() -> None:
    notes(
        "ann",
        "my morning drink is green tea",
        "the garden needs rain",
        "my morning drink is black coffee",
    )
    q = "what is my morning drink now"
    hits = FuNote.query.filter(user="ann").search(q, vector=q, k=2)
    assert [h.record.id for h in hits] == ["n2", "n0"]  # the default weights
    # supersession alone (no recency) does it too
    alone = FuNote.query.filter(user="ann").search(
        q, vector=q, k=2, weights=SearchWeights(recency=0.0)
    )
    assert [h.record.id for h in alone] == ["n2", "n0"]
    assert alone[1].signals["superseded"] == 1.0


def test_a_time_window_composes_with_search() -> None:
    notes("ann", *[f"tea note {i}" for i in range(6)])
    window = FuNote.query.filter(
        user="ann", at__gte=T0 + timedelta(days=2), at__lt=T0 + timedelta(days=4)
    )
    hits = window.search("tea note", vector="tea note", k=10)
    assert sorted(h.record.id for h in hits) == ["n2", "n3"]


def test_weights_choose_the_sources() -> None:
    notes("ann", "alpha beta", "gamma delta", "alpha gamma")
    q = FuNote.query.filter(user="ann")
    only_text = q.search(
        "alpha", vector="alpha", k=3, weights=SearchWeights(vector=0.0, recency=0.0, supersede=0.0)
    )
    assert all(h.vector_score is None for h in only_text)
    assert [h.record.id for h in only_text] == [r.id for r, _ in _text_ranked(q, "alpha", 3)]
    with pytest.raises(QueryError, match="every source given has weight 0"):
        q.search("alpha", k=3, weights=SearchWeights(text=0.0))
    with pytest.raises(QueryError, match="weights takes a SearchWeights"):
        q.search("alpha", k=3, weights={"text": 1.0})  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="time_field='body' is not a Sorted"):
        q.search("alpha", k=3, weights=SearchWeights(time_field="body"))


def _text_ranked(q: Query[FuNote], text: str, k: int) -> list[tuple[FuNote, float]]:
    return [(h.record, h.score) for h in q.search(text, k=k)]


def test_confidence_is_a_signal_where_the_model_has_it() -> None:
    FuMemo.save_many(
        [
            FuMemo(user="ann", id="a", body="tea", at=T0, sure=0.1),
            FuMemo(user="ann", id="b", body="tea", at=T0, sure=0.9),
        ]
    )
    w = SearchWeights(text=1.0, vector=0.0, recency=0.0, confidence=0.5, diversity=0.0)
    hits = FuMemo.query.filter(user="ann").search("tea", k=2, weights=w)
    assert [(h.record.id, h.signals["confidence"]) for h in hits] == [("b", 0.9), ("a", 0.1)]
    assert [h.score for h in hits] == pytest.approx([1.45, 1.05])


def test_asearch_gives_what_search_gives() -> None:
    notes("ann", "my morning drink is green tea", "tea with milk", "garden rain")
    q = FuNote.query.filter(user="ann")
    sync = q.search("tea", vector="tea", k=3)
    assert asyncio.run(q.asearch("tea", vector="tea", k=3)) == sync


words = st.sampled_from(["tea", "coffee", "rain", "garden", "drink", "morning", "milk"])


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(st.sampled_from(["ann", "bob", "cy"]), st.lists(words, min_size=1, max_size=4)),
        min_size=1,
        max_size=20,
    ),
    st.lists(words, min_size=1, max_size=3),
    st.sampled_from(["ann", "bob", "cy"]),
)
def test_no_cross_partition_hit_ever(
    rows: list[tuple[str, list[str]]], query: list[str], user: str
) -> None:
    delete_all(FuNote)
    FuNote.save_many(
        [
            FuNote(user=u, id=f"r{i}", body=" ".join(ws), at=T0 + timedelta(hours=i))
            for i, (u, ws) in enumerate(rows)
        ]
    )
    text = " ".join(query)
    mine = {f"r{i}" for i, (u, _) in enumerate(rows) if u == user}
    for weights in (None, SearchWeights(), SearchWeights(method="rrf", recency=0.5)):
        hits = FuNote.query.filter(user=user).search(text, vector=text, k=50, weights=weights)
        assert all(h.record.user == user for h in hits)
        assert {h.record.id for h in hits} <= mine
