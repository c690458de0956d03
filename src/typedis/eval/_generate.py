"""An offline, seeded generator of multi-user conversation histories with planted facts.

Each user (tenant) talks over ``sessions`` sessions of ``turns`` turns. Some user turns plant a
fact about them (a slot such as their morning drink, with a value drawn per user); some facts
are later updated (a later session says the value changed); the rest of the turns are chatter,
some of it near the facts' topics. Questions of four kinds are asked per user:

- ``exact``: worded like the fact (shares content words with it);
- ``paraphrase``: shares no content word with the turn that answers it (checked here, on the
  whole turn, by ``content_words``: a generated pair that fails the check is an error);
- ``update``: "what is X now" about an updated fact: the answer is the latest turn, the turns
  that stated an older value are ``stale``;
- ``absent``: about a slot this user never mentioned (other users did: a search that leaks
  across tenants would find theirs).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from ._corpus import Corpus, Kind, Question, Turn, content_words


@dataclass(frozen=True, slots=True)
class _Slot:
    name: str
    state: str  # the planted statement ({v}: the value)
    exact: str  # a question worded like the statement
    paraphrase: str  # the same question, no content word shared with the statement
    values: tuple[str, ...]
    near: str  # chatter on the slot's topic that does not state the fact
    update: str = ""  # the statement of a new value (empty: the slot is never updated)
    now: str = ""  # "what is it now"


SLOTS: tuple[_Slot, ...] = (
    _Slot(
        "drink",
        "My usual morning drink is {v}.",
        "What is my usual morning drink?",
        "Which beverage do I have right after I wake up?",
        ("oat milk latte", "green tea", "black coffee", "hot chocolate", "matcha", "chai"),
        "The café near the station changed its morning menu again.",
        "I've switched my morning drink to {v}.",
        "What is my morning drink now?",
    ),
    _Slot(
        "city",
        "I moved into an apartment in {v} last year.",
        "Which city is my apartment in?",
        "Where do I reside these days?",
        ("Lisbon", "Denver", "Oslo", "Kyoto", "Toronto", "Melbourne", "Austin", "Dublin"),
        "Apartment prices in the city keep climbing.",
        "I just relocated, my apartment is in {v} now.",
        "Which city is my apartment in now?",
    ),
    _Slot(
        "pet",
        "Our dog is named {v}.",
        "What is our dog named?",
        "What do we call the puppy?",
        ("Biscuit", "Pepper", "Rocket", "Mango", "Luna", "Ziggy"),
        "A dog in the park named every bench its own.",
    ),
    _Slot(
        "job",
        "I work as a {v}.",
        "What do I work as?",
        "What is my profession?",
        ("nurse", "architect", "pilot", "accountant", "teacher", "carpenter"),
        "Work was hectic for everyone this week.",
        "I changed careers and now work as a {v}.",
        "What do I work as now?",
    ),
    _Slot(
        "car",
        "I drive a {v} to work.",
        "What car do I drive?",
        "Which vehicle do I own?",
        ("Subaru Outback", "Honda Civic", "Ford Ranger", "Mazda Miata", "Volvo wagon"),
        "The car wash on the corner finally reopened.",
        "I traded in my old car and now drive a {v}.",
        "What car do I drive now?",
    ),
    _Slot(
        "sport",
        "I play {v} every weekend.",
        "Which sport do I play every weekend?",
        "What game keeps me active on Saturdays and Sundays?",
        ("tennis", "squash", "badminton", "volleyball", "basketball", "golf"),
        "The sport channel showed highlights all weekend.",
        "I gave up my old sport and now play {v} every weekend.",
        "Which sport do I play now?",
    ),
    _Slot(
        "allergy",
        "I'm allergic to {v}.",
        "What am I allergic to?",
        "Which ingredient gives me a bad reaction?",
        ("peanuts", "shellfish", "gluten", "dairy", "sesame", "strawberries"),
        "My cousin thinks everyone is allergic to something.",
    ),
    _Slot(
        "language",
        "I'm learning {v} on an app.",
        "Which language am I learning?",
        "What foreign tongue am I studying?",
        ("Portuguese", "Japanese", "German", "Korean", "Italian", "Swahili"),
        "Learning anything on an app takes discipline.",
        "I stopped that and started learning {v} instead.",
        "Which language am I learning now?",
    ),
    _Slot(
        "partner",
        "My wife's name is {v}.",
        "What is my wife's name?",
        "Who am I married to?",
        ("Maria", "Priya", "Hannah", "Sofia", "Aiko", "Grace"),
        "Names in my family always start with the same letter.",
    ),
    _Slot(
        "commute",
        "I commute to the office by {v}.",
        "How do I commute to the office?",
        "How do I get to my workplace each day?",
        ("bike", "train", "bus", "ferry", "scooter"),
        "The office is moving to a bigger floor.",
        "These days I commute to the office by {v}.",
        "How do I commute to the office now?",
    ),
    _Slot(
        "instrument",
        "I've been practising the {v}.",
        "Which instrument have I been practising?",
        "What music do I make at home?",
        ("cello", "piano", "ukulele", "violin", "drums", "saxophone"),
        "Practising anything daily is harder than it sounds.",
    ),
    _Slot(
        "diet",
        "I follow a {v} diet.",
        "What diet do I follow?",
        "What kind of eating plan am I on?",
        ("vegan", "keto", "paleo", "vegetarian", "pescatarian", "Mediterranean"),
        "Every diet book says something different.",
        "I've dropped my old diet and follow a {v} diet now.",
        "What diet do I follow now?",
    ),
    _Slot(
        "birthday",
        "My birthday is on {v}.",
        "When is my birthday?",
        "On which date was I born?",
        ("March 3", "July 19", "October 8", "January 27", "May 14", "December 2"),
        "We celebrated a birthday at the office with cake.",
    ),
    _Slot(
        "book",
        "I'm reading {v} at the moment.",
        "Which book am I reading?",
        "What novel is on my nightstand?",
        ("Dune", "Middlemarch", "Beloved", "Neuromancer", "Persuasion", "Ulysses"),
        "Reading on the train is my favourite part of the moment.",
    ),
)

_SUBJECTS = (
    "The meeting",
    "My neighbour",
    "The weather",
    "Our team",
    "The new show",
    "That recipe",
    "The garden",
    "My laptop",
    "The museum trip",
    "The concert",
    "Grocery shopping",
    "The hiking trail",
    "The quarterly report",
    "My cousin's wedding",
    "The podcast",
    "The flat tyre",
)
_PREDICATES = (
    "was surprisingly long today.",
    "made me laugh out loud.",
    "needs more attention than I thought.",
    "turned out better than expected.",
    "kept me busy all afternoon.",
    "reminded me of last summer.",
    "was a bit of a disaster, honestly.",
    "is all anyone talks about lately.",
    "went fine, nothing special.",
    "took forever because of the rain.",
)
_TAILS = (
    "",
    "I might write about it.",
    "Maybe I'll ask a friend what they think.",
    "Anyway, that's life.",
    "I should plan better next time.",
    "Let's see how it goes tomorrow.",
)
_REPLIES = (
    "That sounds interesting, tell me more.",
    "Thanks for sharing that with me.",
    "How did that make you feel?",
    "I can suggest a few ideas if you like.",
    "Noted. Anything else on your mind?",
    "That must have been quite something.",
    "Good to hear. What happens next?",
)
_OPENERS = ("By the way, ", "Oh, and ", "", "Quick thing: ")


def _chatter(rng: random.Random) -> str:
    tail = rng.choice(_TAILS)
    return f"{rng.choice(_SUBJECTS)} {rng.choice(_PREDICATES)}" + (f" {tail}" if tail else "")


def _planted(rng: random.Random, statement: str, avoid: frozenset[str]) -> str:
    """``statement`` in a turn: an opener, and sometimes chatter after it sharing no word of
    ``avoid`` (the paraphrased question's content words)."""
    for _ in range(20):
        text = rng.choice(_OPENERS) + statement
        if rng.random() < 0.5:
            text += " " + _chatter(rng)
        if not content_words(text) & avoid:
            return text
    return statement


def generate(
    seed: int,
    *,
    users: int = 20,
    sessions: int = 30,
    turns: int = 10,
    facts: int = 8,
    updates: int = 3,
    absent: int = 2,
) -> Corpus:
    """A corpus of ``users`` tenants, each with ``sessions`` sessions of ``turns`` turns.

    The same arguments give the same corpus on every machine (a ``random.Random(seed)``, no
    clock). Each user states ``facts`` facts (slots drawn from 14), ``updates`` of them
    (updatable ones) change later, and ``absent`` slots they never mention are asked about.
    Questions per user: one ``exact`` and one ``paraphrase`` per fact that is not updated, one
    ``update`` per updated fact, ``absent`` absent ones (exact or paraphrased wording).

    Args:
        seed: the seed of the generator.
        users: tenants (partitions).
        sessions: sessions per user, a day or more apart.
        turns: turns per session (user and assistant alternate), at least 2.
        facts: planted facts per user (at most 14 - absent).
        updates: how many of them are updated in a later session.
        absent: slots asked about but never mentioned by the user.

    Returns:
        The corpus: turns and questions.

    Raises:
        ValueError: the arguments cannot be honoured (too few sessions or slots), or a
            paraphrase shares a content word with its answer (a bug in the templates).

    Examples:
        >>> corpus = generate(seed=7, users=3, sessions=6, turns=6)
        >>> corpus == generate(seed=7, users=3, sessions=6, turns=6)
        True
        >>> sorted({q.kind for q in corpus.questions})
        ['absent', 'exact', 'paraphrase', 'update']
    """
    updatable = [s for s in SLOTS if s.update]
    if turns < 2 or sessions < 2 or users < 1:
        raise ValueError("generate(): needs users >= 1, sessions >= 2 and turns >= 2")
    if facts + absent > len(SLOTS) or updates > min(facts, len(updatable)):
        raise ValueError(
            f"generate(): facts + absent must be <= {len(SLOTS)} and updates <= facts "
            f"and <= {len(updatable)}"
        )
    if facts + updates > sessions * (turns // 2):
        raise ValueError("generate(): too few user turns for the facts and their updates")
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, 9, tzinfo=UTC)
    all_turns: list[Turn] = []
    questions: list[Question] = []
    for u in range(users):
        user = f"u{u:03d}"
        changing = rng.sample(updatable, updates)
        rest = [s for s in SLOTS if s not in changing]
        rng.shuffle(rest)
        stated = changing + rest[: facts - updates]
        missing = rest[facts - updates : facts - updates + absent]
        # the user turns: (session, position) pairs, positions even (user speaks first)
        places = [(s, p) for s in range(sessions) for p in range(0, turns, 2)]
        text_at: dict[tuple[int, int], str] = {}
        planted: dict[str, list[tuple[int, int, str]]] = {}  # slot -> (session, pos, value)
        free = set(places)
        for slot in stated:
            values = rng.sample(slot.values, 2)
            if slot in changing:
                first_s = rng.randrange(0, sessions - 1)
                later_s = rng.randrange(first_s + 1, sessions)
                chosen = [
                    (first_s, values[0], slot.state),
                    (later_s, values[1], slot.update),
                ]
            else:
                chosen = [(rng.randrange(sessions), values[0], slot.state)]
            avoid = content_words(slot.paraphrase)
            for s, value, template in chosen:
                spots = sorted(p for p in free if p[0] == s) or sorted(free)
                spot = rng.choice(spots)
                free.discard(spot)
                text_at[spot] = _planted(rng, template.format(v=value), avoid)
                planted.setdefault(slot.name, []).append((spot[0], spot[1], value))
        for slot in SLOTS:  # near-topic chatter, for every slot, in a free user turn
            if free and rng.random() < 0.7:
                spot = rng.choice(sorted(free))
                free.discard(spot)
                text_at[spot] = slot.near
        day = start
        for s in range(sessions):
            day += timedelta(days=rng.randint(1, 4), minutes=rng.randint(0, 600))
            for p in range(turns):
                said = text_at.get((s, p)) or (
                    _chatter(rng) if p % 2 == 0 else rng.choice(_REPLIES)
                )
                all_turns.append(
                    Turn(
                        user,
                        f"s{s:03d}t{p:02d}",
                        f"s{s:03d}",
                        day + timedelta(minutes=2 * p),
                        "user" if p % 2 == 0 else "assistant",
                        said,
                    )
                )
        for slot in stated:
            where = [f"s{s:03d}t{p:02d}" for s, p, _ in planted[slot.name]]
            value = planted[slot.name][-1][2]
            if slot in changing:
                questions.append(
                    Question(
                        f"{user}:{slot.name}:update",
                        user,
                        "update",
                        slot.now,
                        frozenset(where[-1:]),
                        frozenset(where[:-1]),
                        value,
                    )
                )
                continue
            answers = frozenset(where)
            pairs: tuple[tuple[Kind, str], ...] = (
                ("exact", slot.exact),
                ("paraphrase", slot.paraphrase),
            )
            for kind, text in pairs:
                questions.append(
                    Question(f"{user}:{slot.name}:{kind}", user, kind, text, answers, value=value)
                )
        for slot in missing:
            text = rng.choice((slot.exact, slot.paraphrase))
            questions.append(Question(f"{user}:{slot.name}:absent", user, "absent", text))
    corpus = Corpus(tuple(all_turns), tuple(questions))
    _check(corpus)
    return corpus


def generate_many(seeds: Sequence[int], **shape: int) -> Corpus:
    """The corpora of several seeds as one, each seed's users renamed ``s<seed>.<user>`` so
    that they stay apart (``shape``: ``generate()``'s other arguments).

    Examples:
        >>> corpus = generate_many([1, 2], users=2, sessions=4, turns=6)
        >>> sorted(corpus.users)
        ['s1.u000', 's1.u001', 's2.u000', 's2.u001']
    """
    turns: list[Turn] = []
    questions: list[Question] = []
    for seed in seeds:
        one = generate(seed, **shape)
        turns += [replace(t, user=f"s{seed}.{t.user}") for t in one.turns]
        questions += [
            replace(q, id=f"s{seed}.{q.id}", user=f"s{seed}.{q.user}") for q in one.questions
        ]
    return Corpus(tuple(turns), tuple(questions))


def _check(corpus: Corpus) -> None:
    """The generator's promise on paraphrases, checked on every corpus it makes."""
    text = {(t.user, t.id): t.text for t in corpus.turns}
    for q in corpus.questions:
        if q.kind != "paraphrase":
            continue
        for a in q.answers:
            shared = content_words(q.text) & content_words(text[(q.user, a)])
            if shared:
                raise ValueError(
                    f"generate(): paraphrase {q.text!r} shares {sorted(shared)} with its "
                    f"answer {text[(q.user, a)]!r}"
                )
