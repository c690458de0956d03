"""Drive Popoto through its public API for the harness: JSON lines on stdin and stdout.

Runs in Popoto's own virtualenv (``benchmarks/.popoto-venv``, made by the harness), never in
typedis' environment, and imports no typedis code: the model and the data come from here and
from ``data.py``. The server is the one in ``REDIS_URL`` (Popoto reads it when imported).

One request per line: ``{"op": NAME, ...parameters}``. The reply is one line: ``{"seconds": s}``
for a workload (the time of its timed part only; building the instances and filling the
database are not timed), ``{"ok": ...}`` for the other operations, ``{"error": text}`` on a
failure. Anything Popoto prints goes to stderr, so stdout carries the replies alone.

Results of ``filter()`` decode their fields lazily, on first access; every workload that reads
records touches all six fields of each, so that Popoto hands back the same decoded values as the
other contenders.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import data  # the sibling module: this file runs as a script, its folder is on sys.path
import popoto  # type: ignore[import-not-found]
from popoto import Field, IndexedField, Model, SortedField, UniqueKeyField  # type: ignore[import-not-found]

BATCH = 1_000  # bulk_create's batch size (its default), as the other contenders' pipelines


class PopotoPlace(Model):  # type: ignore[misc]
    """The harness model: a key, one set index, one sorted index and three plain fields."""

    name = UniqueKeyField()
    cuisine = IndexedField(type=str)
    rating = SortedField(type=float)
    city = Field(type=str)
    visits = Field(type=int)
    note = Field(type=str)


def build(n: int) -> list[Any]:
    return [PopotoPlace(**row) for row in data.rows(n)]


def touch(records: list[Any]) -> None:
    """Read every field of every record (Popoto decodes filter() results lazily)."""
    for r in records:
        (r.name, r.cuisine, r.rating, r.city, r.visits, r.note)  # noqa: B018


def timed(run: Callable[[], object]) -> dict[str, float]:
    start = time.perf_counter()
    run()
    return {"seconds": time.perf_counter() - start}


# ---- operations: the name is the one the harness sends -------------------------------------


def hello() -> dict[str, Any]:
    return {"ok": True, "popoto": popoto.__version__, "python": sys.version.split()[0]}


def fill(n: int) -> dict[str, Any]:
    PopotoPlace.bulk_create(build(n), batch_size=BATCH)
    return {"ok": PopotoPlace.query.count()}


def save(n: int) -> dict[str, float]:
    records = build(n)

    def run() -> None:
        for r in records:
            r.save()

    return timed(run)


def bulk_save(n: int) -> dict[str, float]:
    records = build(n)
    return timed(lambda: PopotoPlace.bulk_create(records, batch_size=BATCH))


def delete(n: int) -> dict[str, float]:
    records = build(n)
    PopotoPlace.bulk_create(records, batch_size=BATCH)

    def run() -> None:
        for r in records:
            r.delete()

    return timed(run)


def get(names: list[str]) -> dict[str, float]:
    def run() -> None:
        get = PopotoPlace.query.get
        for key in names:
            get(name=key)

    return timed(run)


def filter_eq(values: list[str], limit: int | None = None) -> dict[str, float]:
    extra = {} if limit is None else {"limit": limit}

    def run() -> None:
        for value in values:
            touch(list(PopotoPlace.query.filter(cuisine=value, **extra)))

    return timed(run)


def filter_range(spans: list[list[float]], limit: int | None = None) -> dict[str, float]:
    extra = {} if limit is None else {"limit": limit}

    def run() -> None:
        for lo, hi in spans:
            touch(list(PopotoPlace.query.filter(rating__gte=lo, rating__lte=hi, **extra)))

    return timed(run)


def top(k: int, queries: int) -> dict[str, float]:
    def run() -> None:
        for _ in range(queries):
            touch(list(PopotoPlace.query.all(order_by="-rating", limit=k)))

    return timed(run)


def count(calls: int) -> dict[str, float]:
    def run() -> None:
        for _ in range(calls):
            PopotoPlace.query.count()

    return timed(run)


def count_eq(values: list[str]) -> dict[str, float]:
    def run() -> None:
        for value in values:
            PopotoPlace.query.count(cuisine=value)

    return timed(run)


def check_indexes() -> dict[str, Any]:
    start = time.perf_counter()
    report = PopotoPlace.check_indexes()
    return {"seconds": time.perf_counter() - start, "total": report["total"]}


OPERATIONS: dict[str, Callable[..., dict[str, Any]]] = {
    f.__name__: f
    for f in (
        hello, fill, save, bulk_save, delete, get, filter_eq, filter_range, top, count,
        count_eq, check_indexes,
    )
}  # fmt: skip


def main() -> None:
    replies = sys.stdout
    sys.stdout = sys.stderr  # whatever Popoto prints must not mix with the replies
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        op = request.pop("op")
        try:
            reply = OPERATIONS[op](**request)
        except Exception as exc:
            traceback.print_exc()
            reply = {"error": f"{op}: {type(exc).__name__}: {exc}"}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


if __name__ == "__main__":
    main()
