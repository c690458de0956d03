"""``IndexKind``: everything about one kind of secondary index, declared in one place.

A kind says which markers it indexes and which field types it accepts, how its Redis key is
named and what Redis type it holds, the options it carries to the server, what the client sends
for it at save time, the field reference a marker of it gives on the class, the query nodes it
compiles and how ``check_indexes()`` verifies it. Its server side is ``lua/index/<name>.lua``
(see the contract at the top of ``lua/_lib.lua``); the write scripts are loops over kinds.

Every method is pure: the store, the planner and the maintenance code do the I/O.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, cast

from .. import _keys
from .._codec import Arg as Arg  # re-exported for the kinds
from .._codec import FieldCodec
from .._errors import ModelError, QueryError
from .._markers import Marker

if TYPE_CHECKING:
    from .._codegen import Fresh
    from .._query._conditions import Cond
    from .._query._planner import Compiler, Node
    from .._query._refs import FieldRef
    from .._spec import FieldSpec, IndexSpec, ModelSpec

Records = Mapping[str, Mapping[str, str]]  # record id -> stored texts by field
Held = Mapping[str, Any]  # index key -> its contents: set of members, hash dict or zset scores


class Stale(NamedTuple):
    """An index entry to remove (in the form ``IndexKind.held`` gives: key, member, and a
    sorted set's score or a hash field's value) and the id of the record it points at."""

    entry: tuple[Any, ...]
    target: str


def orphans(
    held: Held, keys: Sequence[str], records: Records, ids: Callable[[str], Iterable[str]]
) -> list[Stale]:
    """The members of the sorted sets ``keys`` that name a record not stored: ``ids`` gives
    the record ids a member names (the first one missing is the entry's target)."""
    out: list[Stale] = []
    for key in keys:
        contents: Mapping[str, float] = held.get(key, {})
        for member, score in contents.items():
            gone = next((rid for rid in ids(member) if rid not in records), None)
            if gone is not None:
                out.append(Stale((key, member, score), gone))
    return out


class Shape(NamedTuple):
    """What a kind may need to know of the model when it decides which fields to index."""

    keys: tuple[str, ...]
    partition: tuple[str, ...]

    @property
    def free_keys(self) -> tuple[str, ...]:
        """The key fields outside the partition (they make up a record id)."""
        return tuple(k for k in self.keys if k not in self.partition)


class AddLua(NamedTuple):
    """A kind's straight-line Lua for the entry of a record saved fresh (``IndexKind.add_lua``).

    Each part is Lua source over the names ``Fresh`` gives (``tag``, ``id``, the record's
    texts, arguments and derived values); ``wanted`` is the call's table of key -> Redis type.
    """

    keys: str  # statements adding each key the entry writes to wanted (Fresh.want)
    write: str  # statements writing the entry (the record's hash is written before them)
    conflict: str = ""  # an expression, true when the entry breaks the index's constraint
    # (a holder in ``mine``, the call's ids at the tag, is no conflict)
    claim: str = ""  # an expression: the value the constraint holds to one record, or nil


class IndexKind(ABC):
    """Base of index kinds; subclasses set the class attributes and override what differs."""

    name: ClassVar[str]  # its name in the scripts' SPEC, and its Lua file lua/index/<name>.lua
    letter: ClassVar[str]  # key letter: <tag>:<letter>:<field>
    redis_type: ClassVar[str]  # "set", "hash", "zset" or "string" (a bitmap)
    markers: ClassVar[tuple[type[Marker], ...]] = ()  # the markers whose fields it indexes
    composite: ClassVar[bool] = False  # serves Index(...) over several fields
    by_text: ClassVar[bool] = False  # entries are named by the value's text
    orders: ClassVar[bool] = False  # its sorted set (member: id) can order query results
    conditions: ClassVar[tuple[type[Cond[Any]], ...]] = ()  # the conditions it serves
    needs: ClassVar[str] = ""  # what those conditions need, said when a field cannot serve them
    nodes: ClassVar[tuple[str, ...]] = ()  # the query node operators its Lua evaluates
    reports: ClassVar[tuple[str, ...]] = ()  # the check_indexes() entries it counts under
    option_names: ClassVar[Mapping[str, str]] = {}  # field() options it reads -> who takes them
    derived: ClassVar[bool] = False  # indexes fields of other kinds' markers (e.g. prefix)
    companions: ClassVar[tuple[str, ...]] = ()  # suffixes of more keys beside its own
    checks_scores: ClassVar[bool] = False  # check_indexes() compares a sorted set's scores
    touchable: ClassVar[bool] = False  # its Lua has touch() (lua/touch.lua)
    kept: ClassVar[bool] = False  # its keys outlive delete_all() (a change log)
    per_tag: ClassVar[bool] = False  # one structure per tag, read a tag (partition) at a time by
    # its own functions (a filter, a ledger, edges, a change log): refused with shards=
    on_read: ClassVar[bool] = False  # its Lua has read(tag, ix, id, key), run on every record a
    # query or load returns (the access kind stages a read); such reads write to the record

    def __repr__(self) -> str:
        return f"<index kind {self.name}>"

    # ---- declaration ------------------------------------------------------------------------

    def accepts(self, field: FieldSpec) -> bool:
        """Whether the kind can index this field (its marker is one of the kind's)."""
        return isinstance(field.marker, self.markers)

    def applies(self, field: FieldSpec, shape: Shape) -> bool:
        """Whether a field of this model gets an index of this kind."""
        return self.accepts(field)

    @abstractmethod
    def check_field(self, where: str, field: FieldSpec) -> None:
        """Refuse a field of the kind's markers whose type it cannot index (``ModelError``)."""

    def suffix(self, fields: tuple[str, ...]) -> str:
        """The index key's part after ``<tag>:`` (see ``_keys``)."""
        return f"{self.letter}:{'+'.join(_keys.escape(f) for f in fields)}"

    def codec(self, marker: Marker, annotation: Any) -> FieldCodec | None:
        """How the kind's fields (``marker``, of type ``annotation``) are stored, when not as
        the type's own values are (``_codec.codec_for``); None (the default) for the type's."""
        return None

    def options(self, field: FieldSpec) -> Mapping[str, str | float]:
        """The options the server side reads (the index's ``opts`` in the scripts' SPEC)."""
        return {}

    def argument(self, field: FieldSpec) -> Callable[[Any], Arg] | None:
        """How a value becomes the argument the save script reads for this index, if any.

        A kind that returns one declares ``arg = true`` in its Lua table.
        """
        return None

    def add_lua(self, index: IndexSpec, fresh: Fresh) -> AddLua | None:
        """Straight-line Lua writing the entry of a record saved fresh (none was stored), the
        same writes as the Lua ``add``; None (the default) leaves every model with an index of
        this kind on the generic save steps (``_codegen.fast_path``).
        """
        return None

    def hidden(self, index: IndexSpec) -> tuple[str, ...]:
        """Hidden hash fields (``~...``) the kind keeps in the record, read with its fields."""
        return ()

    def ref(self, field: FieldSpec) -> type[FieldRef[Any, Any]] | None:
        """The reference class of a field whose marker is one of the kind's."""
        return None

    def order(self, index: IndexSpec, at_ms: int | None) -> dict[str, Any] | None:
        """An order the kind's Lua computes (``ORDERS``), for ``ref.decayed()``-style orders;
        None when its sorted set's own scores give the order."""
        return None

    def describe_order(self, order: dict[str, Any]) -> str:
        """One of the kind's orders in words, for ``Query.explain()``."""
        return f"ordered by the {self.name} index {order['suffix']}"

    def report(self, index: IndexSpec) -> str:
        """The ``check_indexes()`` entry that counts this index's faults."""
        return self.reports[0]

    @cache  # noqa: B019 (kinds are module-level singletons)
    def lua(self) -> str:
        """The kind's Lua (``lua/index/<name>.lua``), to override for a kind shipped elsewhere."""
        return (resources.files("typedis") / "lua" / "index" / f"{self.name}.lua").read_text()

    # ---- queries ------------------------------------------------------------------------------

    def compile(self, ctx: Compiler, cond: Cond[Any], field: FieldSpec) -> Node:
        """The query node for a condition of ``conditions`` on ``field``."""
        raise QueryError(f"{cond!r}: not served by a {self.name} index")

    def describe(self, node: Node) -> str:
        """One of the kind's query nodes in words, for ``Query.explain()``."""
        return f"{self.name} index {node[1:]}"

    # ---- health ---------------------------------------------------------------------------------

    def stored_keys(self, tag: str, index: IndexSpec, keys: Iterable[str]) -> list[str]:
        """Which of a tag's keys (all of them, from SCAN) hold this index."""
        own = f"{tag}:{index.suffix}"
        return [k for k in (own, *(own + c for c in self.companions)) if k in keys]

    def entries(
        self, spec: ModelSpec, tag: str, index: IndexSpec, records: Records, now_ms: float
    ) -> Counter[Any]:
        """The entries the records imply, in the form ``held`` gives.

        By default: the ids of the records holding a value, in the index's one key.
        """
        key, name = f"{tag}:{index.suffix}", index.fields[0]
        return Counter((key, rid) for rid, v in records.items() if name in v)

    def held(self, held: Held) -> Counter[Any]:
        """The entries the server holds, in the form ``entries`` gives."""
        out: Counter[Any] = Counter()
        for key, contents in held.items():
            if self.redis_type == "hash" or self.checks_scores:
                out.update((key, *pair) for pair in contents.items())
            else:  # a set, or a sorted set whose scores are not derivable from the records
                out.update((key, member) for member in contents)
        return out

    def check(
        self,
        spec: ModelSpec,
        tag: str,
        index: IndexSpec,
        records: Records,
        held: Held,
        now_ms: float,
    ) -> int:
        """How many entries are orphaned, missing or wrong (0 when the index is right)."""
        return difference(self.entries(spec, tag, index, records, now_ms), self.held(held))

    def stale(
        self,
        spec: ModelSpec,
        tag: str,
        index: IndexSpec,
        records: Records,
        held: Held,
        now_ms: float,
    ) -> list[Stale]:
        """The held entries ``clean_indexes()`` removes: orphaned or of a wrong value.

        By default those ``held`` has and ``entries`` lacks, except a member whose score alone
        is wrong (it still finds its record; ``rebuild_indexes()`` rescores it).
        """
        expected = self.entries(spec, tag, index, records, now_ms)
        extra = self.held(held) - expected
        if self.checks_scores:
            members = {entry[:2] for entry in expected}
            extra = Counter({e: n for e, n in extra.items() if e[:2] not in members})
        return [Stale(entry, target) for entry in extra if (target := self.target(entry))]

    def target(self, entry: tuple[Any, ...]) -> str | None:
        """The id of the record an entry (in the form ``held`` gives) points at; None for an
        entry of no one record, which ``clean_indexes()`` leaves."""
        return str(entry[2] if self.redis_type == "hash" else entry[1])


# dict's == compares two Counters at C speed (Counter's own == loops in Python).
_same = cast(Callable[[Counter[Any], Counter[Any]], bool], dict.__eq__)  # pyright: ignore[reportUnknownMemberType]


def difference(expected: Counter[Any], actual: Counter[Any]) -> int:
    """How many entries one has and the other lacks (a healthy index: compared at C speed)."""
    if _same(expected, actual):
        return 0
    return sum(((expected - actual) + (actual - expected)).values())


def check_valueless(where: str, field: FieldSpec, alias: str) -> None:
    """Refuse a field of a kind whose field holds no value unless it is declared ``None``."""
    if field.annotation is not type(None):
        raise ModelError(
            f"{where}: a {type(field.marker).__name__} field holds no value; declare it "
            f"'{alias} = field(default=None)'"
        )


def check_fractions(where: str, marker: Marker, names: Iterable[str], *, open_low: bool) -> None:
    """Refuse a marker option of ``names`` outside [0, 1] (``open_low``: outside (0, 1])."""
    for name in names:
        value = cast(object, getattr(marker, name))
        inside = (
            not isinstance(value, bool)
            and isinstance(value, int | float)
            and (value > 0 if open_low else value >= 0)
            and value <= 1
        )
        if not inside:
            interval = "(0, 1]" if open_low else "[0, 1]"
            raise ModelError(
                f"{where}: {type(marker).__name__}({name}=...) must be in {interval}, got {value!r}"
            )
