"""RedisMemory.forget(user_id=...) erases every trace of the user; export round-trips.

The proof: a snapshot of the whole test database (every key, member, hash field, score,
stream entry and value) with another user's data present, then the user's data written
through every kind the memory and a user-partitioned model of its ``models=`` use (records,
blocks, facts, text postings and statistics, vectors, co-occurrence edges, a bloom filter,
access logs, a change log), searched, then forgotten: the database is the snapshot again,
nothing in it names the user, their record ids or their texts' unique words, and this
process's vector cache of the user is gone.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import typedis
from _acl import connected_as
from typedis import (
    Confidence,
    ConfigError,
    Decaying,
    Indexed,
    Key,
    Model,
    PermissionDenied,
    Text,
    field,
)
from typedis._connection import Client
from typedis.memory import (
    AccessCount,
    Associations,
    Cycle,
    CyclicDecay,
    EdgeState,
    Episode,
    Fact,
    Fingerprinted,
    MemoryExport,
    ModelState,
    Predictions,
    RecordState,
    RedisMemory,
    SyncRedisMemory,
    TemporalPeriod,
    access_log,
    composite_score,
    confirm_access,
    cyclic_score,
    get_confidence_data,
    link,
    might_exist,
    neighbors,
    prediction_data,
    record_prediction,
    resolve_prediction,
    resolve_pressure,
    strengthen_cycle,
    update_confidence,
)
from typedis.retrieval import (
    Blob,
    Content,
    FileContentStore,
    HashingEmbedder,
    NotSemanticWarning,
    _vectors,
    configure,
)

ANN = "zqx-ann-7"  # an id no other value contains
BOB = "bob"
ANN_WORDS = ("xylophonic", "quixotry")  # words only ann's texts hold
ANN_STEMS = ("xylophon", "quixotr")  # their text terms (the analyzer stems them)


class ErasureNote(Model, partition="owner", changes=True):
    owner: Key[str]
    id: Key[str]
    body: Text[str]
    topic: Fingerprinted[str]
    kind: Indexed[str] = "memo"
    hits: AccessCount = field(default=0)
    related: Associations = field(default=None)
    fresh: Decaying[float] = field(default=1.0, rate=0.1, curve="power")
    ripe: Decaying[float] = field(default=1.0, rate=0.2)  # the exponential curve
    sure: Confidence = field(default=0.5)
    predictions: Predictions = field(default=None)
    urge: Annotated[
        float, CyclicDecay(cycles=[Cycle(TemporalPeriod.DAILY, 1.0, 0.2)], pressure_rate=0.5)
    ] = 1.0


@pytest.fixture
def memory() -> Iterator[SyncRedisMemory]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotSemanticWarning)
        yield SyncRedisMemory(namespace="erasure", embedder=_EMBEDDER, models=[ErasureNote])


_EMBEDDER = HashingEmbedder(32)


def snapshot(client: Client) -> dict[bytes, Any]:
    """Every key of the database with its whole content."""
    out: dict[bytes, Any] = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind == "string":
            value: Any = client.get(key)
        elif kind == "hash":
            value = sorted(client.hgetall(key).items())
        elif kind == "set":
            value = sorted(client.smembers(key))
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "stream":
            value = [(i, sorted(f.items())) for i, f in client.xrange(key)]
        else:
            raise AssertionError(f"unexpected type {kind} of {key!r}")
        out[key] = (kind, value)
    return out


def write_user(memory: SyncRedisMemory, user: str, words: tuple[str, ...]) -> list[str]:
    """Write a user's data through every kind; the ids of their records."""
    ids: list[str] = []
    for i, word in enumerate(words):
        ep = Episode(
            user_id=user, session_id=f"{user}-s", input=f"{word} tea {i}", output=f"{word} ok"
        )
        ids.append(memory.remember(ep))
        fact = Fact(user_id=user, subject=user, predicate="likes", object=word)
        ids.append(memory.facts.append(fact))
    memory.update_block("persona", f"{words[0]} persona", user_id=user)
    memory.append_block("notes", f"{words[-1]} note", user_id=user)
    a = ErasureNote(owner=user, id=f"{user}-n1", body=f"{words[0]} body", topic=words[0]).save()
    b = ErasureNote(owner=user, id=f"{user}-n2", body=f"{words[-1]} body", topic=words[-1]).save()
    link(ErasureNote.related, a, b)
    note = ErasureNote.query.filter(owner=user).first()
    assert note is not None
    confirm_access(note)
    note.touch(ErasureNote.fresh, at=LONG_AGO)  # older than the other note's: it ranks lower
    note.touch(ErasureNote.ripe, at=LONG_AGO)
    update_confidence(note, ErasureNote.sure, 0.9)
    record_prediction(note, ErasureNote.predictions, {"mood": 0.5, "calm": True}, key="k1")
    resolve_prediction(note, ErasureNote.predictions, {"mood": 0.9, "calm": True}, key="k1")
    record_prediction(note, ErasureNote.predictions, {"mood": 0.1}, key="k2")  # open
    strengthen_cycle(note, ErasureNote.urge, 1.5)
    resolve_pressure(note, ErasureNote.urge, at=datetime(2026, 1, 2, tzinfo=UTC))
    assert ErasureNote.query.filter(owner=user).all()  # a read staged, not confirmed
    ids += [a.id, b.id]
    # reads that fill this process's caches (vectors) and write read-side state (access logs)
    assert memory.recall(words[0], user_id=user)
    assert memory.recall_facts(words[0], user_id=user)
    assert might_exist(ErasureNote.topic, words[0], partition=user)
    return ids


LONG_AGO = datetime(2026, 1, 1, tzinfo=UTC)


def mentions(dump: dict[bytes, Any], needles: list[str]) -> list[str]:
    text = repr(dump)
    return [n for n in needles if n in text]


def test_forget_leaves_the_database_as_it_was_without_the_user(
    memory: SyncRedisMemory, redis_client: Client
) -> None:
    write_user(memory, BOB, ("bobword", "bobother"))
    before = snapshot(redis_client)
    assert not mentions(before, [ANN, *ANN_WORDS])
    ids = write_user(memory, ANN, ANN_WORDS)
    during = snapshot(redis_client)
    needles = [ANN, *ANN_WORDS, *ANN_STEMS, *ids]
    assert set(mentions(during, needles)) == set(needles)
    assert any(tag[0] == _tag(ANN) for tag in _vectors._CACHES)

    assert memory.forget(user_id=ANN) == 4  # two episodes, two facts

    after = snapshot(redis_client)
    assert mentions(after, needles) == []
    assert after == before  # bob's data untouched, byte for byte
    assert not any(tag[0] == _tag(ANN) for tag in _vectors._CACHES)
    # the user starts afresh: a new write registers the partition again
    memory.remember(Episode(user_id=ANN, session_id="s", input="again", output="ok"))
    assert [e.input for e in memory.recall("again", user_id=ANN)] == ["again"]
    assert redis_client.sismember("{td:erasure.Episode}:partitions", _tag(ANN))


def _tag(user: str) -> str:
    return "{td:erasure.Episode:" + user + "}"


def test_export_forget_restore_round_trips(memory: SyncRedisMemory) -> None:
    write_user(memory, BOB, ("bobword", "bobother"))
    write_user(memory, ANN, ANN_WORDS)
    exported = memory.export(user_id=ANN)
    assert len(exported.episodes) == 2 and len(exported.facts) == 2
    assert len(exported.blocks) == 2 and len(exported.records["ErasureNote"]) == 2
    assert all(e.embedding is not None for e in exported.episodes)
    state = exported.state["ErasureNote"]
    hidden = {name for r in state.records for name in r.hidden}
    assert {"~t:fresh", "~t:ripe", "~conf+:sure", "~acc:log:hits", "~acc:n:hits"} <= hidden
    assert {"~t:urge", "~cy:a:urge", "~cy:r:urge"} <= hidden
    assert [(e.field, e.a, e.b, e.weight) for e in state.edges] == [
        ("related", f"{ANN}:{ANN}-n1", f"{ANN}:{ANN}-n2", 1.0)  # record ids: owner:id
    ]
    assert sorted((p.key, p.error is None) for p in state.predictions) == [
        ("k1", False),
        ("k2", True),
    ]
    assert exported.state == memory.export(user_id=ANN).state  # an export is no read: no change
    before = scores(ANN)
    again = type(exported).model_validate_json(exported.model_dump_json())  # JSON-ready
    memory.forget(user_id=ANN)
    assert memory.export(user_id=ANN).model_dump(exclude={"exported_at"}) == {
        "user_id": ANN,
        "blocks": [],
        "episodes": [],
        "facts": [],
        "records": {"ErasureNote": []},
        "state": {"ErasureNote": {"records": [], "edges": [], "predictions": []}},
    }
    assert memory.restore(again) == 8
    restored = memory.export(user_id=ANN)
    assert restored.model_dump(exclude={"exported_at"}) == exported.model_dump(
        exclude={"exported_at"}
    )
    assert memory.recall_facts(ANN_WORDS[0], user_id=ANN)[0].object == ANN_WORDS[0]
    assert scores(ANN) == before  # the state ranks and scores the restored records as before
    assert ErasureNote.check_indexes()["total"] == 0


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"records": [{"id": "nobody", "hidden": {"~conf+:sure": "1"}}]}, "'nobody'"),
        ({"records": [{"id": f"{ANN}:{ANN}-n1", "hidden": {"sure": "1"}}]}, "'sure'"),
        ({"records": [{"id": f"{ANN}:{ANN}-n1", "hidden": {"~exp": "1"}}]}, "'~exp'"),
        ({"records": [{"id": f"{ANN}:{ANN}-n1", "hidden": {"~t:fresh": "soon"}}]}, "'soon'"),
        ({"records": [{"id": f"{ANN}:{ANN}-n1", "hidden": {"~acc:log:hits": "1,x"}}]}, "'1,x'"),
        ({"edges": [{"field": "kind", "a": f"{ANN}:{ANN}-n1", "b": "x", "weight": 1}]}, "'x'"),
        (
            {
                "edges": [
                    {"field": "kind", "a": f"{ANN}:{ANN}-n1", "b": f"{ANN}:{ANN}-n2", "weight": 1}
                ]
            },
            "'kind'",
        ),
        (
            {
                "edges": [
                    {
                        "field": "related",
                        "a": f"{ANN}:{ANN}-n1",
                        "b": f"{ANN}:{ANN}-n1",
                        "weight": 1,
                    }
                ]
            },
            "needs two records",
        ),
        (
            {
                "edges": [
                    {
                        "field": "related",
                        "a": f"{ANN}:{ANN}-n1",
                        "b": f"{ANN}:{ANN}-n2",
                        "weight": 0,
                    }
                ]
            },
            "finite weight > 0",
        ),
        (
            {
                "predictions": [
                    {"field": "related", "record": f"{ANN}:{ANN}-n1", "key": "k", "data": ""}
                ]
            },
            "no ledger field",
        ),
    ],
)
def test_restore_refuses_a_state_it_cannot_write_back(
    memory: SyncRedisMemory, change: dict[str, Any], named: str
) -> None:
    write_user(memory, ANN, ANN_WORDS)
    exported = memory.export(user_id=ANN)
    memory.forget(user_id=ANN)
    bad = exported.model_copy(update={"state": {"ErasureNote": ModelState.model_validate(change)}})
    with pytest.raises(ConfigError, match=re.escape(named)):
        memory.restore(bad)
    assert memory.export(user_id=ANN).records == {"ErasureNote": []}  # nothing written
    assert memory.working(user_id=ANN) == []


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    weight=st.floats(min_value=5e-324, max_value=1.7976931348623157e308),
    touched=st.integers(min_value=0, max_value=2**53),
    counts=st.tuples(st.integers(0, 2**40), st.integers(0, 2**40)),
    log=st.lists(st.integers(0, 2**53), max_size=5),
    text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
)
def test_any_state_round_trips(
    memory: SyncRedisMemory,
    weight: float,
    touched: int,
    counts: tuple[int, int],
    log: list[int],
    text: str,
) -> None:
    """Edge weights from the least to the largest float, touch times, counts and logs at their
    bounds, a hidden field of a kind from outside holding any text: each comes back exactly."""
    memory.forget(user_id=ANN)
    a, b = f"{ANN}:{ANN}-n1", f"{ANN}:{ANN}-n2"
    hidden = {
        "~t:fresh": str(touched),
        "~t:ripe": str(touched),
        "~conf+:sure": str(counts[0]),
        "~conf-:sure": str(counts[1]),
        "~acc:log:hits": ",".join(map(str, log)),
        "~other": text,
    }
    state = ModelState(
        records=[RecordState(id=a, hidden=hidden)],
        edges=[EdgeState(field="related", a=a, b=b, weight=weight)],
    )
    notes = [{"owner": ANN, "id": f"{ANN}-n{i}", "body": "b", "topic": "t"} for i in (1, 2)]
    full = [ErasureNote.model_validate(n).model_dump(mode="json") for n in notes]
    export = MemoryExport(user_id=ANN, records={"ErasureNote": full}, state={"ErasureNote": state})
    memory.restore(export)
    back = memory.export(user_id=ANN)
    got = {r.id: r.hidden for r in back.state["ErasureNote"].records}
    assert {name: got[a].get(name) for name in hidden} == hidden  # the saves set the others
    assert back.state["ErasureNote"].edges == state.edges
    assert ErasureNote.check_indexes()["total"] == 0


def test_restore_refuses_a_record_of_another_user(memory: SyncRedisMemory) -> None:
    write_user(memory, ANN, ANN_WORDS)
    exported = memory.export(user_id=ANN)
    memory.forget(user_id=ANN)
    exported.records["ErasureNote"][1]["owner"] = BOB
    with pytest.raises(ConfigError, match=f"{BOB}:{ANN}-n2"):
        memory.restore(exported)
    assert memory.working(user_id=ANN) == [] and memory.export(user_id=BOB).records == {
        "ErasureNote": []
    }


def test_a_partition_larger_than_a_step_round_trips(memory: SyncRedisMemory) -> None:
    """450 notes (three steps of export and of restore), edges across the steps' bounds."""
    notes = [
        ErasureNote(owner=ANN, id=f"{ANN}-{i:03}", body="b", topic="t", fresh=1.0 + i)
        for i in range(450)
    ]
    ErasureNote.save_many(notes)
    for i in range(0, 449, 7):
        link(ErasureNote.related, notes[i], notes[i + 1], weight=0.5 + i)
    update_confidence(notes[-1], ErasureNote.sure, 0.1)
    exported = memory.export(user_id=ANN)
    assert len(exported.state["ErasureNote"].records) == 450
    assert len(exported.state["ErasureNote"].edges) == 65
    memory.forget(user_id=ANN)
    assert memory.restore(exported) == 450
    assert memory.export(user_id=ANN).model_dump(exclude={"exported_at"}) == exported.model_dump(
        exclude={"exported_at"}
    )
    assert ErasureNote.check_indexes()["total"] == 0


AT = datetime(2026, 3, 1, tzinfo=UTC)  # a fixed time to score at, after LONG_AGO


def scores(user: str) -> dict[str, Any]:
    """What the primitives' state of the user's notes gives: decay order, confidence evidence,
    access logs, cycles and pressure, neighbours, predictions, composite ranking."""
    notes = ErasureNote.query.filter(owner=user).order_by(ErasureNote.fresh.decayed(AT)).all()
    out: dict[str, Any] = {"decay order": [n.id for n in notes]}
    for n in notes:
        out[n.id] = (
            get_confidence_data(n, ErasureNote.sure),
            access_log(n),
            cyclic_score(n, ErasureNote.urge, at=AT),
            [(m.id, w) for m, w in neighbors(ErasureNote.related, n)],
            prediction_data(n, ErasureNote.predictions, key="k1"),
            prediction_data(n, ErasureNote.predictions, key="k2"),
        )
    weights = {ErasureNote.ripe: 1.0, ErasureNote.sure: 2.0, ErasureNote.hits: 0.5}
    ranked = composite_score(ErasureNote.query.filter(owner=user), weights)
    # scored at the server's now: equal up to the time between two calls
    out["composite"] = [(n.id, pytest.approx(score, rel=1e-6)) for n, score in ranked]
    return out


def test_forget_on_the_asyncio_client(redis_client: Client) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotSemanticWarning)
        memory = RedisMemory(namespace="erasure", embedder=_EMBEDDER, models=[ErasureNote])

        async def main() -> int:
            await memory.remember(Episode(user_id=ANN, session_id="s", input="x", output="y"))
            await memory.update_block("b", "c", user_id=ANN)
            return await memory.forget(user_id=ANN)

        assert asyncio.run(main()) == 1
    assert snapshot(redis_client) == {}


def test_export_and_restore_on_the_asyncio_client(memory: SyncRedisMemory) -> None:
    write_user(memory, ANN, ANN_WORDS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotSemanticWarning)
        aio = RedisMemory(namespace="erasure", embedder=_EMBEDDER, models=[ErasureNote])

        async def main() -> tuple[MemoryExport, MemoryExport]:
            exported = await aio.export(user_id=ANN)
            await aio.forget(user_id=ANN)
            await aio.restore(exported)
            return exported, await aio.export(user_id=ANN)

        exported, restored = asyncio.run(main())
    assert exported.state["ErasureNote"].edges and exported.state["ErasureNote"].predictions
    assert restored.model_dump(exclude={"exported_at"}) == exported.model_dump(
        exclude={"exported_at"}
    )
    assert ErasureNote.check_indexes()["total"] == 0


def test_forget_of_the_anonymous_partition_leaves_named_users(memory: SyncRedisMemory) -> None:
    memory.remember(Episode(session_id="s", input="anon", output="y", occurred_at=_T))
    memory.remember(Episode(user_id=BOB, session_id="s", input="named", output="y"))
    assert memory.forget() == 1
    assert [e.input for e in memory.recall("named", user_id=BOB)] == ["named"]


_T = datetime(2024, 1, 1, tzinfo=UTC)


def test_a_tenant_forgets_itself_under_the_acl_recipe(
    own_conn: typedis.Connection, own_client: redis.Redis, own_server: str
) -> None:
    """docs/keys.md's tenant recipe, for the user's tags of the memory's models: the tenant
    writes, reads, exports and forgets its own data, and reaches no other user's."""
    memory = SyncRedisMemory(namespace="acl")
    commands = [rule for rule in recipe()["tenant-a"] if rule.startswith("+")]
    own_client.execute_command(
        "ACL", "SETUSER", "mem-ann", "reset", "on", ">ann-pw",
        "~{td:acl.*:ann}*", "%W~{td:acl.*}:partitions", *commands,
    )  # fmt: skip
    typedis.install_functions(*memory._core.stored.models)  # as the administrator
    write_plain(memory, BOB)
    before = {key: own_client.dump(key) for key in own_client.scan_iter()}
    with connected_as(own_server, "mem-ann", "ann-pw"):
        write_plain(memory, "ann")
        assert memory.export(user_id="ann").episodes
        with pytest.raises(PermissionDenied):
            memory.recall("tea", user_id=BOB)
        assert memory.forget(user_id="ann") == 2
    assert {key: own_client.dump(key) for key in own_client.scan_iter()} == before


def write_plain(memory: SyncRedisMemory, user: str) -> None:
    memory.remember(Episode(user_id=user, session_id="s", input="green tea", output="ok"))
    memory.facts.append(Fact(user_id=user, subject=user, predicate="likes", object="tea"))
    memory.append_block("notes", "tea", user_id=user)
    assert memory.recall("tea", user_id=user)


def recipe() -> dict[str, list[str]]:
    """The ACL SETUSER lines of docs/keys.md, by user name."""
    lines = re.findall(r"^ACL SETUSER (.+)$", KEYS_MD.read_text(), re.MULTILINE)
    return {args[0]: args for args in map(shlex.split, lines)}


KEYS_MD = Path(__file__).parents[1] / "docs" / "keys.md"


class ErasureDoc(Model, partition="owner"):
    owner: Key[str]
    id: Key[str]
    body: Content[str]


def test_forget_deletes_the_blobs_only_the_user_names(tmp_path: Path) -> None:
    store = FileContentStore(tmp_path)
    configure(content_store=store)
    try:
        memory = SyncRedisMemory(namespace="blobs", models=[ErasureDoc])
        ErasureDoc(owner=ANN, id="1", body=f"{ANN_WORDS[0]} alone").save()
        ErasureDoc(owner=ANN, id="2", body="a text both users hold").save()
        ErasureDoc(owner=BOB, id="1", body="a text both users hold").save()
        shared, alone = Blob("a text both users hold").digest, Blob(f"{ANN_WORDS[0]} alone").digest
        assert {name for name, _ in store.list()} == {shared, alone}
        exported = memory.export(user_id=ANN)  # the values, not the digests
        assert {r["body"] for r in exported.records["ErasureDoc"]} == {
            f"{ANN_WORDS[0]} alone",
            "a text both users hold",
        }
        memory.forget(user_id=ANN)
        assert [name for name, _ in store.list()] == [shared]
        assert ErasureDoc.load(BOB, "1").body.value == "a text both users hold"
        asyncio.run(RedisMemory(namespace="blobs", models=[ErasureDoc]).forget(user_id=BOB))
        assert list(store.list()) == []  # the last user naming it is gone
        memory.restore(exported)
        assert {name for name, _ in store.list()} == {shared, alone}
    finally:
        configure(content_store=None)
