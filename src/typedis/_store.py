"""The write path and record reads: each operation becomes one ``Call`` of one script (a load
by key, of a model whose reads need no script, one plain HMGET: see ``load_one_call``).

Nothing here talks to Redis directly: the functions build calls (keys, arguments, and the
reply decoder) and ``_scripts`` runs them, sync or async. The write scripts read the old
indexed values on the server, so a save never trusts a client-side snapshot.
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import annotated_types
from pydantic import ValidationError
from pydantic_core import PydanticUndefined

from . import _keys, _lua
from ._codec import text
from ._connection import get_connection
from ._errors import (
    CorruptRecord,
    KeyMutationError,
    ModelError,
    NotFound,
    TypedisError,
    UniqueViolation,
)
from ._index import DECAY
from ._markers import EXACT_SCORE, SortedMarker
from ._query._refs import FieldRef
from ._scripts import HMGET, NOT_A_HASH, Arg, Call, Instead, Read, then

if TYPE_CHECKING:
    from ._model import Model
    from ._query._planner import Plan
    from ._spec import IndexSpec, ModelSpec

M = TypeVar("M", bound="Model")
R = TypeVar("R")
W = TypeVar("W")

KEEP: Any = ...  # "use the model's default" for save(ttl=...)

# Where an instance remembers the (tag, id) it was last saved or loaded under: a key of its
# __dict__ that no field can have (pydantic's dumps, copies and equality look at fields only),
# cheaper than a pydantic private attribute on every load.
_SAVED = "~typedis"


def saved_at(obj: Model) -> tuple[str, str] | None:
    """The (tag, id) ``obj`` was last saved or loaded under, if any."""
    located: tuple[str, str] | None = vars(obj).get(_SAVED)
    return located


def _mark_saved(obj: Model, located: tuple[str, str]) -> None:
    vars(obj)[_SAVED] = located


def forget_saved(obj: Model) -> None:
    """Make ``obj`` a record not yet saved (a copy of a saved one)."""
    vars(obj).pop(_SAVED, None)


def _expiry(spec: ModelSpec, ttl: object, expire_at: object) -> str:
    if expire_at is not None:
        if ttl is not KEEP:
            raise ModelError(f"{spec.name}.save(): give ttl= or expire_at=, not both")
        moment = _aware(expire_at, f"{spec.name}.save(): expire_at")
        return f"={int(moment.timestamp() * 1000)}"
    if ttl is KEEP:
        ttl = spec.ttl
        if ttl is None:
            return ""
    if ttl is None:
        return "-"
    if not isinstance(ttl, int | float) or isinstance(ttl, bool) or not 0 < ttl < math.inf:
        raise ModelError(
            f"{spec.name}.save(): ttl must be a positive, finite number of seconds or None, "
            f"got {ttl!r}"
        )
    return f"+{math.ceil(ttl * 1000)}"


def _timestamps(spec: ModelSpec, values: Mapping[str, Any], *, first: bool) -> dict[str, Any]:
    """Values of auto_now fields, and of unset auto_now_add fields on a first save."""
    if not (spec.auto_now or (first and spec.auto_now_add)):
        return {}
    now = datetime.now(UTC)
    stamped = dict.fromkeys(spec.auto_now, now)
    if first:
        stamped.update((n, now) for n in spec.auto_now_add if values[n] is None)
    return stamped


# ---- the pre-write hook: client-side I/O a write needs before its call ------------------------


class Work(ABC, Generic[W]):
    """One piece of client-side I/O that a generator of steps yields and is sent the result
    of: ``run`` on the sync clients, ``arun`` on the asyncio ones (``drive`` / ``adrive``).
    A write's preparers yield it before the write's call is built (vectors from an embedding
    provider, a blob written to a content store); so do the Memory protocol's methods."""

    @abstractmethod
    def run(self) -> W:
        """Do the work, blocking."""

    @abstractmethod
    async def arun(self) -> W:
        """Do the work on the event loop."""


Prepared = Generator[Work[Any], Any, None]
"""A preparer's steps: the work to do, each answered with its result."""


class Preparer(ABC):
    """What one model needs done on the client before a write (``add_preparer``): it fills or
    replaces field values in place, or refuses with a ``ModelError`` (nothing is written)."""

    @abstractmethod
    def records(self, records: Sequence[Model], written: frozenset[str] | None) -> Prepared:
        """Prepare records about to be saved (``written``: the fields the save writes; None:
        all of them)."""

    @abstractmethod
    def changes(self, changes: dict[str, Any]) -> Prepared:
        """Prepare the values of a ``bulk_update(**changes)`` (edited in place)."""


_PREPARERS: list[Callable[[ModelSpec], Preparer | None]] = []
_prepared: dict[ModelSpec, tuple[int, tuple[Preparer, ...]]] = {}


def add_preparer(factory: Callable[[ModelSpec], Preparer | None]) -> None:
    """Register a factory giving a model's preparer (None for a model that needs none), run by
    every save, ``save_many``, ``bulk_create`` and ``bulk_update`` (and their async twins)
    before their calls are built."""
    _PREPARERS.append(factory)


def preparers(spec: ModelSpec) -> tuple[Preparer, ...]:
    """The preparers of a model, worked out once per model (again after ``add_preparer``)."""
    known = _prepared.get(spec)
    if known is None or known[0] != len(_PREPARERS):
        found = tuple(p for factory in _PREPARERS if (p := factory(spec)) is not None)
        known = _prepared[spec] = (len(_PREPARERS), found)
    return known[1]


def preparation(
    spec: ModelSpec, records: Sequence[Model], written: frozenset[str] | None
) -> Prepared:
    """Every preparer's steps for records about to be saved."""
    for preparer in preparers(spec):
        yield from preparer.records(records, written)


def change_preparation(spec: ModelSpec, changes: dict[str, Any]) -> Prepared:
    """Every preparer's steps for the values of a ``bulk_update()``."""
    for preparer in preparers(spec):
        yield from preparer.changes(changes)


def drive(steps: Generator[Work[Any], Any, R]) -> R:
    """Run steps of ``Work`` on the sync clients; their result."""
    result: Any = None
    try:
        while True:
            result = steps.send(result).run()
    except StopIteration as done:
        found: R = done.value
        return found


async def adrive(steps: Generator[Work[Any], Any, R]) -> R:
    """Run steps of ``Work`` on the asyncio clients; their result."""
    result: Any = None
    try:
        while True:
            result = await steps.send(result).arun()
    except StopIteration as done:
        found: R = done.value
        return found


def update_names(
    obj: Model, update_fields: Iterable[str | FieldRef[Any, Any]] | None
) -> list[str] | None:
    """The names of the fields a ``save(update_fields=...)`` writes, read once from what was
    given (a generator too), in order, without repeats; None: all of them.

    Raises:
        ModelError: a string, something not iterable, a field of another model or unknown.
    """
    if update_fields is None:
        return None
    spec = obj.__typedis_spec__
    where = f"{spec.name}.save(update_fields=...)"
    if isinstance(update_fields, str):  # would be read as its characters
        raise ModelError(
            f"{where}: got the string {update_fields!r}; pass a list of fields, "
            f"update_fields=[{update_fields!r}]"
        )
    try:
        given = list(update_fields)
    except TypeError:
        raise ModelError(f"{where}: pass a list of fields, got {update_fields!r}") from None
    listed = list(dict.fromkeys(_field_name(obj, f, where) for f in given))
    unknown = [n for n in listed if n not in spec.fields]
    if unknown:
        raise ModelError(f"{where}: unknown field(s) {unknown}")
    return listed


def _field_name(obj: Model, field: object, where: str) -> str:
    """The name of a field of ``obj`` given as its name or as a reference (``Shop.score``)."""
    if isinstance(field, str):
        return field
    if not isinstance(field, FieldRef):
        raise ModelError(
            f"{where}: a field is its name or a reference (Model.field), got {field!r}"
        )
    ref: FieldRef[Any, Any] = cast(Any, field)  # isinstance() leaves its parameters unknown
    if not isinstance(obj, ref.model):
        raise ModelError(
            f"{where}: {ref!r} is a field of {ref.model.__name__}; name a field of "
            f"{type(obj).__name__}"
        )
    return ref.name


def _saveable(obj: Model, method: str) -> None:
    """Refuse a record that cannot be saved (by ``method``, named in the error): of an abstract
    model, or with unset fields."""
    spec = obj.__typedis_spec__
    if spec.abstract:
        raise ModelError(f"{spec.name} is abstract: only its subclasses can be saved")
    if not _names(spec) <= vars(obj).keys():
        unset = [n for n in spec.fields if n not in vars(obj)]
        raise ModelError(
            f"{spec.name}.{method}: field(s) {unset} are not set (model_construct() leaves "
            f"required fields unset); give them values, or build the record with {spec.name}(...)"
        )


@functools.cache
def _names(spec: ModelSpec) -> frozenset[str]:
    """The model's field names (a frozenset: the cheapest subset test against an instance)."""
    return frozenset(spec.fields)


def _values_args(
    spec: ModelSpec, values: Mapping[str, Any], written: frozenset[str] | None, args: list[Arg]
) -> None:
    """Append a record's field mask, texts and index arguments (lua/save.lua's ARGV[7..]) to
    ``args``: of every field, or of the fields in ``written`` (a partial save)."""
    mask: list[str] = []
    texts: list[Arg] = []
    name = ""
    try:  # one try for the loop: this runs for every record saved
        for name, encode in spec.encoders:
            if written is not None and name not in written:
                mask.append(".")
                continue
            value = values[name]
            if value is None:
                mask.append("n")
                continue
            mask.append("w")
            stored = encode(value)
            texts.append(stored.encode() if stored.__class__ is str else stored)
    except (OverflowError, TypeError, ValueError) as error:  # a lone surrogate: ValueError
        raise ModelError(f"{spec.name}.{name}: cannot store {values[name]!r}: {error}") from error
    args.append("".join(mask))
    args += texts
    if written is None:
        args += [encode(values[n]) for n, encode in spec.arguments]
    else:
        args += [encode(values[n]) for n, encode in spec.arguments if n in written]


def _refusal(
    spec: ModelSpec, reply: list[Any], values: Mapping[str, Any], rid: str, oid: str
) -> TypedisError:
    """The error for a save the script refused (``reply``: its status and details)."""
    status = reply[0]
    if status == b"unique":
        index = spec.index(int(reply[1]))  # the only kind with a constraint so far: unique
        return UniqueViolation(spec.name, ", ".join(index.fields), _shown(values, index.fields))
    if status == b"exists":
        if oid == rid:  # a create (bulk_create) of a record that is stored: its key is taken
            return UniqueViolation(spec.name, ", ".join(spec.keys), _shown(values, spec.keys))
        return KeyMutationError(
            f"{spec.name}: cannot move {oid!r} to {rid!r}: another record has that key"
        )
    if status == b"corrupt":
        return _damaged_on_server(spec, reply[1], reply[2])
    return NotFound(f"{spec.name}({rid!r}) is not stored: save() it fully before a partial save")


def _saved(obj: Model, located: tuple[str, str], stamped: dict[str, Any], hidden: Any) -> None:
    """Bring a record written under ``located`` up to date with what was stored."""
    vars(obj).update(stamped)
    _mark_saved(obj, located)
    spec = obj.__typedis_spec__
    if spec.hidden:
        remember_hidden(obj, spec.hidden, hidden)


def save_call(
    obj: Model,
    *,
    update_fields: Iterable[str | FieldRef[Any, Any]] | None,
    migrate_key: bool,
    ttl: float | None,
    expire_at: datetime | None,
) -> Call[None]:
    """The call that saves ``obj`` (fully, or only ``update_fields``)."""
    spec = obj.__typedis_spec__
    _saveable(obj, "save()")
    saved = saved_at(obj)
    values = vars(obj)
    tag, rid = spec.locate(values)
    otag, oid = saved or (tag, rid)
    moving = (otag, oid) != (tag, rid)
    if moving and not migrate_key:
        raise _moved(spec, oid, rid)
    if otag != tag and (spec.shards or get_connection().cluster):
        raise _across(spec, otag, tag)
    written: frozenset[str] | None = None  # every field
    listed = update_names(obj, update_fields)
    if listed is not None and not moving:  # a moving record is written whole
        written = frozenset(listed).union(spec.auto_now)
    stamped = _timestamps(spec, values, first=saved is None)
    if stamped:
        values = {**values, **stamped}
    expiry = _expiry(spec, ttl, expire_at)
    mode = "full" if written is None else "partial"
    args: list[Arg] = [tag, rid, otag, oid, mode, expiry]
    _values_args(spec, values, written, args)

    def done(reply: list[Any]) -> None:
        if reply[0] != b"ok":
            raise _refusal(spec, reply, values, rid, oid)
        _saved(obj, (tag, rid), stamped, reply[1])

    key = _keys.record(tag, rid)
    keys = (key, _keys.record(otag, oid) if moving else key)
    return Call(_lua.library(spec).function("save"), keys, args, done, write=True)


def _moved(spec: ModelSpec, oid: str, rid: str) -> KeyMutationError:
    return KeyMutationError(
        f"save() changed key field(s) {spec.keys} of {spec.name} from {oid!r} to {rid!r}; "
        "pass migrate_key=True to move the record, or save a model_copy() to keep both"
    )


def _across(spec: ModelSpec, otag: str, tag: str) -> KeyMutationError:
    """A key change that moves a record to another hash tag where one atomic step cannot write
    both: another shard of a sharded model, another partition on a cluster (two slots). On one
    server a partition move is one function call over the two tags."""
    if spec.shards:
        return KeyMutationError(
            f"save() would move a {spec.name} record from shard {otag} to shard {tag}: two hash "
            "tags, which one atomic step cannot write on a cluster (they live in different "
            "slots); save a model_copy() with the new key and delete this record"
        )
    return KeyMutationError(
        f"save(migrate_key=True) would move a {spec.name} record from partition {otag} to "
        f"partition {tag} (field(s) {', '.join(spec.partition)}): on a cluster two partitions "
        "are two hash slots, which one atomic step cannot write, so nothing was written. Save "
        "a model_copy() with the new partition and delete this record (two steps: in between "
        "the record is in both partitions), or, for many records, bulk_create() the copies "
        "then bulk_delete() the old ones"
    )


def save_many_calls(
    model: type[Model],
    records: Sequence[Model],
    size: int,
    *,
    operation: str = "save_many",
    start: int = 0,
) -> list[Call[None]]:
    """The calls that save ``records`` fully, in place: one per batch of up to ``size`` records
    of one hash tag (a batch spans one cluster slot), in order.

    Every record is checked here before any call is built; an error names the record's
    position in ``records`` (``.position``), counted from ``start``. ``operation``:
    ``save_many``, or ``create_many`` (``bulk_create``: a record that is stored is refused
    as a ``UniqueViolation`` of its key).

    Raises:
        ModelError: an item is not a ``model`` instance or cannot be stored, or two records
            have the same key.
        KeyMutationError: a record's key fields changed since it was saved or loaded.
    """
    spec = model.__typedis_spec__
    where = f"{spec.name}.{_METHODS[operation]}()"
    check_batch_size(where, size)
    expiry = _expiry(spec, KEEP, None)
    batches: dict[str, list[_Pending]] = {}  # by tag, in order
    seen: dict[tuple[str, str], int] = {}
    for position, obj in enumerate(records, start):
        try:
            if not isinstance(obj, model):
                raise ModelError(f"{where}: takes {spec.name} records, got {obj!r}")
            _saveable(obj, "save_many()")
            values = vars(obj)
            tag, rid = located = spec.locate(values)
            saved = saved_at(obj)
            if saved is not None and saved != located:
                raise _moved(spec, saved[1], rid)
            if located in seen:
                raise ModelError(
                    f"{where}: the records at positions {seen[located]} and {position} have "
                    f"the same key {rid!r}; save each record once per call"
                )
            seen[located] = position
            stamped = _timestamps(spec, values, first=saved is None)
            if stamped:
                values = {**values, **stamped}
            args: list[Arg] = [tag, rid, expiry]
            _values_args(spec, values, None, args)
        except TypedisError as error:
            at_position(error, position, _UNSENT[operation], where)
            raise
        batches.setdefault(tag, []).append(_Pending(obj, position, tag, rid, values, stamped, args))
    function = _lua.library(spec).function(operation)
    return [
        _batch_call(spec, function, pending[first : first + size], where)
        for pending in batches.values()
        for first in range(0, len(pending), size)
    ]


# The public method of each batch save operation, and what it has written when it finds a
# record it cannot send: save_many() checks them all first, bulk_create() a batch at a time.
_METHODS = {"save_many": "save_many", "create_many": "bulk_create"}
_UNSENT = {"save_many": "nothing was written", "create_many": "nothing of its batch was written"}


def check_batch_size(where: str, size: object) -> None:
    """Refuse a ``batch_size`` that is not a positive int (``where``: the method, for the
    message)."""
    if type(size) is not int or size < 1:  # not a bool either
        raise ModelError(f"{where}: batch_size must be a positive int, got {size!r}")


@dataclass(slots=True)
class _Pending:
    """A record of a save_many() call, checked and encoded."""

    obj: Model
    position: int  # in the call's records
    tag: str
    rid: str
    values: Mapping[str, Any]
    stamped: dict[str, Any]
    args: list[Arg]  # its part of lua/save_many.lua's ARGV


def _batch_call(
    spec: ModelSpec, function: _lua.Function, batch: list[_Pending], where: str
) -> Call[None]:
    """The call that saves one batch (lua/save_many.lua, or create_many.lua)."""
    keys = [_keys.record(p.tag, p.rid) for p in batch]
    args = [a for p in batch for a in p.args]

    def done(reply: list[Any]) -> None:
        if reply[0] == b"ok":
            for p, hidden in zip(batch, reply[1], strict=True):
                _saved(p.obj, (p.tag, p.rid), p.stamped, hidden)
            return
        p = batch[int(reply[1]) - 1]
        error = _refusal(spec, reply[2], p.values, p.rid, p.rid)
        raise at_position(error, p.position, "nothing of its batch was written", where)

    return Call(function, keys, args, done, write=True)


E = TypeVar("E", bound=TypedisError)


def at_position(error: E, position: int, outcome: str, where: str) -> E:
    """``error``, about the record at ``position`` of a batch call of ``where`` (``Shop.
    save_many()``...: ``.position``); ``outcome`` says what was written."""
    error.position = position
    first = error.args[0] if error.args else ""
    method = where.rpartition(".")[2]
    error.args = (f"{first} [{method}: the record at position {position}; {outcome}]",)
    return error


def _shown(values: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    return values[names[0]] if len(names) == 1 else tuple(values[n] for n in names)


def delete_call(spec: ModelSpec, records: Sequence[tuple[str, str]]) -> Call[int]:
    """The call that deletes records (by tag and id) with their index entries.

    Damaged records go too: an unreadable value, or a hash removed outside typedis (the entries
    its id locates are removed; see lua/delete.lua).
    """
    keys = [_keys.record(tag, rid) for tag, rid in records]
    args: list[Arg] = [*(t for t, _ in records), *(r for _, r in records), *spec.keys]
    return Call(_lua.library(spec).function("delete"), keys, args, int, write=True)


@dataclass(frozen=True, slots=True)
class Changes:
    """The field values of a ``bulk_update()`` call: validated and encoded once, for every
    batch."""

    values: Mapping[str, Any]  # by field: the changes, validated, and the auto_now stamps
    args: list[Arg]  # lua/update_many.lua's ARGV[2..]: expiry, mask, texts, index arguments


def bulk_changes(model: type[Model], changes: Mapping[str, Any]) -> Changes:
    """The changes of ``model.bulk_update(..., **changes)``, each validated as its field's
    type and constraints declare it (pydantic), then encoded as a partial save sends them.

    Raises:
        ModelError: no change, an unknown, key or frozen field, or a value that cannot be
            stored.
        ValidationError: a value its field does not take (the error names the field).
    """
    spec = model.__typedis_spec__
    where = f"{spec.name}.bulk_update()"
    if spec.abstract:
        raise ModelError(f"{spec.name} is abstract: only its subclasses' records can be updated")
    if not changes:
        raise ModelError(f"{where}: name the fields to change: bulk_update(query, field=value)")
    unknown = [n for n in changes if n not in spec.fields]
    if unknown:
        raise ModelError(f"{where}: unknown field(s) {unknown}")
    keys = [n for n in changes if n in spec.keys]
    if keys:
        raise ModelError(
            f"{where}: {keys} are key fields, which locate a record and cannot change in place; "
            "move a record by saving it with migrate_key=True"
        )
    frozen = [n for n in changes if model.model_fields[n].frozen]
    if frozen:
        raise ModelError(f"{where}: field(s) {frozen} are frozen")
    values = {name: spec.validate(name, value) for name, value in changes.items()}
    values.update(_timestamps(spec, values, first=False))  # auto_now: one time for the call
    args: list[Arg] = [_expiry(spec, KEEP, None)]  # as a partial save(): the model's ttl
    _values_args(spec, values, frozenset(values), args)
    return Changes(values, args)


class _Stored:
    """Stands, in a message, for a value of a field the refused write did not change."""

    def __repr__(self) -> str:
        return "<stored>"


def update_many_call(
    spec: ModelSpec,
    tag: str,
    ids: Sequence[str],
    positions: Sequence[int],
    records: Sequence[Model | None],
    changes: Changes,
) -> Call[int]:
    """The call that writes ``changes`` to the records ``ids`` of one tag (lua/update_many.lua);
    its result: how many were live, and updated. ``positions``: their positions in the
    ``bulk_update()`` call, for an error; ``records``: the instances given for them (None for
    those of a query), brought up to date when updated.
    """
    keys = [_keys.record(tag, rid) for rid in ids]
    args: list[Arg] = [tag, *changes.args, *ids]
    where = f"{spec.name}.bulk_update()"

    def done(reply: list[Any]) -> int:
        if reply[0] == b"ok":
            for k, hidden in zip(reply[1], reply[2], strict=True):
                obj = records[int(k) - 1]
                if obj is not None:
                    _saved(obj, (tag, ids[int(k) - 1]), dict(changes.values), hidden)
            return len(reply[1])
        k = int(reply[1]) - 1
        shown = {**dict.fromkeys(spec.fields, _Stored()), **changes.values}
        error = _refusal(spec, reply[2], shown, ids[k], ids[k])
        raise at_position(error, positions[k], "nothing of its batch was written", where)

    return Call(_lua.library(spec).function("update_many"), keys, args, done, write=True)


LISTED_MS = 3_600_000  # how long the ids of a bulk change by query stay listed on the server


def list_ids_call(spec: ModelSpec, plan: Plan, key: str) -> Call[int]:
    """The call that lists the ids of a query's matches (``plan``, mode "ids") in list ``key``
    (``_keys.bulk_ids``) for a bulk change (lua/list_ids.lua); its result: how many."""
    keys = (_keys.all_ids(plan.tag), key)
    function = _lua.library(spec).function("list_ids")
    return Call(function, keys, (plan.program(), LISTED_MS), int, write=True)


_LPOP = Read("LPOP")  # a plain command of one key, as Read sends one: here a write
_DEL = Read("DEL")


def pop_ids_call(key: str, count: int) -> Call[list[str]]:
    """The call that takes the next ``count`` ids listed by ``list_ids_call`` ([] when none
    is left: the list is gone)."""

    def done(reply: list[bytes] | None) -> list[str]:
        return [rid.decode() for rid in reply or ()]

    return Call(_LPOP, (key,), (count,), done, write=True)


def drop_ids_call(key: str) -> Call[int]:
    """The call that deletes what remains of the ids listed by ``list_ids_call``."""
    return Call(_DEL, (key,), (), int, write=True)


def increment_call(obj: Model, field_ref: str | FieldRef[Any, Any], delta: object) -> Call[Any]:
    """The call that adds ``delta`` to a numeric field (by name or reference) of a stored record.

    The sum is Python's (exact for an int field, IEEE double addition for a float field), and
    the text stored, indexed and checked against the field's constraints is the one the codec
    writes for it; a result that fails a check is refused and nothing is written.
    """
    spec = obj.__typedis_spec__
    where = f"{spec.name}.atomic_increment()"
    name = _field_name(obj, field_ref, where)
    field = spec.fields.get(name)
    if field is None:
        raise ModelError(f"{where}: no field {name!r}")
    number: type[int] | type[float] | None = {int: int, float: float}.get(field.annotation)
    if number is None:
        raise ModelError(f"{spec.name}.{name}: atomic_increment() needs an int or float field")
    if isinstance(delta, bool) or not isinstance(delta, int | float) or not _finite(delta):
        raise ModelError(f"{where}: delta must be a finite number within ±1.8e308, got {delta!r}")
    if number is int and not isinstance(delta, int):
        raise ModelError(f"{spec.name}.{name} is an int field: delta must be an int, got {delta!r}")
    info = type(obj).model_fields[name]
    low, high, step = _constraints(number, info.metadata)
    if number is int and isinstance(field.marker, SortedMarker):  # ranked by a double score
        low, high = _within_exact_scores(low, high)
    if step is not None and number is float:
        raise ModelError(
            f"{spec.name}.{name}: a float field with multiple_of cannot be incremented on the "
            "server (pydantic checks it with a tolerance of its own); assign it and save() instead"
        )
    if step and delta % step:  # the stored value is a multiple: the sum is one if delta is
        raise ModelError(
            f"{spec.name}.{name} holds multiples of {step}: delta {delta!r} is not one; "
            "nothing was written"
        )
    saved = saved_at(obj)
    if saved is None:
        raise NotFound(f"{spec.name}: atomic_increment() needs a saved record")
    tag, rid = saved
    plain_default = info.default_factory is None and info.default is not PydanticUndefined
    start = text(field.codec, info.default) if name in spec.required and plain_default else ""
    args: list[Arg] = [tag, rid, name, repr(number(delta)), number.__name__, low, high, start]

    def refused(what: str) -> ModelError:
        return ModelError(f"{spec.name}.{name}: adding {delta!r} {what}; nothing was written")

    def done(reply: list[Any]) -> Any:
        status = reply[0]
        if status == b"ok":
            value = number(reply[1])  # int() or float() of the stored text, as load() reads it
            vars(obj)[name] = value
            if spec.hidden:
                remember_hidden(obj, spec.hidden, reply[2])
            return value
        if status == b"missing":
            raise NotFound(f"{spec.name}({rid!r}) is not stored (deleted or expired)")
        if status == b"none":
            raise ModelError(f"{spec.name}.{name} holds None: there is nothing to add {delta!r} to")
        if status == b"stored":
            raise CorruptRecord(
                f"{spec.name}({rid!r}).{name} stores {reply[1].decode(errors='replace')!r}, "
                f"which is not a number of type {number.__name__}; nothing was written"
            )
        if status == b"range":
            raise refused("gives a result that is not a number within ±1.8e308")
        result = number(reply[-1])
        if status == b"unique":
            index = spec.index(int(reply[1]))
            values = {n: result if n == name else getattr(obj, n) for n in index.fields}
            raise UniqueViolation(spec.name, ", ".join(index.fields), _shown(values, index.fields))
        raise refused(
            f"gives {result!r}: that would break the field's bounds {_shown_bounds(low, high)}"
        )

    incr = _lua.library(spec).function("incr")
    return Call(incr, (_keys.record(tag, rid),), args, done, write=True)


def _finite(number: float) -> bool:
    """Whether a number is finite as a double (an int too large for one is not)."""
    try:
        return math.isfinite(number)
    except OverflowError:
        return False


def _constraints(number: type[float], metadata: Sequence[Any]) -> tuple[str, str, float | None]:
    """A numeric field's bounds as incr.lua reads them, and its ``multiple_of``.

    Each bound is "" (none), "<n>" (inclusive) or "(<n>" (exclusive), its number in the
    field's type as pydantic compares them (an int field's bounds are integers).
    """
    low = high = ""
    step = None
    for item in metadata:
        if isinstance(item, annotated_types.Ge):
            low = repr(number(cast(Any, item.ge)))
        elif isinstance(item, annotated_types.Gt):
            low = f"({number(cast(Any, item.gt))!r}"
        elif isinstance(item, annotated_types.Le):
            high = repr(number(cast(Any, item.le)))
        elif isinstance(item, annotated_types.Lt):
            high = f"({number(cast(Any, item.lt))!r}"
        elif isinstance(item, annotated_types.MultipleOf):
            step = number(cast(Any, item.multiple_of))
    return low, high, step


def _within_exact_scores(low: str, high: str) -> tuple[str, str]:
    """An int field's bounds (as ``_constraints`` gives them) narrowed to ±``EXACT_SCORE``."""

    def inclusive(bound: str, inward: int) -> int:
        return int(bound[1:]) + inward if bound.startswith("(") else int(bound)

    lowest = max(-EXACT_SCORE, inclusive(low, 1)) if low else -EXACT_SCORE
    highest = min(EXACT_SCORE, inclusive(high, -1)) if high else EXACT_SCORE
    return repr(lowest), repr(highest)


def _shown_bounds(low: str, high: str) -> str:
    """Bounds as incr.lua reads them, for a message: "(> 0, <= 5)"."""
    parts: list[str] = []
    for bound, inclusive, exclusive in ((low, ">=", ">"), (high, "<=", "<")):
        if bound:
            sign = exclusive if bound.startswith("(") else inclusive
            parts.append(f"{sign} {bound.removeprefix('(')}")
    return f"({', '.join(parts)})"


def _touchable(spec: ModelSpec, name: str, method: str) -> tuple[int, IndexSpec]:
    """The 1-based position and spec of field ``name``'s index that ``touch()`` refreshes."""
    for position, index in enumerate(spec.indexes, 1):
        if index.fields == (name,) and index.kind.touchable:
            return position, index
    raise ModelError(f"{spec.name}.{method}(): {name!r} is not a Decaying field")


def _decay_index(spec: ModelSpec, name: str, method: str) -> IndexSpec:
    _, index = _touchable(spec, name, method)
    if index.kind is not DECAY:
        raise ModelError(f"{spec.name}.{method}(): {name!r} is not a Decaying field")
    return index


def touch_call(obj: Model, field: FieldRef[Any, Any], at: datetime | None) -> Call[datetime]:
    """The call that restarts the decay of a Decaying field of a stored record."""
    spec = obj.__typedis_spec__
    name = _field_name(obj, field, f"{spec.name}.touch()")
    position, index = _touchable(spec, name, "touch")
    saved = saved_at(obj)
    if saved is None:
        raise NotFound(f"{spec.name}: touch() needs a saved record")
    tag, rid = saved
    stamp = index.kind.hidden(index)[0]

    def done(reply: list[Any]) -> datetime:
        if reply[0] == b"corrupt":
            raise _damaged_on_server(spec, reply[1], reply[2])
        if reply[0] == b"missing":
            raise NotFound(f"{spec.name}({rid!r}) is not stored (deleted or expired)")
        if reply[0] == b"none":
            raise ModelError(f"{spec.name}.{name} holds None: there is nothing to touch")
        vars(obj)[stamp] = str(reply[1])
        return datetime.fromtimestamp(int(reply[1]) / 1000, UTC)

    when = "" if at is None else round(_aware(at, f"{spec.name}.touch(): at").timestamp() * 1000)
    touch = _lua.library(spec).function("touch")
    return Call(touch, (_keys.record(tag, rid),), (tag, rid, position, when), done, write=True)


def _aware(moment: object, what: str) -> datetime:
    """A datetime with a zone (naive ones are taken as UTC); ``what`` names the argument."""
    if not isinstance(moment, datetime):
        raise ModelError(f"{what} must be a datetime, got {moment!r}")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def decayed_value(obj: Model, field: FieldRef[Any, Any], at: datetime | None) -> float:
    """A Decaying field of ``obj`` as decayed at ``at`` (default: now, by this clock)."""
    spec = obj.__typedis_spec__
    name = _field_name(obj, field, f"{spec.name}.decayed()")
    index = _decay_index(spec, name, "decayed")
    base = vars(obj)[name]
    stamp = hidden_value(obj, index.kind.hidden(index)[0])
    if base is None:
        raise ModelError(f"{spec.name}.{name} holds None: it has no decayed value")
    if stamp is None:
        raise ModelError(
            f"{spec.name}.{name}: the touch time is known once the record is saved, loaded or "
            "touched"
        )
    when = datetime.now(UTC) if at is None else _aware(at, f"{spec.name}.decayed(): at")
    return DECAY.value(index, float(base), int(stamp), when.timestamp() * 1000)


def load_call(model: type[M], records: Sequence[tuple[str, str]]) -> Call[list[M | None]]:
    """The call that reads records (by tag and id); expired or missing ones come back None."""
    spec = model.__typedis_spec__
    keys = [_keys.record(tag, rid) for tag, rid in records]

    def done(rows: list[list[bytes | None] | bytes | None]) -> list[M | None]:
        read = reader(model)
        return [
            None if row is None else read(row, located)
            for row, located in zip(rows, records, strict=True)
        ]

    return Call(_lua.library(spec).function("load"), keys, (), done, write=False)


def load_one_call(model: type[M], located: tuple[str, str]) -> Call[M | None]:
    """The call that reads one record (by tag and id); None if it is missing or expired.

    A record of a model whose reads need no script (``_plain_read``) is one HMGET of its
    expiry and values; only if it holds an expiry does the load script read it again, as the
    script alone knows the server's clock.
    """
    fields = _plain_read(model.__typedis_spec__)
    if fields is None:
        return then(load_call(model, [located]), _first)

    def done(reply: list[bytes | None]) -> M | None:
        if reply[0] is not None:  # an expiry: live or not by the server's clock
            raise Instead(then(load_call(model, [located]), _first))
        row = reply[1:]
        if row.count(None) == len(row):
            return None
        return hydrate(model, row, located)

    return Call(HMGET, (_keys.record(*located),), fields, done, write=False)


def _first(found: list[M | None]) -> M | None:
    return found[0]


@functools.cache
def _plain_read(spec: ModelSpec) -> tuple[str, ...] | None:
    """The hash fields a plain read of a record asks for (its expiry, then ``spec.read``), or
    None when the model's reads need the load script: it has a ttl (its records hold an expiry)
    or a kind whose Lua runs on every read."""
    if spec.ttl is not None or any(ix.kind.on_read for ix in spec.indexes):
        return None
    return (_keys.EXPIRES, *spec.read)


def hydrate(model: type[M], row: list[bytes | None] | bytes, located: tuple[str, str]) -> M:
    """Build an instance from stored values (``spec.read`` order), validated by pydantic.

    A damaged record (a value typedis did not write, or one the model no longer accepts; a
    bytes ``row``: what ``lua/load.lua`` found damaged) raises ``CorruptRecord``.
    """
    return reader(model)(row, located)


def reader(model: type[M]) -> Callable[[list[bytes | None] | bytes, tuple[str, str]], M]:
    """``hydrate`` of one model, its lookups done once (per model and pydantic validator)."""
    read: Callable[[list[bytes | None] | bytes, tuple[str, str]], M]
    read = _reader(model.__typedis_spec__, model.__pydantic_validator__)  # model_rebuild(): new
    return read


@functools.cache
def _reader(
    spec: ModelSpec, validator: Any
) -> Callable[[list[bytes | None] | bytes, tuple[str, str]], Any]:
    stored, hidden, decoders, required = spec.stored, spec.hidden, spec.decoders, spec.required
    count = len(stored)
    validate = validator.validate_python  # what model_validate() calls

    def read(row: list[bytes | None] | bytes, located: tuple[str, str]) -> Any:
        if isinstance(row, bytes):
            raise _damaged_on_server(spec, _keys.record(*located), row)
        hidden_values: list[bytes | None] = []
        if hidden:  # the kinds' hidden values follow the fields
            hidden_values, row = row[count:], row[:count]
        data: dict[str, Any] = dict(zip(stored, row, strict=True))
        for name, decode in decoders:
            raw = data[name]
            if raw is not None:
                try:
                    data[name] = decode(raw)
                except (CorruptRecord, ValueError) as error:  # garbage msgpack, Decimal, UTF-8
                    raise _damaged(spec, located, name, f"cannot be decoded ({error})") from error
        if None in row:
            for name in required:
                if data[name] is None:
                    del data[name]  # written before the field existed: let its default apply
        try:
            obj = validate(data)
        except ValidationError as error:
            first = error.errors()[0]
            bad = str(first["loc"][0]) if first["loc"] else None
            raise _damaged(spec, located, bad, f"does not validate ({first['msg']})") from error
        _mark_saved(obj, located)
        if hidden_values:
            remember_hidden(obj, hidden, hidden_values)
        return obj

    return read


def remember_hidden(obj: Model, names: Sequence[str], values: Sequence[bytes | None]) -> None:
    """Keep the kinds' hidden values read with a record (its decay clocks...) on the instance.

    They live in its ``__dict__`` under their ``~`` names, which no field can have.
    """
    state = vars(obj)
    for name, value in zip(names, values, strict=True):
        if value is None:
            state.pop(name, None)
        else:
            state[name] = value.decode()


def hidden_value(obj: Model, name: str) -> str | None:
    """A hidden value last read or written with ``obj``, if known."""
    value: str | None = vars(obj).get(name)
    return value


def sweep_call(spec: ModelSpec, tag: str, limit: int) -> Call[int]:
    """The call that removes up to ``limit`` expired records of one tag."""
    sweep = _lua.library(spec).function("sweep")
    return Call(sweep, (_keys.expiry(tag),), (tag, limit, *spec.keys), int, write=True)


def not_found(spec: ModelSpec, rid: str) -> NotFound:
    return NotFound(f"no {spec.name} stored under key {rid!r}")


def _damaged(
    spec: ModelSpec, located: tuple[str, str], field: str | None, problem: str
) -> CorruptRecord:
    """The error for a stored record typedis cannot read, at (tag, id)."""
    return CorruptRecord(problem, model=spec.name, key=_keys.record(*located), field=field)


# What the scripts report as damaged, by the hidden field they name ("": the key's type).
_SERVER_DAMAGE = {
    _keys.EXPIRES: "holds an expiry that is not a number (epoch ms)",
    "": NOT_A_HASH,
}


def _damaged_on_server(spec: ModelSpec, key: bytes | str, field: bytes) -> CorruptRecord:
    """The error for what a script reported damaged: the record at ``key``, hash field ``field``."""
    name = field.decode()
    where = key if isinstance(key, str) else key.decode("utf-8", "replace")
    return CorruptRecord(_SERVER_DAMAGE[name], model=spec.name, key=where, field=name or None)
