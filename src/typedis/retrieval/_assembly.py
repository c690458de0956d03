"""Context assembly (``typedis.retrieval``): the records to put in a prompt, within a budget.

``ContextAssembler(Model, weights).assemble(cues, partition_filters=...)`` runs two paths in as
few round trips as the model allows and returns an ``AssemblyResult``:

- **pull** (when cues are given): the cues' text is searched by each source the model has,
  in one round trip: BM25 (``text_candidates``) over its ``Text`` field, and the nearest
  vectors (``vector_candidates``, cosine) to the text embedded by its ``Embedding`` field's
  provider; a model with neither ranks by the composite alone, blind to the cues.
  Co-occurrence spreads from the best candidates (``propagate``); one composite call
  restricted to the candidates and the records reached ranks them by the score weights plus
  each source's score (normalised by its best one, times ``text_weight`` or ``vector_weight``)
  plus the propagation scores (times ``cooccurrence_weight``), and reads them.
- **push**: records whose composite score reaches ``surfacing_threshold``, whatever the cues
  (the memory that surfaces by itself), sent in the first round trip.

Then pull before push, duplicates dropped (the same record twice; a record that renders to
the text of one before it, whose slot is not refilled), at most ``max_items``, the token
budget (a record that does not fit is skipped and the next one tried), and the output format.

Examples:
    >>> from typedis import Key, Model, Sorted
    >>> class Note(Model, partition="user"):
    ...     user: Key[str]
    ...     id: Key[str]
    ...     body: str
    ...     weight: Sorted[float] = 0.0
    >>> _ = Note(user="ann", id="1", body="likes <tea>", weight=0.9).save()
    >>> _ = Note(user="bob", id="2", body="likes coffee", weight=0.8).save()
    >>> assembler = ContextAssembler(Note, {Note.weight: 1.0}, output_format="xml",
    ...                              fields=["body"])
    >>> print(assembler.assemble(partition_filters={"user": "ann"}).formatted)
    <records>
      <record>
        <body>likes &lt;tea&gt;</body>
      </record>
    </records>
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeAlias, TypeVar, cast

from .. import _store
from .._errors import ModelError, QueryError
from .._index.cooccurrence_kind import CoOccurrenceRef
from .._query._planner import Plan
from .._query._query import (
    Query,
    Steps,
    _adrive,  # pyright: ignore[reportPrivateUsage]
    _drive,  # pyright: ignore[reportPrivateUsage]
    query_call,
)
from ..memory._composite import _sources  # pyright: ignore[reportPrivateUsage]
from ..memory._cooccurrence import propagate_ids
from ._quality import (
    DEFAULT_MAX_ITEMS,
    DEFAULT_SURFACING_THRESHOLD,
    Measure,
    RetrievalQuality,
    cues_of,
    finite,
    first_ref,
    is_model_class,
    ranked_ids_call,
    restricted,
    whole,
)
from ._search import aembedded, embedded, nothing, together
from ._text import text_candidates
from ._vectors import vector_candidates

if TYPE_CHECKING:
    from .._model import Model
    from .._query._query import Located
    from .._scripts import Call
    from ..memory._composite import _Scored  # pyright: ignore[reportPrivateUsage]

M = TypeVar("M", bound="Model")
R = TypeVar("R")

OutputFormat: TypeAlias = Literal["structured", "xml", "natural"]
"""``structured``: a JSON array of objects; ``xml``: ``<records><record><field>``...;
``natural``: numbered lines ``1. field: value, field: value``."""

DEFAULT_PROPAGATION_DEPTH = 2
CANDIDATES_PER_ITEM = 5  # search candidates per item returned (the seed's hybrid multiplier)
BLIND_CANDIDATES_PER_ITEM = 2  # composite candidates per item when the pull is cue-blind
PROPAGATION_LIMIT = 100  # records propagation may reach (propagate()'s default)


class TokenCounter(Protocol):
    """Counts the tokens of a text, as the model the prompt is for would.

    Examples:
        >>> words: TokenCounter = lambda text: len(text.split())
        >>> ContextAssembler(Note, {Note.weight: 1.0}, token_counter=words).token_counter("a b")
        2
    """

    def __call__(self, text: str, /) -> int: ...


def approximate_tokens(text: str) -> int:
    """A cheap token estimate: a quarter token per character, plus half a token per UTF-8
    byte past the first of each non-ASCII character, rounded up.

    About 4 characters a token is what BPE vocabularies (cl100k, o200k) give on English prose;
    CJK characters (3 bytes) count 1.25 each. It runs in two passes over the text (``len``
    and ``encode``), so counting per candidate costs nothing next to a round trip. Pass your
    model's tokenizer as ``token_counter`` where the budget must be exact.

    Examples:
        >>> approximate_tokens("likes tea"), approximate_tokens("茶")
        (3, 2)
    """
    extra = len(text.encode("utf-8", "surrogatepass")) - len(text)
    return math.ceil(len(text) / 4 + extra / 2)


@dataclass(frozen=True, slots=True)
class AssemblyResult(Generic[M]):
    """What ``ContextAssembler.assemble()`` selected, and the prompt text of it.

    Attributes:
        records: the selected records, pull path first (best first), then push path.
        proactive: those of ``records`` the push path brought (not found by the pull path).
        scores: each record's score: the final one it was ranked by (for a pull record: the
            composite plus the search and propagation boosts; for a push record: its
            composite).
        formatted: the records in the output format; never over ``max_tokens``.
        token_count: ``token_counter(formatted)``.
        pull_count: how many of ``records`` came from the pull path.
        push_count: ``len(proactive)``.
        total_candidates: distinct records both paths ranked, before the caps.
        round_trips: round trips to the server this assembly took.
        quality: the ``RetrievalQuality`` (``assess_quality=True``), else None.

    Examples:
        >>> AssemblyResult((), (), (), "[]", 1, 0, 0, 0, 1).records
        ()
    """

    records: tuple[M, ...]
    proactive: tuple[M, ...]
    scores: tuple[float, ...]
    formatted: str
    token_count: int
    pull_count: int
    push_count: int
    total_candidates: int
    round_trips: int
    quality: RetrievalQuality | None = None


@dataclass(frozen=True, slots=True)
class _Ranked(Generic[M]):
    rid: str
    record: M
    score: float  # the score it was ranked by
    memory: float  # its composite under the score weights alone


@dataclass(frozen=True, slots=True)
class _Pull(Generic[M]):
    found: list[_Ranked[M]]  # the best, read, best first
    candidates: int  # how many candidates the sources (or the blind composite) returned
    memories: list[float]  # the composite (score weights alone) of every candidate ranked
    ids: list[str]  # every candidate ranked


class ContextAssembler(Generic[M]):
    """Assembles the records of one model into prompt context: pull path, push path, budget.

    The pull path searches the cues with each source the model has (BM25 over its ``Text``
    field; the nearest vectors to the cues embedded by its ``Embedding`` field's provider, a
    paraphrase found by meaning), their candidates fetched together in one round trip; with
    neither it is blind to the cues (the composite alone).

    Args:
        model: the model whose records are assembled.
        score_weights: field references to weights, as ``composite_score`` takes them
            (Sorted, Confidence, AccessCount, exponential Decaying fields); may be empty for
            a model with a ``Text`` field (pull by search alone, no push path).
        max_items: at most this many records (>= 1; default 10).
        max_tokens: the budget of ``formatted`` in tokens (None: no budget).
        surfacing_threshold: the composite score a record needs to surface on the push path,
            and the threshold of staleness and subthreshold activation (default 0.5).
        propagation_depth: hops of co-occurrence spread from the pull candidates, when the
            model has an ``Associations`` field (0: none; default 2).
        output_format: ``"structured"`` (default), ``"xml"`` or ``"natural"``.
        token_counter: counts a text's tokens (default ``approximate_tokens``).
        fields: the names of the fields to render, in this order (default: every field);
            fields holding None are left out.
        text_weight: weight of the normalised BM25 score in the pull ranking (default 1.0).
        vector_weight: weight of the normalised cosine (below 0 counted as 0) in the pull
            ranking, when the model has an ``Embedding`` field (default 1.0; 0: the cues are
            not embedded, no vector source).
        cooccurrence_weight: weight of the propagation scores (default 1.0).

    Raises:
        ModelError: ``model`` is not a model class.
        QueryError: a bad weight or option (the message names it).

    Examples:
        >>> ContextAssembler(Note, {Note.weight: 0.5}).max_items
        10
    """

    def __init__(
        self,
        model: type[M],
        score_weights: Mapping[_Scored[M], float],
        *,
        max_items: int = DEFAULT_MAX_ITEMS,
        max_tokens: int | None = None,
        surfacing_threshold: float = DEFAULT_SURFACING_THRESHOLD,
        propagation_depth: int = DEFAULT_PROPAGATION_DEPTH,
        output_format: OutputFormat = "structured",
        token_counter: TokenCounter | None = None,
        fields: Sequence[str] | None = None,
        text_weight: float = 1.0,
        vector_weight: float = 1.0,
        cooccurrence_weight: float = 1.0,
    ) -> None:
        where = "ContextAssembler()"
        if not is_model_class(model):
            raise ModelError(f"{where}: model must be a model class, got {model!r}")
        self.model = model
        self.max_items = whole(where, "max_items", max_items, 1)
        self.max_tokens = None if max_tokens is None else whole(where, "max_tokens", max_tokens, 0)
        self.surfacing_threshold = finite(where, "surfacing_threshold", surfacing_threshold)
        self.propagation_depth = whole(where, "propagation_depth", propagation_depth, 0)
        if output_format not in _FORMATS:
            raise QueryError(
                f"{where}: output_format must be 'structured', 'xml' or 'natural', "
                f"got {output_format!r}"
            )
        self.output_format: OutputFormat = output_format
        if token_counter is not None and not callable(token_counter):
            raise QueryError(f"{where}: token_counter must be callable, got {token_counter!r}")
        self.token_counter: TokenCounter = token_counter or approximate_tokens
        self.text_weight = finite(where, "text_weight", text_weight, 0.0)
        self.vector_weight = finite(where, "vector_weight", vector_weight, 0.0)
        self.cooccurrence_weight = finite(where, "cooccurrence_weight", cooccurrence_weight, 0.0)
        self._fields = _rendered(model, fields, output_format, where)
        self._associations = cast("CoOccurrenceRef[Any] | None", first_ref(model, CoOccurrenceRef))
        self._text = _indexed(model, "text")
        self._embedding = _indexed(model, "vector")
        self._set_weights(score_weights)

    def _set_weights(self, weights: object) -> None:
        self._weights = dict(cast(Mapping[Any, float], weights))
        self._sources, self._shifts = _sources(self.model, weights, 1.0)
        if not self._sources and not self._searches():
            raise QueryError(
                f"ContextAssembler(): score_weights is empty and {self.model.__name__} has no "
                "Text or (weighted) Embedding field to search: name at least one field to rank by"
            )

    @property
    def score_weights(self) -> dict[_Scored[M], float]:
        """A copy of the score weights."""
        return dict(self._weights)

    def with_weights(self, score_weights: Mapping[_Scored[M], float]) -> ContextAssembler[M]:
        """This assembler with other score weights (validated as the constructor does).

        Examples:
            >>> ContextAssembler(Note, {Note.weight: 0.5}).with_weights(
            ...     {Note.weight: 0.7}).score_weights == {Note.weight: 0.7}
            True
        """
        other = copy.copy(self)
        other._set_weights(score_weights)
        return other

    # ---- public calls -----------------------------------------------------------------------

    def assemble(
        self,
        query_cues: Mapping[str, str] | str | None = None,
        *,
        partition_filters: Mapping[str, Any] | None = None,
        assess_quality: bool = False,
    ) -> AssemblyResult[M]:
        """Select, budget and format the context for ``query_cues``.

        Args:
            query_cues: cue name -> text (their texts are searched together), or one text;
                None: no pull path, only what surfaces.
            partition_filters: ``field=value`` lookups (as ``Model.query.filter(**...)``) that
                every record must match; they must name one partition of a partitioned model.
            assess_quality: also compute ``RetrievalQuality`` (``result.quality``), from the
                same round trips.

        Raises:
            QueryError: bad cues or filters, or filters naming no single partition.
            TypedisError: the server failed.

        Examples:
            >>> result = ContextAssembler(Note, {Note.weight: 1.0}).assemble(
            ...     partition_filters={"user": "bob"})
            >>> [n.id for n in result.records], result.push_count
            (['2'], 1)
        """
        cues, text = self._cues(query_cues, "ContextAssembler.assemble()")
        vector = embedded(self.model.query, text)
        return _drive(_counted(self._assemble(cues, vector, partition_filters, assess_quality)))

    async def aassemble(
        self,
        query_cues: Mapping[str, str] | str | None = None,
        *,
        partition_filters: Mapping[str, Any] | None = None,
        assess_quality: bool = False,
    ) -> AssemblyResult[M]:
        """``assemble()`` on the asyncio client.

        Examples:
            >>> import asyncio
            >>> assembler = ContextAssembler(Note, {Note.weight: 1.0})
            >>> len(asyncio.run(assembler.aassemble(partition_filters={"user": "bob"})).records)
            1
        """
        cues, text = self._cues(query_cues, "ContextAssembler.assemble()")
        vector = await aembedded(self.model.query, text)
        return await _adrive(
            _counted(self._assemble(cues, vector, partition_filters, assess_quality))
        )

    def assess(
        self,
        query_cues: Mapping[str, str] | str | None = None,
        *,
        partition_filters: Mapping[str, Any] | None = None,
        probe_limit: int | None = None,
    ) -> RetrievalQuality:
        """A quality probe before retrieval: the pull path's candidates (at most
        ``probe_limit``, default ``max_items``) and their composite scores, no propagation, no
        push path, no formatting; the records probed are the quality's records.

        Examples:
            >>> ContextAssembler(Note, {Note.weight: 1.0}).assess(
            ...     "tea", partition_filters={"user": "ann"}).per_cue_fok["tea"].cue_familiarity
            0.5
        """
        cues, text = self._cues(query_cues, "ContextAssembler.assess()")
        vector = embedded(self.model.query, text)
        return _drive(self._assess(cues, vector, partition_filters, probe_limit))

    async def aassess(
        self,
        query_cues: Mapping[str, str] | str | None = None,
        *,
        partition_filters: Mapping[str, Any] | None = None,
        probe_limit: int | None = None,
    ) -> RetrievalQuality:
        """``assess()`` on the asyncio client.

        Examples:
            >>> import asyncio
            >>> assembler = ContextAssembler(Note, {Note.weight: 1.0})
            >>> quality = asyncio.run(assembler.aassess("tea", partition_filters={"user": "ann"}))
            >>> round(quality.fok_score, 2)  # 0.4 * 0.5 + 0.4 * (1 / 10) + 0.2 * 0
            0.24
        """
        cues, text = self._cues(query_cues, "ContextAssembler.assess()")
        vector = await aembedded(self.model.query, text)
        return await _adrive(self._assess(cues, vector, partition_filters, probe_limit))

    # ---- steps ------------------------------------------------------------------------------

    def _embeds(self) -> bool:
        """Whether the pull path has a vector source (an Embedding field, weighted)."""
        return self._embedding is not None and self.vector_weight > 0

    def _searches(self) -> bool:
        """Whether the pull path searches the cues (else it is cue-blind)."""
        return self._text is not None or self._embeds()

    def _cues(self, query_cues: object, where: str) -> tuple[dict[str, str], str | None]:
        """The cues, and their joined text when the vector source embeds it (else None)."""
        cues = cues_of(query_cues, where)
        return cues, " ".join(cues.values()) if cues and self._embeds() else None

    def _query(self, partition_filters: object, where: str) -> tuple[Query[M], Plan]:
        """The filtered query and its plan (one partition) in mode ``scored``."""
        lookups: dict[str, Any] = {}
        if partition_filters is not None:
            if not isinstance(partition_filters, Mapping):
                raise QueryError(
                    f"{where}: partition_filters must be a dict of field lookups, "
                    f"got {partition_filters!r}"
                )
            for name, value in cast(Mapping[object, object], partition_filters).items():
                if not isinstance(name, str):
                    raise QueryError(f"{where}: partition_filters keys must be str, got {name!r}")
                lookups[name] = value
        query = self.model.query.filter(**lookups)
        try:
            base = query.plan("scored")
        except QueryError as error:
            raise QueryError(
                f"{where}: assembly runs in one partition of {self.model.__name__}; "
                f"partition_filters must name one ({error})"
            ) from error
        return query, base

    def _plan(self, base: Plan, limit: int, ids: Sequence[str] | None, **options: Any) -> Plan:
        """The composite plan: ``ids``: only those; ``boost``: id -> score added; ``min_score``:
        a threshold (default: records without a score are left out)."""
        boost: dict[str, float] = options.get("boost", {})
        return replace(
            base,
            where=base.where if ids is None else restricted(base.where, ids),
            order=(self._sources, True) if self._sources or boost else None,
            limit=limit,
            min_score=options.get("min_score", -math.inf),
            shift=self._shifts,
            boost=tuple(boost.items()),
        )

    def _ranked(
        self, base: Plan, limit: int, *, ids: Sequence[str] | None = None, **options: Any
    ) -> Call[list[_Ranked[M]]]:
        """The composite call: records with their scores, best first (options: ``_plan``'s)."""
        boost: dict[str, float] = options.get("boost", {})
        p = self._plan(base, limit, ids, **options)
        read, tag = _store.reader(self.model), p.tag

        def decode(flat: list[Any]) -> list[_Ranked[M]]:
            out: list[_Ranked[M]] = []
            for i in range(0, len(flat), 3):
                rid = flat[i].decode()
                score = float(flat[i + 2])
                record = read(flat[i + 1], (tag, rid))
                out.append(_Ranked(rid, record, score, score - boost.get(rid, 0.0)))
            return out

        return query_call(self.model.__typedis_spec__, p, decode)

    def _pull(
        self,
        query: Query[M],
        base: Plan,
        cue: tuple[str, Sequence[float] | None],
        pool: int,
        keep: int,
        *options: bool,
    ) -> Steps[_Pull[M]]:
        """The pull path: ``pool`` candidates of each source (the cue's text, its vector when
        given), spread from the best ``max_items`` (option ``spread``), ranked; the best
        ``keep`` read (and, option ``every``, the composite of every candidate, without
        reading it)."""
        spread, every = options
        text, vector = cue
        limit = self.max_items
        boost: dict[str, float] = {}
        if self._searches():
            texts, vectors = yield from together(
                text_candidates(query, text, pool) if self._text is not None else nothing(),
                vector_candidates(query, vector, pool) if vector is not None else nothing(),
            )
            _boosted(boost, texts, self.text_weight)
            _boosted(boost, vectors, self.vector_weight)
            seeds = sorted(boost, key=lambda rid: -boost[rid])[:limit]
            found: list[_Ranked[M]] = []
            candidates = len(boost)
        else:
            (found,) = yield [self._ranked(base, pool)]
            seeds = [s.rid for s in found[:limit]]
            candidates = len(found)
        ids = list(boost) or [s.rid for s in found]
        if spread and seeds and self._associations is not None and self.propagation_depth:
            read = propagate_ids(
                self._associations, base.tag, seeds, self.propagation_depth, PROPAGATION_LIMIT
            )
            (reached,) = yield [read.call]
            for rid, s in cast(list[tuple[str, float]], reached):
                boost[rid] = boost.get(rid, 0.0) + self.cooccurrence_weight * s
            ids = list(dict.fromkeys([*ids, *boost]))
        elif not self._searches():
            return _Pull(found[:keep], candidates, [s.memory for s in found], ids)
        if not ids:
            return _Pull([], candidates, [], ids)
        calls: list[Call[Any]] = [self._ranked(base, keep, ids=ids, boost=boost)]
        if every:  # ids and scores only: no record read, no read hook
            plan = replace(self._plan(base, len(ids), ids, boost=boost), mode="ranked", reads=())
            calls.append(ranked_ids_call(plan, self.model))
        replies = yield calls
        memories = [s.memory for s in replies[0]]
        if every:
            memories = [s - boost.get(rid, 0.0) for rid, s in replies[1].items()]
        return _Pull(replies[0], candidates, memories, ids)

    def _assemble(
        self,
        cues: dict[str, str],
        vector: Sequence[float] | None,
        partition_filters: object,
        assess: object,
    ) -> Steps[AssemblyResult[M]]:
        where = "ContextAssembler.assemble()"
        if not isinstance(assess, bool):
            raise QueryError(f"{where}: assess_quality must be True or False, got {assess!r}")
        query, base = self._query(partition_filters, where)
        measure = Measure.of(self.model, self._weights, self.max_items, self.surfacing_threshold)
        probe = measure.probe(base.tag, list(cues.values())) if assess else None
        push = None
        if self._sources and (not cues or self._searches()):
            push = self._ranked(base, self.max_items, min_score=self.surfacing_threshold)
        extra = [c for c in (push, probe) if c is not None]
        pull: _Pull[M] = _Pull([], 0, [], [])
        if cues:
            per_item = CANDIDATES_PER_ITEM if self._searches() else BLIND_CANDIDATES_PER_ITEM
            cue, pool = (" ".join(cues.values()), vector), self.max_items * per_item
            steps = self._pull(query, base, cue, pool, self.max_items, True, assess)
            pull, replies = yield from _alongside(steps, extra)
        else:
            replies = (yield extra) if extra else []
        pushed: list[_Ranked[M]] = replies[0] if push is not None else []
        familiar = replies[-1] if probe is not None else None
        merged: dict[str, tuple[_Ranked[M], bool]] = {}
        for s, pulled in [*((s, True) for s in pull.found), *((s, False) for s in pushed)]:
            merged.setdefault(s.rid, (s, pulled))
        chosen: list[tuple[_Ranked[M], bool]] = []
        slices: list[str] = []
        for s, pulled in merged.values():
            if len(chosen) == self.max_items:
                break
            part = _slice(s.record, self._fields, self.output_format)
            if part not in slices:  # the same text twice tells the prompt nothing more
                chosen.append((s, pulled))
                slices.append(part)
        kept, formatted = self._fit(slices)
        selected = [chosen[i] for i in kept]
        records = tuple(s.record for s, _ in selected)
        proactive = tuple(s.record for s, pulled in selected if not pulled)
        quality = None
        if assess:
            quality = measure.quality(
                records,
                [s.memory for s, _ in selected],
                list(cues.values()),
                familiar,
                pull.candidates,
                pull.memories,
            )
        return AssemblyResult(
            records,
            proactive,
            tuple(s.score for s, _ in selected),
            formatted,
            self.token_counter(formatted),
            len(records) - len(proactive),
            len(proactive),
            len({*pull.ids, *merged}),
            0,  # counted by _counted
            quality,
        )

    def _assess(
        self,
        cues: dict[str, str],
        vector: Sequence[float] | None,
        partition_filters: object,
        probe_limit: object,
    ) -> Steps[RetrievalQuality]:
        where = "ContextAssembler.assess()"
        limit = self.max_items if probe_limit is None else probe_limit
        limit = whole(where, "probe_limit", limit, 1)
        query, base = self._query(partition_filters, where)
        measure = Measure.of(self.model, self._weights, self.max_items, self.surfacing_threshold)
        probe = measure.probe(base.tag, list(cues.values()))
        extra = [probe] if probe is not None else []
        if cues or not self._searches():
            cue = (" ".join(cues.values()), vector)
            steps = self._pull(query, base, cue, limit, limit, False, False)
            pull, replies = yield from _alongside(steps, extra)
        else:
            pull, replies = _Pull[M]([], 0, [], []), ((yield extra) if extra else [])
        found = pull.found
        return measure.quality(
            [s.record for s in found],
            [s.memory for s in found],
            list(cues.values()),
            replies[0] if probe is not None else None,
            pull.candidates,
            [s.memory for s in found],
        )

    def _fit(self, slices: list[str]) -> tuple[list[int], str]:
        """The positions of the slices kept within the budget, and the formatted text.

        Each slice is tried in order and kept if the whole text still fits: the budget holds
        for any counter, whatever its rounding; a slice too large is skipped, not the end.
        """
        compose = _COMPOSE[self.output_format]
        if self.max_tokens is None:
            return list(range(len(slices))), compose(slices)
        kept: list[int] = []
        text = compose([])
        if self.token_counter(text) > self.max_tokens:
            return [], ""
        for i, part in enumerate(slices):
            tried = compose([*(slices[k] for k in kept), part])
            if self.token_counter(tried) <= self.max_tokens:
                kept.append(i)
                text = tried
        return kept, text


# ---- steps plumbing --------------------------------------------------------------------------


def _alongside(steps: Steps[R], extra: list[Any]) -> Steps[tuple[R, list[Any]]]:
    """Run ``steps``, sending ``extra`` with its first calls; its result and extra's replies."""
    try:
        calls = next(steps)
    except StopIteration as done:
        replies: list[Any] = (yield extra) if extra else []
        return done.value, replies
    answered = yield [*calls, *extra]
    n = len(calls)
    try:
        calls = steps.send(answered[:n])
        while True:
            calls = steps.send((yield calls))
    except StopIteration as done:
        return done.value, answered[n:]


def _counted(steps: Steps[AssemblyResult[M]]) -> Steps[AssemblyResult[M]]:
    """Run an assembly's ``steps``, its result telling how many round trips they took."""
    trips = 0
    try:
        calls = next(steps)
        while True:
            trips += 1
            calls = steps.send((yield calls))
    except StopIteration as done:
        return replace(done.value, round_trips=trips)


def _indexed(model: type[Model], kind: str) -> str | None:
    """The model's first field with an index of this kind ("text", "vector"), if any."""
    spec = model.__typedis_spec__
    return next((i.fields[0] for i in spec.indexes if i.kind.name == kind), None)


def _boosted(
    boost: dict[str, float], hits: list[tuple[Located, float]] | None, weight: float
) -> None:
    """Add one source's boost to the candidates it found (None: not searched): ``weight``
    times its score (a negative one counted as 0) over the best of them (0 when no score is
    above 0)."""
    scores = [(rid, max(s, 0.0)) for (_, rid), s in hits or []]
    best = max((s for _, s in scores), default=0.0)
    for rid, s in scores:
        boost[rid] = boost.get(rid, 0.0) + (weight * s / best if best > 0 else 0.0)


# ---- formats ---------------------------------------------------------------------------------

_FORMATS = ("structured", "xml", "natural")
_XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")
# characters XML 1.0 cannot carry, even escaped (NUL, most C0 controls, lone surrogates...)
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_LINE_BREAK = re.compile(r"\r\n|[\r\n\u2028\u2029\x85]")


def _rendered(
    model: type[Model], fields: object, output_format: str, where: str
) -> tuple[str, ...] | None:
    """The names of the fields to render (None: every field)."""
    names: tuple[str, ...] | None = None
    if fields is not None:
        if isinstance(fields, str | bytes) or not isinstance(fields, Sequence):
            raise QueryError(f"{where}: fields must be a list of field names, got {fields!r}")
        given = list(cast(Sequence[object], fields))
        for name in given:
            if not isinstance(name, str) or name not in model.model_fields:
                raise QueryError(
                    f"{where}: fields takes names of fields of {model.__name__} "
                    f"({', '.join(model.model_fields)}), got {name!r}"
                )
        names = tuple(cast(list[str], given))
    if output_format == "xml":
        bad = [n for n in (names or tuple(model.model_fields)) if not _XML_NAME.match(n)]
        if bad:
            raise QueryError(
                f"{where}: the xml format names elements after fields; {bad} are not XML "
                "names: leave them out with fields=, or use another format"
            )
    return names


def _values(record: Model, names: tuple[str, ...] | None) -> dict[str, Any]:
    """The record's JSON values to render, by field (fields holding None left out)."""
    dumped = record.model_dump(mode="json", include=None if names is None else set(names))
    order = names if names is not None else tuple(dumped)
    return {n: dumped[n] for n in order if n in dumped and dumped[n] is not None}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _xml(value: Any) -> str:
    text = _NOT_XML.sub("\ufffd", _text(value))
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _line(value: Any) -> str:
    return _LINE_BREAK.sub(" ", _NOT_XML.sub("\ufffd", _text(value)))


def _slice(record: Model, names: tuple[str, ...] | None, output_format: str) -> str:
    """One record's part of the formatted text."""
    values = _values(record, names)
    if output_format == "xml":
        inner = "".join(f"\n    <{k}>{_xml(v)}</{k}>" for k, v in values.items())
        return f"  <record>{inner}\n  </record>"
    if output_format == "natural":
        return ", ".join(f"{k}: {_line(v)}" for k, v in values.items())
    dumped = json.dumps(values, ensure_ascii=False, indent=2)
    return "\n".join("  " + line for line in dumped.split("\n"))


_COMPOSE: dict[str, Callable[[list[str]], str]] = {
    "structured": lambda parts: "[\n" + ",\n".join(parts) + "\n]" if parts else "[]",
    "xml": lambda parts: (
        "<records>\n" + "\n".join(parts) + "\n</records>" if parts else "<records>\n</records>"
    ),
    "natural": lambda parts: "\n".join(f"{i}. {p}" for i, p in enumerate(parts, 1)),
}
