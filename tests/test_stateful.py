"""A stateful machine against the real server: random writes on two models that together use
every marker, checked after every step against a plain-Python reference of what is stored.

After each step: every reference record loads back equal and every other known key is NotFound;
every raw index key (sets, unique hashes, sorted/geo sets, ``all``, ``exp``) holds exactly what the
reference implies; a write that must fail (unique clash, occupied key) changed nothing at all;
and ``check_indexes()`` finds nothing. Expiry never sleeps: ``expire_at`` in the past expires a
record at once; until ``sweep_expired()`` its index entries stay (modelled as "expired").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import redis
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from pydantic import ValidationError

from typedis import (
    AutoKey,
    Confidence,
    Decaying,
    Geo,
    GeoPoint,
    Index,
    Indexed,
    Key,
    KeyMutationError,
    Model,
    NotFound,
    Sorted,
    TypedisError,
    Unique,
    UniqueViolation,
    _codec,
    _index,
    _keys,
    _maintenance,
    field,
    new_id,
)
from typedis._index.decay_kind import rank_score

TTL = 3600


class StA(Model, ttl=TTL, indexes=[Index("city", "kind", unique=True)]):
    first: Key[str]
    second: Key[int]
    email: Unique[str | None] = None
    city: Indexed[str | None] = None
    kind: str = "a"
    score: Sorted[int] = 0
    amount: Sorted[Decimal] = Decimal(0)
    when: Sorted[datetime | None] = None
    loc: Geo[GeoPoint | None] = None


class StB(Model, partition="agent", indexes=[Index("topic", "level")]):
    id: AutoKey = field(default_factory=new_id)
    agent: Key[str]
    topic: Indexed[str] = ""
    level: int = 0
    relevance: Decaying[float] = field(default=1.0, rate=0.1)
    certainty: Confidence = 0.5
    hits: Sorted[float] = 0.0


MODELS: dict[str, type[Model]] = {"StA": StA, "StB": StB}
STEPS = {"steps": 0, "runs": 0}
MIN_STEPS = 1500
MAX_ROUNDS = 3

# Small value pools so that values, keys and unique values collide often.
names = st.sampled_from(["a", "b", "a:b", "%", "", "{x}"])
seconds = st.sampled_from([0, 1, -7])
emails = st.sampled_from([None, "x", "y", "x:y"])
cities = st.sampled_from([None, "p", "q", "%"])
kinds = st.sampled_from(["a", "b"])
ints = st.integers(-5, 5)
amounts = st.sampled_from([Decimal(0), Decimal("1.5"), Decimal("-0.25"), Decimal("1E+3")])
whens = st.sampled_from(
    [
        None,
        datetime(2020, 1, 1),
        datetime(2021, 6, 1, 12, 30, 0, 5, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59),
    ]
)
locs = st.sampled_from([None, GeoPoint(48.85, 2.35), GeoPoint(-33.9, 151.2), GeoPoint(0.0, 0.0)])
agents = st.sampled_from(["m", "n:o", "%"])
bids = st.sampled_from(["1", "2", "3:x"])
topics = st.sampled_from(["", "t", "u"])
levels = st.integers(0, 2)
relevances = st.sampled_from([1.0, 0.5, 2.0])
certainties = st.sampled_from([0.0, 0.5, 0.9, 1.0])
hits = st.sampled_from([0.0, 1.5, -2.0, 1e10])

A_FIELDS = ("email", "city", "kind", "score", "amount", "when", "loc")
B_FIELDS = ("topic", "level", "relevance", "certainty", "hits")
a_values = st.fixed_dictionaries(
    {
        "email": emails,
        "city": cities,
        "kind": kinds,
        "score": ints,
        "amount": amounts,
        "when": whens,
        "loc": locs,
    }
)
b_values = st.fixed_dictionaries(
    {
        "topic": topics,
        "level": levels,
        "relevance": relevances,
        "certainty": certainties,
        "hits": hits,
    }
)
# How a save sets the expiry: default (model ttl, or keep), none, a ttl, or a past expire_at.
expiries = st.sampled_from(["default", "none", "ttl", "past"])


def now_ms(client: redis.Redis) -> int:
    sec, usec = client.time()
    return sec * 1000 + usec // 1000


@dataclass
class Rec:
    """A record as the reference knows it."""

    model: str
    values: dict[str, Any]  # every field, keys included
    exp: tuple[int, int] | None = None  # expiry window (ms): exactly known when equal
    clock: tuple[float, float] | None = None  # StB: decay clock window (seconds)
    expired: bool = False  # stored but past its expiry (until swept)

    @property
    def ident(self) -> tuple[str, tuple[Any, ...]]:
        return ident(self.model, self.values)


KEYS = {"StA": ("first", "second"), "StB": ("agent", "id")}


def ident(model: str, values: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
    return model, tuple(values[k] for k in KEYS[model])


def load(key: tuple[str, tuple[Any, ...]]) -> Any:
    model, kv = key
    return MODELS[model].load(**dict(zip(KEYS[model], kv, strict=True)))


def locate(model: str, values: dict[str, Any]) -> tuple[str, str]:
    """(tag, id) computed with typedis._keys and the codec texts."""
    spec = MODELS[model].__typedis_spec__
    texts = {k: _codec.text(spec.fields[k].codec, values[k]) for k in spec.keys}
    tag = _keys.tag(model, [texts[p] for p in spec.partition])
    return tag, _keys.record_id(texts[k] for k in spec.keys)


def read_all(client: redis.Redis) -> dict[str, Any]:
    """Every key of the database with its content."""
    out: dict[str, Any] = {}
    for raw in client.scan_iter(count=1000):
        key = raw.decode()
        kind = client.type(raw).decode()
        if kind == "set":
            out[key] = ("set", {m.decode() for m in client.smembers(raw)})
        elif kind == "hash":
            out[key] = ("hash", client.hgetall(raw))
        elif kind == "zset":
            out[key] = (
                "zset",
                {m.decode(): s for m, s in client.zrange(raw, 0, -1, withscores=True)},
            )
        else:
            out[key] = (kind, client.dump(raw))
    return out


class Machine(RuleBasedStateMachine):
    client: redis.Redis

    def __init__(self) -> None:
        super().__init__()
        self.client.flushdb()
        _maintenance.forget_registrations()  # the registry of partitions went with the flush
        self.recs: dict[tuple[str, tuple[Any, ...]], Rec] = {}
        # every key ever used, in first-use order (a set of random ids would order randomly)
        self.known: dict[tuple[str, tuple[Any, ...]], None] = {}
        STEPS["runs"] += 1

    # ---- helpers --------------------------------------------------------------------------

    def live(self, model: str) -> list[Rec]:
        return [r for r in self.recs.values() if r.model == model and not r.expired]

    def unique_clash(self, model: str, values: dict[str, Any], me: set[Any]) -> bool:
        """Whether values hold a unique value of another live record (not in me)."""
        return any(
            self.same_unique(model, values, other.values)
            for other in self.live(model)
            if other.ident not in me
        )

    def expiry_window(self, model: str, how: str, before: int, after: int, old: Rec | None) -> Any:
        if how == "none":
            return None
        if how == "ttl":
            return (before + 600_000, after + 600_000)
        if how == "past":
            return (before - 60_000, before - 60_000)
        if model == "StA":
            return (before + TTL * 1000, after + TTL * 1000)
        return old.exp if old is not None else None  # keep

    def save_kwargs(self, how: str, before: int) -> dict[str, Any]:
        if how == "none":
            return {"ttl": None}
        if how == "ttl":
            return {"ttl": 600}
        if how == "past":
            return {"expire_at": datetime.fromtimestamp((before - 60_000) / 1000, UTC)}
        return {}

    def attempt(self, action: Any, expect: type[Exception] | None) -> Any:
        """Run a write; when it must fail, assert it fails and the database is unchanged."""
        if expect is None:
            return action()
        snapshot = read_all(self.client)
        with pytest.raises(expect):
            action()
        assert read_all(self.client) == snapshot, "a refused write changed the database"
        return None

    def store(
        self, rec: Rec, how: str, before: int, after: int, old: Rec | None, clock_reset: bool
    ) -> None:
        rec.exp = self.expiry_window(rec.model, how, before, after, old)
        rec.expired = rec.exp is not None and rec.exp[1] <= before
        if rec.model == "StB":
            if clock_reset or old is None or old.clock is None:
                rec.clock = (before / 1000 - 0.002, after / 1000 + 0.002)
            else:
                rec.clock = old.clock
        self.recs[rec.ident] = rec
        self.known[rec.ident] = None

    # ---- rules: writes ---------------------------------------------------------------------

    @rule(first=names, second=seconds, values=a_values, how=expiries)
    def save_new_a(self, first: str, second: int, values: dict[str, Any], how: str) -> None:
        """A full save of a fresh instance: creates the record, or overwrites it (upsert)."""
        self.save_new("StA", {"first": first, "second": second, **values}, how)

    @rule(agent=agents, bid=st.none() | bids, values=b_values, how=expiries)
    def save_new_b(self, agent: str, bid: str | None, values: dict[str, Any], how: str) -> None:
        if bid is None:  # let AutoKey's default factory pick the id
            bid = StB(agent=agent).id
            assert len(bid) == 32 and bid != new_id()
        self.save_new("StB", {"agent": agent, "id": bid, **values}, how)

    def save_new(self, model: str, values: dict[str, Any], how: str) -> None:
        STEPS["steps"] += 1
        obj = MODELS[model](**values)
        key = ident(model, values)
        old = self.recs.get(key)
        live_old = old if old is not None and not old.expired else None
        clash = self.unique_clash(model, values, {key})
        before = now_ms(self.client)
        self.attempt(
            lambda: obj.save(**self.save_kwargs(how, before)), UniqueViolation if clash else None
        )
        after = now_ms(self.client)
        if not clash:
            self.stored_whole(model, values, how, before, after, live_old)

    def stored_whole(
        self, model: str, values: dict[str, Any], how: str, before: int, after: int, live_old: Any
    ) -> None:
        """Record a full save of values (over live_old, if any) in the reference."""
        reset = live_old is None or (
            model == "StB" and live_old.values["relevance"] != values["relevance"]
        )
        self.store(Rec(model, dict(values)), how, before, after, live_old, reset)

    @rule(batch=st.lists(st.tuples(names, seconds, a_values), min_size=1, max_size=4))
    def save_many_a(self, batch: list[tuple[str, int, dict[str, Any]]]) -> None:
        """save_many(): one atomic call, refused whole on a clash with a stored record or
        between two records of the batch."""
        self.save_many("StA", [{"first": f, "second": s, **v} for f, s, v in batch])

    @rule(batch=st.lists(st.tuples(agents, bids, b_values), min_size=1, max_size=4))
    def save_many_b(self, batch: list[tuple[str, str, dict[str, Any]]]) -> None:
        """save_many() over several partitions: a batch per partition."""
        self.save_many("StB", [{"agent": a, "id": i, **v} for a, i, v in batch])

    def save_many(self, model: str, batch: list[dict[str, Any]]) -> None:
        STEPS["steps"] += 1
        by_key = {ident(model, values): values for values in batch}  # each key once per call
        clash = any(self.unique_clash(model, v, set(by_key)) for v in by_key.values()) or any(
            self.same_unique(model, a, b)
            for i, a in enumerate(by_key.values())
            for b in list(by_key.values())[i + 1 :]
        )
        olds = {k: self.recs.get(k) for k in by_key}
        objs = [MODELS[model](**values) for values in by_key.values()]
        before = now_ms(self.client)
        self.attempt(lambda: MODELS[model].save_many(objs), UniqueViolation if clash else None)
        after = now_ms(self.client)
        if clash:
            return
        for key, values in by_key.items():
            old = olds[key]
            live_old = old if old is not None and not old.expired else None
            self.stored_whole(model, values, "default", before, after, live_old)

    @staticmethod
    def same_unique(model: str, a: dict[str, Any], b: dict[str, Any]) -> bool:
        """Whether two records of model hold one unique value."""
        if model != "StA":
            return False
        return (a["email"] is not None and a["email"] == b["email"]) or (
            a["city"] is not None and (a["city"], a["kind"]) == (b["city"], b["kind"])
        )

    @rule(data=st.data(), partial=st.booleans(), how=expiries)
    def update_a(self, data: st.DataObject, partial: bool, how: str) -> None:
        self.update("StA", data, partial, how, a_values, A_FIELDS)

    @rule(data=st.data(), partial=st.booleans(), how=expiries)
    def update_b(self, data: st.DataObject, partial: bool, how: str) -> None:
        self.update("StB", data, partial, how, b_values, B_FIELDS)

    def update(
        self, model: str, data: st.DataObject, partial: bool, how: str, values: Any, names_: tuple
    ) -> None:
        """Load a live record, change some fields, save fully or with update_fields."""
        live = self.live(model)
        if not live:
            return
        STEPS["steps"] += 1
        rec = data.draw(st.sampled_from(live))
        new = data.draw(values)
        chosen = (
            data.draw(st.lists(st.sampled_from(names_), unique=True)) if partial else list(names_)
        )
        obj = load(rec.ident)
        for name in chosen:
            setattr(obj, name, new[name])
        after_values = {**rec.values, **{n: new[n] for n in chosen}}
        clash = self.unique_clash(model, after_values, {rec.ident})
        before = now_ms(self.client)
        kwargs = self.save_kwargs(how, before)
        if partial:
            kwargs["update_fields"] = chosen
        self.attempt(lambda: obj.save(**kwargs), UniqueViolation if clash else None)
        after = now_ms(self.client)
        if clash:
            return
        reset = (
            model == "StB" and "relevance" in chosen and new["relevance"] != rec.values["relevance"]
        )
        self.store(Rec(model, after_values), how, before, after, rec, reset)

    @rule(data=st.data(), first=names, second=seconds)
    def migrate_a(self, data: st.DataObject, first: str, second: int) -> None:
        self.migrate("StA", data, {"first": first, "second": second})

    @rule(data=st.data(), agent=agents, bid=bids)
    def migrate_b(self, data: st.DataObject, agent: str, bid: str) -> None:
        self.migrate("StB", data, {"agent": agent, "id": bid})

    def migrate(self, model: str, data: st.DataObject, new_key: dict[str, Any]) -> None:
        """Change a live record's key fields and save(migrate_key=True)."""
        live = self.live(model)
        if not live:
            return
        STEPS["steps"] += 1
        rec = data.draw(st.sampled_from(live))
        obj = load(rec.ident)
        for name, value in new_key.items():
            setattr(obj, name, value)
        new_values = {**rec.values, **new_key}
        target = self.recs.get(ident(model, new_values))
        occupied = target is not None and not target.expired and target.ident != rec.ident
        clash = self.unique_clash(model, new_values, {rec.ident, ident(model, new_values)})
        before = now_ms(self.client)
        expect = KeyMutationError if occupied else UniqueViolation if clash else None
        self.attempt(lambda: obj.save(migrate_key=True), expect)
        after = now_ms(self.client)
        if expect is not None:
            return
        del self.recs[rec.ident]
        moved = Rec(model, new_values)
        self.store(moved, "default", before, after, rec, clock_reset=False)

    @rule(data=st.data(), model=st.sampled_from(["StA", "StB"]))
    def delete(self, data: st.DataObject, model: str) -> None:
        keys = [k for k in self.known if k[0] == model]
        if not keys:
            return
        STEPS["steps"] += 1
        key = data.draw(st.sampled_from(keys))
        values = dict(zip(KEYS[model], key[1], strict=True))
        obj = MODELS[model].model_construct(**values)
        rec = self.recs.pop(key, None)
        assert obj.delete() == (rec is not None and not rec.expired)

    @rule(batch=st.lists(st.tuples(names, seconds, a_values), min_size=1, max_size=4))
    def bulk_create_a(self, batch: list[tuple[str, int, dict[str, Any]]]) -> None:
        """bulk_create(): one batch, refused whole if a key is live or a unique value clashes."""
        STEPS["steps"] += 1
        by_key = {ident("StA", v): v for v in ({"first": f, "second": s, **v} for f, s, v in batch)}
        taken = any(self.recs.get(k) is not None and not self.recs[k].expired for k in by_key)
        clash = any(self.unique_clash("StA", v, set(by_key)) for v in by_key.values()) or any(
            self.same_unique("StA", a, b)
            for i, a in enumerate(by_key.values())
            for b in list(by_key.values())[i + 1 :]
        )
        objs = [StA(**values) for values in by_key.values()]
        before = now_ms(self.client)
        expect = UniqueViolation if taken or clash else None
        created = self.attempt(lambda: StA.bulk_create(objs), expect)
        after = now_ms(self.client)
        if expect is None:
            assert created == len(objs)
            for values in by_key.values():
                self.stored_whole("StA", values, "default", before, after, None)

    @rule(data=st.data(), model=st.sampled_from(["StA", "StB"]))
    def bulk_update(self, data: st.DataObject, model: str) -> None:
        """bulk_update() of stored records (live or expired: those are skipped), one value per
        chosen field for all: a partial save of each, in one batch per partition."""
        recs = [r for r in self.recs.values() if r.model == model]
        if not recs:
            return
        STEPS["steps"] += 1
        chosen = data.draw(st.lists(st.sampled_from(recs), min_size=1, max_size=3, unique_by=id))
        names_ = A_FIELDS if model == "StA" else B_FIELDS
        new = data.draw(a_values if model == "StA" else b_values)
        fields = data.draw(st.lists(st.sampled_from(names_), min_size=1, unique=True))
        changes = {n: new[n] for n in fields}
        live = [r for r in chosen if not r.expired]
        after_values = [{**r.values, **changes} for r in live]
        me = {r.ident for r in live}
        clash = any(self.unique_clash(model, v, me) for v in after_values) or any(
            self.same_unique(model, a, b)
            for i, a in enumerate(after_values)
            for b in after_values[i + 1 :]
        )
        objs = [load(r.ident) if not r.expired else self.stale(r) for r in chosen]
        before = now_ms(self.client)
        updated = self.attempt(
            lambda: MODELS[model].bulk_update(objs, **changes), UniqueViolation if clash else None
        )
        after = now_ms(self.client)
        if clash:
            return
        assert updated == len(live)
        for rec, values in zip(live, after_values, strict=True):
            reset = model == "StB" and values["relevance"] != rec.values["relevance"]
            self.store(Rec(model, values), "default", before, after, rec, reset)

    @staticmethod
    def stale(rec: Rec) -> Model:
        """An instance of a record (expired, say) as its holder kept it."""
        return MODELS[rec.model](**rec.values)

    @rule(data=st.data(), by_query=st.booleans())
    def bulk_delete_a(self, data: st.DataObject, by_query: bool) -> None:
        """bulk_delete() of a query's matches (live records only) or of records given (an
        expired one is removed too, not counted)."""
        STEPS["steps"] += 1
        if by_query:
            city = data.draw(cities)
            gone = [r for r in self.live("StA") if r.values["city"] == city]
            assert StA.bulk_delete(StA.query.filter(StA.city == city), batch_size=2) == len(gone)
        else:
            recs = [r for r in self.recs.values() if r.model == "StA"]
            gone = (
                data.draw(st.lists(st.sampled_from(recs), max_size=3, unique_by=id)) if recs else []
            )
            live = sum(not r.expired for r in gone)
            assert StA.bulk_delete([self.stale(r) for r in gone]) == live
        for rec in gone:
            del self.recs[rec.ident]

    @rule(data=st.data(), delta=st.integers(-3, 3))
    def increment_a(self, data: st.DataObject, delta: int) -> None:
        live = self.live("StA")
        if not live:
            return
        STEPS["steps"] += 1
        rec = data.draw(st.sampled_from(live))
        obj = load(rec.ident)
        assert obj.atomic_increment("score", delta) == rec.values["score"] + delta
        rec.values["score"] += delta

    @rule(data=st.data(), days_ago=st.none() | st.sampled_from([0.0, 1.5, 400.0]))
    def touch(self, data: st.DataObject, days_ago: float | None) -> None:
        live = self.live("StB")
        if not live:
            return
        STEPS["steps"] += 1
        rec = data.draw(st.sampled_from(live))
        obj = load(rec.ident)
        before = now_ms(self.client)
        at = None if days_ago is None else datetime.now(UTC) - timedelta(days=days_ago)
        when = obj.touch(StB.relevance, at=at)
        after = now_ms(self.client)
        stamp = when.timestamp()
        if at is None:
            assert before / 1000 - 0.002 <= stamp <= after / 1000 + 0.002
        rec.clock = (stamp, stamp)
        assert load(rec.ident).decayed(StB.relevance, when) == rec.values["relevance"]

    @rule(data=st.data(), name=st.sampled_from(["hits"]), delta=st.sampled_from([0.25, -0.5, 1.0]))
    def increment_b(self, data: st.DataObject, name: str, delta: float) -> None:
        live = self.live("StB")
        if not live:
            return
        STEPS["steps"] += 1
        rec = data.draw(st.sampled_from(live))
        obj = load(rec.ident)
        result = rec.values[name] + delta
        if name == "certainty" and not 0.0 <= result <= 1.0:
            # a Confidence is in [0, 1]: an increment leaving it must be refused, writing nothing
            self.attempt(lambda: obj.atomic_increment(name, delta), (TypedisError, ValidationError))
            return
        before = now_ms(self.client)
        assert obj.atomic_increment(name, delta) == pytest.approx(result)
        after = now_ms(self.client)
        rec.values[name] = obj.__dict__[name]
        if name == "relevance" and delta != 0:
            rec.clock = (before / 1000 - 0.002, after / 1000 + 0.002)

    @rule(model=st.sampled_from(["StA", "StB"]))
    def sweep(self, model: str) -> None:
        STEPS["steps"] += 1
        expired = [k for k, r in self.recs.items() if r.model == model and r.expired]
        assert MODELS[model].sweep_expired() == len(expired)
        for k in expired:
            del self.recs[k]

    @rule(model=st.sampled_from(["StA", "StB"]), data=st.data())
    def load_missing(self, model: str, data: st.DataObject) -> None:
        """A key never used loads as NotFound."""
        STEPS["steps"] += 1
        if model == "StA":
            key: tuple[Any, ...] = ("never", data.draw(seconds))
        else:
            key = (data.draw(agents), "never")
        with pytest.raises(NotFound):
            load((model, key))

    # ---- invariants ------------------------------------------------------------------------

    @invariant()
    def records_load_back(self) -> None:
        for key in self.known:
            rec = self.recs.get(key)
            if rec is None or rec.expired:
                with pytest.raises(NotFound):
                    load(key)
                continue
            got = load(key).model_dump()
            for name, want in rec.values.items():
                if isinstance(want, float):
                    assert got[name] == pytest.approx(want), (key, name)
                else:
                    assert got[name] == want, (key, name, got[name], want)

    @invariant()
    def indexes_match_reference(self) -> None:
        actual = read_all(self.client)
        expected: dict[str, Any] = {}
        loose_unique: dict[str, dict[str, set[str]]] = {}  # entries expired records may hold

        def add_set(key: str, member: str) -> None:
            expected.setdefault(key, ("set", set()))[1].add(member)

        def add_z(key: str, member: str, score: Any) -> None:
            expected.setdefault(key, ("zset", {}))[1][member] = score

        for rec in self.recs.values():
            spec = MODELS[rec.model].__typedis_spec__
            tag, rid = locate(rec.model, rec.values)
            expected[_keys.record(tag, rid)] = ("hash", None)
            add_set(_keys.all_ids(tag), rid)
            if rec.exp is not None:
                add_z(_keys.expiry(tag), rid, rec.exp)
            for ix in spec.indexes:
                vals = [rec.values[f] for f in ix.fields]
                texts = [
                    None if v is None else _codec.text(spec.fields[f].codec, v)
                    for f, v in zip(ix.fields, vals, strict=True)
                ]
                if ix.kind.name == "set":
                    add_set(_keys.set_index(tag, ix.suffix, texts), rid)
                elif ix.kind.name == "unique":
                    if None in texts:
                        continue
                    hkey = tag + ":" + ix.suffix
                    ufield = _keys.unique_field(texts)  # type: ignore[arg-type]
                    if rec.expired:
                        loose_unique.setdefault(hkey, {}).setdefault(ufield, set()).add(rid)
                    else:
                        expected.setdefault(hkey, ("hash", {}))[1][ufield.encode()] = rid.encode()
                elif ix.kind.name == "prefix":
                    if texts[0] is not None:
                        add_z(tag + ":" + ix.suffix, texts[0] + "\0" + rid, 0.0)
                elif vals[0] is not None:
                    name = ix.fields[0]
                    if ix.source == "decaying":  # exponential: ln(base) + rate * touch days
                        assert rec.clock is not None
                        score: Any = tuple(
                            rank_score(float(vals[0]), round(s * 1000), 0.1) for s in rec.clock
                        )
                    elif ix.kind.name == "geo":
                        score = ("geo", vals[0])
                    elif name == "when":
                        score = _codec._score_datetime(vals[0])
                    else:
                        score = float(vals[0])
                    add_z(tag + ":" + ix.suffix, rid, score)

        # unique hashes: live entries exact; other entries only for expired records holding them
        for hkey, loose in loose_unique.items():
            got = actual.get(hkey, ("hash", {}))[1]
            want = expected.get(hkey, ("hash", {}))[1]
            for ufield, holders in loose.items():
                raw = ufield.encode()
                if raw not in want and raw in got:
                    assert got[raw].decode() in holders, (hkey, ufield)
                    want[raw] = got[raw]
            if want:
                expected[hkey] = ("hash", want)

        # the registry of partitions: a superset of the partitions holding live records (a save
        # registers its partition before it is sent, whether or not it then succeeds)
        registry = actual.pop(_keys.partitions("StB"), ("set", set()))[1]
        live_b = {locate("StB", r.values)[0] for r in self.recs.values() if r.model == "StB"}
        assert live_b <= registry and all(t.startswith("{td:StB:") for t in registry), registry

        missing, unexpected = set(expected) - set(actual), set(actual) - set(expected)
        assert not missing and not unexpected, f"missing keys {missing}, unexpected {unexpected}"
        for key, (kind, want) in expected.items():
            got_kind, got = actual[key]
            assert got_kind == kind, key
            if want is None:
                continue
            if kind in ("set", "hash"):
                assert got == want, (key, got, want)
            else:
                assert set(got) == set(want), (key, got, want)
                for member, score in want.items():
                    self.check_score(key, member, got[member], score)

    def check_score(self, key: str, member: str, got: float, want: Any) -> None:
        if isinstance(want, tuple) and want and want[0] == "geo":
            pos = self.client.geopos(key, member)[0]
            assert pos is not None
            assert pos[0] == pytest.approx(want[1].lon, abs=1e-4), (key, member)
            assert pos[1] == pytest.approx(want[1].lat, abs=1e-4), (key, member)
        elif isinstance(want, tuple):
            low, high = want
            assert low <= got <= high, (key, member, got, want)
        else:
            assert got == want, (key, member, got, want)

    @invariant()
    def check_indexes_is_clean(self) -> None:
        for model in MODELS.values():
            report = model.check_indexes()
            assert report["total"] == 0, (model.__name__, report)

    @invariant()
    def counts_match(self) -> None:
        assert StA.count() == len(self.live("StA"))
        for agent in ("m", "n:o", "%"):
            want = sum(1 for r in self.live("StB") if r.values["agent"] == agent)
            assert StB.count(agent) == want


def test_models_use_every_marker() -> None:
    kinds = {f.kind for m in MODELS.values() for f in m.__typedis_spec__.fields.values()}
    assert kinds >= {"key", "unique", "indexed", "sorted", "geo", "decaying", "confidence"}
    sources = {ix.source for m in MODELS.values() for ix in m.__typedis_spec__.indexes}
    assert sources >= {
        "key",
        "unique",
        "indexed",
        "sorted",
        "geo",
        "decaying",
        "confidence",
        "composite",
    }
    assert any(f.auto for f in StB.__typedis_spec__.fields.values())
    composite = {m: {ix.kind.name for ix in m.__typedis_spec__.indexes if ix.source == "composite"}
                 for m in (StA, StB)}  # fmt: skip
    assert composite == {StA: {"unique"}, StB: {"set"}}
    used = {ix.kind for m in MODELS.values() for ix in m.__typedis_spec__.indexes}
    assert used == {
        _index.SET,
        _index.UNIQUE,
        _index.SORTED,
        _index.DECAY,
        _index.GEO,
        _index.PREFIX,
    }


def test_stateful(redis_client: redis.Redis, summary_line: Callable[[str], None]) -> None:
    """Run rounds of 60 random programs until at least MIN_STEPS steps have been checked.

    Hypothesis draws many short programs, so one round's step count varies (about
    1,000-2,300); further rounds top it up instead of making the floor a coin toss.
    """
    Machine.client = redis_client
    STEPS.update(steps=0, runs=0)
    started = datetime.now(UTC)
    for _ in range(MAX_ROUNDS):
        run_state_machine_as_test(
            Machine, settings=settings(max_examples=60, stateful_step_count=50, deadline=None)
        )
        if STEPS["steps"] >= MIN_STEPS:
            break
    took = (datetime.now(UTC) - started) / timedelta(seconds=1)
    line = f"test_stateful: {STEPS['steps']} steps in {STEPS['runs']} runs, {took:.1f} s"
    summary_line(line)
    assert STEPS["steps"] >= MIN_STEPS, line
