"""SubconsciousMemory (typedis.memory) by the seed's documented behaviour, on the real server.

Defaults (minimum sentence length 10, preamble, 10 items, 4000 tokens); extraction (the
length threshold at its edge, as a property over any text; the agent's records saved with
the importance given; bad input writes nothing); injection (the system message found or added
at index 0, the caller's messages never changed, unchanged content when nothing is found, no
pile-up across turns, the last user message as the pull cue, one agent never sees another's
memories); outcomes through the observation protocol; the async twins.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from typedis import Confidence, Key, Model, ModelError, QueryError, Sorted, field, new_id
from typedis.memory import SubconsciousMemory, get_confidence, pending_proposal
from typedis.memory._subconscious import (
    CLOSE,
    DEFAULT_EXTRACTION_MIN_LENGTH,
    DEFAULT_MAX_TOKENS,
    DEFAULT_SYSTEM_PREAMBLE,
    OPEN,
    split_sentences,
)
from typedis.retrieval import Text


class SubMemory(Model, partition="agent_id"):
    agent_id: Key[str]
    id: Key[str] = field(default_factory=new_id)
    content: Text[str]
    importance: Sorted[float] = field(default=0.5)
    certainty: Confidence = field(default=0.5)


def memory(agent: str = "bot", **options: Any) -> SubconsciousMemory[SubMemory]:
    return SubconsciousMemory(SubMemory, agent, {SubMemory.importance: 1.0}, **options)


def stored(agent: str) -> list[str]:
    return sorted(m.content for m in SubMemory.query.filter(agent_id=agent).all())


USER = [{"role": "user", "content": "Which tea does Ann drink?"}]


# ---- defaults -------------------------------------------------------------------------------


def test_the_seed_defaults() -> None:
    sm = memory()
    assert (DEFAULT_EXTRACTION_MIN_LENGTH, DEFAULT_SYSTEM_PREAMBLE, DEFAULT_MAX_TOKENS) == (
        10,
        "You are a helpful assistant.",
        4000,
    )
    assert (sm.extraction_min_length, sm.system_preamble) == (10, "You are a helpful assistant.")
    assert (sm.assembler.max_items, sm.assembler.max_tokens) == (10, 4000)
    assert (sm.content_field, sm.importance_field, sm.agent_id_field) == (
        "content",
        "importance",
        "agent_id",
    )


def test_bad_construction_names_the_option() -> None:
    with pytest.raises(ModelError, match="content_field 'text'"):
        SubconsciousMemory(SubMemory, "bot", {}, content_field="text")
    with pytest.raises(ModelError, match="model class"):
        SubconsciousMemory(dict, "bot", {})  # type: ignore[type-var]
    with pytest.raises(ModelError, match="extraction_min_length"):
        memory(extraction_min_length=0)
    with pytest.raises(ModelError, match="agent_id"):
        SubconsciousMemory(SubMemory, 7, {})  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="max_items"):
        memory(max_items=0)


# ---- extraction -----------------------------------------------------------------------------


def test_split_keeps_sentences_of_at_least_the_minimum_length() -> None:
    nine, ten = "abcdefgh.", "abcdefghi."
    assert split_sentences(f"{nine} {ten}") == [ten]
    assert split_sentences("First line here\nSecond line here!  Third? no") == [
        "First line here",
        "Second line here!",
    ]
    assert split_sentences("", 1) == []
    assert split_sentences("   \n\n  ") == []


@given(st.text(), st.integers(1, 40))
def test_split_property(text: str, minimum: int) -> None:
    out = split_sentences(text, minimum)
    for sentence in out:
        assert len(sentence) >= minimum
        assert sentence == sentence.strip()
        assert sentence in text
    positions = [text.find(s) for s in out]
    assert positions == sorted(positions)


def test_extract_saves_each_long_sentence_as_a_memory_of_the_agent() -> None:
    sm = memory()
    saved = sm.extract_memories("Ann drinks green tea. Ok. She lives in Oslo!", importance=0.75)
    assert [m.content for m in saved] == ["Ann drinks green tea.", "She lives in Oslo!"]
    assert {(m.agent_id, m.importance) for m in saved} == {("bot", 0.75)}
    assert stored("bot") == ["Ann drinks green tea.", "She lives in Oslo!"]
    assert SubMemory.load("bot", saved[0].id).content == "Ann drinks green tea."
    assert stored("other") == []


def test_extract_default_importance_and_nothing_to_save() -> None:
    sm = memory()
    assert [m.importance for m in sm.extract_memories("A sentence long enough.")] == [0.5]
    assert sm.extract_memories("") == []
    assert sm.extract_memories("Ok. Yes. No.") == []
    assert stored("bot") == ["A sentence long enough."]


@pytest.mark.parametrize("importance", [-0.1, 1.5, float("nan"), float("inf"), True, "0.5"])
def test_extract_refuses_bad_importance_and_writes_nothing(importance: Any) -> None:
    with pytest.raises(ModelError, match="importance"):
        memory().extract_memories("A sentence long enough.", importance=importance)
    assert stored("bot") == []


def test_extract_refuses_a_non_string() -> None:
    with pytest.raises(ModelError, match="response_text"):
        memory().extract_memories(b"bytes are not text")  # type: ignore[arg-type]


def test_extract_uses_the_configured_minimum() -> None:
    sm = memory(extraction_min_length=3)
    assert [m.content for m in sm.extract_memories("Ok. Yes. No.")] == ["Ok.", "Yes.", "No."]


# ---- injection ------------------------------------------------------------------------------


def test_nothing_found_leaves_the_messages_as_they_were() -> None:
    given_messages = [{"role": "system", "content": "Be brief."}, *USER]
    before = [dict(m) for m in given_messages]
    messages, result = memory().inject_context(given_messages)
    assert messages == before
    assert given_messages == before
    assert result.records == ()


def test_a_system_message_is_added_first_when_there_is_none() -> None:
    sm = memory()
    sm.extract_memories("Ann drinks green tea.", importance=0.9)
    given_messages = [dict(m) for m in USER]
    messages, result = sm.inject_context(given_messages)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"] == (
        f"{DEFAULT_SYSTEM_PREAMBLE}\n\n{OPEN}\n1. content: Ann drinks green tea.\n{CLOSE}"
    )
    assert messages[1] == USER[0]
    assert given_messages == USER  # the caller's list is not changed
    assert [m.content for m in result.records] == ["Ann drinks green tea."]


def test_the_context_goes_at_the_end_of_an_existing_system_message() -> None:
    sm = memory(system_preamble="unused")
    sm.extract_memories("Ann drinks green tea.", importance=0.9)
    system = {"role": "system", "content": "Be brief.", "name": "policy"}
    messages, _ = sm.inject_context([system, *USER])
    assert messages[0] == {
        "role": "system",
        "content": f"Be brief.\n\n{OPEN}\n1. content: Ann drinks green tea.\n{CLOSE}",
        "name": "policy",
    }
    assert system["content"] == "Be brief."  # the caller's dict is not changed


def test_a_later_turn_replaces_the_earlier_injection() -> None:
    sm = memory()
    sm.extract_memories("Ann drinks green tea.", importance=0.9)
    messages, _ = sm.inject_context(USER)
    sm.extract_memories("Ann moved to Bergen.", importance=0.95)
    again, _ = sm.inject_context([*messages, {"role": "user", "content": "Where is Ann?"}])
    content = again[0]["content"]
    assert content.count(OPEN) == 1
    assert content.startswith(DEFAULT_SYSTEM_PREAMBLE + "\n\n" + OPEN)
    assert "Ann moved to Bergen." in content and "Ann drinks green tea." in content


def test_content_given_as_parts() -> None:
    # OpenAI's and Anthropic's SDKs take a content as a list of parts: the text parts are the
    # cue, and the context is a text part of its own, replaced at the next injection.
    sm = memory(surfacing_threshold=2.0)
    sm.extract_memories("Ann drinks green tea.", importance=0.9)
    image = {"type": "image_url", "image_url": {"url": "data:,"}}
    system = {"role": "system", "content": [{"type": "text", "text": "Be brief."}, image]}
    user = {"role": "user", "content": [image, {"type": "text", "text": "Which tea?"}]}
    messages, result = sm.inject_context([system, user])
    assert result.pull_count == 1
    block = {"type": "text", "text": f"{OPEN}\n1. content: Ann drinks green tea.\n{CLOSE}"}
    assert messages[0]["content"] == [*system["content"], block]
    again, _ = sm.inject_context(messages)
    assert again[0]["content"] == [*system["content"], block]
    assert system["content"][-1] == image  # the caller's list of parts is not changed


def test_the_last_user_message_is_the_pull_cue() -> None:
    # Nothing surfaces by itself (threshold above every importance): only the search finds.
    sm = memory(surfacing_threshold=2.0, max_items=1)
    sm.extract_memories("Ann drinks green tea every morning.", importance=0.2)
    sm.extract_memories("The office is closed on Sundays.", importance=0.3)
    chat = [
        {"role": "user", "content": "When is the office closed?"},
        {"role": "assistant", "content": "Let me check."},
        {"role": "user", "content": "And what tea does Ann drink?"},
    ]
    _, result = sm.inject_context(chat)
    assert [m.content for m in result.records] == ["Ann drinks green tea every morning."]
    assert result.pull_count == 1 and result.push_count == 0


def test_surfaced_records_get_a_pending_proposal() -> None:
    sm = memory()
    (record,) = sm.extract_memories("Ann drinks green tea.", importance=0.9)
    _, result = sm.inject_context([])  # no cue: the push path alone
    assert result.proactive == result.records
    proposal = pending_proposal(record)
    assert proposal is not None and proposal.reason == "proactive"


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["ann", "bob", "cy"]), min_size=1, max_size=8))
def test_an_agent_never_sees_another_agents_memories(owners: list[str]) -> None:
    SubMemory.delete_all()
    for i, owner in enumerate(owners):
        memory(owner).extract_memories(f"Memory number {i} of {owner}.", importance=0.9)
    for agent in ("ann", "bob", "cy"):
        messages, result = memory(agent).inject_context(USER)
        assert {m.agent_id for m in result.records} <= {agent}
        for other in {"ann", "bob", "cy"} - {agent}:
            assert f"of {other}." not in messages[0]["content"]


@pytest.mark.parametrize(
    "messages",
    ["hello", [("user", "hi")], [{"role": "user", "content": "hi"}, 3]],
)
def test_bad_messages_are_refused(messages: Any) -> None:
    with pytest.raises(QueryError, match="inject_context"):
        memory().inject_context(messages)


# ---- outcomes -------------------------------------------------------------------------------


def test_report_outcomes_goes_through_the_observation_protocol() -> None:
    sm = memory()
    first, second = sm.extract_memories("Ann drinks green tea. Ann lives in Oslo.", 0.9)
    _, result = sm.inject_context(USER)
    assert {m.id for m in result.records} == {first.id, second.id}
    observed = sm.report_outcomes(result, outcomes={second.redis_key: "contradicted"})
    by_key = {o.key: o for o in observed}
    assert by_key[first.redis_key].outcome == "acted"
    assert by_key[second.redis_key].outcome == "contradicted"
    # Bayesian update from the prior 0.5: signal 0.9 -> 0.9, signal 0.1 -> 0.1.
    assert get_confidence(first, SubMemory.certainty) == pytest.approx(0.9)
    assert get_confidence(second, SubMemory.certainty) == pytest.approx(0.1)
    assert pending_proposal(first) is None  # resolved


def test_report_outcomes_of_nothing_sends_nothing() -> None:
    _, result = memory().inject_context(USER)
    assert memory().report_outcomes(result) == []


def test_report_outcomes_refuses_bad_input() -> None:
    sm = memory()
    sm.extract_memories("Ann drinks green tea.", importance=0.9)
    _, result = sm.inject_context(USER)
    with pytest.raises(ModelError, match="outcome"):
        sm.report_outcomes(result, "ignored")  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="assembly_result"):
        sm.report_outcomes([])  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="not the keys"):
        sm.report_outcomes(result, outcomes={"nope": "acted"})
    (record,) = result.records
    assert get_confidence(record, SubMemory.certainty) == pytest.approx(0.5)  # nothing applied


# ---- async ----------------------------------------------------------------------------------


def test_the_async_twins_do_the_same() -> None:
    sm = memory()

    async def turn() -> tuple[list[dict[str, Any]], list[str], list[str]]:
        saved = await sm.aextract_memories("Ann drinks green tea. Ok.", importance=0.9)
        messages, result = await sm.ainject_context(USER)
        observed = await sm.areport_outcomes(result, "dismissed")
        return messages, [m.content for m in saved], [o.outcome for o in observed]

    messages, saved, outcomes = asyncio.run(turn())
    assert saved == ["Ann drinks green tea."]
    assert outcomes == ["dismissed"]
    assert messages == memory().inject_context(USER)[0]
