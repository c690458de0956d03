"""The LoomFlow adapter (typedis.integrations.loomflow) with LoomFlow's own Agent, scripted
model and Consolidator, on the real server.

The protocol check; LoomFlow's types in and out (tool calls and transcripts round-trip through
``RedisMemory``'s metadata); a conversation reusing a ``session_id`` continues from Redis in
another process, working blocks included; two users sharing a session id never see each
other's blocks, episodes, facts, messages, profile or export; the Consolidator's facts land in
the ``facts`` store and answer as of two dates; export, forget and restore in LoomFlow's types.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from loomflow import Agent
from loomflow.core import types as lf
from loomflow.core.protocols import Memory
from loomflow.memory.consolidator import Consolidator
from loomflow.memory.facts import FactStore
from loomflow.model.scripted import ScriptedModel, ScriptedTurn

from typedis._connection import Connection
from typedis.integrations.loomflow import LoomflowMemory, episode_in, episode_out, fact_in

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class RecordingModel(ScriptedModel):
    """LoomFlow's scripted model, keeping the messages of each call."""

    def __init__(self, *texts: str) -> None:
        super().__init__([ScriptedTurn(text=t) for t in texts])
        self.seen: list[list[lf.Message]] = []

    async def complete(self, messages: list[lf.Message], **options: Any) -> Any:
        self.seen.append(list(messages))
        return await super().complete(messages, **options)

    async def stream(self, messages: list[lf.Message], **options: Any) -> AsyncIterator[Any]:
        self.seen.append(list(messages))
        async for chunk in super().stream(messages, **options):
            yield chunk


def conversation(messages: list[lf.Message]) -> list[tuple[str, str]]:
    return [(m.role.value, m.content) for m in messages if m.role is not lf.Role.SYSTEM]


def system_text(messages: list[lf.Message]) -> str:
    return "\n".join(m.content for m in messages if m.role is lf.Role.SYSTEM)


# ---- the protocol and the types ---------------------------------------------------------------


def test_it_is_a_loomflow_memory_with_a_fact_store() -> None:
    memory = LoomflowMemory()
    assert isinstance(memory, Memory)
    assert isinstance(memory.facts, FactStore)


def test_an_episode_round_trips_with_its_tool_calls_and_transcript() -> None:
    call = lf.ToolCall(tool="search", args={"q": "tea", "n": 2})
    transcript = [lf.Message(role=lf.Role.TOOL, content="green", tool_call_id=call.id)]
    episode = lf.Episode(
        session_id="s",
        user_id="ann",
        input="find tea",
        output="green",
        tool_calls=[call],
        tool_transcript=transcript,
        embedding=[0.5, -1.0],
    )
    assert episode_out(episode_in(episode)) == episode

    async def stored() -> lf.Episode:
        memory = LoomflowMemory()
        await memory.remember(episode)
        (exported,) = (await memory.export(user_id="ann")).episodes
        return exported

    # Without an embedder RedisMemory keeps no vectors: the rest comes back as it was.
    assert asyncio.run(stored()) == episode.model_copy(update={"embedding": None})


@given(
    st.text(),
    st.text(),
    st.none() | st.text(min_size=1),
    st.datetimes(timezones=st.just(UTC)),
)
def test_episode_conversion_property(
    text: str, output: str, user: str | None, at: datetime
) -> None:
    episode = lf.Episode(session_id="s", user_id=user, input=text, output=output, occurred_at=at)
    assert episode_out(episode_in(episode)) == episode


def test_facts_keep_loomflows_predicate_form() -> None:
    fact = lf.Fact(subject="ann", predicate="Lives-In", object="Oslo", user_id="ann")
    assert fact_in(fact).model_dump() == fact.model_dump()
    assert fact_in(fact).predicate == "lives_in"


# ---- session continuity across processes ------------------------------------------------------

FIRST_RUN = """
import asyncio
import typedis
from loomflow import Agent
from loomflow.model.scripted import ScriptedModel, ScriptedTurn
from typedis.integrations.loomflow import LoomflowMemory

async def main() -> None:
    memory = LoomflowMemory()
    await memory.update_block("persona", "Ann likes green tea.", user_id="ann")
    agent = Agent("Be brief.", memory=memory,
                  model=ScriptedModel([ScriptedTurn(text="Nice to meet you, Ann.")]))
    result = await agent.run("My name is Ann.", user_id="ann", session_id="s1")
    print(result.output)

typedis.connect()
asyncio.run(main())
"""


def test_a_session_continues_from_redis_in_another_process(conn: Connection) -> None:
    env = {**os.environ, "REDIS_URL": conn.url}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(FIRST_RUN)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Nice to meet you, Ann."

    model = RecordingModel("You are Ann.")
    agent = Agent("Be brief.", memory=LoomflowMemory(), model=model)
    result = asyncio.run(agent.run("What is my name?", user_id="ann", session_id="s1"))
    assert result.output == "You are Ann."
    seen = model.seen[0]
    assert conversation(seen) == [
        ("user", "My name is Ann."),
        ("assistant", "Nice to meet you, Ann."),
        ("user", "What is my name?"),
    ]
    assert "<persona>\nAnn likes green tea.\n</persona>" in system_text(seen)


# ---- isolation --------------------------------------------------------------------------------


def test_two_users_never_see_each_others_memory() -> None:
    async def scenario() -> None:
        memory = LoomflowMemory()
        for user, drink in (("ann", "tea"), ("bob", "coffee")):
            await memory.update_block("persona", f"{user} drinks {drink}.", user_id=user)
            await memory.append_block("notes", f"{user} note.", user_id=user)
            model = RecordingModel(f"Noted, {user}.")
            agent = Agent("Be brief.", memory=memory, model=model)
            await agent.run(f"I drink {drink} every day", user_id=user, session_id="shared")
            await memory.facts.append(
                lf.Fact(user_id=user, subject=user, predicate="drinks", object=drink)
            )
            assert conversation(model.seen[0]) == [("user", f"I drink {drink} every day")]
            if user == "bob":  # Ann's block is written; Bob's prompt never shows it
                assert "ann" not in system_text(model.seen[0])

        for user, other in (("ann", "bob"), ("bob", "ann")):
            blocks = await memory.working(user_id=user)
            assert [(b.name, b.content) for b in blocks] == [
                ("persona", f"{user} drinks {'tea' if user == 'ann' else 'coffee'}."),
                ("notes", f"{user} note."),
            ]
            episodes = await memory.recall("drink every day", user_id=user)
            assert episodes and {e.user_id for e in episodes} == {user}
            facts = await memory.recall_facts("drinks", user_id=user)
            assert facts and {f.subject for f in facts} == {user}
            messages = await memory.session_messages("shared", user_id=user)
            assert all(other not in m.content for m in messages)
            assert [m.role for m in messages] == [lf.Role.USER, lf.Role.ASSISTANT]
            profile = await memory.profile(user_id=user)
            assert (profile.episode_count, profile.fact_count) == (1, 1)
            export = await memory.export(user_id=user)
            dumped = export.model_dump_json()
            assert other not in dumped
            assert len(export.blocks) == 2 and len(export.episodes) == 1

        # Bob's conversation in the shared session id replays only Bob's turns.
        model = RecordingModel("Coffee.")
        agent = Agent("Be brief.", memory=memory, model=model)
        await agent.run("What do I drink?", user_id="bob", session_id="shared")
        assert conversation(model.seen[0]) == [
            ("user", "I drink coffee every day"),
            ("assistant", "Noted, bob."),
            ("user", "What do I drink?"),
        ]
        assert "ann" not in system_text(model.seen[0])

    asyncio.run(scenario())


def test_concurrent_conversations_of_two_users_stay_apart() -> None:
    turns = 6

    async def converse(memory: LoomflowMemory, user: str) -> None:
        for i in range(turns):
            agent = Agent("Be brief.", memory=memory, model=RecordingModel(f"{user} reply {i}"))
            await agent.run(f"{user} says {i}", user_id=user, session_id="same")

    async def scenario() -> dict[str, list[str]]:
        memory = LoomflowMemory()
        await asyncio.gather(*(converse(memory, user) for user in ("ann", "bob", "cy")))
        return {
            user: [m.content for m in await memory.session_messages("same", user_id=user)]
            for user in ("ann", "bob", "cy")
        }

    for user, contents in asyncio.run(scenario()).items():
        expected = [
            text for i in range(turns) for text in (f"{user} says {i}", f"{user} reply {i}")
        ]
        assert contents == expected


# ---- consolidation and bi-temporal facts ------------------------------------------------------


def test_the_consolidator_writes_to_the_fact_store_and_facts_answer_as_of_a_date() -> None:
    extracted = (
        '[{"subject": "ann", "predicate": "lives_in", "object": "Oslo", "confidence": 0.9}]',
        '[{"subject": "ann", "predicate": "lives_in", "object": "Bergen", "confidence": 0.8}]',
    )
    memory = LoomflowMemory(consolidator=Consolidator(model=ScriptedModel([])))

    async def scenario() -> tuple[list[lf.Fact], list[lf.Fact], list[lf.Fact]]:
        for text, when in zip(extracted, (T0, T0 + timedelta(days=30)), strict=True):
            memory.consolidator = Consolidator(model=ScriptedModel([ScriptedTurn(text=text)]))
            await memory.remember(
                lf.Episode(
                    session_id="s", user_id="ann", input="I moved", output="ok", occurred_at=when
                )
            )
            await memory.consolidate()
        await memory.consolidate()  # nothing pending: nothing extracted again
        before = await memory.recall_facts("lives", user_id="ann", valid_at=T0 + timedelta(1))
        after = await memory.recall_facts("lives", user_id="ann", valid_at=T0 + timedelta(60))
        every = await memory.facts.query(user_id="ann", limit=10)
        return before, after, every

    before, after, every = asyncio.run(scenario())
    assert [f.object for f in before] == ["Oslo"]
    assert [f.object for f in after] == ["Bergen"]
    assert sorted(f.object for f in every) == ["Bergen", "Oslo"]
    (oslo,) = (f for f in every if f.object == "Oslo")
    assert oslo.valid_until == T0 + timedelta(days=30)  # closed by the newer value
    assert all(isinstance(f, lf.Fact) and f.sources for f in every)


# ---- export, forget, restore ------------------------------------------------------------------


def test_export_forget_and_restore_in_loomflow_types() -> None:
    async def scenario() -> None:
        memory = LoomflowMemory()
        await memory.update_block("persona", "terse", user_id="ann")
        await memory.remember(lf.Episode(session_id="s", user_id="ann", input="hi", output="yo"))
        await memory.facts.append(
            lf.Fact(user_id="ann", subject="ann", predicate="likes", object="tea")
        )
        await memory.remember(lf.Episode(session_id="s", user_id="bob", input="hey", output="x"))
        export = await memory.export(user_id="ann")
        assert isinstance(export, lf.MemoryExport)
        assert (len(export.blocks), len(export.episodes), len(export.facts)) == (1, 1, 1)
        assert await memory.forget(user_id="ann") == 2  # one episode, one fact
        empty = await memory.export(user_id="ann")
        assert (empty.blocks, empty.episodes, empty.facts) == ([], [], [])
        assert len((await memory.export(user_id="bob")).episodes) == 1
        await memory.restore(export)
        again = await memory.export(user_id="ann")
        assert again.model_dump(exclude={"exported_at"}) == export.model_dump(
            exclude={"exported_at"}
        )

    asyncio.run(scenario())


def test_recall_scored_gives_loomflows_match_with_the_text_score() -> None:
    async def scenario() -> list[lf.EpisodeMatch]:
        memory = LoomflowMemory()
        for text in ("green tea in the morning", "a walk in the park"):
            await memory.remember(
                lf.Episode(session_id="s", user_id="ann", input=text, output="ok")
            )
        return await memory.recall_scored("green tea", user_id="ann", limit=1)

    (match,) = asyncio.run(scenario())
    assert isinstance(match, lf.EpisodeMatch)
    assert match.episode.input == "green tea in the morning"
    assert match.bm25_score is not None and match.bm25_score > 0
