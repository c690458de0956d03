"""The pure planner: a query becomes one script call's program, without touching Redis.

A plan names the hash tag the query runs in (a partitioned model's partition comes from the
query's equality conditions on the partition fields) and a tree of nodes the query script
evaluates with server-side set algebra (see ``lua/query.lua`` for the node vocabulary):
equality reads a set per value (or the record key, or a unique hash), ranges read a sorted set
by score, prefixes a lexicographic sorted set, radii a geo set. ``describe`` renders a plan in
words for ``Query.explain()``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from .. import _keys
from .._codec import text
from .._errors import QueryError
from .._schema import IndexSpec, ModelSpec
from .._store import validator
from . import _conditions as c

if TYPE_CHECKING:
    from .._model import Model
    from ._refs import FieldRef, Ordering

Node = list[Any]


@dataclass(frozen=True, slots=True)
class Plan:
    """One query script call: the tag it runs in and its program."""

    tag: str
    where: Node
    order: tuple[str, bool] | None  # (sorted set suffix, descending)
    offset: int
    limit: int  # -1: no limit
    mode: str  # records, ids or count
    fields: tuple[str, ...]

    def program(self) -> str:
        """The JSON the query script reads (its ARGV[1])."""
        return json.dumps(
            {
                "tag": self.tag,
                "where": self.where,
                "order": list(self.order) if self.order else None,
                "offset": self.offset,
                "limit": self.limit,
                "mode": self.mode,
                "fields": list(self.fields),
            },
            separators=(",", ":"),
        )


def plan(
    model: type[Model],
    where: c.Cond[Any] | None,
    order: Ordering[Any] | None,
    offset: int,
    limit: int | None,
    mode: str,
) -> Plan:
    """Plan a query over ``model``."""
    spec = model.__typedis_spec__
    conds = _conjuncts(where)
    partition = _take_partition(spec, conds)
    tag = _keys.tag(spec.name, [partition[p] for p in spec.partition])
    compiler = _Compiler(model, spec, partition)
    parts = [compiler.node(cond) for cond in conds]
    node: Node = ["all"] if not parts else parts[0] if len(parts) == 1 else ["and", parts]
    if offset < 0 or (limit is not None and limit < 0):
        raise QueryError(f"{spec.name}: offset and limit must be >= 0")
    return Plan(
        tag=tag,
        where=node,
        order=_order(spec, order),
        offset=offset,
        limit=-1 if limit is None else limit,
        mode=mode,
        fields=spec.stored,
    )


def _conjuncts(where: c.Cond[Any] | None) -> list[c.Cond[Any]]:
    if where is None:
        return []
    if isinstance(where, c.And):
        return [part for p in where.parts for part in _conjuncts(p)]
    return [where]


def _take_partition(spec: ModelSpec, conds: list[c.Cond[Any]]) -> dict[str, str]:
    """Remove the equality conditions on partition fields; return the partition's texts."""
    found: dict[str, str] = {}
    for cond in list(conds):
        if isinstance(cond, c.Eq) and cond.ref.name in spec.partition and cond.value is not None:
            value = _validated(cond.ref, cond.value)
            texts = text(spec.fields[cond.ref.name].codec, value)
            if found.setdefault(cond.ref.name, texts) != texts:
                raise QueryError(
                    f"{spec.name}: two different values for partition field {cond.ref.name!r}"
                )
            conds.remove(cond)
    missing = [p for p in spec.partition if p not in found]
    if missing:
        raise QueryError(
            f"{spec.name} is partitioned by {spec.partition}: filter on "
            + " and ".join(f"{spec.name}.{p} == ..." for p in missing)
            + " (an equality condition at the top level of the query)"
        )
    return found


def _order(spec: ModelSpec, order: Ordering[Any] | None) -> tuple[str, bool] | None:
    if order is None:
        if spec.order_by is None:
            return None
        name, descending = spec.order_by
    else:
        name, descending = order.ref.name, order.descending
    index = _index(spec, name, "z")
    if index is None:
        raise QueryError(f"{spec.name}.{name}: only Sorted fields can order results")
    return (index.suffix, descending)


def _index(spec: ModelSpec, name: str, kind: str) -> IndexSpec | None:
    return next((i for i in spec.indexes if i.kind == kind and i.fields == (name,)), None)


def _validated(ref: FieldRef[Any, Any], value: Any) -> Any:
    try:
        return validator(ref.model, ref.name).validate_python(value)
    except ValidationError as error:
        raise QueryError(
            f"{ref!r}: {value!r} is not a valid value: {error.errors()[0]['msg']}"
        ) from None


class _Compiler:
    def __init__(self, model: type[Model], spec: ModelSpec, partition: dict[str, str]) -> None:
        self.model = model
        self.spec = spec
        self.partition = partition
        free = [k for k in spec.keys if k not in spec.partition]
        self.direct_key = free[0] if len(free) == 1 else None  # the key an id follows from

    def node(self, cond: c.Cond[Any]) -> Node:
        if isinstance(cond, c.And):
            return ["and", [self.node(p) for p in cond.parts]]
        if isinstance(cond, c.Or):
            return ["or", [self.node(p) for p in cond.parts]]
        if isinstance(cond, c.Not):
            return ["not", self.node(cond.part)]
        if isinstance(cond, c.Eq):
            return self.equal(cond.ref, [cond.value])
        if isinstance(cond, c.In):
            return self.equal(cond.ref, list(cond.values))
        if isinstance(cond, c.Range):
            return self.range(cond)
        if isinstance(cond, c.Prefix):
            return self.prefix(cond)
        if isinstance(cond, c.Within):
            return self.within(cond)
        raise QueryError(f"not a query condition: {cond!r}")

    def _field(self, ref: FieldRef[Any, Any]) -> str:
        if ref.model is not self.model:
            raise QueryError(f"{ref!r} is a field of {ref.model.__name__}, not {self.spec.name}")
        return ref.name

    def equal(self, ref: FieldRef[Any, Any], values: list[Any]) -> Node:
        name = self._field(ref)
        spec = self.spec
        codec = spec.fields[name].codec
        texts = [None if v is None else text(codec, _validated(ref, v)) for v in values]
        if not texts:  # in_([]): nothing matches
            return ["ids", []]
        kind = spec.fields[name].kind
        if name in spec.partition:  # inside an Or or Not: true exactly for this partition
            return ["or", [["all"] if t == self.partition[name] else ["ids", []] for t in texts]]
        if name == self.direct_key:
            key_texts = [
                [self.partition[k] if k in spec.partition else t for k in spec.keys]
                for t in texts
                if t is not None
            ]
            return ["ids", [_keys.record_id(k) for k in key_texts]]
        if kind == "unique":
            index = _index(spec, name, "uniq")
            assert index is not None
            held = [_keys.escape(t) for t in texts if t is not None]
            nodes: list[Node] = [["uniq", index.suffix, held]] if held else []
            if None in texts:
                nodes.append(["uniqnone", index.suffix])
            return nodes[0] if len(nodes) == 1 else ["or", nodes]
        index = _index(spec, name, "set")
        if index is None:
            raise QueryError(f"{ref!r}: equality needs a Key, Indexed or Unique field")
        sets: list[Node] = [["set", _keys.set_index_suffix(index.suffix, [t])] for t in texts]
        return sets[0] if len(sets) == 1 else ["or", sets]

    def range(self, cond: c.Range[Any]) -> Node:
        name = self._field(cond.ref)
        field = self.spec.fields[name]
        index = _index(self.spec, name, "z")
        if index is None or field.kind == "decaying" or field.codec.score is None:
            raise QueryError(f"{cond.ref!r}: ranges need a Sorted field")
        score = field.codec.score

        def bound(value: Any, open_: bool, infinite: str) -> str:
            if value is None:
                return infinite
            number = repr(score(_validated(cond.ref, value)))
            return f"({number}" if open_ else number

        return [
            "range",
            index.suffix,
            bound(cond.low, cond.low_open, "-inf"),
            bound(cond.high, cond.high_open, "+inf"),
        ]

    def prefix(self, cond: c.Prefix[Any]) -> Node:
        name = self._field(cond.ref)
        index = _index(self.spec, name, "lex")
        if index is None:
            raise QueryError(
                f"{cond.ref!r}: startswith() needs a str Key, Indexed or Unique field with its "
                "prefix index (not field(prefix_index=False))"
            )
        if not _is_text(cond.prefix):
            raise QueryError(f"{cond.ref!r}.startswith() takes a str, got {cond.prefix!r}")
        return ["lex", index.suffix, cond.prefix]

    def within(self, cond: c.Within[Any]) -> Node:
        name = self._field(cond.ref)
        index = _index(self.spec, name, "geo")
        if index is None:
            raise QueryError(f"{cond.ref!r}: within() needs a Geo field")
        if cond.unit not in ("m", "km", "mi", "ft"):
            raise QueryError(
                f"{cond.ref!r}.within(): unit must be m, km, mi or ft, got {cond.unit!r}"
            )
        if not (cond.radius >= 0):
            raise QueryError(f"{cond.ref!r}.within(): the radius must be >= 0, got {cond.radius}")
        return ["geo", index.suffix, repr(cond.lon), repr(cond.lat), repr(cond.radius), cond.unit]


def _is_text(value: object) -> bool:
    return isinstance(value, str)


def describe(p: Plan) -> str:
    """A plan in words."""
    where = _describe(p.where)
    order = (
        f"ordered by sorted set {p.order[0]} {'descending' if p.order[1] else 'ascending'}"
        if p.order
        else "ordered by id"
    )
    page = f"offset {p.offset}" + ("" if p.limit < 0 else f", limit {p.limit}")
    return f"in {p.tag}: {where}; {order}; {page}; {p.mode} in one script call"


def _describe(node: Node) -> str:
    op = node[0]
    if op == "all":
        return "every record (set all)"
    if op == "set":
        return f"set {node[1]}"
    if op == "ids":
        return f"records by key {node[1]}"
    if op == "uniq":
        return f"unique hash {node[1]} at {node[2]}"
    if op == "uniqnone":
        return f"records missing from unique hash {node[1]}"
    if op == "range":
        return f"sorted set {node[1]} scores {node[2]}..{node[3]}"
    if op == "lex":
        return f"lexicographic index {node[1]} prefix {node[2]!r}"
    if op == "geo":
        return f"geo set {node[1]} within {node[4]} {node[5]} of lon {node[2]}, lat {node[3]}"
    if op == "not":
        return f"all except ({_describe(node[1])})"
    joined = ", ".join(_describe(n) for n in node[1])
    return f"{'intersection' if op == 'and' else 'union'} of ({joined})"
