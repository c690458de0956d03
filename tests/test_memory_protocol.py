"""RedisMemory / SyncRedisMemory: LoomFlow's Memory protocol on a real server.

Blocks (atomic append under concurrency), episodes (recall, scores, time range, sessions),
bi-temporal facts against a Python reference (hypothesis), isolation between users under
interleaved asyncio tasks, the IsolationWarning.
"""

from __future__ import annotations

import asyncio
import itertools
import warnings
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from typedis import ConfigError
from typedis.memory import (
    Episode,
    Fact,
    IsolationWarning,
    MemoryExport,
    RedisMemory,
    SyncRedisMemory,
)
from typedis.retrieval import HashingEmbedder, NotSemanticWarning

T0 = datetime(2024, 1, 1, tzinfo=UTC)
_users = itertools.count()


def fresh_user() -> str:
    """A user id no earlier example used (hypothesis examples share the test's database)."""
    return f"u{next(_users)}"


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


# ---- blocks ---------------------------------------------------------------------------------


def test_blocks_keep_their_order_and_updates_keep_their_slot() -> None:
    memory = SyncRedisMemory(namespace="mp")
    memory.update_block("persona", "terse", user_id="ann")
    memory.append_block("notes", "likes tea. ", user_id="ann")
    memory.append_block("notes", "hates rain.", user_id="ann")
    memory.update_block("persona", "verbose", user_id="ann")
    memory.update_block("goals", "ship", user_id="ann")
    blocks = memory.working(user_id="ann")
    assert [(b.name, b.content, b.pinned_order) for b in blocks] == [
        ("persona", "verbose", 0),
        ("notes", "likes tea. hates rain.", 1),
        ("goals", "ship", 2),
    ]
    assert memory.working(user_id="bob") == []
    with pytest.warns(IsolationWarning):
        assert memory.working() == []  # the anonymous partition is another


def test_concurrent_appends_never_lose_text() -> None:
    memory = RedisMemory(namespace="mp")
    # 16 in flight at a time: redis-py's asyncio cluster client refuses work past its pool
    # (MaxConnectionsError) where the single-server one waits
    slots = asyncio.Semaphore(16)

    async def bounded(name: str, text: str) -> None:
        async with slots:
            await memory.append_block(name, text, user_id="ann")

    async def main() -> None:
        await memory.update_block("first", "x", user_id="ann")
        tokens = [f"<{i}>" for i in range(200)]
        await asyncio.gather(*(bounded("log", t) for t in tokens))
        await asyncio.gather(*(bounded(f"b{i}", "y") for i in range(20)))
        blocks = await memory.working(user_id="ann")
        log = next(b for b in blocks if b.name == "log")
        assert sorted(log.content.replace("><", ">\n<").split("\n")) == sorted(tokens)
        assert log.pinned_order == 1
        # every new block took a slot of its own
        assert sorted(b.pinned_order for b in blocks) == list(range(22))

    asyncio.run(main())


def test_block_arguments_are_checked() -> None:
    memory = SyncRedisMemory(namespace="mp")
    with pytest.raises(ConfigError, match="user_id"):
        memory.update_block("a", "b", user_id="")  # "" is the anonymous partition's value
    with pytest.raises(ConfigError, match="name and content"):
        memory.update_block("a", 3, user_id="ann")  # type: ignore[arg-type]
    assert memory.working(user_id="ann") == []


# ---- episodes -------------------------------------------------------------------------------


def episode(user: str | None, session: str, text: str, at: datetime) -> Episode:
    return Episode(user_id=user, session_id=session, input=text, output="ok", occurred_at=at)


def test_recall_ranks_by_text_and_falls_back_to_the_latest() -> None:
    memory = SyncRedisMemory(namespace="mp")
    memory.remember(episode("ann", "s1", "I drink green tea every morning", day(1)))
    memory.remember(episode("ann", "s1", "The garden needs rain", day(2)))
    memory.remember(episode("ann", "s2", "Tea with lemon is fine too", day(3)))
    found = memory.recall_scored("green tea", user_id="ann")
    assert [m.episode.input for m in found] == [
        "I drink green tea every morning",
        "Tea with lemon is fine too",
    ]
    assert all(m.text_score is not None and m.vector_score is None for m in found)
    latest = memory.recall("zebra", user_id="ann", limit=2)  # no match: the latest
    assert [e.input for e in latest] == ["Tea with lemon is fine too", "The garden needs rain"]
    window = memory.recall("tea", user_id="ann", time_range=(day(2), day(4)))
    assert [e.input for e in window] == ["Tea with lemon is fine too"]
    assert memory.recall("tea", user_id="bob") == []


def test_episode_round_trips_with_metadata() -> None:
    memory = SyncRedisMemory(namespace="mp")
    ep = Episode(user_id="ann", session_id="s", input="hi", output="yo", metadata={"a": [1, "b"]})
    memory.remember(ep)
    assert memory.recall("hi", user_id="ann") == [ep]


def test_hybrid_recall_has_both_scores() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotSemanticWarning)
        memory = SyncRedisMemory(namespace="mp_vec", embedder=HashingEmbedder(64))
        memory.remember(episode("ann", "s1", "green tea in the morning", day(1)))
        memory.remember(episode("ann", "s1", "the garden needs rain", day(2)))
        found = memory.recall_scored("green tea", user_id="ann", limit=2)
    assert found[0].episode.input == "green tea in the morning"
    assert found[0].text_score is not None and found[0].vector_score is not None
    assert found[0].episode.embedding is not None and len(found[0].episode.embedding) == 64


def test_session_messages_are_the_latest_turns_oldest_first() -> None:
    memory = SyncRedisMemory(namespace="mp")
    for i in range(5):
        memory.remember(episode("ann", "s1", f"q{i}", day(i)))
    memory.remember(episode("ann", "s2", "other", day(9)))
    memory.remember(episode("bob", "s1", "bob's", day(9)))
    messages = memory.session_messages("s1", user_id="ann", limit=4)
    assert [(m.role, m.content) for m in messages] == [
        ("user", "q3"),
        ("assistant", "ok"),
        ("user", "q4"),
        ("assistant", "ok"),
    ]


def test_profile_counts_the_users_data() -> None:
    memory = SyncRedisMemory(namespace="mp")
    memory.remember(episode("ann", "s1", "a", day(1)))
    memory.remember(episode("ann", "s2", "b", day(2)))
    memory.facts.append(Fact(user_id="ann", subject="ann", predicate="likes", object="tea"))
    memory.update_block("persona", "x", user_id="ann")
    memory.remember(episode("bob", "s9", "c", day(3)))
    profile = memory.profile(user_id="ann")
    assert (profile.episode_count, profile.fact_count, profile.block_count) == (2, 1, 1)
    assert profile.last_seen == day(2)
    assert profile.recent_sessions == ["s2", "s1"]
    assert [f.object for f in profile.sample_facts] == ["tea"]


def test_partial_forget_by_session_and_time() -> None:
    memory = SyncRedisMemory(namespace="mp")
    for i in range(4):
        memory.remember(episode("ann", "s1" if i % 2 else "s2", f"e{i}", day(i)))
    memory.facts.append(
        Fact(user_id="ann", subject="a", predicate="p", object="o", recorded_at=day(0))
    )
    assert memory.forget(user_id="ann", session_id="s1") == 2  # facts stay
    assert memory.facts.count(user_id="ann") == 1
    assert memory.forget(user_id="ann", before=day(1)) == 2  # e0 and the fact
    assert [e.input for e in memory.export(user_id="ann").episodes] == ["e2"]


# ---- isolation ------------------------------------------------------------------------------


def test_users_interleaved_never_see_each_other() -> None:
    memory = RedisMemory(namespace="mp")
    users = ["ann", "bob", None]

    async def user_task(user: str | None) -> None:
        word = f"secret{users.index(user)}"
        for i in range(15):
            await memory.remember(
                Episode(user_id=user, session_id="s", input=f"{word} {i}", output="shared word")
            )
            await memory.facts.append(
                Fact(user_id=user, subject="me", predicate=f"p{i % 3}", object=word)
            )
            await memory.append_block("log", f"{word};", user_id=user)
            await asyncio.sleep(0)
            for m in await memory.recall_scored(
                "shared word secret0 secret1 secret2", limit=50, user_id=user
            ):
                assert m.episode.user_id == user and m.episode.input.startswith(word)
            for f in await memory.recall_facts("me", limit=50, user_id=user):
                assert f.user_id == user and f.object == word

    async def main() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", IsolationWarning)
            await asyncio.gather(*(user_task(u) for u in users))
            for u in users:
                blocks = await memory.working(user_id=u)
                assert blocks[0].content == f"secret{users.index(u)};" * 15
                assert len(await memory.recall("shared", limit=100, user_id=u)) == 15

    asyncio.run(main())


def test_isolation_warning_only_when_named_users_exist() -> None:
    memory = SyncRedisMemory(namespace="mp_warn")
    with warnings.catch_warnings():
        warnings.simplefilter("error", IsolationWarning)
        memory.remember(episode(None, "s", "anonymous", day(1)))
        assert len(memory.recall("anonymous")) == 1  # only anonymous data: no warning
    memory.remember(episode("ann", "s", "named", day(1)))
    with pytest.warns(IsolationWarning, match="without user_id"):
        assert [e.input for e in memory.recall("named")] == ["anonymous"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", IsolationWarning)
        memory.recall("named", user_id="ann")  # a named call never warns


# ---- bi-temporal facts ----------------------------------------------------------------------


def reference_append(versions: list[dict[str, object]], new: dict[str, object]) -> None:
    """The supersession rule of lua/memory_fact.lua, in Python."""
    start, end = new["from"], new["until"]
    assert isinstance(start, datetime) and isinstance(end, datetime)
    for v in versions:
        f, u = v["from"], v["until"]
        assert isinstance(f, datetime) and isinstance(u, datetime)
        if f <= start < u:
            v["until"] = start
        elif start < f < end:
            end = f
    versions.append({**new, "until": end})


OPEN = datetime.max.replace(tzinfo=UTC)
moments = st.integers(0, 40).map(lambda n: day(n / 4))


@given(
    st.lists(
        st.tuples(st.sampled_from(["drinks", "lives_in"]), moments, st.booleans(), moments),
        min_size=1,
        max_size=8,
    ),
    st.lists(moments, min_size=1, max_size=5),
)
def test_facts_answer_what_was_true_then(
    appends: list[tuple[str, datetime, bool, datetime]], probes: list[datetime]
) -> None:
    memory = SyncRedisMemory(namespace="mp_facts")
    user = fresh_user()
    reference: dict[str, list[dict[str, object]]] = {"drinks": [], "lives_in": []}
    for n, (predicate, start, closed, end) in enumerate(appends):
        until = end if closed and end > start else None
        fact = Fact(
            user_id=user,
            subject="ann",
            predicate=predicate,
            object=f"o{n}",
            valid_from=start,
            valid_until=until,
            recorded_at=day(100 + n),
        )
        memory.facts.append(fact)
        reference_append(
            reference[predicate], {"object": fact.object, "from": start, "until": until or OPEN}
        )
    for t in probes:
        for predicate, versions in reference.items():
            expected = {v["object"] for v in versions if v["from"] <= t < v["until"]}  # type: ignore[operator]
            got = memory.facts.query(
                subject="ann", predicate=predicate, valid_at=t, user_id=user, limit=100
            )
            assert {f.object for f in got} == expected
    stored = {f.object: f for f in memory.facts.query(user_id=user, limit=100)}
    for versions in reference.values():
        for v in versions:
            fact = stored[str(v["object"])]
            assert (fact.valid_from, fact.valid_until or OPEN) == (v["from"], v["until"])


def test_recall_facts_at_a_time() -> None:
    memory = SyncRedisMemory(namespace="mp")
    memory.facts.append(
        Fact(user_id="ann", subject="ann", predicate="drinks", object="tea", valid_from=day(0))
    )
    memory.facts.append(
        Fact(user_id="ann", subject="ann", predicate="drinks", object="coffee", valid_from=day(9))
    )
    assert [
        f.object for f in memory.recall_facts("ann drinks", user_id="ann", valid_at=day(5))
    ] == ["tea"]
    assert [
        f.object for f in memory.recall_facts("ann drinks", user_id="ann", valid_at=day(9))
    ] == ["coffee"]
    assert len(memory.recall_facts("ann drinks", user_id="ann")) == 2
    tea = memory.facts.query(object_="tea", user_id="ann")
    assert tea[0].valid_until == day(9)
    assert {f.object for f in memory.facts.all_facts()} == {"tea", "coffee"}


def test_async_twin_gives_the_same_answers() -> None:
    sync = SyncRedisMemory(namespace="mp")
    sync.remember(episode("ann", "s1", "green tea", day(1)))
    sync.facts.append(Fact(user_id="ann", subject="ann", predicate="drinks", object="tea"))

    async def main() -> MemoryExport:
        memory = RedisMemory(namespace="mp")
        assert await memory.recall("tea", user_id="ann") == sync.recall("tea", user_id="ann")
        assert await memory.facts.count(user_id="ann") == 1
        assert await memory.profile(user_id="ann") == sync.profile(user_id="ann")
        return await memory.export(user_id="ann")

    exported = asyncio.run(main())
    assert exported.model_dump(exclude={"exported_at"}) == sync.export(user_id="ann").model_dump(
        exclude={"exported_at"}
    )


def test_restore_refuses_another_users_records() -> None:
    memory = SyncRedisMemory(namespace="mp")
    stray = MemoryExport(user_id="ann", episodes=[episode("bob", "s", "x", day(1))])
    with pytest.raises(ConfigError, match="another user"):
        memory.restore(stray)
    assert memory.export(user_id="ann").episodes == []
