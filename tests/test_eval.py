"""The evaluation harness (``typedis.eval``): the generator's promises, the metrics on
hand-computed cases, the LoCoMo loader on a small file written here."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from typedis.eval import Corpus, content_words, generate, generate_many, load_locomo
from typedis.eval import _harness as h
from typedis.eval._corpus import KINDS
from typedis.eval._metrics import (
    auroc,
    best_threshold,
    mrr,
    ndcg,
    percentile,
    recall_all,
    recall_any,
    session_metrics,
    turn_metrics,
)
from typedis.eval._report import markdown
from typedis.retrieval import HashingEmbedder, NotSemanticWarning, SearchWeights, configure


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return generate(seed=3, users=6, sessions=12, turns=6)


def texts(corpus: Corpus) -> dict[tuple[str, str], str]:
    return {(t.user, t.id): t.text for t in corpus.turns}


def test_a_paraphrase_shares_no_content_word_with_its_answer(corpus: Corpus) -> None:
    said = texts(corpus)
    paraphrases = [q for q in corpus.questions if q.kind == "paraphrase"]
    assert paraphrases
    for q in paraphrases:
        for a in q.answers:
            assert not content_words(q.text) & content_words(said[(q.user, a)]), (q, a)


def test_an_exact_question_shares_words_with_its_answer(corpus: Corpus) -> None:
    said = texts(corpus)
    for q in corpus.questions:
        if q.kind == "exact":
            assert all(content_words(q.text) & content_words(said[(q.user, a)]) for a in q.answers)


def test_content_words_cut_inflections_and_drop_function_words() -> None:
    assert content_words("I was drinking my drinks") == {"drink"}
    assert content_words("What is it now?") == frozenset()


def test_answers_name_turns_that_state_the_value(corpus: Corpus) -> None:
    said = texts(corpus)
    for q in corpus.questions:
        for a in q.answers:
            assert q.value in said[(q.user, a)]


def test_an_update_answers_with_the_latest_value_and_lists_the_older(corpus: Corpus) -> None:
    at = {(t.user, t.id): t.at for t in corpus.turns}
    said = texts(corpus)
    updates = [q for q in corpus.questions if q.kind == "update"]
    assert updates
    for q in updates:
        (answer,) = q.answers
        assert q.stale and all(at[(q.user, s)] < at[(q.user, answer)] for s in q.stale)
        assert all(q.value not in said[(q.user, s)] for s in q.stale)  # the value changed


def test_absent_answers_are_absent_from_the_user_and_present_elsewhere(corpus: Corpus) -> None:
    from typedis.eval._generate import SLOTS

    absent = [q for q in corpus.questions if q.kind == "absent"]
    assert absent
    for q in absent:
        assert not q.answers
        slot = next(s for s in SLOTS if q.text in (s.exact, s.paraphrase))
        stem = slot.state.split("{v}")[0]
        mine = [t.text for t in corpus.turns if t.user == q.user]
        assert not any(v in text for v in slot.values for text in mine if stem in text)
        assert not any(stem in text for text in mine)


def test_tenants_state_the_same_slots_with_their_own_values(corpus: Corpus) -> None:
    assert len(corpus.users) == 6
    asked = {(q.user, q.text) for q in corpus.questions}
    assert len({text for _, text in asked}) < len(asked)  # the same questions across users


@settings(max_examples=5)
@given(st.integers(0, 2**32))
def test_the_same_seed_gives_the_same_corpus(seed: int) -> None:
    one = generate(seed, users=2, sessions=6, turns=6)
    assert one == generate(seed, users=2, sessions=6, turns=6)
    assert one != generate(seed + 1, users=2, sessions=6, turns=6)


def test_several_seeds_pool_into_one_corpus_with_their_users_apart() -> None:
    shape = {"users": 2, "sessions": 4, "turns": 6}
    pooled = generate_many([3, 4], **shape)
    for seed in (3, 4):
        alone = generate(seed, **shape)
        mine = [q for q in pooled.questions if q.user.startswith(f"s{seed}.")]
        assert [(q.kind, q.text, q.answers) for q in mine] == [
            (q.kind, q.text, q.answers) for q in alone.questions
        ]
        assert len([t for t in pooled.turns if t.user.startswith(f"s{seed}.")]) == len(alone.turns)
    assert len(pooled.users) == 4


def test_arguments_that_cannot_be_honoured_are_refused() -> None:
    with pytest.raises(ValueError, match="facts \\+ absent"):
        generate(1, facts=14, absent=2)
    with pytest.raises(ValueError, match="turns >= 2"):
        generate(1, turns=1)


# ---- metrics, by hand -------------------------------------------------------------------


def test_recall_any_and_all() -> None:
    ranked = ["x", "a", "y", "b"]
    assert recall_any(ranked, {"a", "b"}, 1) == 0.0
    assert recall_any(ranked, {"a", "b"}, 2) == 1.0
    assert recall_all(ranked, {"a", "b"}, 3) == 0.0
    assert recall_all(ranked, {"a", "b"}, 4) == 1.0


def test_ndcg_uses_longmemeval_discounts() -> None:
    # gains 0,1,0,1 -> dcg = 0 + 1/1 + 0 + 1/log2(4) = 1.5; ideal 1,1 -> 2
    assert ndcg(["x", "a", "y", "b"], {"a", "b"}, 10, 2) == pytest.approx(0.75)
    # the ideal counts every relevant item of the corpus, retrieved or not
    assert ndcg(["a"], {"a", "b", "c"}, 10, 3) == pytest.approx(1 / (1 + 1 + 1 / math.log2(3)))
    assert ndcg(["a"], set(), 10, 0) == 0.0


def test_mrr() -> None:
    assert mrr(["x", "y", "a"], {"a"}) == pytest.approx(1 / 3)
    assert mrr(["x"], {"a"}) == 0.0


def test_session_metrics_widen_k_to_distinct_sessions() -> None:
    # six turns from two sessions lead; the answer's session is the third distinct one
    of = {f"a{i}": "A" for i in range(4)} | {"b0": "B", "b1": "B", "c0": "C"}
    ranked = ["a0", "a1", "b0", "a2", "b1", "a3", "c0"]
    sizes = {"A": 4, "B": 2, "C": 1}
    m = session_metrics(ranked, {"c0"}, of, sizes)
    assert m["recall@5"] == 1.0  # widened to 7 results: 3 distinct sessions < 5
    assert m["mrr"] == pytest.approx(1 / 7)
    assert turn_metrics(ranked, {"c0"})["recall@5"] == 0.0


def test_abstention_scores() -> None:
    assert auroc([0.9, 0.8], [0.1, 0.85]) == 0.75
    assert auroc([0.5], [0.5]) == 0.5
    assert math.isnan(auroc([], [0.1]))
    assert best_threshold([0.9, 0.8], [0.1, 0.2]) == (0.8, 1.0)
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0], 95) == pytest.approx(1.95)


# ---- LoCoMo ------------------------------------------------------------------------------


def test_the_locomo_loader_reads_a_small_file(tmp_path: Path) -> None:
    conversation = {
        "speaker_a": "Ann",
        "speaker_b": "Bo",
        "session_1_date_time": "1:56 pm on 8 May, 2023",
        "session_1": [
            {"speaker": "Ann", "dia_id": "D1:1", "text": "I adopted a cat named Miso."},
            {"speaker": "Bo", "dia_id": "D1:2", "text": "Lovely!"},
        ],
        "session_2_date_time": "10:02 am on 2 June, 2023",
        "session_2": [{"speaker": "Bo", "dia_id": "D2:1", "text": "I ran a marathon."}],
    }
    qa = [
        {
            "question": "What is Ann's cat called?",
            "answer": "Miso",
            "evidence": ["D1:1"],
            "category": 1,
        },
        {
            "question": "When did Bo run?",
            "answer": "June 2023",
            "evidence": ["D2:1"],
            "category": 2,
        },
        {
            "question": "What is Bo's dog called?",
            "adversarial_answer": "Rex",
            "evidence": ["D1:2"],
            "category": 5,
        },
        {"question": "Unscorable", "answer": "x", "evidence": ["D9:9"], "category": 1},
    ]
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps([{"sample_id": "conv-1", "conversation": conversation, "qa": qa}]))
    corpus = load_locomo(path)
    assert [(t.id, t.session, t.role) for t in corpus.turns] == [
        ("D1:1", "session_1", "Ann"),
        ("D1:2", "session_1", "Bo"),
        ("D2:1", "session_2", "Bo"),
    ]
    assert corpus.turns[0].at.isoformat() == "2023-05-08T13:56:00+00:00"
    assert corpus.turns[2].at.date().isoformat() == "2023-06-02"
    assert [(q.kind, sorted(q.answers)) for q in corpus.questions] == [
        ("exact", ["D1:1"]),
        ("exact", ["D2:1"]),
        ("absent", []),
    ]
    assert corpus.session_of("conv-1", "D2:1") == "session_2"


def test_the_locomo_loader_names_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"not": "a list"}))
    with pytest.raises(ValueError, match="holds a dict, not a list"):
        load_locomo(path)
    path.write_text(json.dumps([{"conversation": {}}]))
    with pytest.raises(ValueError, match="conversation #0 lacks 'sample_id'"):
        load_locomo(path)


# ---- the harness end to end, on the hashing embedder ----------------------------------------


@pytest.fixture
def hashing() -> Iterator[None]:
    configure(embedder=HashingEmbedder(64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotSemanticWarning)
        yield
    configure(embedder=None)


def test_the_harness_end_to_end(hashing: None) -> None:
    corpus = generate(5, users=3, sessions=8, turns=6)  # 144 turns
    h.load(corpus)
    answers = {
        arm: h.run(corpus, arm, SearchWeights() if arm == "hybrid" else None) for arm in h.ARMS
    }
    scored = {arm: h.score(corpus, a) for arm, a in answers.items()}
    for arm, s in scored.items():
        assert s["leaked hits"] == 0, arm
        assert s["questions"] == {k: sum(q.kind == k for q in corpus.questions) for k in KINDS}
        assert set(s["metrics"]) == {"exact", "paraphrase", "update", "all"}
        assert 0.0 <= s["metrics"]["all"]["session recall@5"] <= 1.0
        assert s["latency ms"]["p50"] > 0
    # BM25 finds the worded-alike questions and none of the paraphrases' answer turns
    assert scored["text"]["metrics"]["exact"]["turn recall@10"] == 1.0
    assert scored["text"]["metrics"]["paraphrase"]["turn recall@10"] == 0.0
    # tuning re-fuses the single-source candidates exactly as search fuses them
    w = SearchWeights(supersede=0.8, same=0.3)
    (tuned,) = h.tune(corpus, answers["text"], answers["vector"], [w], h.vectors())
    hybrid = h.score(corpus, h.run(corpus, "hybrid", w))["metrics"]
    assert tuned[1]["session recall@5"] == hybrid["all"]["session recall@5"]
    assert tuned[1]["current@1"] == hybrid["update"]["current@1"]
    result = {
        "command": "test",
        "server": "test",
        "machine": "test",
        "embedder": "hashing",
        "shape": {"users": 3, "sessions": 8, "turns": 6},
        "tune seeds": [5],
        "seeds": [5, 6],
        "default": {"text": w.text},
        "arms": scored,
        "tuning": [
            {
                "weights": {
                    "method": "minmax",
                    "text": 0.3,
                    "vector": 0.7,
                    "recency": 0.1,
                    "supersede": 0.8,
                    "same": 0.3,
                    "diversity": 1.0,
                },
                **tuned[1],
            }
        ],
        "per seed": {5: {"hybrid": scored["hybrid"]["metrics"]}},
    }
    page = markdown(result)
    assert "| hybrid | paraphrase |" in page
    assert "| minmax | 0.3 | 0.7 | 0.1 | 0.8 | 0.3 | 1.0 |" in page
    assert "Held-out seeds 5, 6" in page and "| 5 | hybrid |" in page
