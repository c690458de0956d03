"""typedis and raw redis-py, in-process: the harness model, the raw scripts, their operations.

``BenchPlace`` is the typedis contender's model. Its two str index fields drop typedis' prefix
index (``prefix_index=False``) so that a save makes exactly the raw script's writes: HSET of the
six fields, SADD to the class set, SADD to the cuisine's set, ZADD to the rating index. The raw
contender writes its own keys (``{raw:BenchPlace}:...``) with one EVALSHA per record and checks
nothing; typedis' save also reads the old record, checks the types of the keys it will write
and maintains the expiry index, all in the same function call. "raw+pyd" reads like raw and
validates each record into ``PlainPlace``, a plain pydantic model with the same six fields.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import redis
from pydantic import BaseModel

from typedis import Indexed, Key, Model, Sorted, field

from . import data

BATCH = 1_000  # records per pipeline, for every contender's bulk writes


class BenchPlace(Model):
    """6 fields: the key, one set index, one sorted index and three plain fields."""

    name: Key[str] = field(prefix_index=False)
    cuisine: Indexed[str] = field(prefix_index=False)
    rating: Sorted[float] = field(default=0.0)
    city: str = ""
    visits: int = 0
    note: str = ""


class PlainPlace(BaseModel):
    """The raw+pyd contender's model: plain pydantic, the same fields."""

    name: str
    cuisine: str
    rating: float = 0.0
    city: str = ""
    visits: int = 0
    note: str = ""


def build(n: int) -> list[BenchPlace]:
    return [BenchPlace(**row) for row in data.rows(n)]


# ---- typedis --------------------------------------------------------------------------------


class Typedis:
    """The typedis contender's operations (the connection is typedis' default one)."""

    @staticmethod
    def save_each(records: list[BenchPlace]) -> None:
        for r in records:
            r.save()

    @staticmethod
    def save_many(records: list[BenchPlace]) -> None:
        for i in range(0, len(records), BATCH):
            BenchPlace.save_many(records[i : i + BATCH])

    @staticmethod
    def delete_each(records: list[BenchPlace]) -> None:
        for r in records:
            r.delete()

    @staticmethod
    def get(names: list[str]) -> None:
        load = BenchPlace.load
        for name in names:
            load(name)

    @staticmethod
    def get_query(names: list[str]) -> None:
        """The same reads as ``get``, through the query planner: ``filter(name == k).get()``."""
        query, name = BenchPlace.query, BenchPlace.name
        for key in names:
            query.filter(name == key).get()

    @staticmethod
    def filter_eq(values: list[str], limit: int | None = None) -> None:
        query, cuisine = BenchPlace.query, BenchPlace.cuisine
        for value in values:
            q = query.filter(cuisine == value)
            (q if limit is None else q.limit(limit)).all()

    @staticmethod
    def filter_range(spans: list[tuple[float, float]], limit: int | None = None) -> None:
        query, rating = BenchPlace.query, BenchPlace.rating
        for lo, hi in spans:
            q = query.filter(rating.between(lo, hi))
            (q if limit is None else q.limit(limit)).all()

    @staticmethod
    def save_expired() -> None:
        """One record expired a second ago and not yet swept: queries must then leave expired
        records out with scratch sets instead of reading an index range directly."""
        past = datetime.now(UTC) - timedelta(seconds=1)
        BenchPlace(name="expired-one", cuisine="x", rating=-1.0).save(expire_at=past)

    @staticmethod
    def sweep() -> None:
        assert BenchPlace.sweep_expired() == 1

    @staticmethod
    def top(k: int, queries: int) -> None:
        q = BenchPlace.query.order_by(BenchPlace.rating.desc()).limit(k)
        for _ in range(queries):
            q.all()

    @staticmethod
    def count(calls: int, exact: bool = True) -> None:
        query = BenchPlace.query
        for _ in range(calls):
            query.count(exact=exact)

    @staticmethod
    def count_eq(values: list[str]) -> None:
        query, cuisine = BenchPlace.query, BenchPlace.cuisine
        for value in values:
            query.filter(cuisine == value).count()

    @staticmethod
    def check_indexes() -> None:
        report = BenchPlace.check_indexes()
        assert report["total"] == 0, report


# ---- raw redis-py ---------------------------------------------------------------------------

TAG = "{raw:BenchPlace}"
ALL = f"{TAG}:all"
ZKEY = f"{TAG}:z:rating"
RECORD = f"{TAG}:r:"
INDEX = f"{TAG}:i:cuisine:"

RAW_SAVE = """
redis.call('HSET', KEYS[1], 'name', ARGV[1], 'cuisine', ARGV[2], 'rating', ARGV[3],
           'city', ARGV[4], 'visits', ARGV[5], 'note', ARGV[6])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
return 1
"""
RAW_DELETE = """
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
return 1
"""


def save_args(row: dict[str, Any]) -> tuple[Any, ...]:
    name = row["name"]
    return (
        4, RECORD + name, ALL, INDEX + row["cuisine"], ZKEY,
        name, row["cuisine"], repr(row["rating"]), row["city"], row["visits"], row["note"],
    )  # fmt: skip


def delete_args(row: dict[str, Any]) -> tuple[Any, ...]:
    name = row["name"]
    return (4, RECORD + name, ALL, INDEX + row["cuisine"], ZKEY, name)


class Raw:
    """The raw redis-py contender: minimal writes, one script per record, no checks; reads of
    exactly the keys needed, pipelined; ``validate=True`` is raw+pyd."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.save_sha = cast(str, client.script_load(RAW_SAVE))
        self.delete_sha = cast(str, client.script_load(RAW_DELETE))

    def save_each(self, rows: list[dict[str, Any]]) -> None:
        evalsha, sha = self.client.evalsha, self.save_sha
        for row in rows:
            evalsha(sha, *save_args(row))

    def save_pipelined(self, rows: list[dict[str, Any]]) -> None:
        for i in range(0, len(rows), BATCH):
            pipe = self.client.pipeline(transaction=False)
            for row in rows[i : i + BATCH]:
                pipe.evalsha(self.save_sha, *save_args(row))
            pipe.execute()

    def delete_each(self, rows: list[dict[str, Any]]) -> None:
        evalsha, sha = self.client.evalsha, self.delete_sha
        for row in rows:
            evalsha(sha, *delete_args(row))

    def _hashes(self, ids: Iterable[bytes]) -> list[dict[bytes, bytes]]:
        pipe = self.client.pipeline(transaction=False)
        for i in ids:
            pipe.hgetall(RECORD + i.decode())
        return cast(list[dict[bytes, bytes]], pipe.execute())

    @staticmethod
    def _objects(hashes: list[dict[bytes, bytes]], validate: bool) -> None:
        if validate:
            v = PlainPlace.model_validate
            for h in hashes:
                v({k.decode(): x for k, x in h.items()})

    def get(self, names: list[str], validate: bool) -> None:
        hgetall = cast(Any, self.client.hgetall)
        if validate:
            v = PlainPlace.model_validate
            for name in names:
                v({k.decode(): x for k, x in hgetall(RECORD + name).items()})
        else:
            for name in names:
                hgetall(RECORD + name)

    def filter_eq(self, values: list[str], validate: bool, limit: int | None = None) -> None:
        """SMEMBERS (or, limited, SRANDMEMBER: any ``limit`` members) + pipelined HGETALL."""
        client = cast(Any, self.client)
        for value in values:
            if limit is None:
                ids = client.smembers(INDEX + value)
            else:
                ids = client.srandmember(INDEX + value, limit)
            self._objects(self._hashes(ids), validate)

    def filter_range(
        self, spans: list[tuple[float, float]], validate: bool, limit: int | None = None
    ) -> None:
        """ZRANGEBYSCORE [LIMIT 0 limit] + pipelined HGETALL."""
        client = cast(Any, self.client)
        for lo, hi in spans:
            if limit is None:
                ids = client.zrangebyscore(ZKEY, lo, hi)
            else:
                ids = client.zrangebyscore(ZKEY, lo, hi, start=0, num=limit)
            self._objects(self._hashes(ids), validate)

    def top(self, k: int, queries: int, validate: bool) -> None:
        """ZRANGE 0 k-1 REV + pipelined HGETALL."""
        client = cast(Any, self.client)
        for _ in range(queries):
            self._objects(self._hashes(client.zrange(ZKEY, 0, k - 1, desc=True)), validate)

    def count(self, calls: int) -> None:
        scard = self.client.scard
        for _ in range(calls):
            scard(ALL)

    def count_eq(self, values: list[str]) -> None:
        scard = self.client.scard
        for value in values:
            scard(INDEX + value)

    def check(self) -> None:
        """The floor of a full consistency check: read every record and index once (pipelined,
        1,000 at a time) and compare them in Python."""
        client = cast(Any, self.client)
        ids = {i.decode() for i in client.smembers(ALL)}
        records: dict[str, dict[bytes, bytes]] = {}
        ordered = sorted(ids)
        for i in range(0, len(ordered), BATCH):
            chunk = [x.encode() for x in ordered[i : i + BATCH]]
            records.update(zip(ordered[i : i + BATCH], self._hashes(chunk), strict=True))
        problems = sum(1 for h in records.values() if not h)
        index_keys = [k.decode() for k in client.scan_iter(match=INDEX + "*", count=1000)]
        pipe = client.pipeline(transaction=False)
        for key in index_keys:
            pipe.smembers(key)
        held = {
            (key[len(INDEX) :], m.decode())
            for key, members in zip(index_keys, pipe.execute(), strict=True)
            for m in members
        }
        wanted = {(h[b"cuisine"].decode(), rid) for rid, h in records.items() if h}
        problems += len(held ^ wanted)
        scores = client.zrange(ZKEY, 0, -1, withscores=True)
        held_scores = {m.decode(): float(s) for m, s in scores}
        wanted_scores = {rid: float(h[b"rating"]) for rid, h in records.items() if h}
        problems += len(held_scores.items() ^ wanted_scores.items())
        assert problems == 0, problems
