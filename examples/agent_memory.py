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
    tier: Indexed[str] = "episodic"
    hits: AccessCount = field(default=0)
    created: Sorted[datetime | None] = field(default=None, auto_now_add=True)


# The scripted "LLM": the reply to each user message. A real client would call a model here
# with the messages inject_context returned (see docs/agent-memory.md, "Subconscious memory").
REPLIES = {
    "Hi, I'm Ann. I only drink green tea, never coffee.": (
        "Nice to meet you, Ann. Ann drinks green tea and never coffee."
    ),
    "I'm Bob. Book me a table near the harbour.": (
        "Done, Bob. Bob likes tables near the harbour."
    ),
    "What should I order at the cafe?": "A pot of sencha: you drink green tea, never coffee.",
    "Anything for dinner tonight?": "The harbour place has a table for you at eight.",
    "And tomorrow morning?": "A green tea at the station kiosk; it opens at seven.",
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
        [{"role": "system", "content": "You are a concierge."}, *history,
         {"role": "user", "content": text}]
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
        DemoNote.bulk_delete(DemoNote.query.filter(agent_id=user))


def run() -> None:
    """Run the demo; it prints each step."""
    typedis.connect()
    memory = SyncRedisMemory(namespace=NAMESPACE)
    erase_all(memory)
    score = {DemoNote.importance: 0.5, DemoNote.certainty: 0.5}
    minds = {user: SubconsciousMemory(DemoNote, user, score) for user in (ANN, BOB)}

    say("== 1-3. A conversation: injection before each turn, extraction after it ==")
    turn(memory, minds[ANN], "ann-1", "Hi, I'm Ann. I only drink green tea, never coffee.")
    turn(memory, minds[BOB], "bob-1", "I'm Bob. Book me a table near the harbour.")
    turn(memory, minds[ANN], "ann-1", "What should I order at the cafe?")
    turn(memory, minds[BOB], "bob-1", "Anything for dinner tonight?")
    turn(memory, minds[ANN], "ann-1", "And tomorrow morning?")
    replay = memory.session_messages("ann-1", user_id=ANN)
    say(f"session ann-1 replayed: {len(replay)} messages, first {replay[0].content!r}")
    recalled = [e.input for e in memory.recall("green tea", user_id=ANN, limit=2)]
    say(f"recall('green tea') for Ann -> {recalled}")
    say(f"recall('green tea') for Bob -> {memory.recall('green tea', user_id=BOB, limit=2)}")

    say("== 4. Facts that change, answered as of two dates ==")
    january, march = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)
    memory.facts.append(
        Fact(user_id=ANN, subject="ann", predicate="lives_in", object="Oslo", valid_from=january)
    )
    memory.facts.append(
        Fact(user_id=ANN, subject="ann", predicate="lives_in", object="Bergen", valid_from=march)
    )
    for label, when in (("February", datetime(2026, 2, 1, tzinfo=UTC)),
                        ("April", datetime(2026, 4, 1, tzinfo=UTC))):
        found = memory.recall_facts("lives in", user_id=ANN, valid_at=when)
        say(f"where did Ann live in {label}? -> {[f.object for f in found]}")

    say("== 5. Lifecycle: promotion of what is used, forgetting of what is idle ==")
    now = datetime.now(UTC)
    for user in (ANN, BOB):
        life = MemoryLifecycle(
            DemoNote,
            tier=DemoNote.tier,
            importance=DemoNote.importance,
            confidence=DemoNote.certainty,
            access=DemoNote.hits,
            created=DemoNote.created,
            partition=user,
        )
        soon = life.tick(at=now + timedelta(minutes=10))
        semantic = [n.content for n in DemoNote.query.filter(agent_id=user, tier="semantic").all()]
        say(f"{user}: tick in 10 minutes -> promoted {soon.promoted}: {semantic}")
        later = life.tick(at=now + timedelta(days=30))
        left = sorted(n.content for n in DemoNote.query.filter(agent_id=user).all())
        say(f"{user}: tick in 30 days -> forgotten {later.forgotten}; left: {left}")

    say("== 6. Erasure: Bob asks to be forgotten ==")
    before = memory.export(user_id=BOB)
    say(
        f"Bob's export before: {len(before.episodes)} episodes, {len(before.facts)} facts, "
        f"{len(before.blocks)} blocks"
    )
    erased = memory.forget(user_id=BOB)
    notes = DemoNote.bulk_delete(DemoNote.query.filter(agent_id=BOB))
    after = memory.export(user_id=BOB)
    say(f"forget(user_id={BOB!r}) -> {erased} records; his notes deleted: {notes}")
    say(f"Bob's export after: {len(after.episodes)} episodes, {len(after.facts)} facts")
    client = typedis.get_connection().client
    named = [key for key in client.scan_iter(match=f"*{BOB}*", count=1000)]
    say(f"keys on the server named for {BOB}: {len(named)}")
    ann = memory.export(user_id=ANN)
    say(f"Ann's memory intact: {len(ann.episodes)} episodes, {len(ann.facts)} facts")
    erase_all(memory)
    say("done: the demo's data is erased")


if __name__ == "__main__":
    run()
