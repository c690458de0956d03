"""Analyzers: how a text becomes the terms a text index holds and a search looks up.

An analyzer is any callable from a text to its list of terms (``Analyzer``); the same one
runs on the client when a record is saved (its terms go to the server with the save) and when
a query is searched, so the server never tokenizes. ``StandardAnalyzer`` is the default:
Unicode word runs, casefolded, English stop words dropped, Snowball stems (PyStemmer).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field as declared
from typing import Protocol, cast, runtime_checkable

import Stemmer

from ._errors import ModelError

_WORD = re.compile(r"\w+")
_LANGUAGES = frozenset(Stemmer.algorithms())

#: English function words: articles, pronouns, auxiliaries, prepositions, conjunctions.
ENGLISH_STOP_WORDS: frozenset[str] = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    yourselves""".split()  # noqa: SIM905 (a word list reads best as prose)
)


@runtime_checkable
class Analyzer(Protocol):
    """Turns a text into its terms (a term may repeat: repetitions are its frequency).

    Examples:
        >>> def lowercase_words(text: str) -> list[str]:
        ...     return text.lower().split()
        >>> isinstance(lowercase_words, Analyzer)
        True
    """

    def __call__(self, text: str, /) -> list[str]: ...


_stemmers = threading.local()  # PyStemmer's stemmers are not safe to share between threads


def _stemmer(language: str) -> Stemmer.Stemmer:
    cache: dict[str, Stemmer.Stemmer] | None = getattr(_stemmers, "cache", None)
    if cache is None:
        cache = _stemmers.cache = {}
    if language not in cache:
        cache[language] = Stemmer.Stemmer(language)
    return cache[language]


@dataclass(frozen=True, slots=True)
class StandardAnalyzer:
    """The default analyzer: ``\\w+`` runs of the casefolded text, stop words dropped, each
    word reduced to its Snowball stem.

    Args:
        language: a Snowball language (``Stemmer.algorithms()``), or None for no stemming.
        stop_words: the words dropped (compared casefolded, before stemming).

    Raises:
        ModelError: ``language`` is not a Snowball language.

    Examples:
        >>> StandardAnalyzer()("The runners were running to the coffee shops")
        ['runner', 'run', 'coffe', 'shop']
        >>> StandardAnalyzer(language=None, stop_words=frozenset())("Straße")
        ['strasse']
    """

    language: str | None = "english"
    stop_words: frozenset[str] = declared(default=ENGLISH_STOP_WORDS)

    def __post_init__(self) -> None:
        if self.language is not None and self.language not in _LANGUAGES:
            raise ModelError(
                f"StandardAnalyzer(language={self.language!r}): not a Snowball language; "
                f"use one of {', '.join(sorted(_LANGUAGES))} or None"
            )

    def __call__(self, text: str, /) -> list[str]:
        stop = self.stop_words
        words = [w for w in _WORD.findall(text.casefold()) if w not in stop]
        if self.language is None or not words:
            return words
        stems: list[str] = _stemmer(self.language).stemWords(words)
        return stems


STANDARD = StandardAnalyzer()
"""The default analyzer of ``Text`` fields."""


def terms(analyzer: Analyzer, text: str) -> list[str]:
    """The terms of ``text`` as a text index keeps them: the analyzer's, without empty ones and
    without NUL characters (the server separates terms with NUL).

    Raises:
        ModelError: the analyzer gave something else than str terms.
    """
    found: Iterable[object] = cast(Iterable[object], analyzer(text))  # as the user gave them
    out: list[str] = []
    for term in found:
        if not isinstance(term, str):
            raise ModelError(f"analyzer {analyzer!r} gave {term!r}; an analyzer gives str terms")
        if t := term.replace("\0", ""):
            out.append(t)
    return out
