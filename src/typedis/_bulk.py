"""Bulk changes of a model's records, by list or by query: ``bulk_create``, ``bulk_update`` and
``bulk_delete``, one atomic function call per batch.

Each change is a generator of steps (a ``Call``, or partitions to register before a write) that
receives each step's result; ``run`` drives it on the sync client, ``arun`` on the asyncio
one, so both share every line of the logic. The client holds one batch at a time: records
are taken from their iterable ``batch_size`` at a time, and a query's matches are listed on
the server (lua/list_ids.lua, under the query's hash tag) and popped a batch at a time.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from . import _keys, _maintenance, _scripts, _store
from ._errors import ModelError, NotFound, TypedisError
from ._query._query import Query

if TYPE_CHECKING:
    from ._model import Model
    from ._spec import ModelSpec

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Register:
    """A step: add the partitions ``calls`` write to the model's registry, before they run."""

    spec: ModelSpec
    calls: list[_scripts.Call[Any]]


Step = _scripts.Call[Any] | Register | _store.Work[Any]  # Work: a preparer's (before the calls)
Steps = Generator[Step, Any, R]


@dataclass(frozen=True, slots=True)
class _Item:
    """A record of a batch: its position in the call (a query's: among its matches), its id,
    and its instance (None for a query's)."""

    position: int
    rid: str
    obj: Model | None


# What a bulk change does to one batch of records of one tag: steps, then how many it changed.
Act = Callable[[str, list[_Item]], Steps[int]]


def create(model: type[Model], records: Iterable[Model], size: int) -> Steps[int]:
    """``model.bulk_create(records, batch_size=size)``: its steps; returns how many were created."""
    spec = model.__typedis_spec__
    where = f"{spec.name}.bulk_create()"
    _store.check_batch_size(where, size)
    created = 0
    for start, chunk in _chunks(_records(where, records), size):
        typed = [r for r in chunk if isinstance(r, model)]  # save_many_calls refuses the others
        yield from _store.preparation(spec, typed, None)
        calls = _store.save_many_calls(model, chunk, size, operation="create_many", start=start)
        yield Register(spec, calls)
        yield from calls
        created += len(chunk)
    return created


def update(model: type[Model], source: object, size: int, changes: Mapping[str, Any]) -> Steps[int]:
    """``model.bulk_update(source, batch_size=size, **changes)``: its steps; returns how many
    records were updated."""
    spec = model.__typedis_spec__
    _store.check_batch_size(f"{spec.name}.bulk_update()", size)
    prepared = dict(changes)
    yield from _store.change_preparation(spec, prepared)
    encoded = _store.bulk_changes(model, prepared)  # before anything is written

    def act(tag: str, items: list[_Item]) -> Steps[int]:
        ids, positions = [i.rid for i in items], [i.position for i in items]
        call = _store.update_many_call(spec, tag, ids, positions, [i.obj for i in items], encoded)
        yield Register(spec, [call])
        updated: int = yield call
        return updated

    return (yield from _each_batch(model, "bulk_update", source, size, act))


def delete(model: type[Model], source: object, size: int) -> Steps[int]:
    """``model.bulk_delete(source, batch_size=size)``: its steps; returns how many records were
    deleted."""
    spec = model.__typedis_spec__
    _store.check_batch_size(f"{spec.name}.bulk_delete()", size)

    def act(tag: str, items: list[_Item]) -> Steps[int]:
        deleted: int = yield _store.delete_call(spec, [(tag, i.rid) for i in items])
        return deleted

    return _each_batch(model, "bulk_delete", source, size, act)


def _each_batch(model: type[Model], method: str, source: object, size: int, act: Act) -> Steps[int]:
    """Run ``act`` on each batch of the records of ``source`` (a query of ``model``, or its
    records); the sum of what it returns."""
    spec = model.__typedis_spec__
    where = f"{spec.name}.{method}()"
    if isinstance(source, Query):
        query: Query[Any] = cast(Any, source)  # isinstance() leaves its parameter unknown
        return _each_match(spec, where, model, query, size, act)
    return _each_given(spec, where, model, _records(where, source), size, act)


def _each_match(
    spec: ModelSpec, where: str, model: type[Model], query: Query[Any], size: int, act: Act
) -> Steps[int]:
    """``_each_batch`` over the matches of a query, listed on the server, a batch at a time.

    A record listed and then deleted or expired before its batch is skipped by ``act``.
    """
    if query.model is not model:
        raise ModelError(
            f"{where}: takes a query of {spec.name}, got one of {query.model.__name__}"
        )
    plan = query.plan("ids")
    key = _keys.bulk_ids(plan.tag, uuid.uuid4().hex)
    listed: int = yield _store.list_ids_call(spec, plan, key)
    done = total = 0
    try:
        while done < listed:
            ids: list[str] = yield _store.pop_ids_call(key, size)
            if not ids:
                raise NotFound(
                    f"{where}: the list of the query's matches ({key}) is gone after {done} of "
                    f"{listed} (it lives {_store.LISTED_MS // 60_000} minutes, or it was deleted); "
                    f"{total} records were changed. Run it again for the rest"
                )
            total += yield from act(plan.tag, [_Item(done + n, r, None) for n, r in enumerate(ids)])
            done += len(ids)
    except GeneratorExit:  # abandoned by its driver: no step can run now
        raise
    except BaseException:
        yield _store.drop_ids_call(key)
        raise
    return total


def _each_given(
    spec: ModelSpec,
    where: str,
    model: type[Model],
    records: Iterable[Model],
    size: int,
    act: Act,
) -> Steps[int]:
    """``_each_batch`` over given records, read ``size`` at a time and checked before any of
    them is sent; a batch holds the records of one hash tag (partition) among them."""
    total = 0
    for start, chunk in _chunks(records, size):
        by_tag: dict[str, list[_Item]] = {}  # in order
        seen: dict[tuple[str, str], int] = {}
        for position, obj in enumerate(chunk, start):
            try:
                if type(obj) is not model:  # a subclass's records have keys of their own
                    raise ModelError(f"{where}: takes {spec.name} records, got {obj!r}")
                tag, rid = located = _store.saved_at(obj) or spec.locate(vars(obj))
                if located in seen:
                    raise ModelError(
                        f"{where}: the records at positions {seen[located]} and {position} "
                        f"have the same key {rid!r}; give each record once per call"
                    )
            except TypedisError as error:
                _store.at_position(error, position, "nothing of its batch was written", where)
                raise
            seen[located] = position
            by_tag.setdefault(tag, []).append(_Item(position, rid, obj))
        for tag, items in by_tag.items():
            total += yield from act(tag, items)
    return total


def _records(where: str, records: object) -> Iterable[Model]:
    if isinstance(records, Query):
        raise ModelError(f"{where}: takes records, not a query")
    if not isinstance(records, Iterable) or isinstance(records, str | bytes):
        raise ModelError(f"{where}: takes an iterable of records, got {records!r}")
    items: Iterable[Model] = cast(Any, records)  # each is checked as it is read
    return items


def _chunks(records: Iterable[Model], size: int) -> Iterator[tuple[int, list[Model]]]:
    """The records, ``size`` at a time, each list with the position of its first record."""
    it = iter(records)
    start = 0
    while chunk := list(itertools.islice(it, size)):
        yield start, chunk
        start += len(chunk)


def run(steps: Steps[R]) -> R:
    """Drive a bulk change on the sync client."""
    reply: Any = None
    error: TypedisError | None = None
    while True:
        try:
            step = steps.send(reply) if error is None else steps.throw(error)
        except StopIteration as stop:
            result: R = stop.value
            return result
        try:
            reply = None
            if isinstance(step, Register):
                _maintenance.register(step.spec, step.calls)
            elif isinstance(step, _store.Work):
                reply = step.run()
            else:
                reply = _scripts.run(step)
            error = None
        except TypedisError as failed:
            reply, error = None, failed


async def arun(steps: Steps[R]) -> R:
    """Drive a bulk change on the asyncio client."""
    reply: Any = None
    error: TypedisError | None = None
    while True:
        try:
            step = steps.send(reply) if error is None else steps.throw(error)
        except StopIteration as stop:
            result: R = stop.value
            return result
        try:
            reply = None
            if isinstance(step, Register):
                await _maintenance.aregister(step.spec, step.calls)
            elif isinstance(step, _store.Work):
                reply = await step.arun()
            else:
                reply = await _scripts.arun(step)
            error = None
        except TypedisError as failed:
            reply, error = None, failed
