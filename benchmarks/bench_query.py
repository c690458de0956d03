"""Query speed: a range query and get-by-key against raw redis-py, measured in the same run.

(a) Range query returning 1,000 records out of N (20,000): ``Model.query.filter(
    Model.rating.between(lo, hi)).all()`` (one script call: ids from the sorted index and the
    record hashes together, then pydantic validation of each record) against
    - raw ``ZRANGEBYSCORE`` + ``HGETALL`` of the 1,000 keys in one pipeline (the design notes'
      baseline, no objects built), and
    - the same + ``model_validate`` of a plain pydantic model with the same 6 fields.
(b) Get one record by key: ``Model.load(key)`` and ``Model.query.get(Model.name == key)``
    against one raw ``HGETALL`` round trip (+ ``model_validate``).
(c) Query (a) again once the model holds one expired record not yet swept: the query script
    then subtracts the expired ids with scratch sets instead of reading the index range alone.

The records are written by typedis (the raw contenders read typedis' own keys). Ratings are a
permutation of N distinct values, so the 1,000 matches are scattered over the key space.

Run: `make bench`, or `.venv/bin/python benchmarks/bench_query.py [--n 20000] [--rounds 5]`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from _common import BenchPlace, Contender, arguments, race, rows, setup
from pydantic import BaseModel

from typedis import _keys

MATCHES = 1_000  # records returned by the range query
QUERIES = 50  # range queries per contender per round (each over a different range)
STEP = 4_000  # rating = position / STEP: N distinct scores


class PlainPlace(BaseModel):
    name: str
    cuisine: str
    rating: float = 0.0
    city: str = ""
    visits: int = 0
    note: str = ""


def scattered(n: int) -> list[dict[str, Any]]:
    """``rows(n)`` with distinct ratings in an order unrelated to the key."""
    out = rows(n)
    for i, row in enumerate(out):
        row["rating"] = ((i * 7919) % n) / STEP  # 7919 is prime: a permutation of 0..n-1
    return out


def main() -> None:
    args = arguments((__doc__ or "").splitlines()[0])
    n: int = args.n
    if n < MATCHES * 2:
        raise SystemExit(f"--n must be at least {MATCHES * 2}")
    conn, raw = setup(args.force)
    data = scattered(n)
    BenchPlace.save_many([BenchPlace(**row) for row in data])
    tag = _keys.tag("BenchPlace")
    zkey = f"{tag}:z:rating"
    prefix = f"{tag}:r:"
    names = [row["name"] for row in data]
    keys = [_keys.record(tag, _keys.record_id([name])) for name in names]
    gets = min(n, 10_000)
    # QUERIES ranges of MATCHES consecutive scores each, spread over the whole index
    spans = [
        (s / STEP, (s + MATCHES - 1) / STEP)
        for s in (q * (n - MATCHES) // QUERIES for q in range(QUERIES))
    ]
    rating = BenchPlace.rating
    name_ref = BenchPlace.name

    zrangebyscore = cast(Callable[..., list[bytes]], raw.zrangebyscore)
    hgetall = cast(Callable[[str], dict[bytes, bytes]], raw.hgetall)

    def raw_range(lo: float, hi: float) -> list[dict[bytes, bytes]]:
        ids = zrangebyscore(zkey, lo, hi)
        pipe = raw.pipeline(transaction=False)
        for i in ids:
            pipe.hgetall(prefix + i.decode())
        return pipe.execute()

    # sanity: both sides see the same 1,000 records
    lo, hi = spans[3]
    found = BenchPlace.query.filter(rating.between(lo, hi)).all()
    hashes = raw_range(lo, hi)
    assert len(found) == len(hashes) == MATCHES, (len(found), len(hashes))
    assert {r.name for r in found} == {h[b"name"].decode() for h in hashes}
    plain = PlainPlace.model_validate({k.decode(): v for k, v in hashes[0].items()})
    assert plain == PlainPlace(**BenchPlace.load(plain.name).model_dump())
    assert BenchPlace.query.get(name_ref == names[0]) == BenchPlace.load(names[0])
    print(BenchPlace.query.filter(rating.between(lo, hi)).explain())
    print(f"N = {n:,} records; range queries return {MATCHES:,} each ({QUERIES} per run);")
    print(f"get-by-key: {gets:,} gets per run; best of {args.rounds} rounds\n")

    def same() -> None:
        return None

    def typedis_query(_: None) -> None:
        query = BenchPlace.query
        for lo, hi in spans:
            query.filter(rating.between(lo, hi)).all()

    def raw_range_only(_: None) -> None:
        for lo, hi in spans:
            raw_range(lo, hi)

    def raw_range_validate(_: None) -> None:
        validate = PlainPlace.model_validate
        for lo, hi in spans:
            for h in raw_range(lo, hi):
                validate({k.decode(): v for k, v in h.items()})

    def typedis_load(_: None) -> None:
        load = BenchPlace.load
        for name in names[:gets]:
            load(name)

    def typedis_get(_: None) -> None:
        get = BenchPlace.query.get
        for name in names[:gets]:
            get(name_ref == name)

    def raw_hgetall(_: None) -> None:
        for key in keys[:gets]:
            hgetall(key)

    def raw_get_validate(_: None) -> None:
        validate = PlainPlace.model_validate
        for key in keys[:gets]:
            validate({k.decode(): v for k, v in hgetall(key).items()})

    q = race(
        QUERIES,
        args.rounds,
        [
            Contender("typedis", same, typedis_query),
            Contender("raw", same, raw_range_only),
            Contender("validate", same, raw_range_validate),
        ],
    )
    g = race(
        gets,
        args.rounds,
        [
            Contender("load", same, typedis_load),
            Contender("get", same, typedis_get),
            Contender("hgetall", same, raw_hgetall),
            Contender("validate", same, raw_get_validate),
        ],
    )
    # (c) the same range query once the tag holds one expired record not yet swept: the query
    # script then subtracts the expired ids with scratch sorted sets instead of reading the
    # index range directly (typedis never returns an expired record).
    BenchPlace(name="expired-one", cuisine="Thai", rating=-1.0).save(
        expire_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    assert len(BenchPlace.query.filter(rating.between(lo, hi)).all()) == MATCHES
    x = race(
        QUERIES,
        args.rounds,
        [
            Contender("typedis", same, typedis_query),
            Contender("validate", same, raw_range_validate),
        ],
    )
    tq, rq, vq = q["typedis"], q["raw"], q["validate"]
    print(f"(a) range query returning {MATCHES:,} of {n:,} records")
    print(f"  typedis query.filter(between).all()        {1000 / tq:>8.2f} ms/query")
    print(f"  raw ZRANGEBYSCORE + pipelined HGETALL      {1000 / rq:>8.2f} ms/query")
    print(f"  raw ... + model_validate of each           {1000 / vq:>8.2f} ms/query")
    print(f"  ratio typedis / raw + validate  = {tq / vq:.2f}   (target >= 0.6)")
    print(f"  ratio typedis / raw (no objects) = {tq / rq:.2f}\n")
    tl, tg, h, v = g["load"], g["get"], g["hgetall"], g["validate"]
    print("(b) get one record by key")
    print(f"  typedis Model.load(key)                    {tl:>10,.0f} obj/s")
    print(f"  typedis Model.query.get(Model.name == key) {tg:>10,.0f} obj/s")
    print(f"  raw HGETALL                                {h:>10,.0f} obj/s")
    print(f"  raw HGETALL + model_validate               {v:>10,.0f} obj/s")
    print(f"  ratio load / raw HGETALL            = {tl / h:.2f}   (target >= 0.7)")
    print(f"  ratio load / raw HGETALL + validate = {tl / v:.2f}")
    print(f"  ratio get  / raw HGETALL            = {tg / h:.2f}")
    print(f"  ratio get  / raw HGETALL + validate = {tg / v:.2f}\n")
    tx, vx = x["typedis"], x["validate"]
    print("(c) range query (a), with one expired record of the model not yet swept")
    print(f"  typedis query.filter(between).all()        {1000 / tx:>8.2f} ms/query")
    print(f"  raw ZRANGEBYSCORE + HGETALL + validate     {1000 / vx:>8.2f} ms/query")
    print(f"  ratio typedis / raw + validate  = {tx / vx:.2f}\n")
    raw.flushdb()
    conn.close()


if __name__ == "__main__":
    main()
