"""The data the harness runs on: turns of conversations, questions about them, their tenants."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, TypeAlias

Kind: TypeAlias = Literal["exact", "paraphrase", "update", "absent"]
"""A question's type: words shared with its answer, none shared, a changed fact, no answer."""

KINDS: tuple[Kind, ...] = ("exact", "paraphrase", "update", "absent")

# Function words: what "content word" leaves out. Short on purpose: a word missing here only
# makes the paraphrase check stricter.
_STOP = frozenset(
    """a about after again all am an and any are as at be been before being but by can could
    did do does doing done for from had has have having he her here hers him his how i if in
    into is it its just me more most my myself no nor not now of off on once only or other our
    ours out over own same she should so some such than that the their theirs them then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours s t d ll m re ve""".split()  # noqa: SIM905
)
_WORD = re.compile(r"[^\W\d_]+")


def content_words(text: str) -> frozenset[str]:
    """The content words of ``text``, each cut to its first five letters.

    Cutting to five letters merges a word's inflections (``drink``, ``drinks``, ``drinking``),
    so two texts that share no cut word share no content word under any stemmer that keeps
    the first five letters of a word — a stricter check than stemming.
    """
    return frozenset(w[:5] for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2)


@dataclass(frozen=True, slots=True)
class Turn:
    """One message of a conversation: the unit that is stored and retrieved."""

    user: str  # the tenant (each user is one partition)
    id: str  # unique within the user
    session: str  # the session it belongs to (unique within the user)
    at: datetime  # when it was said
    role: str  # "user" or "assistant" (LoCoMo: the speaker)
    text: str


@dataclass(frozen=True, slots=True)
class Question:
    """A question asked on behalf of one user, with the turns that answer it.

    ``answers`` holds the ids of the turns that answer it (empty for an ``absent`` question);
    ``stale`` the turns holding a superseded value of the fact it asks about (``update``).
    """

    id: str
    user: str
    kind: Kind
    text: str
    answers: frozenset[str] = frozenset()
    stale: frozenset[str] = frozenset()
    value: str = ""  # the answer's value, for reading the results (not used by the metrics)


@dataclass(frozen=True, slots=True)
class Corpus:
    """Turns and questions over many users, with each turn's session.

    Examples:
        >>> from typedis.eval import generate
        >>> corpus = generate(seed=1, users=2, sessions=4, turns=6)
        >>> sorted(corpus.users)
        ['u000', 'u001']
        >>> len(corpus.turns)
        48
    """

    turns: tuple[Turn, ...]
    questions: tuple[Question, ...]
    sessions: Mapping[tuple[str, str], str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sessions", {(t.user, t.id): t.session for t in self.turns})

    @property
    def users(self) -> frozenset[str]:
        """Every user (tenant) that has a turn."""
        return frozenset(t.user for t in self.turns)

    def session_of(self, user: str, turn_id: str) -> str:
        """The session of one of ``user``'s turns."""
        return self.sessions[(user, turn_id)]

    def session_sizes(self, user: str) -> Mapping[str, int]:
        """How many turns each of ``user``'s sessions holds."""
        sizes: dict[str, int] = {}
        for (u, _), s in self.sessions.items():
            if u == user:
                sizes[s] = sizes.get(s, 0) + 1
        return sizes
