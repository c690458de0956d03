"""The pure planner: a query becomes the program of one function call, without touching Redis.

A plan names the hash tag the query runs in (a partitioned model's partition comes from the
query's equality conditions on the partition fields; a query over several partitions or shards
is a ``Fanout``, one plan per tag), a tree of nodes the query function
evaluates with server-side set algebra, and an order: one sorted set, or a rank stage (a
weighted sum of sorted sets, computed in the same call). The planner itself knows the record
ids (``ids``), ``all`` and the boolean nodes; every other node is compiled by the index kind
that serves the condition (``_index``), whose Lua evaluates it. ``describe`` renders a plan
in words for ``Query.explain()``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC
from itertools import product
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from .. import _index, _keys
from .._codec import text
from .._errors import QueryError
from . import _conditions as c
from ._refs import Decayed, FieldRef, Ordering, Rank

if TYPE_CHECKING:
    from .._index import IndexKind
    from .._model import Model
    from .._spec import FieldSpec, IndexSpec, ModelSpec

Node = list[Any]
Order = tuple[tuple[tuple[str, float], ...], bool]  # ((zset suffix, weight), ...), descending
KindOrder = dict[str, Any]  # an order an index kind computes: {"kind": name, ...}
_READ_MODES = ("records", "scored")  # modes that return records (and run the kinds' read hooks)
# A Redis set holds fewer than 2**32 members: a larger offset or limit means the same, and 2**32
# is exact in the plan's JSON and in Lua's numbers.
_MAX_PAGE = 2**32
# An ordered scan gives up after this many ids per id of the filter's smallest part: checking
# an id costs less than intersecting it (ZINTERSTORE writes and sorts each match).
WALK_BUDGET = 4


@dataclass(frozen=True, slots=True)
class Plan:
    """One query function call: the tag it runs in and its program."""

    tag: str
    where: Node
    order: Order | KindOrder | None
    offset: int
    limit: int  # -1: no limit
    mode: str  # records, ids or count
    fields: tuple[str, ...]
    reads: tuple[IndexSpec, ...] = ()  # indexes whose kind runs a read hook on each record
    # The rank stage's options (typedis.memory.composite_score): how ZUNIONSTORE combines the
    # sources; a threshold that also leaves out records without a score (None: unscored last);
    # sources (suffix -> rate) whose exponential-decay scores are shifted to ln(value now);
    # and (id, score) pairs added as one more source of weight 1.
    aggregate: str = "SUM"
    min_score: float | None = None
    shift: tuple[tuple[str, float], ...] = ()
    boost: tuple[tuple[str, float], ...] = ()
    profile: bool = False  # the script returns the work it did instead of the results
    exact: bool = True  # mode count: live records only; False: by the indexes alone

    @property
    def shape(self) -> str:
        """How the query function runs this plan (see ``describe`` and lua/query.lua).

        ``index``, ``range``, ``ordered`` and ``scan`` walk an index in order and stop when the
        page is full (``scan``: a query without an order, in the index's own order; every match
        of one without a limit, which the client then sorts by id: ``sorted_by_client``);
        ``sort`` computes every match first (without an order: by id); ``count`` counts the live
        ones; ``cardinality`` counts them by the indexes alone; ``empty`` (limit 0) reads nothing.
        """
        if self.mode == "count":
            return "count" if self.exact else "cardinality"
        if self.limit == 0:
            return "empty"
        plain = self.plain_order()
        if plain is not None and self.where[0] == "range" and self.where[1] == plain:
            return "range"
        if self.order is None and (self.limit > 0 or self.sortable_by_client):
            return "scan"
        if self.limit < 0:  # every match is read: by id without an order; a walk of an order
            return "sort"  # would read them all, then sort anyway for those without a score
        if plain is None:
            return "sort"
        return "index" if self.where == ["all"] else "ordered"

    @property
    def sortable_by_client(self) -> bool:
        """Whether the client can order the reply by id: the records of every match of a query
        without an order, from the start (ids listed on the server, as a bulk change lists
        them, are ordered there)."""
        return self.mode == "records" and self.limit < 0 and not self.offset

    @property
    def sorted_by_client(self) -> bool:
        """Whether the client orders the reply by id: every match of a query without an order,
        read in the index's own order (a sort by id on the server would copy them all)."""
        return self.shape == "scan" and self.limit < 0

    def plain_order(self) -> str | None:
        """The sorted set of an order by one source of weight 1 (no rank stage), else None."""
        if not self.order or isinstance(self.order, dict):
            return None
        by, _ = self.order
        if len(by) != 1 or by[0][1] != 1 or self.min_score is not None:
            return None
        return None if self.shift or self.boost else by[0][0]

    def program(self) -> str:
        """The JSON the query function reads (its ARGV[1])."""
        order: KindOrder | None = None
        if isinstance(self.order, dict):
            order = self.order
        elif self.order:
            by, descending = self.order
            order = {"by": [list(source) for source in by], "desc": descending}
            if self.aggregate != "SUM":
                order["agg"] = self.aggregate
            if self.min_score is not None:
                order["min"] = repr(self.min_score)
            if self.shift:
                order["shift"] = dict(self.shift)
            if self.boost:
                order["boost"] = [x for pair in self.boost for x in (pair[0], repr(pair[1]))]
        program: dict[str, Any] = {
            "tag": self.tag,
            "where": self.where,
            "order": order,
            "offset": self.offset,
            "limit": self.limit,
            "mode": self.mode,
            "fields": list(self.fields),
            "shape": self.shape,
        }
        if self.shape == "ordered":
            program["budget"] = WALK_BUDGET
        if self.profile:
            program["profile"] = True
        if self.reads:
            program["reads"] = [
                {
                    "kind": ix.kind.name,
                    "suffix": ix.suffix,
                    "fields": ix.fields,
                    "opts": dict(ix.options),
                }
                for ix in self.reads
            ]
        return _JSON.encode(program)


_JSON = json.JSONEncoder(separators=(",", ":"))  # built once: json.dumps builds one per call


@dataclass(frozen=True, slots=True)
class Fanout:
    """A query over several tags (partitions or shards): one plan per tag, each returning its
    first ``offset + limit`` matches, merged on the client (``Query`` runs it)."""

    plans: tuple[Plan, ...]
    over: str  # the tags in words: "the 16 shards", "every partition the registry ... lists"
    offset: int  # skipped after the merge
    limit: int  # -1: no limit

    @property
    def descending(self) -> bool | None:
        """The direction of the sources' order (None: no order; an order computed by an
        index kind cannot be merged: ``QueryError``)."""
        order = self.plans[0].order if self.plans else None
        if isinstance(order, dict):
            raise QueryError(
                f"an order computed by the {order['kind']} kind cannot be merged across "
                "partitions or shards: query one partition"
            )
        return None if order is None else order[1]

    @property
    def share(self) -> int | None:
        """What each tag is first asked for, of the page's k = offset + limit matches:
        ``2·⌈k/P⌉ + 1`` when ordered, ``⌈k/P⌉`` when not; None when that is k or more (or
        there is no limit): each is asked for k at once (``Query`` asks again the tags that
        may hold more of the page)."""
        k = self.offset + self.limit
        share = -(-k // max(len(self.plans), 1))
        if self.plans and self.plans[0].order is not None:
            share = 2 * share + 1
        return None if self.limit < 0 or share >= k else share

    def with_mode(self, mode: str) -> Fanout:
        """The same fan-out in another mode (one that reads no record runs no read hook)."""
        plans = tuple(
            replace(p, mode=mode, reads=p.reads if mode in _READ_MODES else ()) for p in self.plans
        )
        return replace(self, plans=plans)


@dataclass(frozen=True, slots=True)
class _Layout:
    """What planning reads of a model that its queries do not change, worked out once."""

    direct_key: str | None  # the one key field not a partition field: a record id follows
    order: Order | KindOrder | None  # the model's default order (Meta order_by)
    reads: tuple[IndexSpec, ...]  # the indexes whose kind runs a read hook on each record
    tag: str | None  # the hash tag of an unpartitioned model


@functools.cache
def _layout(spec: ModelSpec) -> _Layout:
    free = [k for k in spec.keys if k not in spec.partition]
    order: Order | None = None
    if spec.order_by is not None:
        name, descending = spec.order_by
        order = ((_ordering_suffix(spec, name), 1.0),), descending
    return _Layout(
        direct_key=free[0] if len(free) == 1 else None,
        order=order,
        reads=tuple(ix for ix in spec.indexes if ix.kind.on_read),
        tag=None if spec.partition else _keys.tag(spec.name),
    )


_SERVING: dict[tuple[ModelSpec, type, str, int], IndexKind | None] = {}


def _serving(spec: ModelSpec, condition: type, name: str) -> IndexKind | None:
    """The first kind serving a condition of this class on field ``name``: it indexes such
    fields, or the model has an index of it on the field (found once per registry version)."""
    key = (spec, condition, name, _index.version())
    if key not in _SERVING:
        field = spec.fields[name]
        _SERVING[key] = next(
            (
                kind
                for kind in _index.kinds()
                if issubclass(condition, kind.conditions)
                and (kind.accepts(field) or spec.index_of(kind.name, field.name))
            ),
            None,
        )
    return _SERVING[key]


def plan(
    model: type[Model],
    where: c.Cond[Any] | None,
    order: Ordering[Any] | None,
    offset: int,
    limit: int | None,
    mode: str,
    tags: Sequence[str] | None = None,
) -> Plan | Fanout:
    """Plan a query over ``model``: one plan, or a ``Fanout`` of one plan per tag.

    A query runs in one tag when the model is neither partitioned nor sharded, or when it
    names one partition (an equality on each partition field at its top level). It fans out
    over the shards of a sharded model; over the partitions it names with ``in_()`` on
    partition fields; or, naming none, over ``tags``: the partitions the model's registry
    lists, read by the caller (``Query.across_partitions()``). Without ``tags``, a query of a
    partitioned model that names no partition is refused.
    """
    spec = model.__typedis_spec__
    layout = _layout(spec)
    conds = _conjuncts(where)
    none: dict[str, str] = {}  # the partition texts of a tag that is no partition
    targets = [(layout.tag or "", none)]
    over = ""
    if spec.shards:
        targets, over = [(t, none) for t in spec.shard_tags()], f"the {spec.shards} shards"
    elif spec.partition:
        named = _take_partitions(spec, conds, given=tags is not None)
        if named is None:
            named = [_partition_of(spec, t) for t in tags or ()]
            over = f"every partition the registry {_keys.partitions(spec.name)} lists"
        elif len(named) != 1:
            over = f"the {len(named)} partitions named by in_()"
        targets = [(_keys.tag(spec.name, [p[f] for f in spec.partition]), p) for p in named]
    if not over:
        offset_here, limit_here = offset, limit
    else:  # each source returns its first offset + limit matches; the merge skips the offset
        offset_here, limit_here = 0, None if limit is None else offset + limit
    order_of = layout.order if order is None else _order(model, order)
    how = order.source.how if order and isinstance(order.source, Rank) else "SUM"
    plans: list[Plan] = []
    shared: Node | None = None  # the node of every tag, when it does not depend on the partition
    for tag, partition in targets:
        node = shared
        if node is None:
            compiler = Compiler(model, spec, partition, layout.direct_key)
            parts = [compiler.node(cond) for cond in conds]
            node = ["all"] if not parts else parts[0] if len(parts) == 1 else ["and", parts]
            if not compiler.keyed:
                shared = node
        plans.append(
            Plan(
                tag,
                node,
                order_of,
                min(offset_here, _MAX_PAGE),
                -1 if limit_here is None else min(limit_here, _MAX_PAGE),
                mode,
                spec.read,
                layout.reads if mode in _READ_MODES else (),
                how,
            )
        )
    if not over:
        return plans[0]
    if spec.shards and shared is not None and shared[0] == "ids":
        plans = _by_shard(spec, plans, shared[1])
    return Fanout(
        tuple(plans), over, min(offset, _MAX_PAGE), -1 if limit is None else min(limit, _MAX_PAGE)
    )


def _by_shard(spec: ModelSpec, plans: list[Plan], ids: list[str]) -> list[Plan]:
    """The plans of a sharded query by key: those of the shards holding the ids, each with its
    own ids (a record's shard follows from its id)."""
    held: dict[str, list[str]] = {}
    for rid in ids:
        held.setdefault(_keys.shard_tag(spec.name, _keys.shard_of(rid, spec.shards)), []).append(
            rid
        )
    return [replace(p, where=["ids", held[p.tag]]) for p in plans if p.tag in held]


def needs_registry(model: type[Model], where: c.Cond[Any] | None) -> bool:
    """Whether a query over ``model`` names no partition of a partitioned model: it runs over
    the partitions the model's registry lists, once the caller has read them."""
    spec = model.__typedis_spec__
    return bool(spec.partition) and _take_partitions(spec, _conjuncts(where), given=True) is None


def _partition_of(spec: ModelSpec, tag: str) -> dict[str, str]:
    """The partition texts of a tag the registry lists (``QueryError`` for a stray one)."""
    texts = _keys.partition_texts(spec.name, tag)
    if texts is None or len(texts) != len(spec.partition):
        raise QueryError(
            f"{spec.name}: the registry {_keys.partitions(spec.name)} lists {tag!r}, which is "
            "not a partition of this model (remove it from the set)"
        )
    return dict(zip(spec.partition, texts, strict=True))


def _conjuncts(where: c.Cond[Any] | None) -> list[c.Cond[Any]]:
    if where is None:
        return []
    if isinstance(where, c.And):
        return [part for p in where.parts for part in _conjuncts(p)]
    return [where]


def _take_partitions(
    spec: ModelSpec, conds: list[c.Cond[Any]], *, given: bool
) -> list[dict[str, str]] | None:
    """The partitions a query names (their texts), removing the conditions that name them: an
    equality or ``in_()`` on each partition field at the top level of the query. Some field
    not named: None if ``given`` (the caller lists the partitions), else ``QueryError``."""
    found: dict[str, list[str]] = {}
    for cond in list(conds):
        if not isinstance(cond, c.Eq | c.In) or cond.ref.name not in spec.partition:
            continue
        values = Compiler.values(cond)
        if None in values:
            continue
        codec = spec.fields[cond.ref.name].codec
        texts = list(dict.fromkeys(text(codec, validated(cond.ref, v)) for v in values))
        if cond.ref.name in found:  # two conditions on one field: the partitions both name
            texts = [t for t in found[cond.ref.name] if t in texts]
            if not texts:
                raise QueryError(
                    f"{spec.name}: two different values for partition field {cond.ref.name!r}"
                )
        found[cond.ref.name] = texts
        conds.remove(cond)
    missing = [p for p in spec.partition if p not in found]
    if not missing:
        return [
            dict(zip(spec.partition, texts, strict=True))
            for texts in product(*(found[p] for p in spec.partition))
        ]
    if given:
        return None
    raise QueryError(
        f"{spec.name} is partitioned by {spec.partition}: filter on "
        + " and ".join(f"{spec.name}.{p} == ..." for p in missing)
        + " (an equality condition or in_() at the top level of the query), or run it over "
        f"every partition: {spec.name}.query.across_partitions()"
    )


def _order(model: type[Model], order: Ordering[Any]) -> Order | KindOrder:
    """The plan's order of ``order_by(order)`` (without one, the model's: ``_layout``)."""
    spec = model.__typedis_spec__
    source = order.source
    if isinstance(source, Decayed):
        return _decayed(model, source)
    terms = source.terms if isinstance(source, Rank) else ((source, 1.0),)
    for ref, _ in terms:
        if ref.model is not model:
            raise QueryError(f"cannot order {spec.name} by {ref!r}, a field of another model")
    return tuple((_ordering_suffix(spec, ref.name), w) for ref, w in terms), order.descending


def _decayed(model: type[Model], decayed: Decayed[Any]) -> Order | KindOrder:
    """The order of ``ref.decayed(at)``: its kind's own order, or its sorted set, descending."""
    spec, ref = model.__typedis_spec__, decayed.ref
    index = next((i for i in spec.indexes if i.fields == (ref.name,) and i.kind.touchable), None)
    if ref.model is not model or index is None:
        raise QueryError(f"{spec.name} cannot be ordered by {decayed!r}: not its Decaying field")
    at = decayed.at
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    kind_order = index.kind.order(index, None if at is None else round(at.timestamp() * 1000))
    return kind_order if kind_order is not None else (((index.suffix, 1.0),), True)


def _ordering_suffix(spec: ModelSpec, name: str) -> str:
    """The sorted set that orders by field ``name``."""
    index = next((i for i in spec.indexes if i.fields == (name,) and i.kind.orders), None)
    if index is None:
        kinds = [k for k in _index.kinds() if k.orders]
        markers = ", ".join(m.__name__.removesuffix("Marker") for k in kinds for m in k.markers)
        usable = [i.fields[0] for i in spec.indexes if i.kind.orders and len(i.fields) == 1]
        raise QueryError(
            f"{spec.name}.{name} cannot order results: an order takes a field marked "
            f"{markers}; {spec.name} has " + (", ".join(usable) or "none")
        )
    return index.suffix


def validated(ref: FieldRef[Any, Any], value: Any) -> Any:
    """A query value validated as the field's type (``QueryError`` when it is not one)."""
    try:
        valid = ref.model.__typedis_spec__.validator(ref.name).validate_python(value)
    except ValidationError as error:
        raise QueryError(
            f"{ref!r}: {value!r} is not a valid value: {error.errors()[0]['msg']}"
        ) from None
    return c.utf8(ref, valid)


class Compiler:
    """Turns conditions into query nodes; index kinds compile the conditions they serve."""

    def __init__(
        self,
        model: type[Model],
        spec: ModelSpec,
        partition: dict[str, str],
        direct_key: str | None,
    ) -> None:
        self.model = model
        self.spec = spec
        self.partition = partition
        self.direct_key = direct_key  # the key an id follows from
        self.keyed = False  # whether a node compiled depends on the partition's values

    def node(self, cond: c.Cond[Any]) -> Node:
        if isinstance(cond, c.And):
            return ["and", [self.node(p) for p in cond.parts]]
        if isinstance(cond, c.Or):
            return ["or", [self.node(p) for p in cond.parts]]
        if isinstance(cond, c.Not):
            return ["not", self.node(cond.part)]
        ref: FieldRef[Any, Any] | None = getattr(cond, "ref", None)
        if not isinstance(ref, FieldRef):
            raise QueryError(f"not a query condition: {cond!r}")
        field = self.field(ref)
        if isinstance(cond, c.Eq | c.In):
            if not self.values(cond):  # in_([]): nothing matches
                return ["ids", []]
            if field.name in self.spec.partition or field.name == self.direct_key:
                return self.by_key(cond, field)
        kind = _serving(self.spec, type(cond), field.name)
        if kind is None:
            needs = next((k.needs for k in _index.kinds() if isinstance(cond, k.conditions)), "")
            raise QueryError(f"{ref!r}: {needs or 'no index serves ' + repr(cond)}")
        return kind.compile(self, cond, field)

    def field(self, ref: FieldRef[Any, Any]) -> FieldSpec:
        """The spec of the field a reference names (which must be of this query's model)."""
        if ref.model is not self.model:
            raise QueryError(f"{ref!r} is a field of {ref.model.__name__}, not {self.spec.name}")
        return self.spec.fields[ref.name]

    def index(self, kind: IndexKind, field: FieldSpec) -> IndexSpec:
        """The model's index of ``kind`` over ``field``."""
        index = self.spec.index_of(kind.name, field.name)
        if index is None:
            raise QueryError(f"{self.spec.name}.{field.name} has no {kind.name} index")
        return index

    def validated(self, ref: FieldRef[Any, Any], value: Any) -> Any:
        return validated(ref, value)

    @staticmethod
    def values(cond: c.Eq[Any] | c.In[Any]) -> list[Any]:
        return [cond.value] if isinstance(cond, c.Eq) else list(cond.values)

    def texts(self, cond: c.Eq[Any] | c.In[Any]) -> list[str | None]:
        """The canonical texts of an equality's values (None for None)."""
        codec = self.spec.fields[cond.ref.name].codec
        return [
            None if v is None else text(codec, validated(cond.ref, v)) for v in self.values(cond)
        ]

    def by_key(self, cond: c.Eq[Any] | c.In[Any], field: FieldSpec) -> Node:
        """Equality on a partition field, or on the key field that makes up record ids."""
        texts = self.texts(cond)
        spec = self.spec
        self.keyed = self.keyed or bool(spec.partition)
        if field.name in spec.partition:  # inside an Or or Not: true exactly for this partition
            return [
                "or",
                [["all"] if t == self.partition[field.name] else ["ids", []] for t in texts],
            ]
        key_texts = [
            [self.partition[k] if k in spec.partition else t for k in spec.keys]
            for t in texts
            if t is not None
        ]
        return ["ids", [_keys.record_id(k) for k in key_texts]]


# Each shape in words, and its cost class: N records of the tag (of the order's sorted set), M
# matches, S the smallest part of the filter's conjunction, K its parts, k = offset + limit
# (M without a limit).
_SHAPES = {
    "index": "index page: walks {z} from the offset, O(log N + k)",
    "range": "range page: walks the range of {z} from the offset, O(log N + k)",
    "ordered": (
        "ordered scan with early stop: walks {z} keeping the matches, O(k·N/M·K); "
        f"after {WALK_BUDGET}·S ids without a full page, intersection and sort instead, "
        "O(S·K + M log M)"
    ),
    "scan": "scan with early stop: walks the smallest part, checking the others, O(k·S/M·K)",
    "sort": "sort: every match ordered before the page is cut, O(S·K + M log M)",
    "scan all": (
        "scan: walks the smallest part, checking the others, O(S·K); the client orders the "
        "matches by id, O(M log M)"
    ),
    "count": "exact count: every match's hash checked, O(S·K + M)",
    "empty": "empty page: nothing is read, O(1)",
}


def describe(p: Plan | Fanout) -> str:
    """A plan in words: its filter, order, page, shape and cost class; a fan-out's tags, the
    plan each runs (the first one's, in words) and the merge."""
    if isinstance(p, Fanout):
        return _describe_fanout(p)
    head, shape = _described(p)
    return f"{head}; {p.mode} in one function call; {shape}"


def _described(p: Plan) -> tuple[str, str]:
    """A plan's tag, filter, order and page in words; and its shape with its cost class."""
    where = _describe(p.where)
    order = "in no order"
    if isinstance(p.order, dict):
        order = _index.named(p.order["kind"]).describe_order(p.order)
    elif p.order:
        by, descending = p.order
        way = "descending" if descending else "ascending"
        if len(by) == 1 and by[0][1] == 1:
            order = f"ordered by sorted set {by[0][0]} {way}"
        else:
            terms = " + ".join(f"{w!r} * {suffix}" for suffix, w in by)
            how = "" if p.aggregate == "SUM" else f" (aggregate {p.aggregate})"
            order = f"ordered by rank {terms}{how} {way}"
    page = f"offset {p.offset}" + ("" if p.limit < 0 else f", limit {p.limit}")
    named = "scan all" if p.sorted_by_client else p.shape
    shape = _cardinality(p.where) if p.shape == "cardinality" else _SHAPES[named]
    return f"in {p.tag}: {where}; {order}; {page}", shape.format(z=p.plain_order())


def _describe_fanout(f: Fanout) -> str:
    calls = f"{len(f.plans)} function call{'' if len(f.plans) == 1 else 's'}"
    if not f.plans:
        return f"fan-out over {f.over}: none, nothing to run"
    first = f.plans[0]
    if first.mode == "count":
        merge = "the counts summed"
    else:
        if first.order is not None:
            merge = (
                "a k-way merge on the order's score, then the id (ties as in one tag; records "
                "without a score last, by id)"
            )
        elif f.limit < 0:
            merge = "a k-way merge by id"
        else:
            merge = "the pages joined in no defined order"
        merge += f", then offset {f.offset}" + ("" if f.limit < 0 else f", limit {f.limit}")
        if f.share is not None:
            merge = (
                f"each tag first asked for {f.share} of its first {f.offset + f.limit}, those "
                f"that may hold more of the page asked again; {merge}"
            )
    head, shape = _described(first)
    plan_of_tag = head.split(": ", 1)[1]
    return (
        f"fan-out over {f.over}: {calls} sent together in one pipeline, each in its tag (the "
        f"first: {first.tag}): {plan_of_tag}; {first.mode}; {shape}; merged on the client: "
        f"{merge}"
    )


def _cardinality(where: Node) -> str:
    """The ``cardinality`` shape of ``where`` in words, with its cost class."""
    how = {
        "all": "SCARD of every record's set, O(1)",
        "set": "SCARD of the index set, O(1)",
        "range": "ZCOUNT of the sorted set, O(log N)",
        "and": (
            "ZINTERCARD of the parts' keys (a part that is no index set built first); with a "
            "range, a walk of the smallest part testing the others (a range by ZSCORE), O(S·K)"
        ),
    }.get(where[0], "the cardinality of the matches' set algebra, O(S·K + M)")
    return (
        "index count (expired records not yet swept and records deleted outside typedis "
        f"included): {how}"
    )


def _describe(node: Node) -> str:
    op = node[0]
    if op == "all":
        return "every record (set all)"
    if op == "ids":
        return f"records by key {node[1]}"
    if op == "not":
        return f"all except ({_describe(node[1])})"
    if op in ("and", "or"):
        joined = ", ".join(_describe(n) for n in node[1])
        return f"{'intersection' if op == 'and' else 'union'} of ({joined})"
    kind = _index.serving_node(op)
    return kind.describe(node) if kind else f"node {node!r}"
