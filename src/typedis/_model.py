"""``Model``: a pydantic model whose instances persist to Redis with their indexes.

Class keywords (``class Memory(Model, ttl=3600, partition="agent_id")``) are read with the
markers into ``__typedis_spec__`` when the class is created. On the class, each indexed field
reads as a field reference (``Restaurant.rating``); on an instance, as its value.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeAlias, TypeVar, Unpack, overload

from pydantic import BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo
from typing_extensions import dataclass_transform

from . import _bulk, _keys, _maintenance, _registry, _scripts, _store
from ._errors import ModelError
from ._index import ChangeStream
from ._maintenance import IndexReport, Progress
from ._markers import AutoKey, Marker, field
from ._query._query import Query, QueryAccess
from ._query._refs import DecayRef, FieldRef
from ._schema import Index, build, references
from ._spec import ModelSpec

if TYPE_CHECKING:
    # The checkers need pydantic's metaclass by name (a model's metaclass must derive from it);
    # at run time it is type(BaseModel), so no private pydantic module is imported.
    from pydantic._internal._model_construction import ModelMetaclass as _PydanticMeta
else:
    _PydanticMeta = type(BaseModel)

_OPTIONS = ("ttl", "partition", "indexes", "abstract", "order_by", "name", "changes", "shards")

if TYPE_CHECKING:
    _M = TypeVar("_M", bound="Model")
    _N = TypeVar("_N")
    _Numeric: TypeAlias = FieldRef[_M, _N] | FieldRef[_M, _N | None]
    """A reference to a field of ``_N`` or ``_N | None``, of model ``_M``."""


@dataclass_transform(kw_only_default=True, field_specifiers=(field, Field))
class ModelMeta(_PydanticMeta):
    """Serves field references on the class; refuses to instantiate an abstract model."""

    if TYPE_CHECKING:
        # pyright checks class keywords against the metaclass's __new__ (mypy checks none on a
        # class with a custom metaclass). At run time Model.__init_subclass__ takes them.
        def __new__(
            mcs,
            cls_name: str,
            bases: tuple[type[Any], ...],
            namespace: dict[str, Any],
            *,
            ttl: float | None = None,
            partition: str | Sequence[str] | None = None,
            indexes: Sequence[Index] = (),
            abstract: bool = False,
            order_by: str | None = None,
            name: str | None = None,
            changes: bool | ChangeStream = False,
            shards: int | None = None,
            **config: Unpack[ConfigDict],
        ) -> ModelMeta: ...

        # Declared so that pyright does not take this metaclass for a dataclass (it derives
        # from pydantic's dataclass_transform metaclass) and replace the __new__ above.
        def __init__(cls, *args: Any, **kwargs: Any) -> None: ...

    else:  # the checkers see the references through the marker descriptors; a visible
        # __getattr__ would make every misspelt class attribute Any, a typed __call__ would
        # hide the constructor

        def __getattr__(cls, name: str) -> Any:
            refs = cls.__dict__.get("__typedis_refs__")
            if refs is not None and name in refs:
                # Building a subclass, pydantic looks its field names up on the bases to warn
                # about fields that shadow a parent's attribute: a reference is not one.
                caller = sys._getframe(1).f_globals.get("__name__", "")
                if caller.partition(".")[0] != "pydantic":
                    return refs[name]
            return super().__getattr__(name)

        def __call__(cls, *args: Any, **kwargs: Any) -> Any:
            spec: ModelSpec | None = cls.__dict__.get("__typedis_spec__")
            if spec is not None and spec.abstract:
                raise ModelError(f"{spec.name} is abstract: instantiate one of its subclasses")
            return super().__call__(*args, **kwargs)


def _has_key(model: type[BaseModel]) -> bool:
    return any(
        isinstance(m, Marker) and m.kind == "key"
        for info in model.model_fields.values()
        for m in info.metadata
    )


def _add_auto_key(model: type[BaseModel]) -> None:
    """Give a model that declares no key an ``id: AutoKey`` field (a uuid4 hex)."""
    if "id" in model.model_fields:
        raise ModelError(
            f"{model.__name__}: no Key field, and 'id' is taken; mark a field Key[...] or AutoKey"
        )
    annotation: Any = AutoKey  # carries its default: a new_id() per record
    model.__pydantic_fields__["id"] = FieldInfo.from_annotation(annotation)
    model.__annotations__["id"] = annotation
    model.model_rebuild(force=True)


class Model(BaseModel, metaclass=ModelMeta):
    """Base class of persisted models.

    Examples:
        >>> class Restaurant(Model):
        ...     name: Key[str]
        ...     cuisine: Indexed[str]
        ...     rating: Sorted[float] = field(default=0.0)
        >>> Restaurant(name="Taco Town", cuisine="Mexican", rating=4.2).save()
        Restaurant(name='Taco Town', cuisine='Mexican', rating=4.2)
    """

    model_config = ConfigDict(validate_assignment=True)

    __typedis_spec__: ClassVar[ModelSpec]
    __typedis_refs__: ClassVar[dict[str, FieldRef[Any, Any]]]
    __typedis_options__: ClassVar[dict[str, Any]]

    query: ClassVar[QueryAccess] = QueryAccess()
    """The model's queries: ``Restaurant.query.filter(Restaurant.cuisine == "Thai").all()``."""

    def __init_subclass__(
        cls,
        *,
        ttl: float | None = None,
        partition: str | Sequence[str] | None = None,
        indexes: Sequence[Index] = (),
        abstract: bool = False,
        order_by: str | None = None,
        name: str | None = None,
        changes: bool | ChangeStream = False,
        shards: int | None = None,
        **kwargs: Any,
    ) -> None:
        """Take typedis's class keywords; pydantic has taken its config keys already.

        Args:
            ttl: default time to live of every saved record, in seconds (> 0).
            partition: a Key field name (or several) whose values partition the records.
            indexes: composite indexes: ``[Index("city", "cuisine", unique=True)]``.
            abstract: a base class that is not stored; its subclasses inherit its fields.
            order_by: default query order: a Sorted, Decaying or Confidence field name,
                ``"-rating"`` for descending.
            name: the name its keys and the registry (``typedis.models()``) carry, instead of
                the class name: for two models of one name in a process.
            changes: keep a change log: every write appends its event to a Redis Stream in
                the same atomic step (``typedis.ChangeLog`` reads it); a ``ChangeStream``
                sets its length policy.
            shards: spread the records over this many hash tags by a stable hash (CRC-32) of
                their key, for a model with no natural partition; queries run over every
                shard and merge (docs/partitions.md). A unique index must cover every key
                field; a key change cannot move a record to another shard.

        A keyword left out is inherited from the parent model (``abstract`` and ``name`` are
        not).

        Raises:
            TypeError: an unknown keyword (``class Shop(Model, tll=60)``).
            ModelError: (when the class is built) another model has its name.
        """
        if kwargs and not any("__init_subclass__" in vars(b) for b in _after_model(cls)):
            raise TypeError(
                f"{cls.__name__}: unknown class keyword(s) {', '.join(map(repr, sorted(kwargs)))}; "
                f"typedis takes {', '.join(_OPTIONS)}, pydantic the keys of ConfigDict"
            )
        super().__init_subclass__(**kwargs)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """Build ``__typedis_spec__`` once pydantic has built the class (its fields known)."""
        super().__pydantic_init_subclass__(**kwargs)
        if not cls.__pydantic_complete__:
            raise ModelError(
                f"{cls.__name__}: cannot resolve every field's type when the class is created; "
                "typedis reads its index markers then (define the types the annotations name "
                "first)"
            )
        inherited: dict[str, Any] = dict(getattr(cls, "__typedis_options__", {}))
        inherited.pop("abstract", None)
        options = {**inherited, **{k: kwargs[k] for k in _OPTIONS if k in kwargs}}
        name = options.pop("name", None)  # not inherited: a subclass of a model is another model
        cls.__typedis_options__ = options
        if name is None:
            name = cls.__name__
        elif not isinstance(name, str) or not name:
            raise ModelError(f"{cls.__name__}: name= takes a non-empty str, got {name!r}")
        if not options.get("abstract") and not _has_key(cls):
            _add_auto_key(cls)
        cls.__typedis_spec__ = build(name, cls.model_fields, **options)
        cls.__typedis_refs__ = references(cls)
        _registry.register(cls)

    # ---- identity -------------------------------------------------------------------------

    @property
    def redis_key(self) -> str:
        """The Redis key of this record's hash (from its current key values)."""
        return _keys.record(*self.__typedis_spec__.locate(vars(self)))

    # ---- writes ---------------------------------------------------------------------------

    def save(
        self,
        *,
        update_fields: Iterable[str | FieldRef[Self, Any]] | None = None,
        migrate_key: bool = False,
        ttl: float | None = _store.KEEP,
        expire_at: datetime | None = None,
    ) -> Self:
        """Write this record and its index entries in one atomic step.

        Args:
            update_fields: write only these fields (and their indexes), given as references
                (``[Shop.score]``) or names (``["note"]``); the record must exist.
            migrate_key: allow a changed key field to move the record and its index entries.
            ttl: seconds to live from now; None removes any expiry. Default: the model's ttl,
                else the record keeps its current expiry.
            expire_at: absolute expiry instead of ``ttl``.

        Returns:
            self, for chaining.

        Raises:
            UniqueViolation: a unique value belongs to another record (nothing written).
            KeyMutationError: a key field changed and ``migrate_key`` is false, or the move
                crosses hash tags (another shard; another partition on a cluster).
            NotFound: a partial save of a record that is not stored.
            ModelError: a bad argument, or a value that cannot be stored (nothing written).
            CorruptRecord: the stored record's expiry is not one typedis wrote (nothing written).
            OutcomeUnknown: the reply was lost; the write happened once or not at all.
        """
        spec, names = self.__typedis_spec__, _store.update_names(self, update_fields)
        _store.drive(_store.preparation(spec, [self], _written(names)))
        call = _store.save_call(
            self, update_fields=names, migrate_key=migrate_key, ttl=ttl, expire_at=expire_at
        )
        _maintenance.register(spec, [call])
        _scripts.run(call)
        return self

    async def asave(
        self,
        *,
        update_fields: Iterable[str | FieldRef[Self, Any]] | None = None,
        migrate_key: bool = False,
        ttl: float | None = _store.KEEP,
        expire_at: datetime | None = None,
    ) -> Self:
        """``save()`` on the asyncio client."""
        spec, names = self.__typedis_spec__, _store.update_names(self, update_fields)
        await _store.adrive(_store.preparation(spec, [self], _written(names)))
        call = _store.save_call(
            self, update_fields=names, migrate_key=migrate_key, ttl=ttl, expire_at=expire_at
        )
        await _maintenance.aregister(spec, [call])
        await _scripts.arun(call)
        return self

    @classmethod
    def create(cls, **data: Any) -> Self:
        """Validate, save and return a new record: ``Restaurant.create(name="Taco Town", ...)``."""
        return cls(**data).save()

    @classmethod
    async def acreate(cls, **data: Any) -> Self:
        """``create()`` on the asyncio client."""
        return await cls(**data).asave()

    @classmethod
    def save_many(cls, records: Sequence[Self], *, batch_size: int = 1000) -> None:
        """Save records fully, one atomic call per batch of up to ``batch_size`` records.

        Every record is checked before anything is sent. The batches of a partitioned model
        hold the records of one partition each. A batch is atomic: a record it refuses leaves
        the whole batch unwritten, and the error's ``.position`` (and message) gives that
        record's position in ``records``; the batches before it stay written, those after it
        are not sent. A record moves to no new key (save it with ``migrate_key=True``).

        Raises:
            ModelError: an item is not a ``cls`` instance, a value cannot be stored, or two
                records have the same key (nothing is written).
            KeyMutationError: a record's key fields changed (nothing is written).
            UniqueViolation: a unique value belongs to another record, stored or earlier in
                its batch (nothing of its batch is written).
            CorruptRecord: a stored record is damaged (nothing of its batch is written).
            OutcomeUnknown: a batch's reply was lost; it was written once or not at all.
        """
        _store.drive(_store.preparation(cls.__typedis_spec__, _typed(cls, records), None))
        calls = _store.save_many_calls(cls, records, batch_size)
        _maintenance.register(cls.__typedis_spec__, calls)
        for call in calls:
            _scripts.run(call)

    @classmethod
    async def asave_many(cls, records: Sequence[Self], *, batch_size: int = 1000) -> None:
        """``save_many()`` on the asyncio client."""
        await _store.adrive(_store.preparation(cls.__typedis_spec__, _typed(cls, records), None))
        calls = _store.save_many_calls(cls, records, batch_size)
        await _maintenance.aregister(cls.__typedis_spec__, calls)
        for call in calls:
            await _scripts.arun(call)

    @classmethod
    def bulk_create(cls, records: Iterable[Self], *, batch_size: int = 1000) -> int:
        """Create new records, one atomic call per batch of up to ``batch_size``; how many.

        Unlike ``save_many()``, a create never overwrites: a record whose key holds a stored,
        live record is refused. ``records`` is read ``batch_size`` at a time (a generator keeps
        memory bounded); each batch is checked before it is sent and holds the records of one
        partition. A refused record leaves its whole batch unwritten and is reported by its
        position in ``records`` (``.position``); earlier batches stay written.

        Raises:
            UniqueViolation: a record's key holds a stored record, or a unique value belongs
                to another record, stored or earlier in its batch.
            ModelError: an item is not a ``cls`` instance, a value cannot be stored, two
                records of a batch have the same key, or ``batch_size`` is not a positive int.
            KeyMutationError: a record's key fields changed since it was saved or loaded.
            CorruptRecord: a stored record is damaged (nothing of its batch is written).
            OutcomeUnknown: a batch's reply was lost; it was written once or not at all.
        """
        return _bulk.run(_bulk.create(cls, records, batch_size))

    @classmethod
    async def abulk_create(cls, records: Iterable[Self], *, batch_size: int = 1000) -> int:
        """``bulk_create()`` on the asyncio client."""
        return await _bulk.arun(_bulk.create(cls, records, batch_size))

    @classmethod
    def bulk_update(
        cls,
        query_or_records: Query[Self] | Iterable[Self],
        *,
        batch_size: int = 1000,
        **changes: Any,
    ) -> int:
        """Write the same field values to every record of a query, or to the records given, one
        atomic call per batch of up to ``batch_size``; how many records were updated.

        ``changes`` are validated (pydantic, as their fields declare them) before anything is
        written. Each record gets them as ``save(update_fields=...)`` writes them: on the
        server, its other fields as stored (a concurrent write of another field is kept), its
        index entries moved, its expiry as a partial save sets it, auto_now fields stamped (one
        time for the call). A query's matches are listed on the server when the call starts,
        then taken a batch at a time (the client holds one batch); a record deleted or expired
        before its batch is skipped, not counted. Given records are updated in place.

        Raises:
            ValidationError: a value its field does not take (nothing is written).
            ModelError: no change, an unknown, key or frozen field, an item that is not a
                ``cls`` instance, a query of another model, or a bad ``batch_size`` (nothing
                is written).
            UniqueViolation: a unique value belongs to another record, or would go to two
                (nothing of that record's batch is written; ``.position`` says which).
            CorruptRecord: a stored record is damaged (nothing of its batch is written).
            NotFound: the query's listed matches vanished (after an hour) before the end.
            OutcomeUnknown: a batch's reply was lost; it was written once or not at all.
        """
        return _bulk.run(_bulk.update(cls, query_or_records, batch_size, changes))

    @classmethod
    async def abulk_update(
        cls,
        query_or_records: Query[Self] | Iterable[Self],
        *,
        batch_size: int = 1000,
        **changes: Any,
    ) -> int:
        """``bulk_update()`` on the asyncio client."""
        return await _bulk.arun(_bulk.update(cls, query_or_records, batch_size, changes))

    @classmethod
    def bulk_delete(
        cls, query_or_records: Query[Self] | Iterable[Self], *, batch_size: int = 1000
    ) -> int:
        """Delete every record of a query, or the records given, with their index entries, one
        atomic call per batch of up to ``batch_size``; how many live records were deleted.

        A query's matches are listed on the server when the call starts, then deleted a batch
        at a time (the client holds one batch), as ``delete()`` deletes them; it works on a
        server out of memory.

        Raises:
            ModelError: an item that is not a ``cls`` instance, two records of a batch with
                the same key, a query of another model, or a bad ``batch_size``.
            CorruptRecord: a key of the batch holds data typedis did not write.
            NotFound: the query's listed matches vanished (after an hour) before the end.
            OutcomeUnknown: a batch's reply was lost; it was deleted once or not at all.
        """
        return _bulk.run(_bulk.delete(cls, query_or_records, batch_size))

    @classmethod
    async def abulk_delete(
        cls, query_or_records: Query[Self] | Iterable[Self], *, batch_size: int = 1000
    ) -> int:
        """``bulk_delete()`` on the asyncio client."""
        return await _bulk.arun(_bulk.delete(cls, query_or_records, batch_size))

    def delete(self) -> bool:
        """Delete this record and its index entries; False if it was not stored.

        A damaged record is deleted too. Of a record whose hash was removed outside typedis
        (a stray ``DEL``, an eviction), the entries its id locates are removed (the id and
        expiry sets, sorted and geo entries, its key fields' indexes) and False is returned;
        entries that only its lost values locate stay, and ``check_indexes()`` counts them.
        """
        return _scripts.run(self._delete_call()) == 1

    async def adelete(self) -> bool:
        """``delete()`` on the asyncio client."""
        return await _scripts.arun(self._delete_call()) == 1

    def _delete_call(self) -> _scripts.Call[int]:
        spec = self.__typedis_spec__
        located = _store.saved_at(self) or spec.locate(vars(self))
        return _store.delete_call(spec, [located])

    # A reference gives the field's type. One overload per numeric type: with one type
    # variable for the reference and the delta, pyright takes a float delta for an int field.
    @overload
    def atomic_increment(self, field_name: _Numeric[Self, int], delta: int) -> int: ...
    @overload
    def atomic_increment(self, field_name: _Numeric[Self, float], delta: float) -> float: ...
    @overload
    def atomic_increment(self, field_name: str, delta: float) -> Any: ...
    def atomic_increment(self, field_name: FieldRef[Self, Any] | str, delta: float) -> Any:
        """Add ``delta`` to a numeric field on the server, keeping its indexes in step.

        The sum is Python's (exact for an int field, double addition for a float field); the
        value stored, indexed and checked against the field's constraints is that one number.

        Args:
            field_name: the field, as a reference (``Shop.score``) or by name (``"visits"``,
                for a field without an index; the checkers then type the result as Any).
            delta: the amount to add: a finite number (an int for an int field).

        Returns:
            The new value, as ``load()`` reads it, also set on this instance.

        Raises:
            ModelError: the delta or the sum is not finite, or the sum breaks the field's
                bounds or an int field's ``multiple_of``, or the field holds None (a float
                field with ``multiple_of`` is refused). Nothing is written.
            UniqueViolation: another record holds the sum in a ``Unique`` index.
            NotFound: the record is not stored (never saved, deleted or expired).
            CorruptRecord: the stored text is not a number of the field's type.

        Examples:
            >>> shop.atomic_increment(Shop.score, 1)
            4
        """
        return _scripts.run(_store.increment_call(self, field_name, delta))

    @overload
    async def aatomic_increment(self, field_name: _Numeric[Self, int], delta: int) -> int: ...
    @overload
    async def aatomic_increment(self, field_name: _Numeric[Self, float], delta: float) -> float: ...
    @overload
    async def aatomic_increment(self, field_name: str, delta: float) -> Any: ...
    async def aatomic_increment(self, field_name: FieldRef[Self, Any] | str, delta: float) -> Any:
        """``atomic_increment()`` on the asyncio client."""
        return await _scripts.arun(_store.increment_call(self, field_name, delta))

    def touch(self, field: DecayRef[Self, Any], at: datetime | None = None) -> datetime:
        """Restart the decay of a Decaying field, in one atomic step; returns the touch time.

        The value keeps its base; ``top_by_decay()`` and ``decayed()`` count from ``at``
        (default: the server's now; give it to import when a record was last used).

        Raises:
            NotFound: the record is not stored.
            ModelError: the field holds None.
        """
        return _scripts.run(_store.touch_call(self, field, at))

    async def atouch(self, field: DecayRef[Self, Any], at: datetime | None = None) -> datetime:
        """``touch()`` on the asyncio client."""
        return await _scripts.arun(_store.touch_call(self, field, at))

    def decayed(self, field: DecayRef[Self, Any], at: datetime | None = None) -> float:
        """A Decaying field's value as decayed at ``at`` (default: now, by this machine's clock).

        Known for records saved, loaded, queried or touched (their touch time comes with them).
        """
        return _store.decayed_value(self, field, at)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy, as a record not yet saved: ``save()`` writes it under its own key values.

        A copy given new key values (``update={"name": "b"}``) saves as a new record beside
        this one; with the same key values it overwrites this one's stored values.
        """
        copied = super().model_copy(update=update, deep=deep)
        _store.forget_saved(copied)
        return copied

    # ---- reads ----------------------------------------------------------------------------

    @classmethod
    def load(cls, *key: Any, **key_fields: Any) -> Self:
        """The stored record with these key values, by position or by name.

        Raises:
            NotFound: no live record has that key.
            ValidationError: a key value is not one the key field takes.
            CorruptRecord: the stored record holds a value typedis cannot read.
        """
        located = cls._locate_key(key, key_fields)
        found = _scripts.run(_store.load_one_call(cls, located))
        if found is None:
            raise _store.not_found(cls.__typedis_spec__, located[1])
        return found

    @classmethod
    async def aload(cls, *key: Any, **key_fields: Any) -> Self:
        """``load()`` on the asyncio client."""
        located = cls._locate_key(key, key_fields)
        found = await _scripts.arun(_store.load_one_call(cls, located))
        if found is None:
            raise _store.not_found(cls.__typedis_spec__, located[1])
        return found

    @classmethod
    def _locate_key(cls, key: Sequence[Any], key_fields: dict[str, Any]) -> tuple[str, str]:
        spec = cls.__typedis_spec__
        tag = _str_key_tag(spec)
        if tag is not None and len(key) == 1 and not key_fields:
            value = key[0]
            if type(value) is str and value.isascii():  # its own text: what spec.locate makes
                return tag, _keys.escape(value)
        return spec.locate(spec.key_values(key, key_fields))

    def refresh(self) -> Self:
        """Reload this record's stored values in place.

        Raises:
            NotFound: the record is no longer stored.
        """
        located = self._located()
        found = _scripts.run(_store.load_one_call(type(self), located))
        return self._refresh_from(found, located)

    async def arefresh(self) -> Self:
        """``refresh()`` on the asyncio client."""
        located = self._located()
        found = await _scripts.arun(_store.load_one_call(type(self), located))
        return self._refresh_from(found, located)

    def _located(self) -> tuple[str, str]:
        return _store.saved_at(self) or self.__typedis_spec__.locate(vars(self))

    def _refresh_from(self, found: Self | None, located: tuple[str, str]) -> Self:
        if found is None:
            raise _store.not_found(self.__typedis_spec__, located[1])
        vars(self).update(vars(found))  # the fields, and where it was loaded from
        return self

    def exists(self) -> bool:
        """Whether this record (under its saved key) is stored and not expired."""
        return _scripts.run(_store.load_one_call(type(self), self._located())) is not None

    async def aexists(self) -> bool:
        """``exists()`` on the asyncio client."""
        return await _scripts.arun(_store.load_one_call(type(self), self._located())) is not None

    # ---- whole-model operations -----------------------------------------------------------

    @classmethod
    def count(cls, *partition: Any, exact: bool = True) -> int:
        """The number of records (of one partition: pass its values, in order).

        Args:
            exact: count the live records only, O(N) on the server (each record's hash is
                checked). ``False``: the size of the model's set of ids, O(1), which also
                counts expired records not yet swept and records deleted outside typedis.

        Raises:
            QueryError: ``exact`` is not a bool.
        """
        return _maintenance.count(cls, partition, exact)

    @classmethod
    def sweep_expired(cls, *partition: Any, limit: int = 1000) -> int:
        """Remove expired records with their index entries (cost: O(expired)); the count.

        Pass partition values (in order, as for ``count``) to sweep one partition only (all
        that an ACL user limited to some partitions may do); without, every partition.
        """
        return _maintenance.sweep_expired(cls, partition, limit)

    @classmethod
    def check_indexes(
        cls, *, batch_size: int = 1000, progress: Progress | None = None
    ) -> IndexReport:
        """Read-only health check: orphaned, missing or wrong index entries per kind (SCAN).

        Args:
            batch_size: records read per pipelined batch.
            progress: called after each batch with (records read, records found).

        Returns:
            The counts per entry (``class_set``, ``records``, one per index kind, ``expiry``,
            ``partitions``) and their ``total``; it reads as a ``dict``.

        Raises:
            ModelError: ``batch_size`` is not an int >= 1, or ``progress`` is not callable.
            PermissionDenied: the ACL refuses this user SCAN (it is for an administrator).
        """
        return _maintenance.check_indexes(cls, batch_size, progress)

    @classmethod
    async def acheck_indexes(
        cls, *, batch_size: int = 1000, progress: Progress | None = None
    ) -> IndexReport:
        """``check_indexes()`` on the asyncio client."""
        return await _maintenance.acheck_indexes(cls, batch_size, progress)

    @classmethod
    def clean_indexes(
        cls, *, batch_size: int = 1000, progress: Progress | None = None
    ) -> IndexReport:
        """Remove the index entries that point at no record or at a wrong value (SCAN).

        Safe while the application writes: the server removes an entry only if the record it
        points at still holds what was read (one atomic call per batch of entries), so a record
        written meanwhile keeps its entries. Entries are only removed: a record missing from an
        index, or a sorted entry with a wrong score, is ``rebuild_indexes()``'s work.

        Args:
            batch_size: records read per pipelined batch, and entries removed per call.
            progress: called after each batch with (records read, records found).

        Returns:
            The entries removed, per report entry (as ``check_indexes()`` counts them).

        Raises:
            ModelError: ``batch_size`` is not an int >= 1, or ``progress`` is not callable.
            PermissionDenied: the ACL refuses this user SCAN (it is for an administrator).
        """
        return _maintenance.clean_indexes(cls, batch_size, progress)

    @classmethod
    async def aclean_indexes(
        cls, *, batch_size: int = 1000, progress: Progress | None = None
    ) -> IndexReport:
        """``clean_indexes()`` on the asyncio client."""
        return await _maintenance.aclean_indexes(cls, batch_size, progress)

    @classmethod
    def rebuild_indexes(cls, *, batch_size: int = 1000, progress: Progress | None = None) -> int:
        """Re-derive every index from the record hashes (data written around typedis).

        Cleans (as ``clean_indexes()``), then indexes each record from what its hash holds,
        ``batch_size`` records per atomic call; a record written meanwhile is read again (up to
        five times; one still changing is left to its writer, whose save indexes it).
        Memory kinds' own data (co-occurrence edges, predictions) is kept: no hash holds it.

        Args:
            batch_size: records per pipelined read and per call.
            progress: called after each batch with (records read, total); each record is
                read twice (the clean, then the indexing).

        Returns:
            The number of records indexed.

        Raises:
            ModelError: ``batch_size`` is not an int >= 1, or ``progress`` is not callable.
            CorruptRecord: some hashes typedis cannot read (a value that does not validate, key
                fields that do not give the key); they were left out, every other record was
                indexed.
            PermissionDenied: the ACL refuses this user SCAN (it is for an administrator).
        """
        return _maintenance.rebuild_indexes(cls, batch_size, progress)

    @classmethod
    async def arebuild_indexes(
        cls, *, batch_size: int = 1000, progress: Progress | None = None
    ) -> int:
        """``rebuild_indexes()`` on the asyncio client."""
        return await _maintenance.arebuild_indexes(cls, batch_size, progress)

    @classmethod
    def delete_all(cls) -> int:
        """Delete every record with its index entries; returns how many live ones there were."""
        return _maintenance.delete_all(cls)


def _written(names: list[str] | None) -> frozenset[str] | None:
    """The fields a save writes, for its preparers (None: every field)."""
    return None if names is None else frozenset(names)


def _typed(model: type[Model], records: Sequence[Any]) -> list[Model]:
    """The records of ``model`` among ``records`` (``save_many_calls`` refuses the others), for
    the preparers that run before it."""
    return [r for r in records if isinstance(r, model)]


@functools.cache
def _str_key_tag(spec: ModelSpec) -> str | None:
    """The tag of a model whose records one ``str`` key locates alone (not partitioned), else
    None."""
    if spec.tag is None or len(spec.keys) != 1 or spec.fields[spec.keys[0]].annotation is not str:
        return None
    return spec.tag


def _after_model(cls: type[Model]) -> tuple[type, ...]:
    """The classes after ``Model`` in ``cls``'s method resolution order, ``object`` excluded."""
    mro = cls.__mro__
    return mro[mro.index(Model) + 1 : -1]


__all__ = ["Model"]
