"""The workloads, one registered factory each, and the run's context (`Bench`).

Adding a workload: write a factory below that returns `Workload`s, decorate it with
``@workload``, give each contender a `Side` (``bench.pop(...)`` makes Popoto's, which runs the
operation of the same name in ``popoto_runner.py``), and add that operation to the runner when
Popoto has the feature. docs/performance.md walks through one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import redis

from . import data
from .contenders import BenchPlace, Raw, Typedis, build
from .core import Side, Target, Workload, sides, workload
from .popoto_proxy import Popoto


@dataclass(frozen=True)
class Sizes:
    """How big each workload is; ``FULL`` for `make bench`, ``QUICK`` for a smoke run."""

    rounds: int
    save: int  # records saved one by one
    bulk: int  # records saved in pipelines of 1,000
    dataset: int  # records held for the read workloads (dataset / 20 share a cuisine)
    gets: int  # loads by key per run
    queries: int  # full (unlimited) filters per run
    page: int  # the limit of the top-k and limited filters
    small: int  # cheap calls (count) per run
    delete: int  # records deleted one by one
    scale: tuple[int, ...]  # data sets of the scale curves; check_indexes runs on the largest


FULL = Sizes(5, 5_000, 20_000, 20_000, 2_000, 10, 100, 1_000, 2_000, (1_000, 10_000, 100_000))
QUICK = Sizes(2, 300, 1_000, 2_000, 300, 3, 100, 200, 300, (500, 2_000))


class Bench:
    """What a factory needs: the sizes, the raw client, the contenders, the data sets.

    Data sets are shared: every contender holds the same ``n`` records, under its own keys,
    while the workloads that read them run. Filling one measures the memory it takes.
    """

    def __init__(self, sizes: Sizes, client: redis.Redis, popoto: Popoto | None) -> None:
        self.sizes = sizes
        self.client = client
        self.raw = Raw(client)
        self.popoto = popoto
        self.held: int | None = None  # the data set in the database now, if any
        self.memory: dict[int, dict[str, dict[str, float]]] = {}

    def flush(self) -> None:
        """Empty the benchmark database (the one given; the harness checked it was empty).

        SYNC: Valkey frees a flushed database in the background by default, which would
        overlap the next timed run and the next memory measurement."""
        self.client.execute_command("FLUSHDB", "SYNC")
        self.held = None

    def pop(
        self, op: str, prepare: Any = None, ops: int | None = None, **params: Any
    ) -> Side | None:
        """Popoto's side: ``op`` with ``params`` in the runner (None without Popoto)."""
        popoto = self.popoto
        if popoto is None:
            return None
        return Side(
            run=lambda _: popoto.seconds(op, **params),
            prepare=prepare or (lambda: None),
            ops=ops,
        )

    # ---- data sets ----------------------------------------------------------------------

    def hold(self, n: int) -> None:
        """Make the database hold the data set of ``n`` records for every contender."""
        if self.held == n:
            return
        self.flush()
        print(f"  filling {n:,} records per contender ...", flush=True)
        rows = data.rows(n)
        fills: dict[str, Any] = {
            "typedis": lambda: Typedis.save_many([BenchPlace(**row) for row in rows]),
            "raw": lambda: self.raw.save_pipelined(rows),
        }
        if self.popoto:
            fills["popoto"] = lambda: cast(Popoto, self.popoto).call("fill", n=n)
        used: dict[str, float] = {}
        for name, fill in fills.items():
            before = self._used_memory()
            fill()
            used[name] = (self._used_memory() - before) / n
        usage = self._memory_usage()
        self.memory[n] = {
            name: {"info_delta": used[name], "memory_usage": usage[name] / n} for name in fills
        }
        assert BenchPlace.query.count() == n
        self.held = n

    def _used_memory(self) -> int:
        info: dict[str, Any] = cast(Any, self.client).info("memory")
        return int(info["used_memory"])

    PATTERNS: ClassVar[dict[str, str]] = {
        "typedis": "{td:BenchPlace}*",
        "raw": "{raw:BenchPlace}*",
        "popoto": "*PopotoPlace*",
    }

    def _memory_usage(self) -> dict[str, int]:
        """MEMORY USAGE (exact: SAMPLES 0) summed over each contender's keys."""
        client = cast(Any, self.client)
        totals: dict[str, int] = {}
        for name, pattern in self.PATTERNS.items():
            keys = list(client.scan_iter(match=pattern, count=1000))
            total = 0
            for i in range(0, len(keys), 1000):
                pipe = client.pipeline(transaction=False)
                for key in keys[i : i + 1000]:
                    pipe.execute_command("MEMORY", "USAGE", key, "SAMPLES", "0")
                total += sum(int(x or 0) for x in pipe.execute())
            totals[name] = total
        return totals


# ---- writes: each run starts from an empty database --------------------------------------


def _fresh(
    bench: Bench, n: int
) -> tuple[Callable[[], list[BenchPlace]], Callable[[], list[dict[str, Any]]]]:
    """Set-ups of a write workload: an empty database, then n records to write (as typedis
    models, as raw rows)."""
    rows = data.rows(n)

    def fresh_models() -> list[BenchPlace]:
        bench.flush()
        return build(n)

    def fresh_rows() -> list[dict[str, Any]]:
        bench.flush()
        return rows

    return fresh_models, fresh_rows


@workload
def save(bench: Bench) -> list[Workload]:
    n = bench.sizes.save
    fresh_models, fresh_rows = _fresh(bench, n)
    return [
        Workload(
            "save",
            f"save one record, {n:,} one by one (one script call each)",
            n,
            "record",
            sides(
                typedis=Side(Typedis.save_each, fresh_models),
                raw=Side(bench.raw.save_each, fresh_rows),
                popoto=bench.pop("save", bench.flush, n=n),
            ),
            targets=(Target("raw", 0.75), Target("popoto", 8.0)),
        )
    ]


@workload
def bulk_save(bench: Bench) -> list[Workload]:
    n = bench.sizes.bulk
    fresh_models, fresh_rows = _fresh(bench, n)
    return [
        Workload(
            "bulk_save",
            f"bulk save of {n:,} (save_many / pipelines / bulk_create, 1,000 a batch)",
            n,
            "record",
            sides(
                typedis=Side(Typedis.save_many, fresh_models),
                raw_pipelined=Side(bench.raw.save_pipelined, fresh_rows),
                popoto=bench.pop("bulk_save", bench.flush, n=n),
            ),
            targets=(Target("raw pipelined", 0.65), Target("popoto", 13.0)),
        )
    ]


@workload
def delete(bench: Bench) -> list[Workload]:
    n = bench.sizes.delete
    rows = data.rows(n)

    def saved_models() -> list[BenchPlace]:
        bench.flush()
        models = build(n)
        Typedis.save_many(models)
        return models

    def saved_rows() -> list[dict[str, Any]]:
        bench.flush()
        bench.raw.save_pipelined(rows)
        return rows

    return [
        Workload(
            "delete",
            f"delete one record, {n:,} one by one",
            n,
            "record",
            sides(
                typedis=Side(Typedis.delete_each, saved_models),
                raw=Side(bench.raw.delete_each, saved_rows),
                popoto=bench.pop("delete", bench.flush, n=n),
            ),
        )
    ]


# ---- reads of the shared data set -------------------------------------------------------


def read_sides(typedis: Any, raw: Any, popoto: Side | None) -> dict[str, Side]:
    """The sides of a read: typedis, raw, raw+pyd (``raw(validate)`` makes raw's run), Popoto."""
    return sides(
        typedis=Side(lambda _: typedis()),
        raw=Side(lambda _: raw(False)),
        raw_pyd=Side(lambda _: raw(True)),
        popoto=popoto,
    )


@workload
def reads(bench: Bench) -> list[Workload]:
    s = bench.sizes
    n = s.dataset
    names = data.sample_names(n, s.gets)
    values = data.values(s.queries)
    matches = n // len(data.CUISINES)
    spans = data.spans(n, matches, s.queries)
    slow = max(1, s.queries // 2)  # Popoto's full filters: fewer per run
    raw = bench.raw
    return [
        Workload(
            "get",
            "get one record by key",
            s.gets,
            "record",
            read_sides(
                lambda: Typedis.get(names),
                lambda v: raw.get(names, v),
                bench.pop("get", names=names),
            ),
            dataset=n,
            targets=(Target("raw+pyd", 0.85),),
        ),
        Workload(
            "get_query",
            "get one record by key through a query, filter(name == k).get()",
            s.gets,
            "record",
            read_sides(
                lambda: Typedis.get_query(names),
                lambda v: raw.get(names, v),
                bench.pop("get", names=names),
            ),
            dataset=n,
        ),
        Workload(
            "filter_eq",
            f"equality filter returning {matches:,} of {n:,}, hydrated",
            s.queries,
            "query",
            read_sides(
                lambda: Typedis.filter_eq(values),
                lambda v: raw.filter_eq(values, v),
                bench.pop("filter_eq", ops=slow, values=values[:slow]),
            ),
            dataset=n,
        ),
        Workload(
            "filter_range",
            f"range filter returning {matches:,} of {n:,}, hydrated",
            s.queries,
            "query",
            read_sides(
                lambda: Typedis.filter_range(spans),
                lambda v: raw.filter_range(spans, v),
                bench.pop("filter_range", ops=slow, spans=spans[:slow]),
            ),
            dataset=n,
            targets=(Target("raw+pyd", 1.0),),
        ),
        Workload(
            "filter_range_expired",
            "the range filter above, one expired record not yet swept",
            s.queries,
            "query",
            sides(
                typedis=Side(lambda _: Typedis.filter_range(spans)),
                raw_pyd=Side(lambda _: raw.filter_range(spans, True)),
            ),
            dataset=n,
            setup=Typedis.save_expired,
            cleanup=Typedis.sweep,
        ),
        Workload(
            "top",
            f"top {s.page} by rating, no filter, of {n:,}",
            s.queries,
            "query",
            read_sides(
                lambda: Typedis.top(s.page, s.queries),
                lambda v: raw.top(s.page, s.queries, v),
                bench.pop("top", ops=slow, k=s.page, queries=slow),
            ),
            dataset=n,
        ),
        Workload(
            "count",
            f"count all {n:,} records",
            s.small,
            "call",
            sides(
                typedis=Side(lambda _: Typedis.count(s.small)),
                raw=Side(lambda _: raw.count(s.small)),
                popoto=bench.pop("count", calls=s.small),
            ),
            dataset=n,
        ),
        Workload(
            "count_index",
            f"count all {n:,} records by the index, count(exact=False)",
            s.small,
            "call",
            sides(
                typedis=Side(lambda _: Typedis.count(s.small, exact=False)),
                raw=Side(lambda _: raw.count(s.small)),
                popoto=bench.pop("count", calls=s.small),
            ),
            dataset=n,
        ),
        Workload(
            "count_eq",
            f"count an equality filter ({matches:,} of {n:,})",
            s.small,
            "call",
            sides(
                typedis=Side(lambda _: Typedis.count_eq(data.values(s.small))),
                raw=Side(lambda _: raw.count_eq(data.values(s.small))),
                popoto=bench.pop("count_eq", values=data.values(s.small)),
            ),
            dataset=n,
        ),
    ]


# ---- scale curves: the same query shapes at growing data sets -----------------------------


@workload
def scale(bench: Bench) -> list[Workload]:
    """Each query shape at every size of ``sizes.scale``: where the page is fixed and only the
    data set grows, typedis' time per query should stay flat (within 2x)."""
    return [w for n in bench.sizes.scale for w in scale_points(bench, n)]


def scale_points(bench: Bench, n: int) -> list[Workload]:
    s, raw = bench.sizes, bench.raw
    q, page = s.queries, s.page
    few = max(1, q // 5)  # Popoto's queries per run (its limited filters read every match)
    short = page // 10  # an equality value is held by n/20 records: 50 at n = 1,000
    names = data.sample_names(n, s.gets)
    values = data.values(q)
    wide = data.wide_spans(n, q)

    def point(
        shape: str, title: str, ops: int, unit: str, by: dict[str, Side], flat: float | None = None
    ) -> Workload:
        return Workload(f"{shape}@{n}", title, ops, unit, by, n, (), (shape, n), flat)

    return [
        point(
            "get",
            "get by key",
            s.gets,
            "record",
            read_sides(
                lambda: Typedis.get(names),
                lambda v: raw.get(names, v),
                bench.pop("get", names=names),
            ),
        ),
        point(
            "filter_eq_limit",
            f"equality filter, limit {short} (n/20 match)",
            q,
            "query",
            read_sides(
                lambda: Typedis.filter_eq(values, short),
                lambda v: raw.filter_eq(values, v, short),
                bench.pop("filter_eq", ops=few, values=values[:few], limit=short),
            ),
            flat=2.0,
        ),
        point(
            "filter_range_limit",
            f"range filter, limit {page} (n/2 match)",
            q,
            "query",
            read_sides(
                lambda: Typedis.filter_range(wide, page),
                lambda v: raw.filter_range(wide, v, page),
                bench.pop("filter_range", ops=few, spans=wide[:few], limit=page),
            ),
            flat=2.0,
        ),
        point(
            "top",
            f"top {page} by rating, no filter",
            q,
            "query",
            read_sides(
                lambda: Typedis.top(page, q),
                lambda v: raw.top(page, q, v),
                bench.pop("top", ops=few, k=page, queries=few),
            ),
            flat=2.0,
        ),
        point(  # by the index: the exact count is O(n) (the 20,000-record workloads time it)
            "count",
            "count all by the index, count(exact=False)",
            s.small,
            "call",
            sides(
                typedis=Side(lambda _: Typedis.count(s.small, exact=False)),
                raw=Side(lambda _: raw.count(s.small)),
                popoto=bench.pop("count", calls=s.small),
            ),
        ),
    ]


@workload
def check_indexes(bench: Bench) -> list[Workload]:
    n = max(bench.sizes.scale)
    return [
        Workload(
            "check_indexes",
            f"check_indexes() on {n:,} records",
            n,
            "record",
            sides(
                typedis=Side(lambda _: Typedis.check_indexes()),
                raw=Side(lambda _: bench.raw.check()),
                popoto=bench.pop("check_indexes"),
            ),
            dataset=n,
        )
    ]
