"""Read a model class into its ``ModelSpec`` once, when the class is created.

The spec holds everything the hot paths need (keys, indexes, codecs, the write scripts' index
layout), so saving and loading never look at annotations again. Bad combinations are refused
here, with a message naming the model and the field.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Union, cast, get_args, get_origin

from pydantic.fields import FieldInfo

from . import _keys
from ._codec import LINK, FieldCodec, codec_for, index_score
from ._errors import ModelError
from ._markers import FieldOptions, GeoPoint, KeyMarker, Marker

_RANKABLE = (int, float, Decimal, date, datetime)
_KEY_TYPES = (str, int, date, datetime)


@dataclass(frozen=True, slots=True)
class Index:
    """A composite index over several fields, declared with the ``indexes=`` class keyword.

    Example:
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


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field: its marker kind (None for a plain field), codec and options."""

    name: str
    kind: str | None
    codec: FieldCodec
    nullable: bool
    annotation: Any
    auto: bool = False
    rate: float = 0.1
    auto_now: bool = False
    auto_now_add: bool = False
    prefix_index: bool = False  # a lexicographic index serves startswith()


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """One secondary index. ``kind`` is how it is stored: set, uniq, z (sorted set), geo or lex."""

    kind: str
    source: str  # key, indexed, unique, sorted, decaying, confidence, geo, composite, prefix
    fields: tuple[str, ...]
    suffix: str


@dataclass(frozen=True, slots=True)
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
    lua_spec: str  # the layout as the model's scripts read it: Lua source defining SPEC
    stored: tuple[str, ...]  # field names in stored order (HMGET order)
    decoders: tuple[tuple[str, Any], ...]  # (field, decode) for values pydantic cannot parse
    required: frozenset[str]  # fields that cannot be None (a missing value falls to the default)
    auto_now: tuple[str, ...]  # set to the current time by every save
    auto_now_add: tuple[str, ...]  # set to the current time by the first save, if unset
    encoders: tuple[tuple[str, Any], ...]  # (field, encode) in stored order
    scorers: tuple[tuple[str, Any], ...]  # (field, score argument) of sorted/geo indexes, in order
    tag: str | None  # the hash tag of every record, when the model is not partitioned

    def index(self, position: int) -> IndexSpec:
        """The index at a 1-based position in the scripts' spec."""
        return self.indexes[position - 1]


def split_optional(annotation: Any) -> tuple[Any, bool]:
    """``(T, True)`` for ``T | None``, else ``(annotation, False)``."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = get_args(annotation)
        rest = tuple(a for a in args if a is not type(None))
        if len(rest) < len(args):
            return (rest[0] if len(rest) == 1 else Union[rest]), True  # noqa: UP007
    return annotation, False


_SEARCHABLE = ("key", "indexed", "unique")  # marker kinds whose str fields get a prefix index


def _marker(model: str, name: str, info: FieldInfo) -> tuple[Marker | None, FieldOptions]:
    markers = [m for m in info.metadata if isinstance(m, Marker)]
    if len(markers) > 1:
        kinds = ", ".join(m.kind for m in markers)
        raise ModelError(f"{model}.{name}: a field takes one index marker, got {kinds}")
    options = next((m for m in info.metadata if isinstance(m, FieldOptions)), FieldOptions())
    return (markers[0] if markers else None), options


def _check_field(model: str, spec: FieldSpec) -> None:
    where = f"{model}.{spec.name}"
    base = spec.annotation
    kind = spec.kind
    if kind == "key":
        if spec.nullable or base not in _KEY_TYPES:
            raise ModelError(f"{where}: Key fields need a str, int, date or datetime, got {base!r}")
    elif kind in ("indexed", "unique"):
        if not spec.codec.plain or base is bytes:
            raise ModelError(
                f"{where}: {kind.capitalize()} fields need a str, int, float, bool, Decimal, date "
                f"or datetime (optionally | None), got {base!r}"
            )
    elif kind == "sorted":
        if base is bool or base not in _RANKABLE:
            raise ModelError(
                f"{where}: Sorted fields need a numeric or date type (int, float, Decimal, date, "
                f"datetime), got {getattr(base, '__name__', base)}"
            )
    elif kind == "decaying":
        if base not in (int, float):
            raise ModelError(f"{where}: Decaying fields need an int or float base score")
        if spec.rate <= 0:
            raise ModelError(f"{where}: the decay rate must be > 0, got {spec.rate}")
    elif kind == "link":
        target = get_args(base)[0] if get_args(base) else None
        target_spec = getattr(target, "__typedis_spec__", None)
        if target_spec is None:
            raise ModelError(f"{where}: Link[...] and OptionalLink[...] take a typedis model")
        if target_spec.partition:
            raise ModelError(f"{where}: a link cannot point at partitioned {target_spec.name}")
    elif kind == "geo" and base is not GeoPoint:
        raise ModelError(f"{where}: Geo fields need a GeoPoint (or GeoPoint | None), got {base!r}")
    if (spec.auto_now or spec.auto_now_add) and base is not datetime:
        raise ModelError(f"{where}: auto_now and auto_now_add need a datetime field")


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
        if options.rate is not None and not (marker and marker.kind == "decaying"):
            raise ModelError(f"{model}.{name}: rate= applies to Decaying fields only")
        base, nullable = split_optional(info.annotation)
        kind = marker.kind if marker else None
        searchable = kind in _SEARCHABLE and base is str
        if not (options.prefix_index or searchable):
            raise ModelError(
                f"{model}.{name}: prefix_index= applies to str Key, Indexed and Unique fields only"
            )
        spec = FieldSpec(
            name=name,
            kind=kind,
            codec=LINK if kind == "link" else codec_for(base),
            nullable=nullable,
            annotation=base,
            auto=isinstance(marker, KeyMarker) and marker.auto,
            rate=0.1 if options.rate is None else options.rate,
            auto_now=options.auto_now,
            auto_now_add=options.auto_now_add,
            prefix_index=options.prefix_index and searchable,
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
    spec = fields.get(name)
    if spec is None or spec.kind not in ("sorted", "decaying", "confidence"):
        raise ModelError(f"{model}: order_by={order_by!r} must name a Sorted field")
    return (name, order_by.startswith("-"))


def _indexes(
    model: str,
    fields: Mapping[str, FieldSpec],
    keys: tuple[str, ...],
    partition: tuple[str, ...],
    composite: Sequence[object],
) -> tuple[IndexSpec, ...]:
    out: list[IndexSpec] = []

    def add(kind: str, source: str, names: tuple[str, ...]) -> None:
        out.append(IndexSpec(kind, source, names, _keys.index_suffix(kind, names)))

    free_keys = tuple(k for k in keys if k not in partition)
    for name, spec in fields.items():
        if spec.kind == "key" and len(free_keys) > 1 and name not in partition:
            add("set", "key", (name,))
        elif spec.kind == "indexed":
            add("set", "indexed", (name,))
        elif spec.kind == "link":
            add("set", "link", (name,))
        elif spec.kind == "unique":
            add("uniq", "unique", (name,))
        elif spec.kind in ("sorted", "decaying", "confidence"):
            add("z", spec.kind, (name,))
        elif spec.kind == "geo":
            add("geo", "geo", (name,))
    for name, spec in fields.items():
        if spec.prefix_index and name not in partition:
            add("lex", "prefix", (name,))
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
        add("uniq" if index.unique else "set", "composite", index.fields)
    return tuple(out)


def _lua_str(value: str) -> str:
    """A Lua string literal (every byte outside printable ASCII written as a decimal escape)."""
    return (
        "'"
        + "".join(
            c
            if c.isascii() and c.isprintable() and c not in "'\\"
            else "".join(f"\\{b:03d}" for b in c.encode())
            for c in value
        )
        + "'"
    )


def _lua_spec(fields: tuple[str, ...], indexes: tuple[IndexSpec, ...]) -> str:
    """The model's layout as Lua source: ``local SPEC = {fields = {...}, idx = {...}}``."""
    names = ", ".join(map(_lua_str, fields))
    idx = ", ".join(
        f"{{{_lua_str(ix.kind)}, {_lua_str(ix.suffix)}, {{{', '.join(map(_lua_str, ix.fields))}}}}}"
        for ix in indexes
    )
    return f"local SPEC = {{fields = {{{names}}}, idx = {{{idx}}}}}\n"


def _positive_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def build(
    model: str,
    model_fields: Mapping[str, FieldInfo],
    *,
    ttl: object = None,
    partition: object = None,
    indexes: Sequence[object] = (),
    abstract: bool = False,
    order_by: str | None = None,
) -> ModelSpec:
    """Build the spec of a model from its pydantic fields and class keywords."""
    fields = read_fields(model, model_fields)
    keys = tuple(n for n, f in fields.items() if f.kind == "key")
    parts = _as_tuple(model, "partition", partition)
    for name in parts:
        if name not in keys:
            raise ModelError(f"{model}: partition field {name!r} must be a Key field")
    if ttl is not None and not _positive_number(ttl):
        raise ModelError(f"{model}: ttl= must be a positive number of seconds, got {ttl!r}")
    if not abstract and not keys:
        raise ModelError(f"{model}: no Key field (typedis adds 'id: AutoKey' when it can)")
    index_specs = _indexes(model, fields, keys, parts, indexes)
    lua_spec = _lua_spec(tuple(fields), index_specs)
    return ModelSpec(
        name=model,
        fields=types.MappingProxyType(fields),
        keys=keys,
        partition=parts,
        indexes=index_specs,
        ttl=ttl,  # type: ignore[arg-type]  # checked above
        order_by=_order_by(model, fields, order_by),
        abstract=abstract,
        lua_spec=lua_spec,
        stored=tuple(fields),
        decoders=tuple((n, f.codec.decode) for n, f in fields.items() if f.codec.decode),
        required=frozenset(n for n, f in fields.items() if not f.nullable),
        auto_now=tuple(n for n, f in fields.items() if f.auto_now),
        auto_now_add=tuple(n for n, f in fields.items() if f.auto_now_add),
        encoders=tuple((n, f.codec.encode) for n, f in fields.items()),
        scorers=tuple(
            (ix.fields[0], index_score(fields[ix.fields[0]].kind or "", fields[ix.fields[0]].codec))
            for ix in index_specs
            if ix.kind in ("z", "geo")
        ),
        tag=None if parts else _keys.tag(model),
    )
