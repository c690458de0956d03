"""The harness' machinery: workloads, contenders' sides, interleaved rounds, per-round ratios.

A workload is a name, a title, how many operations one timed run does, the data set every
contender must hold before its rounds (or None when it writes its own data), and one `Side` per
contender: an untimed `prepare()` and a timed `run(prepared)`. Workloads are declared in
`workloads.py` by factories registered with `@workload`; see docs/performance.md.

Every ratio is **typedis' speed over the other contender's**, round by round: in round r it is
``time_per_op[other][r] / time_per_op["typedis"][r]``, so 2.0 means typedis is twice as fast
and 0.75 that it runs at three quarters of the other's speed. Rounds interleave the contenders
(the order rotates from round to round), so a burst of load from other processes on the
machine falls on all of them alike; the report gives the median and the min-max of the rounds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: The contender every ratio is taken against: typedis' speed / the other's speed.
SUBJECT = "typedis"


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Side:
    """One contender's part in a workload.

    ``prepare()`` runs before each timed run, untimed, and its value is passed to ``run``.
    ``run`` is timed by the harness, unless it returns a number: the seconds it measured
    itself (the Popoto runner times its own part in its own process). ``ops`` overrides the
    workload's operation count for this contender (a slow contender may do fewer queries).
    """

    run: Callable[[Any], float | None]
    prepare: Callable[[], Any] = _nothing
    ops: int | None = None


@dataclass(frozen=True)
class Target:
    """A goal for the ratio typedis / ``versus``: at least ``at_least``."""

    versus: str
    at_least: float


@dataclass(frozen=True)
class Workload:
    """One measured operation, with a side per contender (see the module's docstring)."""

    name: str
    title: str
    ops: int
    unit: str
    sides: dict[str, Side]
    dataset: int | None = None
    targets: tuple[Target, ...] = ()
    #: (shape, size) for a point of a scale curve; its shape's points share the other fields.
    scale: tuple[str, int] | None = None
    #: for a scale shape: typedis' time per op at the largest size over the smallest, at most.
    flat_within: float | None = None
    #: run once before the first round and once after the last (untimed)
    setup: Callable[[], object] = _nothing
    cleanup: Callable[[], object] = _nothing


@dataclass
class Measured:
    """The seconds per operation of each contender, one entry per round."""

    workload: Workload
    per_op: dict[str, list[float]] = field(default_factory=dict)

    def ratios(self, versus: str) -> list[float]:
        mine = self.per_op[SUBJECT]
        return [theirs / ours for theirs, ours in zip(self.per_op[versus], mine, strict=True)]

    def summary(self) -> dict[str, Any]:
        """A JSON-ready record: times per contender, ratios, targets met or missed."""
        w = self.workload
        out: dict[str, Any] = {
            "name": w.name,
            "title": w.title,
            "unit": w.unit,
            "ops": {name: side.ops or w.ops for name, side in w.sides.items()},
            "dataset": w.dataset,
            "scale": list(w.scale) if w.scale else None,
            "flat_within": w.flat_within,
            "seconds_per_op": {
                name: {"median": statistics.median(times), "rounds": times}
                for name, times in self.per_op.items()
            },
            "ratios": {},
            "targets": [],
        }
        if SUBJECT not in self.per_op:
            return out
        for name in self.per_op:
            if name != SUBJECT:
                rounds = self.ratios(name)
                out["ratios"][name] = {
                    "median": statistics.median(rounds),
                    "min": min(rounds),
                    "max": max(rounds),
                    "rounds": rounds,
                }
        for t in w.targets:
            got = out["ratios"].get(t.versus)
            out["targets"].append(
                {
                    "versus": t.versus,
                    "at_least": t.at_least,
                    "median": got and got["median"],
                    "met": None if got is None else got["median"] >= t.at_least,
                }
            )
        return out


def measure(workload: Workload, rounds: int) -> Measured:
    """Run ``rounds`` rounds; in each, every contender once, the order rotating by one."""
    names = list(workload.sides)
    result = Measured(workload, {name: [] for name in names})
    workload.setup()
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            side = workload.sides[name]
            prepared = side.prepare()
            start = time.perf_counter()
            own = side.run(prepared)
            elapsed = time.perf_counter() - start if own is None else own
            result.per_op[name].append(elapsed / (side.ops or workload.ops))
    workload.cleanup()
    return result


# ---- the registry -----------------------------------------------------------------------------

#: A factory gets the run's context (a `workloads.Bench`) and returns its workloads.
Factory = Callable[[Any], list[Workload]]
REGISTRY: list[Factory] = []


def workload(factory: Factory) -> Factory:
    """Register a workload factory; the run measures the factories in registration order
    (grouped by data set, so that each data set is filled once)."""
    REGISTRY.append(factory)
    return factory


#: Contender names that are not Python identifiers, by the keyword `sides()` takes for them.
NAMES = {"raw_pyd": "raw+pyd", "raw_pipelined": "raw pipelined"}


def sides(**given: Side | None) -> dict[str, Side]:
    """The sides given, in that order, without the missing ones (Popoto when it could not be
    installed); ``raw_pyd=`` and ``raw_pipelined=`` name ``raw+pyd`` and ``raw pipelined``."""
    return {NAMES.get(name, name): s for name, s in given.items() if s is not None}
