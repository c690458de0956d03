"""What typedis knows about one model class: ``ModelSpec`` and its parts, built once by ``_schema``.

The spec holds everything the hot paths need (keys, indexes, codecs, the save arguments), so
saving, loading and planning never look at annotations again. It also locates records (their
hash tag and id) and validates key and query values with a cached pydantic validator per field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from . import _keys
from ._codec import FieldCodec, text
from ._errors import ModelError
from ._markers import FieldOptions, KeyMarker, Marker

if TYPE_CHECKING:
    from ._index import IndexKind


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field: its marker (None for a plain field), codec and options."""

    name: str
    marker: Marker | None
    codec: FieldCodec
    nullable: bool
    annotation: Any  # the type without None
    declared: Any  # the annotation with its pydantic metadata, as the model validates it
    options: FieldOptions

    @property
    def kind(self) -> str | None:
        """The marker's name (``"sorted"``, ``"key"``...), None for a plain field."""
        return self.marker.kind if self.marker else None

    @property
    def auto(self) -> bool:
        """Whether this is a generated key (``AutoKey``)."""
        return isinstance(self.marker, KeyMarker) and self.marker.auto


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """One secondary index of a model: its kind, the fields it covers and its key suffix.

    ``source`` says what declared it: a marker's name (``indexed``, ``unique``...),
    ``composite`` for ``Index(...)``, or the kind's own name for a derived index (``prefix``).
    """

    kind: IndexKind
    source: str
    fields: tuple[str, ...]
    suffix: str  # the part of its Redis key after "<tag>:" (see _keys)
    options: Mapping[str, str | float] = field(default_factory=dict[str, "str | float"])

    @property
    def report(self) -> str:
        """The ``check_indexes()`` report entry its faults count under."""
        return self.kind.report(self)


@dataclass(frozen=True, slots=True, eq=False)  # eq=False: hashed by identity (caches key on it)
class ModelSpec:
    """Everything typedis knows about one model class."""

    name: str
    fields: Mapping[str, FieldSpec]
    keys: tuple[str, ...]
    partition: tuple[str, ...]
    indexes: tuple[IndexSpec, ...]
    ttl: float | None
    order_by: tuple[str, bool] | None  # (field, descending)
    abstract: bool
    stored: tuple[str, ...]  # field names in stored order (HMGET order)
    hidden: tuple[str, ...]  # the kinds' hidden hash fields, read after the stored ones
    decoders: tuple[tuple[str, Any], ...]  # (field, decode) for values pydantic cannot parse
    required: frozenset[str]  # fields that cannot be None (a missing value falls to the default)
    auto_now: tuple[str, ...]  # set to the current time by every save
    auto_now_add: tuple[str, ...]  # set to the current time by the first save, if unset
    encoders: tuple[tuple[str, Any], ...]  # (field, encode) in stored order
    arguments: tuple[tuple[str, Any], ...]  # (field, encode) of the indexes whose kind takes a
    # save-time argument, in index order (lua/save.lua reads them in that order)
    tag: str | None  # the hash tag of every record, when the model is neither partitioned nor
    # sharded
    shards: int = 0  # shards=: records spread over this many tags by their id (0: not sharded)
    _validators: dict[str, TypeAdapter[Any]] = field(
        default_factory=dict[str, "TypeAdapter[Any]"], repr=False
    )

    @property
    def read(self) -> tuple[str, ...]:
        """The hash fields a read returns: the stored fields, then the hidden ones."""
        return self.stored + self.hidden

    def index(self, position: int) -> IndexSpec:
        """The index at a 1-based position in the scripts' spec."""
        return self.indexes[position - 1]

    def index_of(self, kind: str, name: str) -> IndexSpec | None:
        """The index of kind ``kind`` over field ``name`` alone, if the model has one."""
        return next((i for i in self.indexes if i.kind.name == kind and i.fields == (name,)), None)

    def locate(self, values: Mapping[str, Any]) -> tuple[str, str]:
        """The (tag, id) of the record whose key fields hold these values."""
        rid = _keys.record_id([self._key_text(k, values) for k in self.keys])
        if self.tag is not None:
            return self.tag, rid
        if self.shards:
            return _keys.shard_tag(self.name, _keys.shard_of(rid, self.shards)), rid
        return _keys.tag(self.name, [self._key_text(p, values) for p in self.partition]), rid

    def shard_tags(self) -> list[str]:
        """The tags of a sharded model's shards, in order ([] for a model not sharded)."""
        return [_keys.shard_tag(self.name, n) for n in range(self.shards)]

    def _key_text(self, name: str, values: Mapping[str, Any]) -> str:
        """The text of key field ``name``, refusing one that cannot be part of a Redis key."""
        if name not in values:
            raise ModelError(
                f"{self.name}.{name}: the key field is not set (model_construct() leaves "
                f"required fields unset); give it a value, or build the record with "
                f"{self.name}(...)"
            )
        key = text(self.fields[name].codec, values[name])
        if not key.isascii():
            try:
                key.encode()
            except UnicodeEncodeError as error:
                raise ModelError(
                    f"{self.name}.{name}: key value {values[name]!r} is not valid UTF-8 text "
                    f"({error.reason}); a key holds text that encodes to UTF-8"
                ) from error
        return key

    def validate(self, name: str, value: Any) -> Any:
        """``value`` validated as field ``name`` holds it; its errors name the model and field."""
        try:
            return self.validator(name).validate_python(value)
        except ValidationError as error:
            located = [{**e, "loc": (name, *e["loc"])} for e in error.errors()]
            raise ValidationError.from_exception_data(self.name, located) from None  # type: ignore[arg-type]

    def validator(self, name: str) -> TypeAdapter[Any]:
        """A validator for one field's values (key values, query values), built once."""
        adapter = self._validators.get(name)
        if adapter is None:
            adapter = self._validators[name] = TypeAdapter(self.fields[name].declared)
        return adapter

    def key_values(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Key values from ``load("a", 1)`` or ``load(name="a", n=1)``, validated by pydantic."""
        if args and kwargs:
            raise ModelError(f"{self.name}: give key values by position or by name, not both")
        if args:
            if len(args) != len(self.keys):
                raise ModelError(
                    f"{self.name}: expected {len(self.keys)} key value(s) {self.keys}, "
                    f"got {len(args)}"
                )
            kwargs = dict(zip(self.keys, args, strict=True))
        unknown = set(kwargs) - set(self.keys)
        missing = set(self.keys) - set(kwargs)
        if unknown or missing:
            raise ModelError(
                f"{self.name}: key fields are {self.keys}"
                + (f"; unknown: {sorted(unknown)}" if unknown else "")
                + (f"; missing: {sorted(missing)}" if missing else "")
            )
        return {
            name: value
            if type(value) is self.fields[name].annotation
            else self.validate(name, value)
            for name, value in kwargs.items()
        }
