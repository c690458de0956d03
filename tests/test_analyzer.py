"""Analyzers (``typedis.retrieval``): the default word split, casefold, stop words and Snowball
stems; custom analyzers; what a text index keeps of their terms."""

from __future__ import annotations

import re
import threading
from typing import Annotated

import pytest
from hypothesis import given
from hypothesis import strategies as st

from typedis import Key, Model, ModelError
from typedis._analyzer import STANDARD, terms
from typedis.retrieval import BM25, ENGLISH_STOP_WORDS, Analyzer, StandardAnalyzer


def test_the_default_analyzer_stems_and_drops_stop_words() -> None:
    assert STANDARD("The Runners were RUNNING to the coffee-shops!") == [
        "runner",
        "run",
        "coffe",
        "shop",
    ]
    assert STANDARD("") == []
    assert STANDARD("the of and") == []
    assert STANDARD("Connected connections connecting") == ["connect"] * 3


def test_unicode_words_are_casefolded() -> None:
    plain = StandardAnalyzer(language=None, stop_words=frozenset())
    assert plain("Straße ΣΊΣΥΦΟΣ naïve 東京タワー 42_x") == [
        "strasse",
        "σίσυφοσ",
        "naïve",
        "東京タワー",
        "42_x",
    ]
    assert StandardAnalyzer(language="german")("Häuser") == ["haus"]


@given(st.text())
def test_one_term_per_word_that_is_not_a_stop_word(text: str) -> None:
    words = [w for w in re.findall(r"\w+", text.casefold()) if w not in ENGLISH_STOP_WORDS]
    assert len(STANDARD(text)) == len(words)
    plain = StandardAnalyzer(language=None)
    assert plain(text) == words
    assert all(term for term in STANDARD(text))


@given(st.lists(st.text(), max_size=5))
def test_the_index_keeps_no_empty_term_and_no_nul(found: list[str]) -> None:
    kept = terms(lambda text: found, "ignored")
    assert kept == [t.replace("\0", "") for t in found if t.replace("\0", "")]
    assert all(t and "\0" not in t for t in kept)


def test_custom_analyzers_are_callables() -> None:
    def trigrams(text: str) -> list[str]:
        return [text[i : i + 3] for i in range(len(text) - 2)]

    assert isinstance(trigrams, Analyzer)
    assert isinstance(STANDARD, Analyzer)

    class AnTrigram(Model):
        id: Key[str]
        body: Annotated[str, BM25(analyzer=trigrams)]

    AnTrigram(id="a", body="espresso").save()
    AnTrigram(id="b", body="pressure").save()
    hits = AnTrigram.query.search("xpres", k=5)  # xpr, pre, res
    assert [h.record.id for h in hits] == ["a", "b"]


def test_an_analyzer_giving_other_than_str_is_refused_before_the_write() -> None:
    def numbers(text: str) -> list[str]:
        return [len(text)]  # type: ignore[list-item]

    class AnNumbers(Model):
        id: Key[str]
        body: Annotated[str, BM25(analyzer=numbers)]

    with pytest.raises(ModelError, match="gives str terms"):
        AnNumbers(id="a", body="text").save()
    assert AnNumbers.query.count() == 0


def test_an_unknown_language_is_refused() -> None:
    with pytest.raises(ModelError, match="not a Snowball language"):
        StandardAnalyzer(language="klingon")


def test_threads_share_the_analyzer() -> None:
    text = "running runners ran quickly " * 50
    want = STANDARD(text)
    found: list[list[str]] = []

    def work() -> None:
        for _ in range(50):
            found.append(STANDARD(text))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(found) == 200
    assert all(f == want for f in found)
