"""Co-occurrence: weighted edges between records of one model and partition.

A model declares a field that holds no value, ``related: Associations = field(default=None)``
(index kind ``cooccurrence``, ``typedis/_index/cooccurrence_kind.py``). ``link(a, b)`` adds to
the edge between two stored records, in both directions, in one atomic call: the edge's weight
becomes ``old * decay + weight``. ``neighbors()`` reads a record's heaviest edges and
``propagate()`` spreads scores breadth-first from seed records, both on the server in one call.
Deleting or sweeping a record removes its edges in the same script.

Examples:
    >>> class Fact(Model):
    ...     id: Key[str]
    ...     related: Associations = field(default=None)
    >>> a, b, c = (Fact(id=i).save() for i in "abc")
    >>> link(Fact.related, a, b)
    1.0
    >>> link(Fact.related, b, c, weight=2.0)
    2.0
    >>> [(f.id, w) for f, w in neighbors(Fact.related, b)]
    [('c', 2.0), ('a', 1.0)]
    >>> [(f.id, s) for f, s in propagate(Fact.related, [a], depth=2)]
    [('b', 1.0), ('c', 1.0)]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple, TypeVar, cast

from .. import _index, _lua, _scripts, _store
from .._defaults import Defaults
from .._errors import CorruptRecord, ModelError, NotFound, QueryError
from .._index.cooccurrence_kind import COOCCURRENCE, CoOccurrence, CoOccurrenceRef
from .._scripts import arun, run
from .._spec import ModelSpec

if TYPE_CHECKING:
    from .._model import Model

M = TypeVar("M", bound="Model")

_index.register(COOCCURRENCE)
for _name in ("cooccurrence_link", "cooccurrence_neighbors", "cooccurrence_propagate"):
    _lua.operation(_name)

if TYPE_CHECKING:
    from typing import overload

    class Associations:
        """Weighted edges to other records of the model (``link``, ``neighbors``, ``propagate``)."""

        @overload
        def __get__(self, obj: None, owner: type[M]) -> CoOccurrenceRef[M]: ...
        @overload
        def __get__(self, obj: object, owner: Any) -> None: ...
        def __get__(self, obj: object, owner: Any) -> Any: ...
        def __set__(self, obj: object, value: None) -> None: ...
else:
    Associations = Annotated[None, CoOccurrence()]


def _edges(what: str, ref: object) -> tuple[CoOccurrenceRef[Model], ModelSpec, int]:
    """The reference, its model's spec and the position of its index (1-based, as in Lua)."""
    if not isinstance(ref, CoOccurrenceRef):
        raise ModelError(
            f"{what}(): the first argument must be a CoOccurrence field reference such as "
            f"Fact.related, got {ref!r}"
        )
    target = cast("CoOccurrenceRef[Model]", ref)
    spec = target.model.__typedis_spec__
    index = spec.index_of(COOCCURRENCE.name, target.name)
    assert index is not None  # every CoOccurrence field has its index
    return target, spec, spec.indexes.index(index) + 1


def _located(where: str, ref: CoOccurrenceRef[Model], record: object, name: str) -> tuple[str, str]:
    """The (tag, id) of a record of the reference's model."""
    if not isinstance(record, ref.model):
        raise ModelError(f"{where}: {name} must be a {ref.model.__name__} record, got {record!r}")
    return _store.saved_at(record) or record.__typedis_spec__.locate(vars(record))


def _edge_keys(spec: ModelSpec, position: int, tag: str) -> tuple[str, str]:
    lex = f"{tag}:{spec.index(position).suffix}"
    return lex, lex + ":w"


def _positive_int(where: str, name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ModelError(f"{where}: {name} must be an int >= 1, got {value!r}")
    return value


def _link(ref: object, a: object, b: object, weight: object) -> _scripts.Call[float]:
    weight = Defaults.CO_OCCURRENCE_INITIAL_WEIGHT if weight is None else weight
    target, spec, position = _edges("link", ref)
    where = f"link({target!r})"
    if isinstance(weight, bool) or not isinstance(weight, int | float):
        raise ModelError(f"{where}: weight must be a number, got {weight!r}")
    if not math.isfinite(weight) or weight <= 0:
        raise ModelError(f"{where}: weight must be a finite number > 0, got {weight!r}")
    (tag, aid), (btag, bid) = _located(where, target, a, "a"), _located(where, target, b, "b")
    if tag != btag:
        raise QueryError(f"{where}: a and b are in different partitions; link records of one")
    if aid == bid:
        raise QueryError(f"{where}: a and b are the same record ({aid!r}); an edge joins two")

    def done(reply: list[Any]) -> float:
        if reply[0] == b"missing":
            missing = (a, b)[int(reply[1]) - 1]
            raise NotFound(f"{where}: {missing!r} is not stored (save it first)")
        return float(reply[1])

    function = _lua.library(spec).function("cooccurrence_link")
    keys = (f"{tag}:r:{aid}", f"{tag}:r:{bid}", *_edge_keys(spec, position, tag))
    return _scripts.Call(function, keys, (position, aid, bid, repr(float(weight))), done, True)


def _scored(where: str, reply: list[Any]) -> list[tuple[str, float]]:
    if reply[0] == b"wrongtype":
        raise CorruptRecord(
            f"{where}: an edge key holds another type than a sorted set; delete it to rebuild"
        )
    flat = reply[1:]
    return [(i.decode(), float(s)) for i, s in zip(flat[::2], flat[1::2], strict=True)]


def _neighbors(ref: object, record: object, limit: object) -> _Read:
    target, spec, position = _edges("neighbors", ref)
    where = f"neighbors({target!r})"
    tag, rid = _located(where, target, record, "record")
    count = _positive_int(where, "limit", limit)
    function = _lua.library(spec).function("cooccurrence_neighbors")
    keys = _edge_keys(spec, position, tag)
    return _Read(
        target.model, tag, _scripts.Call(function, keys, (rid, count), _decoder(where), False)
    )


def _propagate(ref: object, seeds: object, depth: object, limit: object) -> _Read:
    target, _, _ = _edges("propagate", ref)
    where = f"propagate({target!r})"
    if not isinstance(seeds, Sequence) or isinstance(seeds, str | bytes):
        raise ModelError(f"{where}: seeds must be a list of records, got {seeds!r}")
    listed = cast(Sequence[object], seeds)
    if not listed:
        raise QueryError(f"{where}: seeds is empty; give at least one record")
    located = [_located(where, target, s, "each seed") for s in listed]
    tags = {tag for tag, _ in located}
    if len(tags) > 1:
        raise QueryError(f"{where}: the seeds are in different partitions; give seeds of one")
    hops = _positive_int(where, "depth", depth)
    count = _positive_int(where, "limit", limit)
    (tag,) = tags
    return propagate_ids(target, tag, [rid for _, rid in located], hops, count)


def propagate_ids(
    ref: CoOccurrenceRef[Model], tag: str, seeds: Sequence[str], depth: int, limit: int
) -> _Read:
    """``propagate`` from the ids ``seeds`` of partition ``tag`` (arguments already checked)."""
    _, spec, position = _edges("propagate", ref)
    function = _lua.library(spec).function("cooccurrence_propagate")
    keys = _edge_keys(spec, position, tag)
    args: list[_scripts.Arg] = [position, depth, limit, *seeds]
    call = _scripts.Call(function, keys, args, _decoder(f"propagate({ref!r})"), False)
    return _Read(ref.model, tag, call)


def _decoder(where: str) -> Callable[[list[Any]], list[tuple[str, float]]]:
    return lambda reply: _scored(where, reply)


class _Read(NamedTuple):
    """A read of scored ids, then of their records."""

    model: type[Model]
    tag: str
    call: _scripts.Call[list[tuple[str, float]]]

    def load(self, scored: list[tuple[str, float]]) -> _scripts.Call[list[tuple[Any, float]]]:
        def done(records: list[Any]) -> list[tuple[Any, float]]:
            # a record that expired or went away since its edge was read is left out
            return [(r, s) for r, (_, s) in zip(records, scored, strict=True) if r is not None]

        load = _store.load_call(self.model, [(self.tag, rid) for rid, _ in scored])
        return _scripts.Call(
            load.code, load.keys, load.args, lambda rows: done(load.decode(rows)), False
        )


def link(ref: CoOccurrenceRef[M], a: M, b: M, *, weight: float | None = None) -> float:
    """Strengthen the edge between two stored records of one partition, both ways, atomically.

    The edge's weight becomes ``old * decay + weight`` (``decay``: the field's, default 0.95;
    a new edge starts at ``weight``; None: ``Defaults.CO_OCCURRENCE_INITIAL_WEIGHT``, 1.0).
    Returns the new weight.

    Raises:
        ModelError: ``ref`` is not a CoOccurrence field, a record is not of its model, or
            ``weight`` is not a finite number > 0.
        QueryError: ``a`` and ``b`` are the same record or in different partitions.
        NotFound: ``a`` or ``b`` is not stored (nothing is written).
    """
    return run(_link(ref, a, b, weight))


def neighbors(ref: CoOccurrenceRef[M], record: M, *, limit: int = 10) -> list[tuple[M, float]]:
    """The records ``record`` is linked to, heaviest edge first, with the edges' weights."""
    read = _neighbors(ref, record, limit)
    return cast(list[tuple[M, float]], run(read.load(run(read.call))))


def propagate(
    ref: CoOccurrenceRef[M], seeds: Sequence[M], *, depth: int = 2, limit: int = 100
) -> list[tuple[M, float]]:
    """Records reached from ``seeds`` within ``depth`` hops, highest score first (seeds left out).

    Breadth-first on the server in one call: a record first reached at hop ``h`` scores the
    sum of the weights of its edges to records first reached at hop ``h - 1`` (the seeds at
    hop 0), times ``hop_decay ** (h - 1)`` (``hop_decay``: the field's, default 0.5).

    Raises:
        QueryError: ``seeds`` is empty or spans partitions.
        ModelError: ``depth`` or ``limit`` is not an int >= 1.
    """
    read = _propagate(ref, seeds, depth, limit)
    return cast(list[tuple[M, float]], run(read.load(run(read.call))))


async def alink(ref: CoOccurrenceRef[M], a: M, b: M, *, weight: float | None = None) -> float:
    """Async ``link``."""
    return await arun(_link(ref, a, b, weight))


async def aneighbors(
    ref: CoOccurrenceRef[M], record: M, *, limit: int = 10
) -> list[tuple[M, float]]:
    """Async ``neighbors``."""
    read = _neighbors(ref, record, limit)
    return cast(list[tuple[M, float]], await arun(read.load(await arun(read.call))))


async def apropagate(
    ref: CoOccurrenceRef[M], seeds: Sequence[M], *, depth: int = 2, limit: int = 100
) -> list[tuple[M, float]]:
    """Async ``propagate``."""
    read = _propagate(ref, seeds, depth, limit)
    return cast(list[tuple[M, float]], await arun(read.load(await arun(read.call))))
