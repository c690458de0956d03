"""Read a model class into its ``ModelSpec`` once, when the class is created.

Each field's marker names the index kind that indexes it (``_index``); each kind checks the
field types it accepts, and says which fields of the model it indexes. Bad combinations are
refused here, with a message naming the model and the field.
"""

from __future__ import annotations

import math
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Union, cast, get_args, get_origin

from pydantic.fields import FieldInfo

from . import _index, _keys
from ._codec import LINK, FieldCodec, codec_for
from ._errors import ModelError
from ._index import IndexKind, Shape
from ._index.changes_kind import options as change_options
from ._index.changes_kind import policy
from ._markers import FieldOptions, KeyMarker, LinkMarker, Marker
from ._query._refs import FieldRef, KeyRef
from ._spec import FieldSpec, IndexSpec, ModelSpec

if TYPE_CHECKING:
    from ._model import Model

_KEY_TYPES = (str, int, date, datetime)


@dataclass(frozen=True, slots=True)
class Index:
    """A composite index over several fields, declared with the ``indexes=`` class keyword.

    Examples:
        >>> class Branch(Model, indexes=[Index("city", "cuisine", unique=True)]):
        ...     name: Key[str]
        ...     city: str
        ...     cuisine: str
    """

    fields: tuple[str, ...]
    unique: bool = False

    def __init__(self, *fields: str, unique: bool = False) -> None:
        object.__setattr__(self, "fields", fields)
        object.__setattr__(self, "unique", unique)


def split_optional(annotation: Any) -> tuple[Any, bool]:
    """``(T, True)`` for ``T | None``, else ``(annotation, False)``."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = get_args(annotation)
        rest = tuple(a for a in args if a is not type(None))
        if len(rest) < len(args):
            return (rest[0] if len(rest) == 1 else Union[rest]), True  # noqa: UP007
    return annotation, False


def _marker(model: str, name: str, info: FieldInfo) -> tuple[Marker | None, FieldOptions]:
    markers = [m for m in info.metadata if isinstance(m, Marker)]
    if len(markers) > 1:
        kinds = ", ".join(m.kind for m in markers)
        raise ModelError(f"{model}.{name}: a field takes one index marker, got {kinds}")
    options = next((m for m in info.metadata if isinstance(m, FieldOptions)), FieldOptions())
    return (markers[0] if markers else None), options


def _codec(marker: Marker | None, base: Any) -> FieldCodec:
    """The codec of a field: its kind's own (``IndexKind.codec``), else the type's."""
    kind = _index.for_marker(marker)
    own = kind.codec(marker, base) if kind is not None and marker is not None else None
    return own if own is not None else codec_for(base)


def _check_field(model: str, spec: FieldSpec) -> None:
    where = f"{model}.{spec.name}"
    if isinstance(spec.marker, KeyMarker):
        if spec.annotation not in _KEY_TYPES:
            raise ModelError(
                f"{where}: Key fields need a str, int, date or datetime, got "
                f"{_type_name(spec.declared)}"
            )
        if spec.nullable:
            raise ModelError(
                f"{where}: a Key field cannot be None (every record has a key), got "
                f"{_type_name(spec.declared)}; declare Key[{spec.annotation.__name__}]"
            )
    kind = _index.for_marker(spec.marker)
    if kind is not None:
        kind.check_field(where, spec)
    for option in _given_options(spec.options):
        owners = [k for k in _index.kinds() if option in k.option_names]
        if not any(k.accepts(spec) for k in owners):
            takers = " and ".join(k.option_names[option] for k in owners)
            raise ModelError(f"{where}: {option}= applies to {takers} only")
    if (spec.options.auto_now or spec.options.auto_now_add) and spec.annotation is not datetime:
        raise ModelError(f"{where}: auto_now and auto_now_add need a datetime field")


def _type_name(annotation: Any) -> str:
    """An annotation as written (``str | None``), its markers left out."""
    if get_origin(annotation) is Annotated:
        return _type_name(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in get_args(annotation))
    if annotation is type(None):
        return "None"
    return annotation.__name__ if isinstance(annotation, type) else repr(annotation)


def _given_options(options: FieldOptions) -> list[str]:
    """The index options ``field()`` was given (away from their defaults)."""
    given = {
        "rate": options.rate is not None,
        "curve": options.curve is not None,
        "prefix_index": not options.prefix_index,
        "source": options.source is not None,
        "provider": options.provider is not None,
        "dimension": options.dimension is not None,
    }
    return [name for name, is_given in given.items() if is_given]


def _refuse_nested_marker(model: str, name: str, annotation: Any) -> None:
    """``Indexed[str] | None`` hides the marker inside a union, where pydantic drops it."""
    for arg in get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else ():
        if any(isinstance(m, Marker) for m in getattr(arg, "__metadata__", ())):
            raise ModelError(
                f"{model}.{name}: a marker inside a union is lost; write it around the whole type, "
                f"e.g. Indexed[str | None], not Indexed[str] | None"
            )


def read_fields(model: str, model_fields: Mapping[str, FieldInfo]) -> dict[str, FieldSpec]:
    """Read each pydantic field into a ``FieldSpec``, refusing unsupported combinations."""
    specs: dict[str, FieldSpec] = {}
    for name, info in model_fields.items():
        if name.startswith("~"):
            raise ModelError(f"{model}.{name}: field names may not start with '~'")
        _refuse_nested_marker(model, name, info.annotation)
        marker, options = _marker(model, name, info)
        base, nullable = split_optional(info.annotation)
        spec = FieldSpec(
            name=name,
            marker=marker,
            codec=LINK if isinstance(marker, LinkMarker) else _codec(marker, base),
            nullable=nullable,
            annotation=base,
            declared=(
                Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
            ),
            options=options,
        )
        _check_field(model, spec)
        specs[name] = spec
    return specs


def _as_tuple(model: str, option: str, value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, Iterable):
        raise ModelError(f"{model}: {option}= takes a field name or a sequence of them")
    names: tuple[object, ...] = tuple(cast(Iterable[object], value))
    if not all(isinstance(n, str) for n in names):
        raise ModelError(f"{model}: {option}= takes field names (str)")
    return cast(tuple[str, ...], names)


def _order_by(model: str, fields: Mapping[str, FieldSpec], order_by: str | None) -> Any:
    if order_by is None:
        return None
    name = order_by.removeprefix("-")
    field = fields.get(name)
    kind = _index.for_marker(field.marker) if field else None
    if kind is None or not kind.orders:
        raise ModelError(f"{model}: order_by={order_by!r} must name a Sorted field")
    return (name, order_by.startswith("-"))


def _index_spec(kind: IndexKind, source: str, fields: tuple[FieldSpec, ...]) -> IndexSpec:
    names = tuple(f.name for f in fields)
    options: Mapping[str, str | float] = kind.options(fields[0]) if len(fields) == 1 else {}
    return IndexSpec(kind, source, names, kind.suffix(names), options)


def _indexes(
    model: str, fields: Mapping[str, FieldSpec], shape: Shape, composite: Sequence[object]
) -> tuple[IndexSpec, ...]:
    out = [
        _index_spec(kind, kind.name if kind.derived else field.kind or kind.name, (field,))
        for kind in _index.kinds()
        for field in fields.values()
        if kind.applies(field, shape)
    ]
    for index in composite:
        if not isinstance(index, Index):
            raise ModelError(f"{model}: indexes= takes Index(...) objects, got {index!r}")
        if len(index.fields) < 2:
            raise ModelError(f"{model}: a composite Index needs two or more fields")
        for name in index.fields:
            member = fields.get(name)
            if member is None:
                raise ModelError(f"{model}: Index{index.fields} names unknown field {name!r}")
            if not member.codec.plain or member.annotation is bytes or member.kind == "geo":
                raise ModelError(
                    f"{model}.{name}: composite indexes need str, int, float, bool, Decimal, "
                    f"date or datetime fields"
                )
        kind = _index.UNIQUE if index.unique else _index.SET
        out.append(_index_spec(kind, "composite", tuple(fields[n] for n in index.fields)))
    return tuple(out)


def _positive_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < math.inf


def build(
    model: str,
    model_fields: Mapping[str, FieldInfo],
    *,
    ttl: object = None,
    partition: object = None,
    indexes: Sequence[object] = (),
    abstract: bool = False,
    order_by: str | None = None,
    changes: object = None,
    shards: object = None,
) -> ModelSpec:
    """Build the spec of a model from its pydantic fields and class keywords."""
    fields = read_fields(model, model_fields)
    keys = tuple(n for n, f in fields.items() if isinstance(f.marker, KeyMarker))
    parts = _as_tuple(model, "partition", partition)
    for name in parts:
        if name not in keys:
            raise ModelError(f"{model}: partition field {name!r} must be a Key field")
    if ttl is not None and not _positive_number(ttl):
        raise ModelError(f"{model}: ttl= must be a positive, finite number of seconds, got {ttl!r}")
    if not abstract and not keys:
        raise ModelError(f"{model}: no Key field (typedis adds 'id: AutoKey' when it can)")
    index_specs = _indexes(model, fields, Shape(keys, parts), indexes)
    stream = policy(model, changes)
    if stream is not None:  # last: its events see the other kinds' writes of the same step
        log = IndexSpec(
            _index.CHANGES, "changes", tuple(fields), _keys.CHANGES, change_options(stream)
        )
        index_specs = (*index_specs, log)
    count = _shards(model, shards, parts, keys, index_specs)
    arguments = [
        (ix.fields[0], argument)
        for ix in index_specs
        if (argument := ix.kind.argument(fields[ix.fields[0]])) is not None
    ]
    return ModelSpec(
        name=model,
        fields=types.MappingProxyType(fields),
        keys=keys,
        partition=parts,
        indexes=index_specs,
        ttl=ttl,  # type: ignore[arg-type]  # checked above
        order_by=_order_by(model, fields, order_by),
        abstract=abstract,
        stored=tuple(fields),
        hidden=tuple(name for ix in index_specs for name in ix.kind.hidden(ix)),
        decoders=tuple((n, f.codec.decode) for n, f in fields.items() if f.codec.decode),
        required=frozenset(n for n, f in fields.items() if not f.nullable),
        auto_now=tuple(n for n, f in fields.items() if f.options.auto_now),
        auto_now_add=tuple(n for n, f in fields.items() if f.options.auto_now_add),
        encoders=tuple((n, f.codec.encode) for n, f in fields.items()),
        arguments=tuple(arguments),
        tag=None if parts or count else _keys.tag(model),
        shards=count,
    )


def _shards(
    model: str,
    shards: object,
    parts: tuple[str, ...],
    keys: tuple[str, ...],
    indexes: Sequence[IndexSpec],
) -> int:
    """The number of shards of ``shards=`` (0: not sharded), checked against the model.

    A record's shard follows from its id (all its key values): a unique index can check its
    values only inside one shard, so it must cover every key field (its value then names the
    record's shard). A kind keeping one structure per tag (``per_tag``: a bloom filter, a
    ledger, co-occurrence edges, a change log) is read a tag at a time by partition values,
    which a sharded model does not have. A partitioned model is not sharded: a partition is
    the unit of distribution already, and shards within partitions would multiply every
    query's fan-out.
    """
    if shards is None:
        return 0
    if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= 2**14:
        raise ModelError(f"{model}: shards= takes an int from 1 to 16384, got {shards!r}")
    if parts:
        raise ModelError(
            f"{model}: shards= and partition= together: a partition is already one hash tag "
            "(the unit a cluster distributes); give one of them"
        )
    for ix in indexes:
        if ix.kind.per_tag:
            raise ModelError(
                f"{model}: shards= with a {ix.kind.name} index over {list(ix.fields)}: it keeps "
                "one structure per tag, read one tag at a time (a partition), and a shard is no "
                "unit a caller can name; use partition= for it"
            )
        if ix.kind.name == "unique" and not set(keys) <= set(ix.fields):
            raise ModelError(
                f"{model}: unique index over {list(ix.fields)} on a model with shards=: a "
                f"record's shard follows from its key {list(keys)}, and a unique value is "
                "checked inside one shard only, so another shard could hold it too; make the "
                "unique fields include every key field (or make the unique field the Key)"
            )
    return shards


def references(model: type[Model]) -> dict[str, FieldRef[Any, Any]]:
    """The class attributes ``model.<field>`` of its marked fields: typed field references."""
    refs: dict[str, FieldRef[Any, Any]] = {}
    for name, field in model.__typedis_spec__.fields.items():
        kind = _index.for_marker(field.marker)
        ref = KeyRef if isinstance(field.marker, KeyMarker) else kind.ref(field) if kind else None
        if ref is not None:
            refs[name] = ref(model, name)
    return refs
