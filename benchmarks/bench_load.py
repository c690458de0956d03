"""Read throughput: `Model.load(key)` against one raw HGETALL round trip (+ pydantic).

Two baselines, measured in the same run on the same records (written by typedis):
- raw HGETALL alone: one round trip, bytes back, no objects built;
- raw HGETALL + `model_validate` of a plain pydantic model with the same 6 fields: what a
  hand-written loader costs. typedis also hides expired records (its load script checks the
  hidden expiry field) and decodes into the persisted model class.

Run: `make bench`, or `.venv/bin/python benchmarks/bench_load.py [--n 20000] [--rounds 5]`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from _common import BenchPlace, Contender, arguments, race, rows, setup
from pydantic import BaseModel

from typedis import _keys


class PlainPlace(BaseModel):
    name: str
    cuisine: str
    rating: float = 0.0
    city: str = ""
    visits: int = 0
    note: str = ""


def main() -> None:
    args = arguments((__doc__ or "").splitlines()[0])
    n: int = args.n
    conn, raw = setup(args.force)
    names = [row["name"] for row in rows(n)]
    BenchPlace.save_many([BenchPlace(**row) for row in rows(n)])
    keys = [_keys.record(_keys.tag("BenchPlace"), _keys.record_id([name])) for name in names]
    assert raw.exists(keys[0]) == 1
    print(f"N = {n:,} loads per phase, best of {args.rounds} rounds\n")

    def same() -> None:
        return None

    def typedis_load(_: None) -> None:
        load = BenchPlace.load
        for name in names:
            load(name)

    def raw_hgetall(_: None) -> None:
        hgetall = raw.hgetall
        for key in keys:
            hgetall(key)

    # redis-py types HGETALL's reply loosely; with decode_responses off it is bytes -> bytes.
    hgetall = cast(Callable[[str], dict[bytes, bytes]], raw.hgetall)

    def raw_validate(_: None) -> None:
        validate = PlainPlace.model_validate
        for key in keys:
            validate({k.decode(): v for k, v in hgetall(key).items()})

    BenchPlace.load(names[0])  # warm-up: load the script, open connections
    first = {k.decode(): v for k, v in hgetall(keys[0]).items()}
    assert PlainPlace.model_validate(first) == PlainPlace(**BenchPlace.load(names[0]).model_dump())
    rates = race(
        n,
        args.rounds,
        [
            Contender("typedis", same, typedis_load),
            Contender("hgetall", same, raw_hgetall),
            Contender("validate", same, raw_validate),
        ],
    )
    t, h, v = rates["typedis"], rates["hgetall"], rates["validate"]
    print("load one record by key")
    print(f"  typedis Model.load(key)          {t:>10,.0f} obj/s")
    print(f"  raw HGETALL                      {h:>10,.0f} obj/s")
    print(f"  raw HGETALL + model_validate     {v:>10,.0f} obj/s")
    print(f"  ratio typedis / raw HGETALL            = {t / h:.2f}")
    print(f"  ratio typedis / raw HGETALL + validate = {t / v:.2f}\n")
    raw.flushdb()
    conn.close()


if __name__ == "__main__":
    main()
