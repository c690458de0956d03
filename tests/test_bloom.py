"""Existence filters (``typedis.memory``): a Bloom filter per partition, fed in the save script.

Checked against the real server: sizing by the standard formulas, the bits a save sets, the
lookups (one script call each, sync and async), partitions, errors, the health check (missing
bits are faults, extra bits are not), ACL refusal before any write, never a false negative
(a property and a stateful machine) and a measured false-positive rate near ``error_rate``.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime
from typing import Annotated, Any

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from pydantic import ValidationError

import typedis
from _acl import as_user
from typedis import (
    AutoKey,
    CorruptRecord,
    Indexed,
    Key,
    Model,
    ModelError,
    NotFound,
    PermissionDenied,
    QueryError,
    _connection,
    _lua,
    field,
    new_id,
)
from typedis._index.bloom_kind import Sizing, sizing_of
from typedis.memory import (
    Fingerprint,
    Fingerprinted,
    FingerprintRef,
    adefinitely_missing,
    afill_ratio,
    amight_exist,
    amight_exist_batch,
    amight_exist_count,
    definitely_missing,
    fill_ratio,
    might_exist,
    might_exist_batch,
    might_exist_count,
    words,
)


def exact(text: str) -> list[str]:
    """A tokenizer that keeps the whole text as its one token."""
    return [text]


class BfNote(Model):
    id: AutoKey = field(default_factory=new_id)
    topic: Fingerprinted[str]


class BfMemory(Model, partition="agent", ttl=3600):
    agent: Key[str]
    id: Key[str]
    topic: Annotated[str | None, Fingerprint(capacity=2_000)] = None
    level: Indexed[int] = 0


class BfExact(Model):
    id: Key[int]
    token: Annotated[str, Fingerprint(error_rate=0.01, capacity=2_000, tokenize=exact)]


NOTE_KEY = "{td:BfNote}:b:topic"


def mem_key(agent: str) -> str:
    return "{td:BfMemory:" + agent + "}:b:topic"


# ---- declaration -------------------------------------------------------------------------------


def test_sizing_follows_the_standard_formulas() -> None:
    sizing = Sizing.of(Fingerprint())  # the reference's defaults: 1% at 100,000 items
    n, p = 100_000, 0.01
    assert sizing.bits == math.ceil(-n * math.log(p) / math.log(2) ** 2) == 958_506
    assert sizing.hashes == round(sizing.bits / n * math.log(2)) == 7
    assert Sizing.of(Fingerprint(error_rate=0.001, capacity=10)).hashes == 10
    index = BfMemory.__typedis_spec__.index_of("bloom", "topic")
    assert index is not None and index.suffix == "b:topic"
    assert dict(index.options) == {"bits": 19_171, "hashes": 7}
    assert "KINDS.bloom" in _lua.library(BfMemory.__typedis_spec__).source


def test_the_reference_is_a_fingerprint_ref() -> None:
    assert isinstance(BfNote.topic, FingerprintRef)
    assert repr(BfMemory.topic) == "BfMemory.topic"


def test_offsets_are_k_per_token_and_within_the_bitmap() -> None:
    sizing = sizing_of(BfMemory.__typedis_spec__.fields["topic"])
    for token in ("", "\x00", "kubernetes", "日本語", "\ud800"):
        offsets = sizing.offsets(token)
        assert len(offsets) == 7 and all(0 <= o < sizing.bits for o in offsets)
    assert sizing.tokens("Kubernetes deployment, kubernetes!") == ["kubernetes", "deployment"]
    assert sizing.tokens("") == [""] and sizing.tokens("\x00 ::") == ["\x00 ::"]
    assert words("Élan VITAL") == ["élan", "vital"]


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        (Annotated[int, Fingerprint()], "Fingerprint fields need a str"),
        (Annotated[str, Fingerprint(error_rate=0)], r"error_rate=\.\.\.\) must be in \(0, 1\)"),
        (Annotated[str, Fingerprint(error_rate=1.0)], "must be in"),
        (Annotated[str, Fingerprint(error_rate=math.nan)], "must be in"),
        (Annotated[str, Fingerprint(error_rate=True)], "must be in"),
        (Annotated[str, Fingerprint(capacity=0)], r"capacity=\.\.\.\) must be an int >= 1"),
        (Annotated[str, Fingerprint(capacity=1.5)], "must be an int"),  # type: ignore[arg-type]
        (Annotated[str, Fingerprint(capacity=10**9, error_rate=1e-9)], "more than 2\\*\\*32"),
        (Annotated[str, Fingerprint(tokenize="words")], "tokenize"),  # type: ignore[arg-type]
    ],
)
def test_bad_declarations_are_refused_naming_the_field(annotation: Any, message: str) -> None:
    with pytest.raises(ModelError, match="BfBad.topic: .*" + message):

        class BfBad(Model):
            id: Key[str]
            topic: annotation  # type: ignore[valid-type]


# ---- writes --------------------------------------------------------------------------------------


def test_a_save_sets_the_tokens_bits_in_the_same_call(redis_client: redis.Redis) -> None:
    sizing = sizing_of(BfNote.__typedis_spec__.fields["topic"])
    BfNote(topic="Kubernetes deployment").save()
    wanted = sizing.text_offsets("kubernetes deployment")
    assert len(wanted) <= 14
    assert all(redis_client.getbit(NOTE_KEY, o) for o in wanted)
    assert redis_client.bitcount(NOTE_KEY) == len(wanted)
    assert fill_ratio(BfNote.topic) == len(wanted) / sizing.bits
    assert BfNote.check_indexes()["total"] == 0


def test_lookups(redis_client: redis.Redis) -> None:
    assert might_exist(BfNote.topic, "kubernetes") is False  # no filter yet: nothing exists
    assert fill_ratio(BfNote.topic) == 0.0
    BfNote(topic="kubernetes deployment").save()
    BfNote(topic="").save()
    BfNote(topic="\x00").save()
    assert might_exist(BfNote.topic, "KUBERNETES") is True
    assert might_exist(BfNote.topic, "postgres") is False
    assert definitely_missing(BfNote.topic, "postgres") is True
    assert definitely_missing(BfNote.topic, "deployment") is False
    assert might_exist(BfNote.topic, "") and might_exist(BfNote.topic, "\x00")
    assert might_exist(BfNote.topic, "postgres or kubernetes")  # any token is a hit
    batch = might_exist_batch(BfNote.topic, ["deployment", "postgres", "deployment", ""])
    assert batch == {"deployment": True, "postgres": False, "": True}
    assert might_exist_count(BfNote.topic, ["deployment", "postgres", "kubernetes"]) == 2
    assert might_exist_count(BfNote.topic, ("x", "x", "y")) == 0


def test_a_deleted_record_keeps_its_bits_and_the_check_stays_clean(
    redis_client: redis.Redis,
) -> None:
    note = BfNote(topic="ephemeral").save()
    note.topic = "replacement"
    note.save()
    assert might_exist(BfNote.topic, "ephemeral")  # a Bloom filter cannot forget
    note.delete()
    assert might_exist(BfNote.topic, "replacement")
    assert BfNote.check_indexes()["total"] == 0
    assert BfNote.delete_all() == 0
    assert redis_client.exists(NOTE_KEY) == 0  # delete_all removes the leftover filter


def test_a_custom_tokenizer_decides_what_is_a_token() -> None:
    BfExact(id=1, token="Kubernetes deployment").save()
    assert might_exist(BfExact.token, "Kubernetes deployment")
    assert not might_exist(BfExact.token, "kubernetes deployment")
    assert not might_exist(BfExact.token, "Kubernetes")


def test_partitions_have_a_filter_each(redis_client: redis.Redis) -> None:
    BfMemory(agent="a1", id="m", topic="kubernetes").save()
    BfMemory(agent="a:2{x}", id="m", topic="postgres").save()
    BfMemory(agent="a3", id="m").save()  # None adds nothing
    assert might_exist(BfMemory.topic, "kubernetes", partition="a1")
    assert not might_exist(BfMemory.topic, "kubernetes", partition="a:2{x}")
    assert might_exist(BfMemory.topic, "postgres", partition=("a:2{x}",))
    assert redis_client.exists(mem_key("a1"), mem_key("a%3A2%7Bx%7D")) == 2
    assert redis_client.exists(mem_key("a3")) == 0
    assert fill_ratio(BfMemory.topic, partition="a3") == 0.0
    assert BfMemory.check_indexes()["total"] == 0


def test_a_migrated_record_feeds_its_new_partition() -> None:
    rec = BfMemory(agent="a1", id="m", topic="kubernetes").save()
    rec.agent = "a2"
    rec.save(update_fields=["level"], migrate_key=True)  # moves whole: the argument goes along
    assert might_exist(BfMemory.topic, "kubernetes", partition="a2")
    assert BfMemory.check_indexes()["total"] == 0


# ---- errors --------------------------------------------------------------------------------------


def test_bad_arguments_are_refused_naming_them() -> None:
    with pytest.raises(
        QueryError, match=r"might_exist_batch\(BfNote.topic\): fingerprints is empty"
    ):
        might_exist_batch(BfNote.topic, [])
    with pytest.raises(ModelError, match="fingerprints must be a list of str"):
        might_exist_count(BfNote.topic, "kubernetes")
    with pytest.raises(ModelError, match="fingerprints must be str, got nan"):
        might_exist_batch(BfNote.topic, ["a", math.nan])  # type: ignore[list-item]
    with pytest.raises(ModelError, match=r"might_exist\(\): fingerprint must be a str, got 3"):
        might_exist(BfNote.topic, 3)  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="must be a Fingerprint field reference"):
        might_exist(BfMemory.level, "x")  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="partitioned by \\('agent',\\): pass partition="):
        might_exist(BfMemory.topic, "x")
    with pytest.raises(QueryError, match="partitioned by"):
        might_exist(BfMemory.topic, "x", partition=("a", "b"))
    with pytest.raises(QueryError, match="BfNote is not partitioned; omit partition="):
        fill_ratio(BfNote.topic, partition="a1")
    with pytest.raises(ValidationError):
        might_exist(BfMemory.topic, "x", partition=[["not", "a", "str"]])


def test_a_key_of_another_type_is_reported_not_read(redis_client: redis.Redis) -> None:
    redis_client.hset(NOTE_KEY, "f", "v")
    with pytest.raises(CorruptRecord, match="holds a hash, not a Bloom filter bitmap"):
        might_exist(BfNote.topic, "x")
    with pytest.raises(CorruptRecord):
        fill_ratio(BfNote.topic)


def test_a_lost_server_raises_a_typedis_error(conn: typedis.Connection) -> None:
    typedis.connect("redis://127.0.0.1:1/0")
    try:
        with pytest.raises(typedis.ServerUnavailable, match="cannot be reached") as caught:
            might_exist(BfNote.topic, "x")
        assert isinstance(caught.value.__cause__, redis.ConnectionError)
    finally:
        _connection.get_connection().close()


def test_a_user_who_may_not_write_the_filter_is_refused_before_any_write(
    own_conn: typedis.Connection, own_client: redis.Redis
) -> None:
    tag = "{td:BfNote}"
    rules = (f"~{tag}:r:*", f"~{tag}:all", f"~{tag}:exp", f"%R~{tag}:b:*")
    denied = r"may not write key \{td:BfNote\}:b:topic"
    with (
        as_user(own_conn.url, own_client, "typedis-bloom-acl", *rules),
        pytest.raises(PermissionDenied, match=denied),
    ):
        BfNote(topic="secret").save()
    assert list(own_client.scan_iter(match=f"{tag}*")) == []


# ---- health --------------------------------------------------------------------------------------


def test_the_check_counts_missing_bits_only(redis_client: redis.Redis) -> None:
    BfNote(topic="kubernetes").save()
    sizing = sizing_of(BfNote.__typedis_spec__.fields["topic"])
    first, second = sorted(sizing.text_offsets("kubernetes"))[:2]
    free = next(o for o in range(sizing.bits) if o not in sizing.text_offsets("kubernetes"))
    redis_client.setbit(NOTE_KEY, free, 1)
    assert BfNote.check_indexes()["total"] == 0  # an extra bit is what a Bloom filter holds
    redis_client.setbit(NOTE_KEY, first, 0)
    redis_client.setbit(NOTE_KEY, second, 0)
    report = BfNote.check_indexes()
    assert report["bloom"] == 2 and report["total"] == 2
    redis_client.delete(NOTE_KEY)
    assert BfNote.check_indexes()["bloom"] == 7


# ---- async ---------------------------------------------------------------------------------------


def test_async_twins_answer_as_the_sync_calls() -> None:
    BfMemory(agent="a1", id="m", topic="kubernetes deployment").save()

    async def body() -> tuple[Any, ...]:
        try:
            return (
                await amight_exist(BfMemory.topic, "deployment", partition="a1"),
                await adefinitely_missing(BfMemory.topic, "postgres", partition="a1"),
                await amight_exist_batch(BfMemory.topic, ["kubernetes", "x"], partition="a1"),
                await amight_exist_count(BfMemory.topic, ["kubernetes", "x"], partition="a1"),
                await afill_ratio(BfMemory.topic, partition="a1"),
            )
        finally:
            await _connection.get_connection().aclose()

    got = asyncio.run(body())
    assert got == (
        True,
        True,
        {"kubernetes": True, "x": False},
        1,
        fill_ratio(BfMemory.topic, partition="a1"),
    )


# ---- properties ----------------------------------------------------------------------------------

texts = st.text(max_size=30) | st.sampled_from(["", "\x00", "a:b{c}*", "日本語 テキスト", "Élan"])


@settings(max_examples=25, deadline=None)
@given(st.lists(texts, min_size=1, max_size=12))
def test_never_a_false_negative(redis_client: redis.Redis, saved: list[str]) -> None:
    redis_client.flushdb()
    BfNote.save_many([BfNote(topic=t) for t in saved])
    assert all(might_exist_batch(BfNote.topic, saved).values())
    for text in saved:
        assert might_exist(BfNote.topic, text)
        for token in words(text):
            assert might_exist(BfNote.topic, token)
    assert BfNote.check_indexes()["total"] == 0


def test_the_false_positive_rate_at_capacity_is_near_the_error_rate(
    summary_line: Any,
) -> None:
    """2,000 tokens in a filter sized for 2,000 at 1%; 40,000 tokens never added are looked up.

    The hashes are deterministic, so this measures one fixed filter: the rate must lie within
    a tolerance of the configured 1% (its standard error here is about 0.05%).
    """
    BfExact.save_many([BfExact(id=i, token=f"member-{i}") for i in range(2_000)])
    assert all(might_exist_batch(BfExact.token, [f"member-{i}" for i in range(2_000)]).values())
    probes = [f"stranger-{i}" for i in range(40_000)]
    hits = sum(
        might_exist_count(BfExact.token, probes[i : i + 2_000]) for i in range(0, 40_000, 2_000)
    )
    rate = hits / len(probes)
    summary_line(f"test_bloom: false-positive rate at capacity {rate:.4f} (configured 0.01)")
    assert 0.006 <= rate <= 0.015, rate
    assert 0.45 <= fill_ratio(BfExact.token) <= 0.55  # about half the bits at capacity


# ---- stateful ------------------------------------------------------------------------------------

agents = st.sampled_from(["a1", "a:2", "日本"])
ids = st.sampled_from(["m1", "m2", "", "\x00"])
topics = st.none() | texts


class BloomMachine(RuleBasedStateMachine):
    """Saves, partial and full updates, deletes, key migration across partitions, expiry and
    sweeps of ``BfMemory``, checked against a reference after every step: every live record
    loads back, every text ever saved in a partition may exist there, and ``check_indexes()``
    finds nothing."""

    client: redis.Redis

    def __init__(self) -> None:
        super().__init__()
        self.client.flushdb()
        self.recs: dict[tuple[str, str], tuple[str | None, bool]] = {}  # -> (topic, expired)
        self.added: dict[str, set[str]] = {}  # partition -> every topic saved there

    def _saved(self, agent: str, rid: str, topic: str | None, expired: bool) -> None:
        self.recs[(agent, rid)] = (topic, expired)
        if topic is not None:
            self.added.setdefault(agent, set()).add(topic)

    def _live(self) -> list[tuple[str, str]]:
        return sorted(k for k, (_, expired) in self.recs.items() if not expired)

    @initialize()
    def some_records(self) -> None:
        for agent, rid, topic in (
            ("a1", "m1", "kubernetes"),
            ("a:2", "m2", ""),
            ("a1", "\x00", None),
        ):
            BfMemory(agent=agent, id=rid, topic=topic).save()
            self._saved(agent, rid, topic, False)

    @rule(agent=agents, rid=ids, topic=topics, expire=st.booleans())
    def save(self, agent: str, rid: str, topic: str | None, expire: bool) -> None:
        rec = BfMemory(agent=agent, id=rid, topic=topic)
        if expire:
            rec.save(expire_at=datetime(2000, 1, 1, tzinfo=UTC))
        else:
            rec.save()
        self._saved(agent, rid, topic, expire)

    @rule(data=st.data(), topic=topics, partial=st.booleans())
    def update(self, data: st.DataObject, topic: str | None, partial: bool) -> None:
        live = self._live()
        if not live:
            return
        agent, rid = data.draw(st.sampled_from(live))
        rec = BfMemory.load(agent, rid)
        rec.topic = topic
        rec.save(update_fields=["topic"] if partial else None)
        self._saved(agent, rid, topic, False)

    @rule(data=st.data(), agent=agents)
    def migrate(self, data: st.DataObject, agent: str) -> None:
        live = self._live()
        if not live:
            return
        old = data.draw(st.sampled_from(live))
        if (agent, old[1]) in self.recs:
            return  # an occupied key is test_stateful's business
        rec = BfMemory.load(*old)
        rec.agent = agent
        rec.save(migrate_key=True)
        topic, _ = self.recs.pop(old)
        self._saved(agent, old[1], topic, False)

    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        if not self.recs:
            return
        agent, rid = data.draw(st.sampled_from(sorted(self.recs)))
        _, expired = self.recs.pop((agent, rid))
        assert BfMemory.model_construct(agent=agent, id=rid).delete() == (not expired)

    @rule()
    def sweep(self) -> None:
        expired = [k for k, (_, e) in self.recs.items() if e]
        assert BfMemory.sweep_expired() == len(expired)
        for k in expired:
            del self.recs[k]

    @invariant()
    def matches_the_reference(self) -> None:
        for (agent, rid), (topic, expired) in self.recs.items():
            if expired:
                with pytest.raises(NotFound):
                    BfMemory.load(agent, rid)
            else:
                assert BfMemory.load(agent, rid).topic == topic
        for agent, added in self.added.items():
            assert all(might_exist_batch(BfMemory.topic, sorted(added), partition=agent).values())
        assert BfMemory.check_indexes()["total"] == 0


def test_stateful_bloom(redis_client: redis.Redis) -> None:
    BloomMachine.client = redis_client
    run_state_machine_as_test(
        BloomMachine, settings=settings(max_examples=30, stateful_step_count=25, deadline=None)
    )
