"""Composite scoring (``typedis.memory``): top records by a weighted mix of ranked fields.

``composite_score(query, {Memory.relevance: 0.4, Memory.certainty: 0.3}, limit=10)`` runs the
query's rank stage (``typedis._query._planner``, ``lua/query.lua``): one ``ZUNIONSTORE ...
WEIGHTS ... AGGREGATE`` over the fields' sorted sets into a scratch key, intersected with the
query's matches, thresholded and read best first with the records and their scores, in one
function call whose scratch keys are deleted before it returns. A co-occurrence boost adds the
scores of ``propagate()`` as one more source (read by one call before the query's).

Examples:
    >>> from typedis import Key, Model, Sorted
    >>> class Note(Model):
    ...     id: Key[str]
    ...     relevance: Sorted[float] = 0.0
    ...     certainty: Sorted[float] = 0.0
    >>> _ = Note(id="a", relevance=1.0, certainty=0.0).save()
    >>> _ = Note(id="b", relevance=0.5, certainty=1.0).save()
    >>> weights = {Note.relevance: 0.6, Note.certainty: 0.4}
    >>> [(n.id, s) for n, s in composite_score(Note.query, weights)]
    [('b', 0.7), ('a', 0.6)]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeAlias, TypeVar, cast

from .. import _scripts, _store
from .._errors import QueryError
from .._index.cooccurrence_kind import CoOccurrenceRef
from .._query._planner import Plan
from .._query._query import Query, query_call
from .._query._refs import FieldRef
from ._cooccurrence import _propagate, _Read  # pyright: ignore[reportPrivateUsage]

if TYPE_CHECKING:
    from .._model import Model
    from .._query._refs import ConfidenceRef, DecayRef, SortedRef

M = TypeVar("M", bound="Model")

Aggregate: TypeAlias = Literal["SUM", "MIN", "MAX"]
"""How the weighted sources combine: ``ZUNIONSTORE ... AGGREGATE``."""

if TYPE_CHECKING:
    # a field that can take part (Sorted, Confidence, Decaying, AccessCount)
    _Scored: TypeAlias = SortedRef[M, Any] | ConfidenceRef[M] | DecayRef[M, Any]

_AGGREGATES = ("SUM", "MIN", "MAX")


@dataclass(frozen=True, slots=True)
class CoOccurrenceBoost(Generic[M]):
    """Propagation scores from ``seeds`` along ``ref`` (``propagate(ref, seeds, depth=...,
    limit=...)``), added to the composite with ``weight``."""

    ref: CoOccurrenceRef[M]
    seeds: Sequence[M]
    weight: float = 1.0
    depth: int = 2
    limit: int = 100


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise QueryError(f"composite_score(): {name} must be a finite number, got {value!r}")
    return float(value)


def _sources(
    model: type[Model], weights: object, temperature: float
) -> tuple[tuple[tuple[str, float], ...], tuple[tuple[str, float], ...]]:
    """The weighted sorted sets (weights divided by the temperature) and the decay shifts."""
    spec = model.__typedis_spec__
    if not isinstance(weights, Mapping):
        raise QueryError(
            f"composite_score(): weights must be a dict of field references to weights such as "
            f"{{{spec.name}.field: 0.5}}, got {weights!r}"
        )
    sources: list[tuple[str, float]] = []
    shifts: list[tuple[str, float]] = []
    for ref, weight in cast(Mapping[object, object], weights).items():
        if not isinstance(ref, FieldRef):
            raise QueryError(
                f"composite_score(): weights takes field references such as {spec.name}.field, "
                f"not names; got {ref!r}"
            )
        field: FieldRef[Any, Any] = cast(Any, ref)
        if field.model is not model:
            raise QueryError(
                f"composite_score(): weights names {field!r}, a field of "
                f"{field.model.__name__}, not {spec.name}"
            )
        w = _number(f"the weight of {field!r}", weight) / temperature
        index = next((i for i in spec.indexes if i.fields == (field.name,) and i.kind.orders), None)
        if index is None:
            raise QueryError(
                f"composite_score(): weights names {field!r}, which has no ranked index "
                "(Sorted, Confidence, Decaying or AccessCount fields only)"
            )
        if index.kind.touchable:
            if index.options["curve"] != "exponential":
                raise QueryError(
                    f"composite_score(): {field!r} decays on the power curve, whose index "
                    "holds touch times, not values; use curve='exponential' to rank by it"
                )
            shifts.append((index.suffix, float(index.options["rate"])))
        sources.append((index.suffix, w))
    return tuple(sources), tuple(shifts)


@dataclass(frozen=True, slots=True)
class _Composite(Generic[M]):
    """A validated composite score: its plan, then how to read and filter the reply."""

    plan: Plan
    model: type[M]
    limit: int
    post_filter: Callable[[M, float], bool] | None
    boost: _Read | None
    boost_weight: float

    def steps(self) -> Generator[_scripts.Call[Any], Any, list[tuple[M, float]]]:
        """The calls to run (a propagation, when boosted, then the query), replies sent back."""
        p = self.plan
        if self.boost is not None:
            if self.boost.tag != p.tag:
                raise QueryError(
                    "composite_score(): the co-occurrence seeds are in another partition than "
                    "the query's"
                )
            scored: list[tuple[str, float]] = yield self.boost.call
            p = replace(p, boost=tuple((i, s * self.boost_weight) for i, s in scored))
            if not p.order:  # no field weights: the boost alone ranks
                p = replace(p, order=((), True))
        model = self.model

        def decode(flat: list[Any]) -> list[tuple[M, float]]:
            return [
                (_store.hydrate(model, flat[i + 1], (p.tag, flat[i].decode())), float(flat[i + 2]))
                for i in range(0, len(flat), 3)
            ]

        found: list[tuple[M, float]] = yield query_call(model.__typedis_spec__, p, decode)
        if self.post_filter is None:
            return found
        keep = self.post_filter
        return [pair for pair in found if keep(*pair)][: self.limit]


def _composite(
    query: Query[M],
    weights: object,
    limit: object,
    aggregate: object,
    min_score: object,
    post_filter: object,
    co_occurrence_boost: object,
    temperature: object,
    overfetch: object,
) -> _Composite[M]:
    given = cast(object, query)  # typed, but given by users at run time
    if not isinstance(given, Query):
        raise QueryError(f"composite_score(): query must be Model.query..., got {query!r}")
    model = query.model
    for name, value, least in (("limit", limit, 1), ("overfetch", overfetch, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise QueryError(f"composite_score(): {name} must be an int >= {least}, got {value!r}")
    if aggregate not in _AGGREGATES:
        raise QueryError(
            f"composite_score(): aggregate must be 'SUM', 'MIN' or 'MAX', got {aggregate!r}"
        )
    heat = _number("temperature", temperature)
    if heat <= 0:
        raise QueryError(f"composite_score(): temperature must be > 0, got {temperature!r}")
    threshold = -math.inf if min_score is None else _number("min_score", min_score)
    if post_filter is not None and not callable(post_filter):
        raise QueryError(f"composite_score(): post_filter must be callable, got {post_filter!r}")
    sources, shifts = _sources(model, weights, heat)
    boost: _Read | None = None
    boost_weight = 0.0
    if co_occurrence_boost is not None:
        if not isinstance(co_occurrence_boost, CoOccurrenceBoost):
            raise QueryError(
                "composite_score(): co_occurrence_boost must be a CoOccurrenceBoost, got "
                f"{co_occurrence_boost!r}"
            )
        b: CoOccurrenceBoost[Any] = cast(Any, co_occurrence_boost)
        if b.ref.model is not model:
            raise QueryError(
                f"composite_score(): co_occurrence_boost follows {b.ref!r}, a field of "
                f"{b.ref.model.__name__}, not {model.__name__}"
            )
        boost_weight = _number("co_occurrence_boost.weight", b.weight) / heat
        boost = _propagate(b.ref, b.seeds, b.depth, b.limit)
    elif not sources:
        raise QueryError("composite_score(): weights is empty; name at least one field")
    take = cast(int, limit)
    fetch = take * cast(int, overfetch) if post_filter is not None else take
    p = replace(
        query.plan("scored"),
        order=(sources, True) if sources else None,
        limit=fetch,
        aggregate=str(aggregate),
        min_score=threshold,
        shift=shifts,
    )
    keep = cast("Callable[[M, float], bool] | None", post_filter)
    return _Composite(p, model, take, keep, boost, boost_weight)


def _run(steps: Generator[_scripts.Call[Any], Any, Any]) -> Any:
    reply: Any = None
    try:
        while True:
            reply = _scripts.run(steps.send(reply))
    except StopIteration as done:
        return done.value


async def _arun(steps: Generator[_scripts.Call[Any], Any, Any]) -> Any:
    reply: Any = None
    try:
        while True:
            reply = await _scripts.arun(steps.send(reply))
    except StopIteration as done:
        return done.value


def composite_score(
    query: Query[M],
    weights: Mapping[_Scored[M], float],
    *,
    limit: int = 10,
    aggregate: Aggregate = "SUM",
    min_score: float | None = None,
    post_filter: Callable[[M, float], bool] | None = None,
    co_occurrence_boost: CoOccurrenceBoost[M] | None = None,
    temperature: float = 1.0,
    overfetch: int = 4,
) -> list[tuple[M, float]]:
    """The top ``limit`` matches of ``query`` by a weighted composite of ranked fields.

    A record's composite combines ``weight / temperature * score`` over the fields it has a
    score for (``aggregate``: their sum, minimum or maximum), on the server in one function call.
    A Decaying field (exponential curve) scores ln(its value now). Records with no score in
    any source are left out. ``query``'s own order and limit are replaced; its filters,
    partition and offset apply.

    Args:
        query: ``Model.query`` or a filtered query (a partitioned model's needs its partition).
        weights: field references to finite weights (negative ones push records down).
        limit: at most this many results, best first.
        aggregate: ``"SUM"``, ``"MIN"`` or ``"MAX"`` (``ZUNIONSTORE ... AGGREGATE``).
        min_score: keep only composites >= this (applied on the server, after temperature).
        post_filter: ``(record, score) -> bool`` run here on the ``limit * overfetch`` best
            candidates; the first ``limit`` kept are returned (fewer if too few pass).
        co_occurrence_boost: propagation scores added as a source (one more call first).
        temperature: every weight is divided by it (> 0): scores scale, the order does not.
        overfetch: how many candidates per result ``post_filter`` sees.

    Returns:
        ``(record, composite score)`` pairs, highest score first (ties by id, descending).

    Raises:
        QueryError: bad weights (a name, another model's field, an unranked field, a non-finite
            weight), bad aggregate, temperature <= 0, limit < 1, or a missing partition.
        TypedisError: the server failed.
    """
    c = _composite(
        query,
        weights,
        limit,
        aggregate,
        min_score,
        post_filter,
        co_occurrence_boost,
        temperature,
        overfetch,
    )
    return cast(list[tuple[M, float]], _run(c.steps()))


async def acomposite_score(
    query: Query[M],
    weights: Mapping[_Scored[M], float],
    *,
    limit: int = 10,
    aggregate: Aggregate = "SUM",
    min_score: float | None = None,
    post_filter: Callable[[M, float], bool] | None = None,
    co_occurrence_boost: CoOccurrenceBoost[M] | None = None,
    temperature: float = 1.0,
    overfetch: int = 4,
) -> list[tuple[M, float]]:
    """``composite_score()`` on the asyncio client."""
    c = _composite(
        query,
        weights,
        limit,
        aggregate,
        min_score,
        post_filter,
        co_occurrence_boost,
        temperature,
        overfetch,
    )
    return cast(list[tuple[M, float]], await _arun(c.steps()))
