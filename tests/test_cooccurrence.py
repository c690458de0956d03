"""Co-occurrence edges (``typedis.memory``): link, neighbors, propagate, cleanup on delete.

Checked against the real server: the edge keys a link writes (both directions, decayed on each
update), neighbours and breadth-first propagation computed on the server, edges removed with
their record by delete and sweep, partitions, errors (nothing written), the health check, async
twins, and a stateful machine against an in-memory graph.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime
from typing import Annotated, Any

import pytest
import redis
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from typedis import Key, Model, ModelError, NotFound, QueryError, _connection, field
from typedis.memory import (
    Associations,
    CoOccurrence,
    CoOccurrenceRef,
    alink,
    aneighbors,
    apropagate,
    link,
    neighbors,
    propagate,
)


class CoFact(Model):
    id: Key[str]
    related: Associations = field(default=None)


class CoMemory(Model, partition="agent"):
    agent: Key[str]
    id: Key[str]
    note: str = ""
    related: Annotated[None, CoOccurrence(decay=0.5, hop_decay=0.25)] = None


LEX, WEIGHTS = "{td:CoFact}:e:related", "{td:CoFact}:e:related:w"


def facts(*ids: str) -> list[CoFact]:
    return [CoFact(id=i).save() for i in ids]


def ids(scored: list[tuple[Any, float]]) -> list[tuple[str, float]]:
    return [(r.id, pytest.approx(s)) for r, s in scored]


# ---- declaration -------------------------------------------------------------------------------


def test_the_field_is_a_reference_with_its_options() -> None:
    assert isinstance(CoFact.related, CoOccurrenceRef)
    index = CoMemory.__typedis_spec__.index_of("cooccurrence", "related")
    assert index is not None and index.suffix == "e:related"
    assert dict(index.options) == {"decay": 0.5, "hop_decay": 0.25}
    assert CoFact(id="x").related is None


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        (Annotated[int, CoOccurrence()], "a CoOccurrence field holds no value"),
        (Annotated[None, CoOccurrence(decay=0)], r"decay=\.\.\.\) must be in \(0, 1\]"),
        (Annotated[None, CoOccurrence(decay=math.nan)], "must be in"),
        (Annotated[None, CoOccurrence(hop_decay=1.5)], r"hop_decay=\.\.\.\) must be in"),
    ],
)
def test_bad_declarations_are_refused(annotation: Any, message: str) -> None:
    with pytest.raises(ModelError, match="CoBad.related: .*" + message):

        class CoBad(Model):
            id: Key[str]
            related: annotation = None  # type: ignore[valid-type]


# ---- link ----------------------------------------------------------------------------------------


def test_link_writes_both_directions_and_decays_on_each_update(redis_client: redis.Redis) -> None:
    a, b = facts("a", "b:{x}")
    assert link(CoFact.related, a, b) == 1.0
    assert link(CoFact.related, b, a, weight=2.0) == pytest.approx(1.0 * 0.95 + 2.0)
    assert link(CoFact.related, a, b) == pytest.approx((0.95 + 2.0) * 0.95 + 1.0)
    want = (0.95 + 2.0) * 0.95 + 1.0
    assert redis_client.zrange(WEIGHTS, 0, -1, withscores=True) == [
        (b"a\x00b%3A%7Bx%7D", pytest.approx(want)),
        (b"b%3A%7Bx%7D\x00a", pytest.approx(want)),
    ]
    assert redis_client.zrange(LEX, 0, -1, withscores=True) == [
        (b"a\x00b%3A%7Bx%7D", 0.0),
        (b"b%3A%7Bx%7D\x00a", 0.0),
    ]
    assert CoFact.check_indexes()["total"] == 0


def test_neighbors_heaviest_first(redis_client: redis.Redis) -> None:
    a, b, c, d = facts("a", "b", "c", "d")
    link(CoFact.related, a, b, weight=1.0)
    link(CoFact.related, a, c, weight=3.0)
    link(CoFact.related, a, d, weight=3.0)
    link(CoFact.related, b, c)
    assert ids(neighbors(CoFact.related, a)) == [("c", 3.0), ("d", 3.0), ("b", 1.0)]
    assert ids(neighbors(CoFact.related, a, limit=1)) == [("c", 3.0)]
    assert ids(neighbors(CoFact.related, d)) == [("a", 3.0)]
    assert neighbors(CoFact.related, CoFact(id="lonely").save()) == []
    assert isinstance(neighbors(CoFact.related, a)[0][0], CoFact)


def test_propagate_breadth_first_with_per_hop_decay() -> None:
    a, b, c, d, e = facts("a", "b", "c", "d", "e")
    link(CoFact.related, a, b, weight=2.0)
    link(CoFact.related, a, c, weight=1.0)
    link(CoFact.related, b, d, weight=4.0)
    link(CoFact.related, c, d, weight=2.0)
    link(CoFact.related, d, e, weight=8.0)
    # hop 1: b 2, c 1; hop 2 (x0.5): d (4 + 2) * 0.5 = 3; hop 3 (x0.25): e 8 * 0.25 = 2
    assert ids(propagate(CoFact.related, [a], depth=3)) == [
        ("d", 3.0),
        ("b", 2.0),
        ("e", 2.0),
        ("c", 1.0),
    ]
    assert ids(propagate(CoFact.related, [a], depth=1)) == [("b", 2.0), ("c", 1.0)]
    assert ids(propagate(CoFact.related, [a], depth=3, limit=2)) == [("d", 3.0), ("b", 2.0)]
    assert ids(propagate(CoFact.related, [a, e], depth=1)) == [("d", 8.0), ("b", 2.0), ("c", 1.0)]
    assert propagate(CoFact.related, [CoFact(id="z").save()]) == []


def test_a_fields_options_reach_the_server() -> None:
    a, b, c = (CoMemory(agent="x", id=i).save() for i in "abc")
    link(CoMemory.related, a, b, weight=4.0)
    assert link(CoMemory.related, a, b, weight=1.0) == 3.0  # 4 * 0.5 + 1
    link(CoMemory.related, b, c, weight=8.0)
    assert ids(propagate(CoMemory.related, [a], depth=2)) == [("b", 3.0), ("c", 2.0)]  # x0.25


# ---- cleanup -------------------------------------------------------------------------------------


def test_delete_removes_the_records_edges_both_ways(redis_client: redis.Redis) -> None:
    a, b, c = facts("a", "b", "c")
    link(CoFact.related, a, b)
    link(CoFact.related, b, c)
    link(CoFact.related, a, c)
    b.delete()
    assert ids(neighbors(CoFact.related, a)) == [("c", 1.0)]
    assert ids(neighbors(CoFact.related, c)) == [("a", 1.0)]
    assert {m.decode() for m in redis_client.zrange(WEIGHTS, 0, -1)} == {"a\0c", "c\0a"}
    assert CoFact.check_indexes()["total"] == 0
    CoFact.delete_all()
    assert redis_client.exists(LEX, WEIGHTS) == 0


def test_sweep_removes_expired_records_edges() -> None:
    a, b = (CoMemory(agent="x", id=i).save() for i in "ab")
    link(CoMemory.related, a, b)
    b.save(expire_at=datetime(2000, 1, 1, tzinfo=UTC))
    assert neighbors(CoMemory.related, a) == []  # an expired record is not returned
    assert CoMemory.check_indexes()["total"] == 0
    assert CoMemory.sweep_expired() == 1
    assert CoMemory.check_indexes()["total"] == 0
    with pytest.raises(NotFound):
        link(CoMemory.related, a, b)


def test_a_moved_record_starts_without_edges() -> None:
    a, b = (CoMemory(agent="x", id=i).save() for i in "ab")
    link(CoMemory.related, a, b)
    b.id = "b2"
    b.save(migrate_key=True)
    assert neighbors(CoMemory.related, a) == [] and neighbors(CoMemory.related, b) == []
    assert CoMemory.check_indexes()["total"] == 0


# ---- errors --------------------------------------------------------------------------------------


def test_bad_arguments_are_refused_and_nothing_is_written(redis_client: redis.Redis) -> None:
    a, b = facts("a", "b")
    for weight in (0, -1.0, math.nan, math.inf):
        with pytest.raises(ModelError, match="weight must be a finite number > 0"):
            link(CoFact.related, a, b, weight=weight)
    for weight in (True, "1"):
        with pytest.raises(ModelError, match="weight must be a number"):
            link(CoFact.related, a, b, weight=weight)  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="the same record"):
        link(CoFact.related, a, a)
    with pytest.raises(NotFound, match="is not stored"):
        link(CoFact.related, a, CoFact(id="ghost"))
    x, y = CoMemory(agent="x", id="m").save(), CoMemory(agent="y", id="m").save()
    with pytest.raises(QueryError, match="different partitions"):
        link(CoMemory.related, x, y)
    with pytest.raises(ModelError, match="b must be a CoFact record"):
        link(CoFact.related, a, x)  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="must be a CoOccurrence field reference"):
        link(CoFact.id, a, b)  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="limit must be an int >= 1"):
        neighbors(CoFact.related, a, limit=0)
    with pytest.raises(ModelError, match="depth must be an int >= 1"):
        propagate(CoFact.related, [a], depth=0)
    with pytest.raises(QueryError, match="seeds is empty"):
        propagate(CoFact.related, [])
    with pytest.raises(QueryError, match="seeds are in different partitions"):
        propagate(CoMemory.related, [x, y])
    assert redis_client.exists(LEX, WEIGHTS) == 0


def test_the_check_finds_broken_edges(redis_client: redis.Redis) -> None:
    a, b, c = facts("a", "b", "c")
    link(CoFact.related, a, b)
    link(CoFact.related, b, c)
    redis_client.zadd(WEIGHTS, {"a\0b": 5.0})  # the twin b->a now differs
    assert CoFact.check_indexes()["cooccurrence"] == 2
    redis_client.zadd(WEIGHTS, {"a\0b": 1.0})
    redis_client.zrem(LEX, "b\0c")  # in one key only
    assert CoFact.check_indexes()["cooccurrence"] == 1
    redis_client.zadd(LEX, {"b\0c": 0})
    redis_client.delete("{td:CoFact}:r:c")  # an edge to a missing record, both ways
    assert CoFact.check_indexes()["cooccurrence"] == 2


# ---- async ---------------------------------------------------------------------------------------


def test_async_twins() -> None:
    a, b, c = facts("a", "b", "c")

    async def body() -> tuple[Any, ...]:
        try:
            first = await alink(CoFact.related, a, b)
            await alink(CoFact.related, b, c, weight=2.0)
            return (
                first,
                ids(await aneighbors(CoFact.related, b)),
                ids(await apropagate(CoFact.related, [a], depth=2)),
            )
        finally:
            await _connection.get_connection().aclose()

    assert asyncio.run(body()) == (1.0, [("c", 2.0), ("a", 1.0)], [("b", 1.0), ("c", 1.0)])


# ---- stateful ------------------------------------------------------------------------------------

agents = st.sampled_from(["x", "y:{z}"])
names = st.sampled_from(["a", "b", "", "\x00", "日本"])
weights = st.sampled_from([1.0, 0.5, 3.25])
LINKED = {"edges": 0}  # successful links over a run


class EdgeMachine(RuleBasedStateMachine):
    """Saves (some expiring at once), links, deletes, key migration and sweeps of ``CoMemory``,
    checked after every step against an in-memory graph: each live record's neighbours and
    weights, and ``check_indexes()`` finding nothing."""

    client: redis.Redis

    def __init__(self) -> None:
        super().__init__()
        self.client.flushdb()
        self.expired: dict[tuple[str, str], bool] = {}  # stored records -> expired
        self.edges: dict[frozenset[tuple[str, str]], float] = {}

    def _drop_edges(self, rec: tuple[str, str]) -> None:
        self.edges = {k: w for k, w in self.edges.items() if rec not in k}

    def _live(self) -> list[tuple[str, str]]:
        return sorted(k for k, e in self.expired.items() if not e)

    @initialize()
    def some_records(self) -> None:
        for agent, name in (("x", "a"), ("x", "b"), ("x", "\x00"), ("y:{z}", "a")):
            CoMemory(agent=agent, id=name).save()
            self.expired[(agent, name)] = False

    @rule(agent=agents, name=names, expire=st.booleans())
    def save(self, agent: str, name: str, expire: bool) -> None:
        rec = CoMemory(agent=agent, id=name)
        if self.expired.get((agent, name)):
            self._drop_edges((agent, name))  # saving over an expired record replaces it
        if expire:
            rec.save(expire_at=datetime(2000, 1, 1, tzinfo=UTC))
        else:
            rec.save()
        self.expired[(agent, name)] = expire

    @rule(data=st.data(), weight=weights, same_agent=st.booleans())
    def link(self, data: st.DataObject, weight: float, same_agent: bool) -> None:
        stored = sorted(self.expired)
        if len(stored) < 2:
            return
        a = data.draw(st.sampled_from(stored))
        pool = [k for k in stored if k[0] == a[0]] if same_agent else stored
        b = data.draw(st.sampled_from(pool))
        ra = CoMemory.model_construct(agent=a[0], id=a[1])
        rb = CoMemory.model_construct(agent=b[0], id=b[1])
        if a == b or a[0] != b[0]:
            with pytest.raises(QueryError):
                link(CoMemory.related, ra, rb, weight=weight)
            return
        if self.expired[a] or self.expired[b]:
            with pytest.raises(NotFound):
                link(CoMemory.related, ra, rb, weight=weight)
            return
        key = frozenset((a, b))
        self.edges[key] = self.edges.get(key, 0.0) * 0.5 + weight
        assert link(CoMemory.related, ra, rb, weight=weight) == pytest.approx(self.edges[key])
        LINKED["edges"] += 1

    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        if not self.expired:
            return
        agent, name = data.draw(st.sampled_from(sorted(self.expired)))
        expired = self.expired.pop((agent, name))
        assert CoMemory.model_construct(agent=agent, id=name).delete() == (not expired)
        self._drop_edges((agent, name))

    @rule(data=st.data(), name=names)
    def migrate(self, data: st.DataObject, name: str) -> None:
        live = self._live()
        if not live:
            return
        old = data.draw(st.sampled_from(live))
        if (old[0], name) in self.expired:
            return  # an occupied key is test_stateful's business
        rec = CoMemory.load(*old)
        rec.id = name
        rec.save(migrate_key=True)
        del self.expired[old]
        self._drop_edges(old)
        self.expired[(old[0], name)] = False

    @rule()
    def sweep(self) -> None:
        gone = [k for k, e in self.expired.items() if e]
        assert CoMemory.sweep_expired() == len(gone)
        for k in gone:
            del self.expired[k]
            self._drop_edges(k)

    @invariant()
    def matches_the_reference(self) -> None:
        for rec in self._live():
            want = sorted(
                (other[1], w)
                for pair, w in self.edges.items()
                if rec in pair
                for other in pair - {rec}
                if not self.expired[other]
            )
            got = neighbors(CoMemory.related, CoMemory.model_construct(agent=rec[0], id=rec[1]))
            got = sorted((r.id, w) for r, w in got)
            assert [i for i, _ in got] == [i for i, _ in want]
            assert [w for _, w in got] == pytest.approx([w for _, w in want])
        assert CoMemory.check_indexes()["total"] == 0


def test_stateful_cooccurrence(redis_client: redis.Redis) -> None:
    EdgeMachine.client = redis_client
    LINKED["edges"] = 0
    run_state_machine_as_test(
        EdgeMachine, settings=settings(max_examples=30, stateful_step_count=25, deadline=None)
    )
    assert LINKED["edges"] > 0  # the machine did link live records
