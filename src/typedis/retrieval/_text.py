"""BM25 candidates: the text path of ``Query.search()`` and ``idf()``.

The query's text is analyzed here, on the client, with the field's analyzer; one call of the
model library's ``text_search`` function (``lua/text_search.lua``) per tag scores the postings
on the server, with MaxScore-style pruning, tests each candidate against the query's filters
and reads the top records, in one round trip. A query over several partitions sends one call
per partition in one pipeline and merges by score.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar, cast

from .. import _index, _keys, _lua, _scripts, _store
from .._analyzer import terms
from .._codec import text as stored_text
from .._errors import ModelError, QueryError
from .._index.text_kind import TEXT, TextRef, bm25_idf, marker_of, term_key
from .._query._planner import Fanout, Plan

if TYPE_CHECKING:
    from .._model import Model
    from .._query._query import Located, Query, Steps
    from .._spec import IndexSpec, ModelSpec

M = TypeVar("M", bound="Model")

_index.register(TEXT)
_lua.operation("text_search")
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def text_index(model: type[Model], where: str) -> IndexSpec:
    """The model's one text index (``QueryError`` when it has none or several)."""
    spec = model.__typedis_spec__
    found = [ix for ix in spec.indexes if ix.kind is TEXT]
    if len(found) != 1:
        raise QueryError(
            f"{where}: {spec.name} has {'no' if not found else len(found)} Text fields; "
            "search() needs exactly one (declare body: Text[str])"
        )
    return found[0]


def check_k(where: str, k: object) -> int:
    """``k`` as an int >= 1 (``QueryError`` otherwise)."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise QueryError(f"{where}: k takes an int >= 1, got {k!r}")
    return k


def query_terms(index: IndexSpec, spec: ModelSpec, text: object, where: str) -> list[str]:
    """The distinct terms of a query text, analyzed as the field's texts are."""
    if not isinstance(text, str):
        raise QueryError(f"{where}: text takes a str, got {text!r}")
    analyzer = marker_of(spec.fields[index.fields[0]]).analyzer
    return list(dict.fromkeys(terms(analyzer, text)))


def _plans(query: Query[Any], where: str) -> Steps[list[Plan]]:
    if query.ordering is not None or query.skip or query.take is not None:
        raise QueryError(
            f"{where}: search() ranks by score and takes k; drop order_by(), offset() and "
            "limit() from the query"
        )
    planned = yield from query._planned("records")  # pyright: ignore[reportPrivateUsage]
    return list(planned.plans) if isinstance(planned, Fanout) else [planned]


def _call(
    spec: ModelSpec, index: IndexSpec, p: Plan, words: list[str], k: int, read: bool, prune: bool
) -> _scripts.Call[list[Any]]:
    request = {
        "tag": p.tag,
        "suffix": index.suffix,
        "terms": words,
        "k": k,
        "prune": prune,
        "where": p.where,
        "filter": replace(p, mode="ids", reads=()).program(),
        "read": json.loads(replace(p, where=["ids", ["-"]]).program()) if read else None,
    }
    function = _lua.library(spec).function("text_search")
    return _scripts.Call(function, (_keys.all_ids(p.tag),), (_JSON.encode(request),), list, False)


def _scored(p: Plan, reply: list[Any]) -> list[tuple[float, str, str]]:
    ids, scores = reply[0], reply[1]
    return [(float(s), p.tag, rid.decode()) for rid, s in zip(ids, scores, strict=True)]


def _best(found: Iterable[tuple[float, str, str]], k: int) -> list[tuple[float, str, str]]:
    """The k best (score descending, then tag and id) of every tag's candidates."""
    return sorted(found, key=lambda t: (-t[0], t[2], t[1]))[:k]


def _ranked(
    query: Query[Any], text: str, k: int, *, read: bool, prune: bool
) -> Steps[tuple[list[tuple[float, str, str]], dict[tuple[str, str], Any]]]:
    """The k best (score, tag, id) of the query for ``text`` over its tags and, with ``read``,
    the stored values of each, by (tag, id)."""
    where = f"{query.model.__name__}.query.search()"
    k = check_k(where, k)
    spec = query.model.__typedis_spec__
    index = text_index(query.model, where)
    words = query_terms(index, spec, text, where)
    plans = yield from _plans(query, where)
    if not words:
        return [], {}
    replies = yield [_call(spec, index, p, words, k, read, prune) for p in plans]
    found: list[tuple[float, str, str]] = []
    rows: dict[tuple[str, str], Any] = {}
    for p, reply in zip(plans, replies, strict=True):
        found += _scored(p, reply)
        flat: list[Any] = reply[3] if len(reply) > 3 else []
        for at in range(0, len(flat), 2):  # id, values, id, values...
            rows[(p.tag, flat[at].decode())] = flat[at + 1]
    return _best(found, k), rows


def text_candidates(
    query: Query[Any], text: str, n: int, *, prune: bool = True
) -> Steps[list[tuple[Located, float]]]:
    """The ``n`` best records of the query for ``text`` by BM25, best first: ((tag, id), score).

    Records are not read; the filters of the query restrict the candidates.
    """
    best, _ = yield from _ranked(query, text, n, read=False, prune=prune)
    return [((tag, rid), score) for score, tag, rid in best]


def text_hits(
    query: Query[M], text: str, k: int, *, prune: bool = True
) -> Steps[list[tuple[M, float]]]:
    """The ``k`` best records of the query for ``text`` with their BM25 scores, read in the
    same call as the scoring (which passes over a record whose hash was deleted outside
    typedis, its postings left behind, for the next best)."""
    best, rows = yield from _ranked(query, text, k, read=True, prune=prune)
    read = _store.reader(query.model)
    return [
        (read(rows[(tag, rid)], (tag, rid)), score)
        for score, tag, rid in best
        if (tag, rid) in rows
    ]


# ---- idf ---------------------------------------------------------------------------------------


def _idf_calls(
    ref: object, tokens: object, partition: object
) -> tuple[list[_scripts.Call[int]], Callable[[list[int]], dict[str, float]]]:
    """The reads of ``idf()`` (document counts) and how their replies become its result."""
    what = "idf()"
    if not isinstance(ref, TextRef):
        raise ModelError(f"{what}: the first argument must be a Text field such as Note.body")
    target = cast("TextRef[Model]", ref)
    spec = target.model.__typedis_spec__
    index = spec.index_of(TEXT.name, target.name)
    assert index is not None  # every Text field has its index
    given: object = [tokens] if isinstance(tokens, str) else tokens
    items = list(cast(Sequence[object], given)) if isinstance(given, Sequence) else None
    if items is None or not all(isinstance(t, str) for t in items):
        raise QueryError(f"{what}: tokens takes a str or a list of str, got {tokens!r}")
    words = cast(list[str], items)
    tag = _tag(spec, partition, f"{what} of {target!r}")
    analyzer = marker_of(spec.fields[target.name]).analyzer
    analyzed = {w: terms(analyzer, w) for w in words}
    distinct = list(dict.fromkeys(t for found in analyzed.values() for t in found))
    keys = [f"{tag}:{index.suffix}", *(term_key(tag, index, t) for t in distinct)]
    calls = [_scripts.Call(_scripts.Read("ZCARD"), (key,), (), int, write=False) for key in keys]

    def finish(counts: list[int]) -> dict[str, float]:
        n, dfs = counts[0], dict(zip(distinct, counts[1:], strict=True))
        if n == 0:
            return dict.fromkeys(words, 0.0)
        return {
            w: max((bm25_idf(n, dfs[t]) for t in found), default=0.0)
            for w, found in analyzed.items()
        }

    return calls, finish


def _tag(spec: ModelSpec, partition: object, where: str) -> str:
    if not spec.partition:
        if partition != ():
            raise QueryError(f"{where}: {spec.name} is not partitioned; omit partition=")
        assert spec.tag is not None
        return spec.tag
    values: Sequence[Any] = (
        cast(Sequence[Any], partition) if isinstance(partition, tuple | list) else (partition,)
    )
    if partition == () or len(values) != len(spec.partition):
        raise QueryError(
            f"{where}: {spec.name} is partitioned by {spec.partition}: pass partition= with "
            "one value for each (a tuple when there are several)"
        )
    texts = [
        stored_text(spec.fields[name].codec, spec.validator(name).validate_python(value))
        for name, value in zip(spec.partition, values, strict=True)
    ]
    return _keys.tag(spec.name, texts)


def idf(
    ref: TextRef[M], tokens: str | Sequence[str], *, partition: object = ()
) -> dict[str, float]:
    """BM25's inverse document frequency of each token in one partition, without a search.

    Each token is analyzed as the field's texts are (a stop word has no term: 0.0);
    ``idf = ln(1 + (N - df + 0.5) / (df + 0.5))`` with N the partition's documents and df
    those holding the token's term; a term no document holds gets ``ln(1 + (N + 0.5) / 0.5)``;
    an empty index gives 0.0 for every token.

    Args:
        ref: the ``Text`` field (``Note.body``).
        tokens: a token or a list of them.
        partition: the partition's value (a tuple for several partition fields).

    Raises:
        ModelError: ``ref`` is not a Text field.
        QueryError: bad ``tokens`` or ``partition``.

    Examples:
        >>> class Note(Model):
        ...     id: Key[str]
        ...     body: Text[str]
        >>> _ = Note(id="a", body="espresso").save(), Note(id="b", body="tea").save()
        >>> {t: round(v, 3) for t, v in idf(Note.body, ["espresso", "the"]).items()}
        {'espresso': 0.693, 'the': 0.0}
    """
    calls, finish = _idf_calls(ref, tokens, partition)
    return finish(_scripts.run_many(calls))


async def aidf(
    ref: TextRef[M], tokens: str | Sequence[str], *, partition: object = ()
) -> dict[str, float]:
    """``idf()`` on the asyncio client."""
    calls, finish = _idf_calls(ref, tokens, partition)
    return finish(await _scripts.arun_many(calls))
