"""Kind ``text``: BM25 postings of a str field, kept per tag (``Text[str]``).

The client runs the field's analyzer (``typedis._analyzer``) and sends, with the save, the
document's length in terms and each distinct term with its frequency; the save script writes
the postings, the document length and the corpus statistics in the same atomic call as the
record. Every key is a sorted set under the record's hash tag (one tenant's statistics never
mix with another's), ``<tag>:x:<field>`` then:

- ``<tag>:x:<field>``: record id -> document length (its ``ZCARD`` is the document count);
- ``<tag>:x:<field>:s``: ``len`` -> the total length, ``ref`` -> the reference length (the
  length of the first document indexed into an empty index);
- ``<tag>:x:<field>:d``: ``"<id>\\0<term>"`` scored 0, each document's terms (a lex range);
- ``<tag>:x:<field>:t:<term>``: record id -> the posting's *impact* at the reference length,
  ``tf·(k1+1) / (tf + k1·(1 - b + b·dl/ref))``. A posting list read best first is then close
  to BM25 order, and ``impact · max(1, avgdl/ref)`` bounds the posting's true term weight at
  the current average length: the search (``lua/text_search.lua``) stops reading once no
  unread posting can enter the top k. The exact frequency follows from the impact and ``dl``.

``check_indexes()`` recounts all of it from the records; ``clean_indexes()`` removes the
entries of records that are gone but not their share of the total length, which
``check_indexes()`` keeps reporting (deleting such a record through typedis removes both).
Until then a search skips the postings of a record whose hash is gone and walks on to k
stored records.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as declared
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Generic, TypeVar, cast

from .. import _keys
from .._analyzer import STANDARD, Analyzer, terms
from .._errors import ModelError
from .._markers import Marker
from .._query._refs import FieldRef
from ._kind import AddLua, Arg, Held, IndexKind, Records, Stale

if TYPE_CHECKING:
    from .._codegen import Fresh
    from .._model import Model
    from .._spec import FieldSpec, IndexSpec, ModelSpec

M = TypeVar("M", bound="Model")
T = TypeVar("T")

K1 = 1.2  # BM25's term-frequency saturation (the seed's and Okapi's usual value)
B = 0.75  # BM25's length normalisation


@dataclass(frozen=True, slots=True)
class BM25(Marker):
    """A str field searched by BM25 (``Annotated[str, BM25(...)]``; ``Text[str]`` for the
    defaults).

    Args:
        analyzer: text -> terms, run on the client at save and at search
            (default ``StandardAnalyzer()``: words, casefold, English stop words, stems).
        k1: term-frequency saturation, >= 0 (default 1.2).
        b: length normalisation, in [0, 1] (default 0.75).

    Examples:
        >>> class Doc(Model):
        ...     id: AutoKey = field(default_factory=new_id)
        ...     body: Annotated[str, BM25(k1=1.5, b=0.5)]
    """

    kind: ClassVar[str] = "text"
    analyzer: Analyzer = declared(default=STANDARD)
    k1: float = K1
    b: float = B


if TYPE_CHECKING:
    from typing import overload

    class Text(Generic[T]):
        """A str field searched by BM25 with the default analyzer (``Query.search``)."""

        @overload
        def __get__(self, obj: None, owner: type[M]) -> TextRef[M]: ...
        @overload
        def __get__(self, obj: object, owner: Any) -> T: ...
        def __get__(self, obj: object, owner: Any) -> Any: ...
        def __set__(self, obj: object, value: T) -> None: ...
else:
    Text = Annotated[T, BM25()]


class TextRef(FieldRef[M, str]):
    """A ``Text`` field: searched with ``Model.query.search()``, its statistics read with
    ``typedis.retrieval.idf()``."""

    __slots__ = ()


def weight(tf: float, dl: float, avgdl: float, k1: float, b: float) -> float:
    """BM25's term weight of a posting (without the idf): its impact at length ``avgdl``."""
    return tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))


def bm25_idf(n: int, df: int) -> float:
    """BM25's (Okapi, always positive) inverse document frequency: ln(1 + (N-df+½)/(df+½))."""
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def document(analyzer: Analyzer, text: str) -> tuple[int, Counter[str]]:
    """A text's length in terms and the frequency of each distinct term."""
    found = terms(analyzer, text)
    return len(found), Counter(found)


def encode(length: int, frequencies: Mapping[str, int]) -> str:
    """The save-time argument: ``<length>`` then ``\\0<term>\\0<tf>`` per distinct term."""
    parts = [str(length)]
    for term, tf in frequencies.items():
        parts += (term, str(tf))
    return "\0".join(parts)


def term_key(tag: str, index: IndexSpec, term: str) -> str:
    """The posting list of ``term``."""
    return f"{tag}:{index.suffix}:t:{_keys.escape(term)}"


def marker_of(field: FieldSpec) -> BM25:
    """The ``BM25`` marker of a text field."""
    marker = field.marker
    assert isinstance(marker, BM25)
    return marker


class TextKind(IndexKind):
    name = "text"
    letter = "x"
    redis_type = "zset"
    markers = (BM25,)
    per_tag = True  # statistics per tag: a sharded model would score each shard apart
    companions = (":s", ":d")
    reports = ("text",)

    def check_field(self, where: str, field: FieldSpec) -> None:
        marker = marker_of(field)
        if field.annotation is not str:
            raise ModelError(f"{where}: Text fields need a str (or str | None)")
        if not callable(marker.analyzer):
            raise ModelError(f"{where}: BM25(analyzer=...) must be a function str -> terms")
        k1, b = cast(object, marker.k1), cast(object, marker.b)  # as given
        if isinstance(k1, bool) or not isinstance(k1, int | float) or not 0 <= k1 < math.inf:
            raise ModelError(f"{where}: BM25(k1=...) must be a finite number >= 0, got {k1!r}")
        if isinstance(b, bool) or not isinstance(b, int | float) or not 0 <= b <= 1:
            raise ModelError(f"{where}: BM25(b=...) must be in [0, 1], got {b!r}")

    def options(self, field: FieldSpec) -> Mapping[str, str | float]:
        marker = marker_of(field)
        return {"k1": float(marker.k1), "b": float(marker.b)}

    def argument(self, field: FieldSpec) -> Callable[[Any], Arg]:
        analyzer = marker_of(field).analyzer

        def postings(value: str | None) -> str:
            return "" if value is None else encode(*document(analyzer, value))

        return postings

    def add_lua(self, index: IndexSpec, fresh: Fresh) -> AddLua:
        return fresh.delegated(index)

    def ref(self, field: FieldSpec) -> type[FieldRef[Any, Any]]:
        return TextRef

    def stored_keys(self, tag: str, index: IndexSpec, keys: Iterable[str]) -> list[str]:
        """The index's own keys and every posting list of the tag."""
        own = f"{tag}:{index.suffix}"
        fixed = {own, *(own + c for c in self.companions)}
        lists = own + ":t:"
        return [k for k in keys if k in fixed or k.startswith(lists)]

    # ---- health ---------------------------------------------------------------------------

    def entries(
        self, spec: ModelSpec, tag: str, index: IndexSpec, records: Records, now_ms: float
    ) -> Counter[Any]:
        """The entries the records imply, with the impacts at the reference length held (see
        ``held``: it reads the reference length first)."""
        return self._expected(spec, tag, index, records, None)

    def _expected(
        self, spec: ModelSpec, tag: str, index: IndexSpec, records: Records, ref: float | None
    ) -> Counter[Any]:
        name = index.fields[0]
        marker = marker_of(spec.fields[name])
        parse = spec.validator(name).validate_python
        own = f"{tag}:{index.suffix}"
        out: Counter[Any] = Counter()
        total = 0
        for rid, v in records.items():
            if name not in v:
                continue
            length, frequencies = document(marker.analyzer, parse(v[name]))
            total += length
            out[(own, rid, float(length))] += 1
            for term, tf in frequencies.items():
                out[(f"{own}:d", f"{rid}\0{term}", 0.0)] += 1
                score = None if ref is None else weight(tf, length, ref, marker.k1, marker.b)
                out[(term_key(tag, index, term), rid, score)] += 1
        if out:
            out[(f"{own}:s", "len", float(total))] += 1
            out[(f"{own}:s", "ref", ref)] += 1
        return out

    def _compare(
        self, spec: ModelSpec, tag: str, index: IndexSpec, records: Records, held: Held
    ) -> tuple[Counter[Any], Counter[Any]]:
        """What the records imply and what the server holds (impacts equal to 1e-9 count as
        equal: the server computed them in Lua)."""
        own = f"{tag}:{index.suffix}"
        stats: Mapping[str, float] = held.get(f"{own}:s", {})
        expected = self._expected(spec, tag, index, records, stats.get("ref"))
        lists = f"{own}:t:"
        impacts = {e[:2]: e[2] for e in expected if str(e[0]).startswith(lists)}
        actual: Counter[Any] = Counter()
        for key, contents in held.items():
            for member, score in contents.items():
                near = impacts.get((key, member)) if key.startswith(lists) else None
                close = near is not None and math.isclose(near, score, rel_tol=1e-9)
                actual[(key, member, near if close else score)] += 1
        return expected, actual

    def check(
        self,
        spec: ModelSpec,
        tag: str,
        index: IndexSpec,
        records: Records,
        held: Held,
        now_ms: float,
    ) -> int:
        """Postings, lengths, terms and statistics that differ from a recount of the records."""
        expected, actual = self._compare(spec, tag, index, records, held)
        return sum(((expected - actual) + (actual - expected)).values())

    def stale(
        self,
        spec: ModelSpec,
        tag: str,
        index: IndexSpec,
        records: Records,
        held: Held,
        now_ms: float,
    ) -> list[Stale]:
        """The held entries of records that are not stored (the statistics stay)."""
        expected, actual = self._compare(spec, tag, index, records, held)
        own = f"{tag}:{index.suffix}"
        members = {e[:2] for e in expected}
        out: list[Stale] = []
        for entry in actual - expected:
            key, member = entry[0], str(entry[1])
            if key == f"{own}:s" or entry[:2] in members:
                continue
            target = member.partition("\0")[0] if key == f"{own}:d" else member
            out.append(Stale(entry, target))
        return out


TEXT = TextKind()
