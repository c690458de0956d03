"""The `typedis` command (also `python -m typedis`): demo, info, check, clean, rebuild, sweep,
install-functions. docs/operations.md, "Command line", shows a session.

Exit status 0 when it worked, 1 on a problem (`check` finding damaged indexes, a failed sweep,
an error, reported in one line on stderr; `--debug` shows the traceback instead), 2 on a
usage error (argparse's, or a MODULE[:Model] that names no module or model). `sweep --every`
stops on Ctrl-C or SIGTERM after the partition being swept (0), at once on a second one (130).
Progress bars go to stderr, only when both stdout and stderr are terminals.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Generator
from contextlib import contextmanager
from typing import Any, TypeGuard

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import typedis
from typedis import _maintenance, _scripts, _sweeper
from typedis._query._query import count_call

_TARGETS = "MODULE[:Model]"
_TARGETS_HELP = "the models of MODULE (every concrete Model it holds), or MODULE:Model only"

_Progress = Callable[[int, int | None], None]


class _Usage(Exception):
    """A target that names no module or model: exit status 2, like argparse's errors."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="typedis", description="typed object mapper for Redis")
    parser.add_argument("--version", action="version", version=f"typedis {typedis.__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="run the demo (embedded server unless REDIS_URL is set)"
    )
    demo.add_argument(
        "which",
        nargs="?",
        choices=["orm", "memory"],
        default="orm",
        help="orm (default): restaurants; memory: examples/agent_memory.py, agent memory",
    )
    info = commands.add_parser(
        "info",
        help="the server at REDIS_URL: version, memory, eviction policy, records per model",
        description="Show the server at REDIS_URL (version, memory, eviction policy) and the "
        "number of records of each model the targets name.",
    )
    info.add_argument("targets", nargs="*", metavar=_TARGETS, help=_TARGETS_HELP)
    for name, does in (
        ("check", "count damaged index entries (read-only); exit status 1 if any"),
        ("clean", "remove index entries that point at nothing or at a wrong value"),
        ("rebuild", "re-derive every index from the record hashes (after an import)"),
    ):
        verb = commands.add_parser(name, help=does, description=f"{does[0].upper()}{does[1:]}.")
        verb.add_argument("targets", nargs="+", metavar=_TARGETS, help=_TARGETS_HELP)
        verb.add_argument(
            "--batch-size", type=_positive(int), default=1000, help="keys per SCAN step (1000)"
        )
    sweep = commands.add_parser(
        "sweep",
        help="remove expired records with their index entries (once, or --every N seconds)",
        description="Remove the expired records of the models, one partition at a time; with "
        "--every, again every N seconds until interrupted (Ctrl-C).",
    )
    sweep.add_argument("targets", nargs="+", metavar=_TARGETS, help=_TARGETS_HELP)
    sweep.add_argument("--every", type=_positive(float), metavar="SECONDS", help="keep sweeping")
    install = commands.add_parser(
        "install-functions",
        help="as an administrator, load the function libraries of models (server at REDIS_URL)",
        description="Load the function libraries of the typedis models found in each MODULE "
        "(or of MODULE:Model only) on the server at REDIS_URL, as typedis.install_functions() "
        "does. Run it as an administrator once, and again after a typedis upgrade or a "
        "model change.",
    )
    install.add_argument("targets", nargs="+", metavar=_TARGETS, help=_TARGETS_HELP)
    return parser


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its message
    return parse


def main(argv: list[str] | None = None) -> int:
    """Run the `typedis` command line; returns the process exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            from typedis import _demo

            if args.which == "memory":
                _demo.run_example("agent_memory.py")
            else:
                _demo.run()
            return 0
        return _VERBS[args.command](args)
    except _Usage as usage:
        if args.debug:
            raise usage.error from None
        _report(usage.error)
        return 2
    except Exception as error:
        if args.debug:
            raise
        _report(error)
        return 1


def _report(error: Exception) -> None:
    message = " ".join(str(error).split())
    print(f"typedis: error: {type(error).__name__}: {message}", file=sys.stderr)


# ---- the verbs ----------------------------------------------------------------------------


def _info(args: argparse.Namespace) -> int:
    models = _targets(args.targets)
    conn = _connect()
    try:
        with _scripts.typed_errors("INFO"):
            server: dict[str, Any] = conn.client.info("server")  # pyright: ignore[reportUnknownMemberType, reportAssignmentType]
            memory: dict[str, Any] = conn.client.info("memory")  # pyright: ignore[reportUnknownMemberType, reportAssignmentType]
        product = "valkey" if "valkey_version" in server else "redis"
        version = server.get("valkey_version", server.get("redis_version", "?"))
        print(f"server:  {conn.redacted_url} ({product} {version})")
        limit = memory.get("maxmemory_human", "?") if memory.get("maxmemory") else "no limit"
        print(f"memory:  {memory.get('used_memory_human', '?')} used, maxmemory {limit}")
        policy = memory.get("maxmemory_policy", "?")
        evicts = " (records may be evicted: see EvictionWarning)" * (policy != "noeviction")
        print(f"evicts:  {policy}{evicts}")
        if not models:
            print("models:  none named (give MODULE[:Model] targets to count their records)")
            return 0
        with _bars() as bar:
            counts = [(m, _records(m, bar(f"count {_name(m)}"))) for m in models]
        width = max(len(_name(m)) for m in models)
        print("models:")
        for model, records in counts:
            print(f"  {_name(model):<{width}}  {records:>10,} records  {_layout(model)}")
    finally:
        conn.close()
    return 0


def _check(args: argparse.Namespace) -> int:
    damaged = False
    for model, report in _each(args, "check"):
        damaged = damaged or report.total > 0
        found = ", ".join(f"{kind} {count}" for kind, count in _kinds(report))
        print(
            f"{_name(model)}: {report.total:,} damaged index entries" + f" ({found})" * bool(found)
        )
    return 1 if damaged else 0


def _clean(args: argparse.Namespace) -> int:
    for model, report in _each(args, "clean"):
        found = ", ".join(f"{kind} {count}" for kind, count in _kinds(report))
        print(
            f"{_name(model)}: removed {report.total:,} index entries" + f" ({found})" * bool(found)
        )
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    for model, records in _each(args, "rebuild"):
        print(f"{_name(model)}: rebuilt the indexes of {records:,} records")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    models = _targets(args.targets)
    conn = _connect()
    try:
        if args.every is not None:
            return _sweep_every(models, args.every)
        failures: list[str] = []

        def failed(where: str, error: Exception) -> None:
            message = " ".join(str(error).split())
            failures.append(f"typedis: error: sweeping {where}: {type(error).__name__}: {message}")

        swept: list[tuple[type[typedis.Model], int | None]] = []
        with _bars() as bar:
            for model in models:
                progress = bar(f"sweep {_name(model)}")
                swept.append((model, _sweeper.sweep_model(model, failed=failed, progress=progress)))
        for model, removed in swept:
            print(f"{_name(model)}: removed {removed or 0:,} expired records")
        for line in failures:
            print(line, file=sys.stderr)
        return 1 if failures else 0
    finally:
        conn.close()


def _sweep_every(models: list[type[typedis.Model]], every: float) -> int:
    logging.basicConfig(format="typedis: %(levelname)s: %(message)s", level=logging.INFO)
    names = ", ".join(_name(m) for m in models)
    print(f"sweeping {names} every {every:g} s; Ctrl-C stops", flush=True)
    sweeper = typedis.start_sweeper(every, models=models)
    previous = signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop: as Ctrl-C
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        try:
            sweeper.stop()  # after the partition being swept
        except KeyboardInterrupt:  # again: leave now (each step of a sweep is atomic)
            return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(f"stopped after {sweeper.rounds} rounds: removed {sweeper.removed:,} expired records")
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _install(args: argparse.Namespace) -> int:
    models = _targets(args.targets)
    conn = _connect()
    try:
        names = typedis.install_functions(*models)
    finally:
        conn.close()
    listed = ", ".join(m.__name__ for m in models)
    print(f"installed the function libraries of {listed} on {conn.redacted_url}:")
    print("\n".join(names))
    return 0


_VERBS: dict[str, Callable[[argparse.Namespace], int]] = {
    "info": _info,
    "check": _check,
    "clean": _clean,
    "rebuild": _rebuild,
    "sweep": _sweep,
    "install-functions": _install,
}


# ---- shared steps -------------------------------------------------------------------------


def _each(args: argparse.Namespace, verb: str) -> list[tuple[type[typedis.Model], Any]]:
    """Run ``Model.<verb>_indexes(batch_size=..., progress=...)`` on each target model (a
    report, or a count), with a bar."""
    models = _targets(args.targets)
    conn = _connect()
    try:
        done: list[tuple[type[typedis.Model], Any]] = []
        with _bars() as bar:
            for model in models:
                progress = bar(f"{verb} {_name(model)}")
                repair = _repair(model, verb)
                done.append((model, repair(batch_size=args.batch_size, progress=progress)))
        return done
    finally:
        conn.close()


def _repair(model: type[typedis.Model], verb: str) -> Callable[..., Any]:
    """``model.check_indexes``, ``model.clean_indexes`` or ``model.rebuild_indexes``."""
    method: Callable[..., Any] = getattr(model, f"{verb}_indexes")
    return method


def _kinds(report: Any) -> list[tuple[str, int]]:
    """The kinds of an index report with a count, ``total`` left out."""
    return [(kind, report[kind]) for kind in report if kind != "total" and report[kind]]


def _connect() -> typedis.Connection:
    """typedis' default connection on REDIS_URL's server (never the embedded one)."""
    if not os.environ.get("REDIS_URL"):
        raise typedis.ConfigError(
            "REDIS_URL is not set: give the server to work on "
            "(REDIS_URL=redis://<user>:<password>@<host>:6379/0)"
        )
    return typedis.connect()


def _records(model: type[typedis.Model], progress: _Progress) -> int:
    """The live records of a model, all partitions (those SCAN or its registry finds)."""
    spec = model.__typedis_spec__
    tags = _maintenance.tags(spec)
    total = 0
    for done, tag in enumerate(tags):
        total += _scripts.run(count_call(spec, tag, True))
        progress(done + 1, len(tags))
    return total


def _layout(model: type[typedis.Model]) -> str:
    return next(r.keys for r in typedis.models() if r.name == _name(model))


def _name(model: type[typedis.Model]) -> str:
    return model.__typedis_spec__.name


@contextmanager
def _bars() -> Generator[Callable[[str], _Progress]]:
    """A factory of progress bars (``bar(label)`` gives a progress callback), drawn on stderr
    only when stdout and stderr are terminals."""
    shown = sys.stdout.isatty() and sys.stderr.isatty()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    progress = Progress(
        *columns, TimeElapsedColumn(), console=Console(stderr=True), disable=not shown
    )

    def bar(label: str) -> _Progress:
        task = progress.add_task(label, total=None)

        def advance(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        return advance

    with progress:
        yield bar


def _targets(targets: list[str]) -> list[type[typedis.Model]]:
    """The models the targets name, each once, in order."""
    if os.getcwd() not in sys.path:  # MODULE is found from here, as with `python -m`
        sys.path.insert(0, os.getcwd())
    return list(dict.fromkeys(m for target in targets for m in _models(target)))


def _models(target: str) -> list[type[typedis.Model]]:
    """The models of `MODULE` (every concrete Model subclass it holds) or `MODULE:Model`."""
    module_name, _, name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if module_name == missing or module_name.startswith(f"{missing}."):  # not its import's
            raise _Usage(error) from error
        raise
    if name:
        found = getattr(module, name, None)
        if not _is_model(found):
            raise _Usage(
                typedis.ModelError(
                    f"{target}: {module_name} has no concrete typedis Model named {name}"
                )
            )
        return [found]
    models = [value for value in vars(module).values() if _is_model(value)]
    if not models:
        raise _Usage(typedis.ModelError(f"{target}: the module holds no typedis Model subclass"))
    return models


def _is_model(value: object) -> TypeGuard[type[typedis.Model]]:
    return (
        isinstance(value, type)
        and issubclass(value, typedis.Model)
        and value is not typedis.Model
        and not value.__typedis_spec__.abstract
    )


if __name__ == "__main__":
    raise SystemExit(main())
