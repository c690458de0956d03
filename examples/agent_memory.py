"""Agent memory end to end, with a scripted "LLM" (no model, no network): two users talk to
one assistant, whose memory lives in Redis.

Run it with ``python examples/agent_memory.py``, ``typedis demo memory`` or ``make demo`` (the
embedded server unless REDIS_URL is set). It shows, step by step:

1. **Injection**: before each turn, ``SubconsciousMemory.inject_context`` puts the user's
   memories that matter (found by searching the message, or surfacing by themselves) into the
   system message.
2. **Extraction**: after each turn, ``extract_memories`` saves the reply's sentences as memories
   of that user, and ``report_outcomes`` tells the observation protocol they were acted on.
3. **Episodes and sessions**: each turn is an ``Episode`` of ``RedisMemory``; a session's
   messages come back in order.
4. **Fact updates answered as of two dates**: a user moves; ``recall_facts(valid_at=...)``
   answers where they lived in February and in April.
5. **Lifecycle ticks**: ``MemoryLifecycle`` promotes a memory used often and trusted, and
   forgets the idle unimportant ones a month later.
6. **Erasure**: one user asks to be forgotten; their export is empty afterwards and no key on
   the server is named for them, while the other user's memory is intact.

It works only in its own namespace (the model ``DemoNote``, ``RedisMemory(namespace=
"demo-memory")`` and the users ``demo-ann`` and ``demo-bob``), which it empties at the start
and at the end.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import typedis
from typedis import (
    AutoKey,
    Confidence,
    Decaying,
    Indexed,
    Key,
    Model,
    Sorted,
    field,
    new_id,
)
from typedis.memory import (
    AccessCount,
    Episode,
    Fact,
    MemoryLifecycle,
    SubconsciousMemory,
    SyncRedisMemory,
    confirm_access,
)
from typedis.retrieval import Text

ANN, BOB = "demo-ann", "demo-bob"
NAMESPACE = "demo-memory"


class DemoNote(Model, partition="agent_id"):
    """What the assistant remembers of one user (``agent_id`` is the user it serves)."""

    agent_id: Key[str]
    id: AutoKey = field(default_factory=new_id)
    content: Text[str]
    importance: Decaying[float] = field(default=0.5, rate=0.1)  # exponential, per day
    certainty: Confidence = field(default=0.5)
    tier: Indexed[str] = field(default="episodic")
    hits: AccessCount = field(default=0)
    created: Sorted[datetime | None] = field(default=None, auto_now_add=True)


# The scripted "LLM": the reply to each user message. A real client would call a model here
# with the messages inject_context returned (see docs/agent-memory.md, "Subconscious memory").
REPLIES = {
    "Hi, I'm Ann. I only drink green tea, never coffee.": (
        "Noted: Ann drinks green tea and never coffee."
    ),
    "I'm Bob. Book me a table near the harbour.": "Booked: Bob likes tables near the harbour.",
    "Which tea should I order at the cafe?": "Order a sencha. It is a green tea.",
    "Which table tonight?": "The harbour table, at eight.",
    "Is there green tea at the station?": "Yes: the station kiosk sells green tea from seven.",
    "Coffee or tea with dinner?": "Tea, since you never drink coffee.",
}


def say(line: str) -> None:
    print(line, flush=True)


def llm(messages: list[dict[str, str]]) -> str:
    """The scripted model: the reply to the last user message."""
    return REPLIES[messages[-1]["content"]]


def turn(
    memory: SyncRedisMemory, mind: SubconsciousMemory[DemoNote], session: str, text: str
) -> None:
    """One turn: inject, "call the LLM", extract, report the outcome, remember the episode."""
    user = mind.agent_id
    history = [
        {"role": m.role, "content": m.content}
        for m in memory.session_messages(session, user_id=user)
    ]
    messages, used = mind.inject_context(
        [
            {"role": "system", "content": "You are a concierge."},
            *history,
            {"role": "user", "content": text},
        ]
    )
    say(f"[{user}] user: {text}")
    injected = [r.content for r in used.records]
    say(f"  injected ({len(injected)}): {injected}")
    reply = llm(messages)
    say(f"  assistant: {reply}")
    saved = mind.extract_memories(reply, importance=0.6)
    say(f"  extracted: {[n.content for n in saved]}")
    for record in used.records:
        confirm_access(record)  # the read of each injected memory counts as a use
    mind.report_outcomes(used, "acted")
    memory.remember(Episode(session_id=session, user_id=user, input=text, output=reply))


def erase_all(memory: SyncRedisMemory) -> None:
    for user in (ANN, BOB):
        memory.forget(user_id=user)


def run() -> None:
    """Run the demo; it prints each step."""
    typedis.connect()
    # models=: DemoNote holds users' data too (partitioned by the user id): forget erases it,
    # export carries it.
    memory = SyncRedisMemory(namespace=NAMESPACE, models=[DemoNote])
    erase_all(memory)
    # Ranked by certainty; a memory surfaces by itself (push path) once the outcomes reported
    # have raised its certainty to 0.8, otherwise only a search of the message finds it.
    minds = {
        user: SubconsciousMemory(DemoNote, user, {DemoNote.certainty: 1.0}, surfacing_threshold=0.8)
        for user in (ANN, BOB)
    }

    say("== 1-3. A conversation: injection before each turn, extraction after it ==")
    memory.update_block("profile", "Ann: tea, never coffee.", user_id=ANN)
    memory.update_block("profile", "Bob: harbour tables.", user_id=BOB)
    turn(memory, minds[ANN], "ann-1", "Hi, I'm Ann. I only drink green tea, never coffee.")
    turn(memory, minds[BOB], "bob-1", "I'm Bob. Book me a table near the harbour.")
    turn(memory, minds[ANN], "ann-1", "Which tea should I order at the cafe?")
    turn(memory, minds[BOB], "bob-1", "Which table tonight?")
    turn(memory, minds[ANN], "ann-1", "Is there green tea at the station?")
    turn(memory, minds[ANN], "ann-2", "Coffee or tea with dinner?")
    replay = memory.session_messages("ann-1", user_id=ANN)
    say(f"session ann-1 replayed: {len(replay)} messages, first {replay[0].content!r}")
    for user in (ANN, BOB):
        recalled = [e.input for e in memory.recall("green tea", user_id=user, limit=2)]
        say(f"recall('green tea', user_id={user!r}) -> {recalled}")

    say("== 4. Facts that change, answered as of two dates ==")
    january, march = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)
    memory.facts.append(
        Fact(user_id=ANN, subject="ann", predicate="lives_in", object="Oslo", valid_from=january)
    )
    memory.facts.append(
        Fact(user_id=ANN, subject="ann", predicate="lives_in", object="Bergen", valid_from=march)
    )
    memory.facts.append(
        Fact(
            user_id=BOB, subject="bob", predicate="works_at", object="the port", valid_from=january
        )
    )
    for label, when in (
        ("February", datetime(2026, 2, 1, tzinfo=UTC)),
        ("April", datetime(2026, 4, 1, tzinfo=UTC)),
    ):
        found = memory.recall_facts("lives in", user_id=ANN, valid_at=when)
        say(f"where did Ann live in {label}? -> {[f.object for f in found]}")

    say("== 5. Lifecycle: promotion of what is used, forgetting of what is idle ==")
    now = datetime.now(UTC)
    life = MemoryLifecycle(
        DemoNote,
        tier=DemoNote.tier,
        importance=DemoNote.importance,
        confidence=DemoNote.certainty,
        access=DemoNote.hits,
        created=DemoNote.created,
        partition=ANN,
    )
    soon = life.tick(at=now + timedelta(minutes=10))
    semantic = sorted(n.content for n in DemoNote.query.filter(agent_id=ANN, tier="semantic").all())
    say(f"Ann's notes, tick in 10 minutes -> promoted {soon.promoted}: {semantic}")
    later = life.tick(at=now + timedelta(days=30))
    left = sorted(n.content for n in DemoNote.query.filter(agent_id=ANN).all())
    say(f"Ann's notes, tick in 30 days -> forgotten {later.forgotten}; left: {left}")

    say("== 6. Erasure: Bob asks to be forgotten ==")
    before = memory.export(user_id=BOB)
    notes = len(before.records.get(DemoNote.__typedis_spec__.name, []))
    say(
        f"Bob's export before: {len(before.blocks)} blocks, {len(before.episodes)} episodes, "
        f"{len(before.facts)} facts, {notes} notes"
    )
    erased = memory.forget(user_id=BOB)
    after = memory.export(user_id=BOB)
    say(f"forget(user_id={BOB!r}) -> {erased} episodes and facts, and every other trace")
    notes = len(after.records.get(DemoNote.__typedis_spec__.name, []))
    say(
        f"Bob's export after: {len(after.blocks)} blocks, {len(after.episodes)} episodes, "
        f"{len(after.facts)} facts, {notes} notes"
    )
    client = typedis.get_connection().client
    named: list[bytes] = list(client.scan_iter(match=f"*{BOB}*", count=1000))
    say(f"keys on the server named for {BOB}: {len(named)}")
    ann = memory.export(user_id=ANN)
    notes = len(ann.records.get(DemoNote.__typedis_spec__.name, []))
    say(
        f"Ann's memory intact: {len(ann.blocks)} blocks, {len(ann.episodes)} episodes, "
        f"{len(ann.facts)} facts, {notes} notes"
    )
    erase_all(memory)
    say("done: the demo's data is erased")


if __name__ == "__main__":
    run()
