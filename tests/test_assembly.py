"""ContextAssembler and AdaptiveAssembler (``typedis.retrieval``) against the real server.

The push path and its threshold, the pull path (cue-blind composite, co-occurrence spread and
its boost, by value), duplicates, ``max_items``; the token budget as a property (never
exceeded, for any counter and format, a record too large skipped, not the end); partition
filters as a property (no tenant's record ever reaches another's context); the three formats
well-formed (xml parses, JSON loads) whatever the text, NUL and markup included; round trips;
the async twins; the adaptive loop's keep and revert with a seeded RNG; typed errors.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from typedis import Confidence, Key, Model, ModelError, QueryError, Sorted, field
from typedis.memory import Associations, Fingerprinted, composite_score, link
from typedis.retrieval import (
    AdaptiveAssembler,
    ContextAssembler,
    Embedding,
    RetrievalQuality,
    Text,
    approximate_tokens,
)
from typedis.retrieval._adaptive import WEIGHT_CEILING, WEIGHT_FLOOR


class ANote(Model, partition="user"):
    user: Key[str]
    id: Key[str]
    body: Fingerprinted[str] = field(default="")
    weight: Sorted[float | None] = field(default=None)
    certainty: Confidence = field(default=0.5)
    related: Associations = field(default=None)


class AFlat(Model):
    id: Key[str]
    body: str = ""
    weight: Sorted[float] = field(default=0.0)
    trust: Sorted[float] = field(default=0.0)


ANN = {"user": "ann"}


def ids(records: Any) -> list[str]:
    return [r.id for r in records]


# ---- defaults -------------------------------------------------------------------------------


def test_the_documented_defaults() -> None:
    a = ContextAssembler(ANote, {ANote.weight: 1.0})
    assert (a.max_items, a.max_tokens, a.surfacing_threshold, a.propagation_depth) == (
        10,
        None,
        0.5,
        2,
    )
    assert (
        a.output_format,
        a.token_counter,
        a.text_weight,
        a.vector_weight,
        a.cooccurrence_weight,
    ) == ("structured", approximate_tokens, 1.0, 1.0, 1.0)
    adaptive = AdaptiveAssembler(a)
    assert (adaptive.window_size, adaptive.weight_perturbation) == (20, 0.05)
    assert (WEIGHT_FLOOR, WEIGHT_CEILING) == (0.05, 0.9)
    assert adaptive.quality_metric(RetrievalQuality(avg_confidence=0.5, fok_score=0.8)) == 0.4


@given(st.text(max_size=200))
def test_approximate_tokens_is_its_formula(text: str) -> None:
    extra = len(text.encode("utf-8", "surrogatepass")) - len(text)
    assert approximate_tokens(text) == math.ceil(len(text) / 4 + extra / 2)
    if text.isascii():
        assert approximate_tokens(text) == math.ceil(len(text) / 4)


def test_approximate_tokens_by_value() -> None:
    assert [approximate_tokens(t) for t in ["", "abcd", "abcde", "é", "茶", "😀"]] == [
        0,
        1,
        2,
        1,
        2,
        2,
    ]


# ---- the push path --------------------------------------------------------------------------


def test_push_surfaces_records_at_or_above_the_threshold() -> None:
    for i, w in enumerate([0.9, 0.5, 0.49, None]):
        ANote(user="ann", id=f"n{i}", weight=w).save()
    result = ContextAssembler(ANote, {ANote.weight: 1.0}).assemble(partition_filters=ANN)
    assert ids(result.records) == ["n0", "n1"]  # 0.49 is below 0.5; None has no score
    assert result.proactive == result.records
    assert (result.push_count, result.pull_count, result.total_candidates) == (2, 0, 2)
    assert result.scores == (0.9, 0.5)
    assert result.round_trips == 1
    low = ContextAssembler(ANote, {ANote.weight: 1.0}, surfacing_threshold=0.4)
    assert ids(low.assemble(partition_filters=ANN).records) == ["n0", "n1", "n2"]


def test_max_items_caps_the_selection() -> None:
    for i in range(6):
        ANote(user="ann", id=f"n{i}", weight=1.0 + i).save()
    result = ContextAssembler(ANote, {ANote.weight: 1.0}, max_items=3).assemble(
        partition_filters=ANN
    )
    assert ids(result.records) == ["n5", "n4", "n3"]


# ---- the pull path --------------------------------------------------------------------------


def test_a_cue_blind_pull_ranks_by_the_composite_in_one_round_trip() -> None:
    for i, w in enumerate([0.1, 0.3, 2.0]):
        AFlat(id=f"f{i}", weight=w, trust=1.0).save()
    assembler = ContextAssembler(AFlat, {AFlat.weight: 1.0, AFlat.trust: 0.5}, max_items=2)
    result = assembler.assemble("anything")
    assert ids(result.records) == ["f2", "f1"]
    assert result.scores == pytest.approx((2.5, 0.8))
    assert (result.pull_count, result.push_count, result.round_trips) == (2, 0, 1)
    want = composite_score(AFlat.query, {AFlat.weight: 1.0, AFlat.trust: 0.5}, limit=2)
    got = list(zip(ids(result.records), result.scores, strict=True))
    assert [(r.id, s) for r, s in want] == got


def test_co_occurrence_spreads_from_the_candidates_with_its_boost() -> None:
    a = ANote(user="ann", id="a", weight=2.0).save()
    ANote(user="ann", id="b", weight=1.5).save()
    far = ANote(user="ann", id="far", weight=-5.0).save()
    hop2 = ANote(user="ann", id="hop2", weight=-6.0).save()
    for i in range(10):  # enough others that neither far nor hop2 is a candidate
        ANote(user="ann", id=f"x{i}", weight=-1.0 + i / 10).save()
    link(ANote.related, a, far, weight=3.0)
    link(ANote.related, far, hop2, weight=4.0)
    weights = {ANote.weight: 1.0}
    assembler = ContextAssembler(ANote, weights, max_items=4, cooccurrence_weight=3.0)
    result = assembler.assemble("x", partition_filters=ANN, assess_quality=True)
    assert result.round_trips == 3  # candidates; propagate; the composite with the boost
    # composite + 3.0 * propagation: far = -5 + 3 * 3.0 (hop 1); hop2 = -6 + 3 * (4.0 * 0.5)
    assert ids(result.records) == ["far", "a", "b", "hop2"]
    assert result.scores == pytest.approx((4.0, 2.0, 1.5, 0.0))
    assert result.quality is not None  # the distribution holds the composite alone
    assert result.quality.score_distribution == pytest.approx((-5.0, 2.0, 1.5, -6.0))
    one_hop = ContextAssembler(ANote, weights, max_items=4, propagation_depth=1)
    assert "hop2" not in ids(one_hop.assemble("x", partition_filters=ANN).records)
    none = ContextAssembler(ANote, weights, max_items=4, propagation_depth=0)
    result = none.assemble("x", partition_filters=ANN)
    assert (ids(result.records), result.round_trips) == (["a", "b", "x9", "x8"], 1)


def test_pull_comes_before_push_without_duplicates() -> None:
    for i, w in enumerate([3.0, 2.0, 1.0]):
        ANote(user="ann", id=f"n{i}", weight=w).save()
    result = ContextAssembler(ANote, {ANote.weight: 1.0}).assemble("q", partition_filters=ANN)
    assert ids(result.records) == ["n0", "n1", "n2"]
    assert result.proactive == ()  # a cue-blind pull already holds what would surface


def test_records_that_render_the_same_text_appear_once() -> None:
    # the same memory stored three times: the prompt gets it once, at its best rank
    for i, (body, w) in enumerate([("likes tea", 3.0), ("likes tea", 2.0), ("likes tea", 1.5)]):
        ANote(user="ann", id=f"n{i}", body=body, weight=w).save()
    ANote(user="ann", id="n3", body="hates coffee", weight=1.0).save()
    bodies = ContextAssembler(ANote, {ANote.weight: 1.0}, fields=["body"])
    result = bodies.assemble(partition_filters=ANN)
    assert ids(result.records) == ["n0", "n3"]
    assert result.formatted.count("likes tea") == 1
    assert (result.push_count, result.total_candidates) == (2, 4)
    # rendered with their ids, the records differ: each is its own item
    whole = ContextAssembler(ANote, {ANote.weight: 1.0})
    assert ids(whole.assemble(partition_filters=ANN).records) == ["n0", "n1", "n2", "n3"]


# ---- the budget -----------------------------------------------------------------------------

TEXT = st.lists(
    st.text(max_size=8)
    | st.sampled_from(["\x00", "<b>", "&amp;", "]]>", "\r\n", '"', "茶", "\x1f"]),
    max_size=8,
).map("".join)
COUNTERS = [
    approximate_tokens,
    len,
    lambda t: len(t) // 3 + t.count("<"),
    lambda t: 1 + len(t.split()),
]


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    bodies=st.lists(TEXT, max_size=8),
    max_tokens=st.integers(0, 400),
    output_format=st.sampled_from(["structured", "xml", "natural"]),
    counter=st.sampled_from(range(len(COUNTERS))),
    vectors=st.booleans(),
)
def test_the_budget_is_never_exceeded(
    redis_client: Any,
    bodies: list[str],
    max_tokens: int,
    output_format: Any,
    counter: int,
    vectors: bool,
) -> None:
    # the push path of a plain model, or a pull by the vector source (VNote, a paraphrase cue)
    redis_client.flushdb()
    model: Any = VNote if vectors else AFlat
    tenant = {"user": "ann"} if vectors else {}
    for i, body in enumerate(bodies):
        model(**tenant, id=f"f{i}", body=body, weight=1.0 + i).save()
    count = COUNTERS[counter]
    cue = PARAPHRASE if vectors else None

    def assembled(**options: Any) -> Any:
        assembler = ContextAssembler(
            model, {model.weight: 1.0}, output_format=output_format, **options
        )
        return assembler.assemble(cue, partition_filters=tenant or None)

    result = assembled(max_tokens=max_tokens, token_counter=count)
    assert count(result.formatted) <= max(max_tokens, count(""))  # "" is the least there is
    assert result.token_count == count(result.formatted)
    everything = ids(assembled().records)
    kept = ids(result.records)
    assert kept == [i for i in everything if i in kept]  # a subsequence, in rank order
    well_formed(result.formatted, output_format, len(kept))


def test_a_record_too_large_is_skipped_not_the_end() -> None:
    AFlat(id="big", body="word " * 400, weight=3.0).save()
    AFlat(id="small", body="tea", weight=2.0).save()
    AFlat(id="tiny", body="", weight=1.0).save()
    result = ContextAssembler(AFlat, {AFlat.weight: 1.0}, max_tokens=60).assemble()
    assert ids(result.records) == ["small", "tiny"]
    assert approximate_tokens(result.formatted) <= 60


def test_no_frame_fits_gives_empty_text() -> None:
    AFlat(id="a", body="tea", weight=1.0).save()
    result = ContextAssembler(AFlat, {AFlat.weight: 1.0}, max_tokens=1, output_format="xml")
    got = result.assemble()
    assert (got.records, got.formatted, got.token_count) == ((), "", 0)


# ---- formats --------------------------------------------------------------------------------


def well_formed(text: str, output_format: str, n: int) -> None:
    if not text and not n:  # not even the empty frame fitted the budget
        return
    if output_format == "structured":
        assert len(json.loads(text)) == n
    elif output_format == "xml":
        assert len(ET.fromstring(text).findall("record")) == n
    else:
        assert len(text.splitlines()) == n
        assert [line.split(". ", 1)[0] for line in text.splitlines()] == [
            str(i) for i in range(1, n + 1)
        ]


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=TEXT)
def test_user_text_is_escaped_in_every_format(redis_client: Any, body: str) -> None:
    redis_client.flushdb()
    AFlat(id="a", body=body, weight=1.0).save()
    xml = ContextAssembler(AFlat, {AFlat.weight: 1.0}, output_format="xml", fields=["body"])
    root = ET.fromstring(xml.assemble().formatted)
    shown = root.findtext("record/body") or ""
    legal = "".join(
        "\ufffd" if (ord(c) < 32 and c not in "\t\n\r") or 0xD800 <= ord(c) <= 0xDFFF else c
        for c in body
    )
    assert shown == legal.replace("\r\n", "\n").replace("\r", "\n")
    structured = ContextAssembler(AFlat, {AFlat.weight: 1.0}, fields=["body"])
    assert json.loads(structured.assemble().formatted) == ([{"body": body}])
    natural = ContextAssembler(AFlat, {AFlat.weight: 1.0}, output_format="natural")
    assert len(natural.assemble().formatted.splitlines()) == 1


def test_the_three_formats_by_value() -> None:
    AFlat(id="a", body='say "hi" <b>', weight=2.0).save()
    AFlat(id="b", body="", weight=1.0).save()

    def shown(fmt: Any) -> str:
        return (
            ContextAssembler(
                AFlat, {AFlat.weight: 1.0}, output_format=fmt, fields=["id", "body", "weight"]
            )
            .assemble()
            .formatted
        )

    assert (
        shown("natural")
        == '1. id: a, body: say "hi" <b>, weight: 2.0\n2. id: b, body: , weight: 1.0'
    )
    assert shown("xml") == (
        '<records>\n  <record>\n    <id>a</id>\n    <body>say "hi" &lt;b&gt;</body>\n'
        "    <weight>2.0</weight>\n  </record>\n  <record>\n    <id>b</id>\n    <body></body>\n"
        "    <weight>1.0</weight>\n  </record>\n</records>"
    )
    assert json.loads(shown("structured")) == [
        {"id": "a", "body": 'say "hi" <b>', "weight": 2.0},
        {"id": "b", "body": "", "weight": 1.0},
    ]
    assert ContextAssembler(AFlat, {AFlat.weight: 1.0}).assemble().formatted.startswith("[\n  {")


def test_empty_results_in_each_format(redis_client: Any) -> None:
    got = {
        fmt: ContextAssembler(AFlat, {AFlat.weight: 1.0}, output_format=fmt).assemble().formatted
        for fmt in ("structured", "xml", "natural")
    }
    assert got == {"structured": "[]", "xml": "<records>\n</records>", "natural": ""}


# ---- partitions -----------------------------------------------------------------------------


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["ann", "bob", "cy"]), st.sampled_from([-1.0, 0.2, 0.6, 3.0])),
        max_size=14,
    ),
    links=st.lists(st.tuples(st.integers(0, 13), st.integers(0, 13)), max_size=10),
    cue=st.none() | st.sampled_from(["tea", "x"]),
)
def test_partition_filters_never_mix_tenants(
    redis_client: Any, rows: list[tuple[str, float]], links: list[tuple[int, int]], cue: str | None
) -> None:
    redis_client.flushdb()
    saved = [
        ANote(user=u, id=f"n{i}", body="tea", weight=w).save() for i, (u, w) in enumerate(rows)
    ]
    for i, j in links:
        if i < len(saved) and j < len(saved) and i != j and saved[i].user == saved[j].user:
            link(ANote.related, saved[i], saved[j])
    assembler = ContextAssembler(ANote, {ANote.weight: 1.0, ANote.certainty: 0.1}, max_items=4)
    for user in ("ann", "bob", "cy"):
        result = assembler.assemble(cue, partition_filters={"user": user}, assess_quality=True)
        assert all(r.user == user for r in result.records)
        assert result.quality is not None
        q = assembler.assess(cue, partition_filters={"user": user})
        assert all(r.user == user for r in result.proactive)
        assert 0.0 <= q.fok_score <= 1.0


def test_filters_must_name_one_partition() -> None:
    assembler = ContextAssembler(ANote, {ANote.weight: 1.0})
    with pytest.raises(QueryError, match="one partition"):
        assembler.assemble()
    with pytest.raises(QueryError, match="one partition"):
        assembler.assemble(partition_filters={"user__in": ["ann", "bob"]})
    with pytest.raises(QueryError):
        assembler.assemble(partition_filters={"nope": 1})


# ---- quality --------------------------------------------------------------------------------


def test_assess_quality_is_computed_from_the_same_round_trips() -> None:
    ANote(user="ann", id="a", body="green tea", weight=0.9, certainty=0.8).save()
    ANote(user="ann", id="b", body="coffee", weight=0.3, certainty=0.2).save()
    assembler = ContextAssembler(ANote, {ANote.weight: 1.0})
    plain = assembler.assemble({"drink": "tea"}, partition_filters=ANN)
    result = assembler.assemble({"drink": "tea"}, partition_filters=ANN, assess_quality=True)
    assert plain.quality is None and result.round_trips == plain.round_trips
    q = result.quality
    assert q is not None
    assert q.avg_confidence == pytest.approx(0.5)
    assert q.score_distribution == (0.9, 0.3)
    cue = q.per_cue_fok["tea"]
    assert (cue.cue_familiarity, cue.partial_retrieval_count, cue.subthreshold_activation) == (
        1.0,
        0.2,
        0.5,
    )
    assert q.fok_score == pytest.approx(0.4 + 0.08 + 0.1)
    assert assembler.assess("cats", partition_filters=ANN).per_cue_fok["cats"].cue_familiarity == 0


def test_assess_probes_at_most_probe_limit() -> None:
    for i in range(5):
        ANote(user="ann", id=f"n{i}", weight=1.0 + i).save()
    assembler = ContextAssembler(ANote, {ANote.weight: 1.0}, max_items=4)
    q = assembler.assess("x", partition_filters=ANN, probe_limit=2)
    assert q.score_distribution == (5.0, 4.0)
    assert q.per_cue_fok["x"].partial_retrieval_count == 0.5  # 2 candidates of max_items 4
    assert assembler.assess(None, partition_filters=ANN).fok_score == 0.0


# ---- async ----------------------------------------------------------------------------------


def test_the_async_twins_agree() -> None:
    a = ANote(user="ann", id="a", body="tea", weight=1.0).save()
    b = ANote(user="ann", id="b", weight=0.7).save()
    link(ANote.related, a, b)
    assembler = ContextAssembler(ANote, {ANote.weight: 1.0}, output_format="xml")
    sync = assembler.assemble("tea", partition_filters=ANN, assess_quality=True)
    got = asyncio.run(assembler.aassemble("tea", partition_filters=ANN, assess_quality=True))
    assert got == sync
    assert asyncio.run(assembler.aassess("tea", partition_filters=ANN)) == assembler.assess(
        "tea", partition_filters=ANN
    )


# ---- the adaptive loop ----------------------------------------------------------------------


def mean_score(q: RetrievalQuality) -> float:
    return sum(q.score_distribution) / max(len(q.score_distribution), 1)


def run_loop(seed: int, calls: int) -> list[tuple[dict[str, float], bool, float | None]]:
    inner = ContextAssembler(AFlat, {AFlat.weight: 0.5, AFlat.trust: 0.5})
    adaptive = AdaptiveAssembler(
        inner, window_size=3, quality_metric=mean_score, rng=random.Random(seed)
    )
    trail = []
    for _ in range(calls):
        adaptive.assemble()
        named = {ref.name: w for ref, w in adaptive.current_weights.items()}
        trail.append((named, adaptive.is_testing_candidate, adaptive.baseline_quality))
    return trail


def test_the_loop_keeps_an_improvement_and_reverts_a_regression() -> None:
    AFlat(id="a", weight=1.0, trust=0.0).save()  # more weight on "weight" scores higher
    seen = {"kept": 0, "reverted": 0}
    for seed in range(6):
        trail = run_loop(seed, 12)
        assert trail[:2] == [({"weight": 0.5, "trust": 0.5}, False, None)] * 2
        named, testing, baseline = trail[2]  # the first window is full: a candidate
        assert testing and baseline == 0.5
        assert sorted(named.values()) == pytest.approx([0.45, 0.55])
        after = trail[5]  # the candidate's window is full: kept or reverted
        assert not after[1]
        if named["weight"] > named["trust"]:  # an improvement (0.55 > 0.5): kept
            assert after[0] == named and after[2] == pytest.approx(0.55)
            seen["kept"] += 1
        else:  # a regression (0.45): the baseline comes back
            assert after[0] == {"weight": 0.5, "trust": 0.5} and after[2] == 0.5
            seen["reverted"] += 1
        assert run_loop(seed, 12) == trail  # the same seed, the same run
    assert seen["kept"] and seen["reverted"]


def test_weights_stay_within_the_floor_and_ceiling() -> None:
    AFlat(id="a", weight=1.0, trust=0.0).save()
    inner = ContextAssembler(AFlat, {AFlat.weight: 0.9, AFlat.trust: 0.05})
    adaptive = AdaptiveAssembler(
        inner, window_size=1, quality_metric=mean_score, rng=random.Random(3)
    )
    for _ in range(20):
        adaptive.assemble()
        assert all(WEIGHT_FLOOR <= w <= WEIGHT_CEILING for w in adaptive.current_weights.values())
    single = AdaptiveAssembler(ContextAssembler(AFlat, {AFlat.weight: 1.0}), window_size=1)
    single.assemble()
    assert not single.is_testing_candidate and single.baseline_quality is not None
    assert asyncio.run(single.aassemble()).quality is not None


# ---- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_items": 0}, "max_items"),
        ({"max_items": 1.5}, "max_items"),
        ({"max_tokens": -1}, "max_tokens"),
        ({"surfacing_threshold": math.inf}, "surfacing_threshold"),
        ({"propagation_depth": -1}, "propagation_depth"),
        ({"output_format": "yaml"}, "output_format"),
        ({"token_counter": 3}, "token_counter"),
        ({"fields": ["nope"]}, "fields"),
        ({"fields": "body"}, "fields"),
        ({"text_weight": -1.0}, "text_weight"),
        ({"vector_weight": math.inf}, "vector_weight"),
        ({"vector_weight": -0.5}, "vector_weight"),
        ({"cooccurrence_weight": math.nan}, "cooccurrence_weight"),
    ],
)
def test_bad_options_are_query_errors(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(QueryError, match=match):
        ContextAssembler(AFlat, {AFlat.weight: 1.0}, **kwargs)


def test_bad_arguments_are_typed_errors() -> None:
    with pytest.raises(ModelError, match="model class"):
        ContextAssembler(dict, {})  # type: ignore[type-var]
    with pytest.raises(QueryError, match="field references"):
        ContextAssembler(AFlat, {"weight": 1.0})  # type: ignore[dict-item]
    with pytest.raises(QueryError, match="empty"):
        ContextAssembler(AFlat, {})
    with pytest.raises(QueryError, match="of ANote"):
        ContextAssembler(AFlat, {ANote.weight: 1.0})  # type: ignore[dict-item]
    assembler = ContextAssembler(AFlat, {AFlat.weight: 1.0})
    with pytest.raises(QueryError, match="query_cues"):
        assembler.assemble({"a": 1})  # type: ignore[dict-item]
    with pytest.raises(QueryError, match="query_cues"):
        assembler.assemble(3)  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="partition_filters"):
        assembler.assemble(partition_filters=[("id", "a")])  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="assess_quality"):
        assembler.assemble(assess_quality=1)  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="probe_limit"):
        assembler.assess("x", probe_limit=0)
    with pytest.raises(QueryError, match="xml"):
        ContextAssembler(_Odd, {_Odd.weight: 1.0}, output_format="xml")
    with pytest.raises(QueryError, match="inner"):
        AdaptiveAssembler(object())  # type: ignore[arg-type]
    for bad in (
        {"window_size": 0},
        {"weight_perturbation": 0.0},
        {"rng": 3},
        {"quality_metric": 1},
    ):
        with pytest.raises(QueryError):
            AdaptiveAssembler(assembler, **bad)


class _Odd(Model):
    id: Key[str]
    weight: Sorted[float] = field(default=0.0)
    ünïcode: str = ""


# ---- the pull path by text search -----------------------------------------------------------


class TNote(Model, partition="user"):
    user: Key[str]
    id: Key[str]
    body: Text[str] = field(default="")
    weight: Sorted[float] = field(default=0.0)
    related: Associations = field(default=None)


def test_search_hits_are_ranked_by_composite_plus_normalised_bm25() -> None:
    TNote(user="ann", id="t1", body="green tea in the morning", weight=0.1).save()
    TNote(user="ann", id="t2", body="tea tea tea and more tea", weight=0.2).save()
    TNote(user="ann", id="t3", body="black coffee", weight=0.3).save()
    TNote(user="ann", id="t4", body="a note on tea", weight=-1.0).save()
    TNote(user="bob", id="t5", body="tea for bob", weight=9.0).save()
    hits = TNote.query.filter(user="ann").search("green tea", k=10)
    best = max(h.score for h in hits)
    want = {h.record.id: h.record.weight + h.score / best for h in hits}
    assembler = ContextAssembler(TNote, {TNote.weight: 1.0}, propagation_depth=0)
    result = assembler.assemble({"q": "green tea"}, partition_filters=ANN)
    pulled = [r for r in result.records if r not in result.proactive]
    assert {r.id: s for r, s in zip(result.records, result.scores, strict=True) if r in pulled} == (
        pytest.approx(want)
    )
    assert ids(pulled) == sorted(want, key=lambda i: -want[i])
    assert result.round_trips == 2  # search + push path together; the boosted composite
    assert all(r.user == "ann" for r in result.records)
    assert "t3" not in ids(pulled)  # no cue word: not pulled
    text_only = ContextAssembler(TNote, {}, propagation_depth=0)
    result = text_only.assemble("green tea", partition_filters=ANN)
    assert ids(result.records) == [h.record.id for h in hits]  # BM25 order alone
    assert result.scores == pytest.approx(tuple(h.score / best for h in hits))


def test_search_pull_spreads_and_push_surfaces_the_rest() -> None:
    tea = TNote(user="ann", id="tea", body="green tea", weight=0.1).save()
    cup = TNote(user="ann", id="cup", body="a blue cup", weight=0.0).save()
    TNote(user="ann", id="plan", body="quarterly plan", weight=0.8).save()
    link(TNote.related, tea, cup, weight=2.0)
    assembler = ContextAssembler(TNote, {TNote.weight: 1.0})
    result = assembler.assemble("tea", partition_filters=ANN, assess_quality=True)
    assert ids(result.records) == ["cup", "tea", "plan"]  # cup: 0.0 + 2.0 * edge 1.0
    assert result.scores == pytest.approx((2.0, 1.1, 0.8))
    assert ids(result.proactive) == ["plan"]  # surfaced by itself: 0.8 >= 0.5
    assert (result.pull_count, result.push_count, result.round_trips) == (2, 1, 3)
    assert result.quality is not None
    cue = result.quality.per_cue_fok["tea"]
    assert cue.partial_retrieval_count == 0.1  # one search candidate of max_items 10
    nothing = assembler.assemble("zebra", partition_filters=ANN)
    assert ids(nothing.records) == ["plan"] and nothing.round_trips == 1
    stop_words = assembler.assemble("the of and", partition_filters=ANN)  # no term to search
    assert ids(stop_words.records) == ["plan"] and stop_words.round_trips == 1
    q = assembler.assess("tea", partition_filters=ANN)
    assert q.score_distribution == pytest.approx((0.1,))  # the score less its boost


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["ann", "bob"]),
            st.lists(st.sampled_from(["tea", "cup", "dog", "plan"]), min_size=1, max_size=3),
            st.sampled_from([-1.0, 0.2, 0.9]),
        ),
        max_size=12,
    ),
    cue=st.sampled_from(["tea", "dog cup", "plan tea"]),
)
def test_search_never_mixes_tenants(
    redis_client: Any, rows: list[tuple[str, list[str], float]], cue: str
) -> None:
    redis_client.flushdb()
    for i, (user, words, w) in enumerate(rows):
        TNote(user=user, id=f"n{i}", body=" ".join(words), weight=w).save()
    assembler = ContextAssembler(TNote, {TNote.weight: 1.0}, max_items=3)
    for user in ("ann", "bob"):
        result = assembler.assemble(cue, partition_filters={"user": user})
        assert all(r.user == user for r in result.records)
        mine = {f"n{i}" for i, (u, *_) in enumerate(rows) if u == user}
        assert set(ids(result.records)) <= mine


# ---- the pull path by vectors ---------------------------------------------------------------

DRINK = "my usual morning drink is green tea"
PARAPHRASE = "which beverage do I have after I wake up"
BOTH = {"drink": PARAPHRASE, "where": "green tea cupboard"}


CHOSEN = {
    DRINK: [1.0, 0.0, 0.0],
    "the quarterly plan is due friday": [0.0, 1.0, 0.0],
    "green tea leaves in the cupboard": [0.6, 0.8, 0.0],
    "a note": [-1.0, 0.0, 0.0],
    PARAPHRASE: [0.9, 0.1, 0.0],
    " ".join(BOTH.values()): [0.8, 0.6, 0.0],
}


class Meanings:
    """A provider (user code, not a stand-in for the server) giving the sentences of ``CHOSEN``
    their vectors, and any other text one made from its length."""

    dimension = 3

    def embed(self, texts: Any) -> list[list[float]]:
        return [CHOSEN.get(t, [1.0, float(len(t) % 5), 0.5]) for t in texts]

    async def aembed(self, texts: Any) -> list[list[float]]:
        return self.embed(texts)


class SNote(Model, partition="user"):
    user: Key[str]
    id: Key[str]
    body: Text[str] = field(default="")
    weight: Sorted[float] = field(default=0.0)
    related: Associations = field(default=None)
    vec: Embedding = field(default=None, source="body", provider=Meanings())


class VNote(Model, partition="user"):
    user: Key[str]
    id: Key[str]
    body: str = ""
    weight: Sorted[float] = field(default=0.0)
    vec: Embedding = field(default=None, source="body", provider=Meanings())


def drinks(model: Any) -> None:
    for i, (body, w) in enumerate(
        [
            (DRINK, 0.1),
            ("the quarterly plan is due friday", 0.2),
            ("green tea leaves in the cupboard", 0.0),
            ("a note", 0.3),
        ]
    ):
        model(user="ann", id=f"t{i + 1}", body=body, weight=w).save()
    model(user="bob", id="b1", body=DRINK, weight=9.0).save()


@pytest.mark.parametrize("model", [SNote, VNote])
def test_a_paraphrase_is_found_by_the_vector_source_alone(model: Any) -> None:
    drinks(model)
    semantic = ContextAssembler(model, {model.weight: 1.0}, max_items=1)
    result = semantic.assemble(PARAPHRASE, partition_filters=ANN)
    assert ids(result.records) == ["t1"]  # cosine 0.99: no word in common
    assert result.pull_count == 1
    blind = ContextAssembler(model, {model.weight: 1.0}, max_items=1, vector_weight=0.0)
    result = blind.assemble(PARAPHRASE, partition_filters=ANN)
    assert "t1" not in ids(result.records)  # BM25 finds nothing; without Text: the composite
    q = semantic.assess(PARAPHRASE, partition_filters=ANN, probe_limit=1)
    assert q.score_distribution == pytest.approx((0.1,))  # t1's composite, its boost taken off


def test_vector_pull_scores_are_composite_plus_both_normalised_sources() -> None:
    drinks(SNote)
    text = " ".join(BOTH.values())
    bm25 = {h.record.id: h.score for h in SNote.query.filter(user="ann").search(text, k=10)}
    assert set(bm25) == {"t1", "t3"}
    cue = [0.8, 0.6, 0.0]
    cosine = {
        f"t{i + 1}": sum(a * b for a, b in zip(cue, v, strict=True))
        for i, v in enumerate([CHOSEN[DRINK], [0.0, 1.0, 0.0], [0.6, 0.8, 0.0], [-1.0, 0.0, 0.0]])
    }
    weights = {"t1": 0.1, "t2": 0.2, "t3": 0.0, "t4": 0.3}
    want = {
        rid: weights[rid]
        + 0.5 * bm25.get(rid, 0.0) / max(bm25.values())
        + 2.0 * max(cosine[rid], 0.0) / max(cosine.values())
        for rid in weights
    }
    assert want["t4"] == pytest.approx(0.3)  # a negative cosine counts as 0
    assembler = ContextAssembler(
        SNote, {SNote.weight: 1.0}, propagation_depth=0, text_weight=0.5, vector_weight=2.0
    )
    result = assembler.assemble(BOTH, partition_filters=ANN, assess_quality=True)
    got = dict(zip(ids(result.records), result.scores, strict=True))
    assert got == pytest.approx(want)
    assert ids(result.records) == sorted(want, key=lambda rid: -want[rid])
    assert (result.total_candidates, result.proactive) == (4, ())
    assert result.quality is not None
    assert result.quality.score_distribution == pytest.approx([weights[r] for r in got])


def test_the_vector_source_costs_no_round_trip() -> None:
    drinks(SNote)
    tea = SNote.query.get(user="ann", id="t1")
    plan = SNote.query.get(user="ann", id="t2")
    link(SNote.related, tea, plan)
    for depth, trips in ((0, 2), (2, 3)):  # sources + push; (propagate;) the composite
        both = ContextAssembler(SNote, {SNote.weight: 1.0}, propagation_depth=depth)
        text_only = ContextAssembler(
            SNote, {SNote.weight: 1.0}, propagation_depth=depth, vector_weight=0.0
        )
        for cues in (BOTH, "green tea"):
            assert text_only.assemble(cues, partition_filters=ANN).round_trips == trips
            assert both.assemble(cues, partition_filters=ANN).round_trips == trips
            quality = both.assemble(cues, partition_filters=ANN, assess_quality=True)
            assert quality.round_trips == trips
    vector_only = ContextAssembler(VNote, {VNote.weight: 1.0})
    drinks(VNote)
    assert vector_only.assemble(PARAPHRASE, partition_filters=ANN).round_trips == 2


def test_the_async_twins_agree_with_the_vector_source() -> None:
    drinks(SNote)
    assembler = ContextAssembler(SNote, {SNote.weight: 1.0}, max_items=3)
    for cues in (BOTH, PARAPHRASE):
        sync = assembler.assemble(cues, partition_filters=ANN, assess_quality=True)
        got = asyncio.run(assembler.aassemble(cues, partition_filters=ANN, assess_quality=True))
        assert got == sync
        assert asyncio.run(assembler.aassess(cues, partition_filters=ANN)) == assembler.assess(
            cues, partition_filters=ANN
        )


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["ann", "bob", "cy"]),
            st.sampled_from([*CHOSEN, "tea", "dog cup"]),
            st.sampled_from([-1.0, 0.2, 0.9]),
        ),
        max_size=12,
    ),
    cue=st.sampled_from([PARAPHRASE, "tea", "plan friday"]),
    vector_only=st.booleans(),
)
def test_the_vector_source_never_mixes_tenants(
    redis_client: Any, rows: list[tuple[str, str, float]], cue: str, vector_only: bool
) -> None:
    redis_client.flushdb()
    model: Any = VNote if vector_only else SNote
    for i, (user, body, w) in enumerate(rows):
        model(user=user, id=f"n{i}", body=body, weight=w).save()
    assembler = ContextAssembler(model, {model.weight: 1.0}, max_items=3)
    for user in ("ann", "bob", "cy"):
        result = assembler.assemble(cue, partition_filters={"user": user}, assess_quality=True)
        mine = {f"n{i}" for i, (u, *_) in enumerate(rows) if u == user}
        assert set(ids(result.records)) <= mine
        assert result.total_candidates <= len(mine)
        q = assembler.assess(cue, partition_filters={"user": user})
        assert len(q.score_distribution) <= len(mine)
