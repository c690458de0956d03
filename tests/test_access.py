"""Access tracking (typedis.memory): reads staged when a query or load hydrates records of a
model with an AccessCount field, confirmed into the count (and its sorted index) and a capped
log, or discarded; all of it in hidden fields of the record's own hash."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Annotated

import pytest
import redis
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule, run_state_machine_as_test
from pydantic import ValidationError

from _lifecycle import AGENTS, NAMES, Lifecycle
from typedis import (
    CorruptRecord,
    Indexed,
    Key,
    Model,
    ModelError,
    NotFound,
    Sorted,
    _lua,
    field,
)
from typedis._connection import Connection
from typedis._index.access_kind import LOG_SIZE, AccessCountMarker
from typedis.memory import (
    AccessCount,
    aaccess_count,
    aaccess_log,
    access_count,
    access_log,
    aconfirm_access,
    adiscard_staged_access,
    alast_accessed,
    confirm_access,
    discard_staged_access,
    last_accessed,
)


class Note(Model, partition="agent"):
    agent: Key[str]
    name: Key[str]
    topic: Indexed[str] = "t"
    score: Sorted[float] = 0.0
    hits: AccessCount = field(default=0)


class Plain(Model):
    name: Key[str]
    topic: Indexed[str] = "t"


TAG = "{td:Note:a}"


def raw(client: redis.Redis, agent: str = "a", name: str = "x") -> dict[bytes, bytes]:
    return client.hgetall(Note(agent=agent, name=name).redis_key)


def staged(client: redis.Redis, agent: str = "a", name: str = "x") -> int:
    return int(raw(client, agent, name).get(b"~acc:n:hits", 0))


def server_now(client: redis.Redis) -> datetime:
    sec, usec = client.time()
    return datetime.fromtimestamp(sec + usec / 1e6, UTC)


def test_every_hydrating_read_stages_one_read(redis_client: redis.Redis) -> None:
    x = Note(agent="a", name="x").save()
    Note(agent="a", name="y").save()
    assert staged(redis_client) == 0  # writes stage nothing
    in_a = Note.query.filter(Note.agent == "a")
    in_a.all()
    in_a.filter(Note.name == "x").first()  # first() is any match: name the one
    in_a.get(Note.name == "x")
    Note.load("a", "x")
    x.refresh()
    x.exists()
    list(in_a.iter())
    in_a.get_many([("a", "x")])
    assert staged(redis_client) == 8
    assert staged(redis_client, name="y") == 2  # all() and iter()
    in_a.count()
    in_a.keys()
    assert staged(redis_client) == 8  # no record hydrated
    assert len(raw(redis_client)[b"~acc:s:hits"].split(b",")) == 8
    assert Note.check_indexes()["total"] == 0


def test_models_that_do_not_track_access_read_as_before(redis_client: redis.Redis) -> None:
    Plain(name="p").save()
    plan = Plain.query.filter(Plain.topic == "t").plan()
    assert plan.reads == () and "reads" not in json.loads(plan.program())
    assert _lua.library(Plain.__typedis_spec__).function("load").name.endswith("_load")
    assert _lua.library(Note.__typedis_spec__).function("load").name.endswith("_load_reads")
    assert json.loads(Note.query.filter(Note.agent == "a").plan().program())["reads"]
    assert "reads" not in json.loads(Note.query.filter(Note.agent == "a").plan("ids").program())
    Plain.query.all()
    Plain.load("p")
    assert redis_client.hgetall("{td:Plain}:r:p") == {b"name": b"p", b"topic": b"t"}


def test_confirm_promotes_staged_reads_into_the_count_index_and_log(
    redis_client: redis.Redis,
) -> None:
    x = Note(agent="a", name="x").save()
    assert confirm_access(x) == 0 and last_accessed(x) is None and access_log(x) == []
    before = server_now(redis_client)
    Note.load("a", "x")
    Note.load("a", "x")
    after = server_now(redis_client)
    assert confirm_access(x) == 2
    assert x.hits == 2 and access_count(x) == 2 and Note.load("a", "x").hits == 2
    assert redis_client.zscore(f"{TAG}:z:hits", "a:x") == 2.0
    log = access_log(x)
    assert len(log) == 2 and before - timedelta(seconds=1) <= log[0] <= log[1] <= after
    assert last_accessed(x) == log[-1]
    assert staged(redis_client) == 1  # the load above staged one more
    assert b"~acc:s:hits" in raw(redis_client)
    assert Note.check_indexes()["total"] == 0


def test_the_log_keeps_the_latest_reads(redis_client: redis.Redis) -> None:
    x = Note(agent="a", name="x").save()
    for _ in range(LOG_SIZE + 20):
        Note.load("a", "x")
    assert len(raw(redis_client)[b"~acc:s:hits"].split(b",")) == LOG_SIZE
    assert confirm_access(x) == LOG_SIZE + 20
    for _ in range(5):
        Note.load("a", "x")
    assert confirm_access(x) == 5
    log = access_log(x)
    assert len(log) == LOG_SIZE and log == sorted(log)
    assert access_count(x) == LOG_SIZE + 25


def test_discard_drops_staged_reads_only(redis_client: redis.Redis) -> None:
    x = Note(agent="a", name="x").save()
    Note.load("a", "x")
    confirm_access(x)
    Note.load("a", "x")
    Note.load("a", "x")
    assert discard_staged_access(x) == 2
    assert discard_staged_access(x) == 0
    assert confirm_access(x) == 0
    assert access_count(x) == 1 and len(access_log(x)) == 1
    assert not any(k.startswith(b"~acc:s") or k.startswith(b"~acc:n") for k in raw(redis_client))


def test_queries_rank_by_access_frequency() -> None:
    for name, reads in (("x", 3), ("y", 1), ("z", 2)):
        Note(agent="a", name=name).save()
        for _ in range(reads):
            Note.load("a", name)
        confirm_access(Note(agent="a", name=name))
    in_a = Note.query.filter(Note.agent == "a")
    assert [n.name for n in in_a.order_by(Note.hits.desc()).all()] == ["x", "z", "y"]
    assert [n.name for n in in_a.filter(Note.hits >= 2).all()] == ["x", "z"]
    Note(agent="a", name="y", score=10.0).save(update_fields=["score"])
    ranked = in_a.order_by((Note.score * 0.5 + Note.hits * 1.0).desc()).all()
    assert [n.name for n in ranked] == ["y", "x", "z"]


def test_missing_or_expired_records_raise_not_found_and_write_nothing(
    redis_client: redis.Redis,
) -> None:
    ghost = Note(agent="a", name="ghost")
    for call in (confirm_access, discard_staged_access, access_count, last_accessed, access_log):
        with pytest.raises(NotFound, match=call.__name__):
            call(ghost)
    assert redis_client.dbsize() == 0
    x = Note(agent="a", name="x").save()
    Note.load("a", "x")
    x.save(update_fields=[], expire_at=datetime.now(UTC) - timedelta(seconds=1))
    before = raw(redis_client)
    with pytest.raises(NotFound):
        confirm_access(x)
    with pytest.raises(NotFound):
        discard_staged_access(x)
    assert Note.query.filter(Note.agent == "a").all() == []
    assert raw(redis_client) == before


def test_a_model_must_track_access() -> None:
    p = Plain(name="p").save()
    with pytest.raises(ModelError, match="does not track access"):
        confirm_access(p)
    with pytest.raises(ModelError, match="does not track access"):
        access_count(p)

    class Twice(Model):
        name: Key[str]
        a: AccessCount = field(default=0)
        b: AccessCount = field(default=0)

    with pytest.raises(ModelError, match="several AccessCount fields"):
        confirm_access(Twice(name="t"))
    with pytest.raises(ModelError, match="AccessCount fields need an int"):

        class Wrong(Model):
            name: Key[str]
            hits: Annotated[str, AccessCountMarker()] = "0"


def test_a_wrong_key_type_is_a_typedis_error_and_writes_nothing(
    redis_client: redis.Redis,
) -> None:
    x = Note(agent="a", name="x").save()
    Note.load("a", "x")
    redis_client.delete(f"{TAG}:z:hits")
    redis_client.set(f"{TAG}:z:hits", "not a zset")
    before = raw(redis_client)
    with pytest.raises(CorruptRecord) as caught:
        confirm_access(x)
    assert isinstance(caught.value.__cause__, redis.ResponseError)
    assert raw(redis_client) == before


def test_a_corrupt_count_is_refused(redis_client: redis.Redis) -> None:
    x = Note(agent="a", name="x").save()
    Note.load("a", "x")
    redis_client.hset(x.redis_key, "hits", "-1")
    with pytest.raises(ModelError, match="not a non-negative integer"):
        confirm_access(x)
    assert staged(redis_client) == 1


def test_tracking_data_lives_and_dies_with_the_record(redis_client: redis.Redis) -> None:
    x = Note(agent="a", name="x").save()
    Note.load("a", "x")
    confirm_access(x)
    Note.load("a", "x")
    moved = Note.load("a", "x")  # 2 staged
    moved.agent, moved.name = "b", "y"
    moved.save(migrate_key=True)
    assert not redis_client.exists(x.redis_key)
    assert staged(redis_client, "b", "y") == 2 and access_count(moved) == 1
    assert len(access_log(moved)) == 1
    assert Note.check_indexes()["total"] == 0
    moved.delete()
    assert redis_client.keys() == [b"{td:Note}:partitions"]  # the registry stays
    y = Note(agent="b", name="y").save()
    Note.load("b", "y")
    y.save(update_fields=[], expire_at=datetime.now(UTC) - timedelta(seconds=1))
    again = Note(agent="b", name="y").save()  # over the expired record: a new one
    assert access_count(again) == 0 and staged(redis_client, "b", "y") == 0
    again.save(update_fields=[], expire_at=datetime.now(UTC) - timedelta(seconds=1))
    assert Note.sweep_expired() == 1
    assert redis_client.keys() == [b"{td:Note}:partitions"]  # the registry stays


def test_async_twins(conn: Connection, redis_client: redis.Redis) -> None:
    async def scenario() -> None:
        x = await Note(agent="a", name="x").asave()
        await Note.query.filter(Note.agent == "a").aall()
        await Note.aload("a", "x")
        assert await adiscard_staged_access(x) == 2
        await Note.aload("a", "x")
        assert await aconfirm_access(x) == 1
        assert await aaccess_count(x) == 1
        log = await aaccess_log(x)
        assert len(log) == 1 and await alast_accessed(x) == log[0]
        await conn.aclose()

    asyncio.run(scenario())


def test_concurrent_reads_and_confirms_lose_nothing(conn: Connection) -> None:
    x = Note(agent="a", name="x").save()

    async def scenario() -> list[int]:
        reads = [Note.aload("a", "x") for _ in range(40)]
        confirms = [aconfirm_access(x) for _ in range(10)]
        done = await asyncio.gather(*reads, *confirms)
        await conn.aclose()
        return [n for n in done if isinstance(n, int)]

    promoted = asyncio.run(scenario())
    assert sum(promoted) + discard_staged_access(x) == 40
    assert access_count(x) == sum(promoted)
    assert Note.check_indexes()["total"] == 0


def test_the_public_names_import_and_say_what_they_do() -> None:
    import inspect

    import typedis.memory as memory

    for name in memory.__all__:
        public = getattr(memory, name)
        if inspect.isfunction(public) or inspect.isclass(public):
            assert public.__doc__ and public.__module__.startswith("typedis."), name


# ---- a state machine: reads, confirm, discard, saves, deletes, migration, expiry, sweep -----


class AccessMachine(Lifecycle):
    """Records of ``Note`` against a reference: [hits, staged reads, confirmed log length]."""

    model = Note

    def loaded(self, key: tuple[str, str]) -> None:
        self.live[key][1] += 1  # a load stages one read

    @rule(agent=st.sampled_from(AGENTS), name=st.sampled_from(NAMES), hits=st.sampled_from([0, 7]))
    def save(self, agent: str, name: str, hits: int) -> None:
        Note(agent=agent, name=name, hits=hits).save()
        self.expired.discard((agent, name))
        kept = self.live.get((agent, name), [0, 0, 0])
        self.live[(agent, name)] = [hits, kept[1], kept[2]]  # a save writes the count it holds

    @rule(agent=st.sampled_from(AGENTS), name=st.sampled_from(NAMES))
    def load(self, agent: str, name: str) -> None:
        if (agent, name) not in self.live:
            with pytest.raises(NotFound):
                Note.load(agent, name)
            return
        assert Note.load(agent, name).hits == self.live[(agent, name)][0]
        self.live[(agent, name)][1] += 1

    @rule(agent=st.sampled_from(AGENTS))
    def query(self, agent: str) -> None:
        found = Note.query.filter(Note.agent == agent).all()
        assert sorted(n.name for n in found) == sorted(n for a, n in self.live if a == agent)
        for (a, _), state in self.live.items():
            if a == agent:
                state[1] += 1

    @rule(agent=st.sampled_from(AGENTS), name=st.sampled_from(NAMES))
    def confirm(self, agent: str, name: str) -> None:
        state = self.live.get((agent, name))
        if state is None:
            with pytest.raises(NotFound):
                confirm_access(Note(agent=agent, name=name))
            return
        assert confirm_access(Note(agent=agent, name=name)) == state[1]
        state[0] += state[1]
        state[2] = min(LOG_SIZE, state[2] + state[1])
        state[1] = 0

    @rule(agent=st.sampled_from(AGENTS), name=st.sampled_from(NAMES))
    def discard(self, agent: str, name: str) -> None:
        state = self.live.get((agent, name))
        if state is None:
            with pytest.raises(NotFound):
                discard_staged_access(Note(agent=agent, name=name))
            return
        assert discard_staged_access(Note(agent=agent, name=name)) == state[1]
        state[1] = 0

    @invariant()
    def matches_the_reference(self) -> None:
        for (agent, name), (hits, pending, logged) in self.live.items():
            record = Note(agent=agent, name=name)
            assert access_count(record) == hits
            assert len(access_log(record)) == logged
            assert staged(self.client, agent, name) == pending
        for agent, name in self.expired:
            with pytest.raises(NotFound):
                access_count(Note(agent=agent, name=name))
        stored = {k.decode() for k in self.client.scan_iter("*:r:*")}
        held = self.live.keys() | self.expired
        assert stored == {Note(agent=a, name=n).redis_key for a, n in held}
        assert Note.check_indexes()["total"] == 0


def test_access_state_machine(redis_client: redis.Redis) -> None:
    AccessMachine.client = redis_client
    run_state_machine_as_test(
        AccessMachine, settings=settings(max_examples=30, stateful_step_count=25, deadline=None)
    )


def test_an_access_count_is_a_validated_int() -> None:
    assert Note.model_fields["hits"].annotation is int
    assert Note(agent="a", name="x").hits == 0
    with pytest.raises(ValidationError):
        Note(agent="a", name="x", hits=-1)
