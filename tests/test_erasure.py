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
from typing import Any

import pytest
import redis

import typedis
from _acl import connected_as
from typedis import Confidence, Decaying, Indexed, Key, Model, PermissionDenied, Text, field
from typedis._connection import Client
from typedis.memory import (
    AccessCount,
    Associations,
    Episode,
    Fact,
    Fingerprinted,
    RedisMemory,
    SyncRedisMemory,
    confirm_access,
    link,
    might_exist,
    update_confidence,
)
from typedis.retrieval import HashingEmbedder, NotSemanticWarning, _vectors

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
    sure: Confidence = field(default=0.5)


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
    note.touch(ErasureNote.fresh)
    update_confidence(note, ErasureNote.sure, 0.9)
    ids += [a.id, b.id]
    # reads that fill this process's caches (vectors) and write read-side state (access logs)
    assert memory.recall(words[0], user_id=user)
    assert memory.recall_facts(words[0], user_id=user)
    assert might_exist(ErasureNote.topic, words[0], partition=user)
    return ids


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
    again = type(exported).model_validate_json(exported.model_dump_json())  # JSON-ready
    memory.forget(user_id=ANN)
    assert memory.export(user_id=ANN).model_dump(exclude={"exported_at"}) == {
        "user_id": ANN,
        "blocks": [],
        "episodes": [],
        "facts": [],
        "records": {"ErasureNote": []},
    }
    assert memory.restore(again) == 8
    restored = memory.export(user_id=ANN)
    assert restored.model_dump(exclude={"exported_at"}) == exported.model_dump(
        exclude={"exported_at"}
    )
    assert memory.recall_facts(ANN_WORDS[0], user_id=ANN)[0].object == ANN_WORDS[0]


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
