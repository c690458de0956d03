"""Retrieval quality (``typedis.retrieval``): how far a retrieval can be trusted, measured.

``RetrievalQuality`` is a mechanical signal, no model's self-report: the mean confidence of the
records retrieved, the spread of their composite scores, the share of them that went stale,
and a feeling of knowing per cue (is the cue familiar, did anything come back, did candidates
stir below the surfacing threshold). ``ContextAssembler.assess()`` and
``assemble(assess_quality=True)`` compute it from the retrieval they ran;
``RetrievalQuality.from_records()`` from records any pipeline retrieved.

Examples:
    >>> from typedis import Key, Model, Sorted
    >>> class Fact(Model):
    ...     id: Key[str]
    ...     weight: Sorted[float] = 0.0
    >>> facts = [Fact(id="a", weight=1.0).save(), Fact(id="b", weight=3.0).save()]
    >>> q = RetrievalQuality.from_records(facts, {"topic": "tea"}, {Fact.weight: 1.0})
    >>> q.score_distribution, round(q.score_spread, 3), q.avg_confidence
    ((1.0, 3.0), 0.5, 1.0)
    >>> q.per_cue_fok["tea"].partial_retrieval_count
    0.2
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from .. import _store
from .._defaults import Defaults
from .._errors import ModelError, QueryError
from .._index.bloom_kind import FingerprintRef
from .._query._planner import Plan
from .._query._query import (
    Located,
    Steps,
    _adrive,  # pyright: ignore[reportPrivateUsage]
    _drive,  # pyright: ignore[reportPrivateUsage]
    query_call,
)
from .._query._refs import ConfidenceRef, DecayRef, FieldRef
from ..memory._bloom import filter_at, probe_call
from ..memory._composite import _sources  # pyright: ignore[reportPrivateUsage]

if TYPE_CHECKING:
    from .._model import Model
    from .._scripts import Call

FOK_CUE_FAMILIARITY = 0.4
"""Weight of cue familiarity in a cue's feeling of knowing."""
FOK_PARTIAL_RETRIEVAL = 0.4
"""Weight of partial retrieval (candidates found, up to ``max_items``)."""
FOK_SUBTHRESHOLD_ACTIVATION = 0.2
"""Weight of subthreshold activation (candidates scored above 0, below the threshold)."""
NEUTRAL_FAMILIARITY = 0.5
"""A cue's familiarity when the model has no ``Fingerprint`` field to ask."""
DEFAULT_MAX_ITEMS = 10
DEFAULT_SURFACING_THRESHOLD = 0.5


@dataclass(frozen=True, slots=True)
class CueFeeling:
    """The feeling of knowing of one cue, and its three parts (each in [0, 1]).

    Examples:
        >>> feeling = CueFeeling(1.0, 0.5, 0.0, 0.6)
        >>> feeling.component_score == 0.4 * 1.0 + 0.4 * 0.5 + 0.2 * 0.0
        True
    """

    cue_familiarity: float
    partial_retrieval_count: float
    subthreshold_activation: float
    component_score: float


@dataclass(frozen=True, slots=True)
class RetrievalQuality:
    """How far a retrieval can be trusted: four numbers, the scores and the feeling per cue.

    Attributes:
        avg_confidence: mean value of the model's first ``Confidence`` field over the records
            (a record holding None counts ``Defaults.INITIAL_CONFIDENCE``); 1.0 when the model
            has none; 0.0 when no record was retrieved.
        score_spread: coefficient of variation (population stddev / mean) of the records'
            composite scores; 0.0 when ``|mean| < 1e-9`` or without score weights.
        fok_score: feeling of knowing, the mean over the cues of
            ``0.4 * cue_familiarity + 0.4 * partial_retrieval_count
            + 0.2 * subthreshold_activation``; 0.0 without cues.
        staleness_ratio: share of the records whose first ``Decaying`` field of the score
            weights, decayed to now, is below the surfacing threshold (None counts as stale);
            0.0 when the weights name no Decaying field.
        score_distribution: the records' composite scores, in the records' order.
        per_cue_fok: each cue's ``CueFeeling``, by cue text.

    Examples:
        >>> RetrievalQuality().fok_score
        0.0
    """

    avg_confidence: float = 0.0
    score_spread: float = 0.0
    fok_score: float = 0.0
    staleness_ratio: float = 0.0
    score_distribution: tuple[float, ...] = ()
    per_cue_fok: Mapping[str, CueFeeling] = field(default_factory=dict[str, CueFeeling])

    @classmethod
    def from_records(
        cls,
        records: Sequence[Model],
        query_cues: Mapping[str, str] | str | None = None,
        score_weights: Mapping[Any, float] | None = None,
        *,
        max_items: int = DEFAULT_MAX_ITEMS,
        surfacing_threshold: float = DEFAULT_SURFACING_THRESHOLD,
    ) -> RetrievalQuality:
        """The quality of records some other pipeline retrieved (search, fusion, a cache).

        The records are the candidates: partial retrieval is ``min(len(records), max_items) /
        max_items``. Their composite scores under ``score_weights`` (field references to
        weights, as ``composite_score`` takes them; records without a score in any source
        count 0.0) and the cues' familiarity are read in one round trip (one call per
        partition, sent together); confidence and decay come with the records.

        Args:
            records: stored records of one model (an empty list gives a zero quality).
            query_cues: cue name -> text, or one text; None: no feeling of knowing.
            score_weights: field references to weights; None: no spread, no staleness and
                no subthreshold activation.
            max_items: the denominator of partial retrieval (>= 1).
            surfacing_threshold: the threshold of subthreshold activation and staleness.

        Raises:
            ModelError: records of more than one model, or a record never stored.
            QueryError: bad weights, cues, ``max_items`` or threshold.

        Examples:
            >>> RetrievalQuality.from_records([]).avg_confidence
            0.0
        """
        return _drive(
            _from_records(records, query_cues, score_weights, max_items, surfacing_threshold)
        )

    @classmethod
    async def afrom_records(
        cls,
        records: Sequence[Model],
        query_cues: Mapping[str, str] | str | None = None,
        score_weights: Mapping[Any, float] | None = None,
        *,
        max_items: int = DEFAULT_MAX_ITEMS,
        surfacing_threshold: float = DEFAULT_SURFACING_THRESHOLD,
    ) -> RetrievalQuality:
        """``from_records()`` on the asyncio client.

        Examples:
            >>> import asyncio
            >>> asyncio.run(RetrievalQuality.afrom_records([])).fok_score
            0.0
        """
        return await _adrive(
            _from_records(records, query_cues, score_weights, max_items, surfacing_threshold)
        )


# ---- arguments -------------------------------------------------------------------------------


def cues_of(query_cues: object, where: str) -> dict[str, str]:
    """The cues as name -> text (one text: named ``query``), refusing anything else."""
    if query_cues is None:
        return {}
    if isinstance(query_cues, str):
        return {"query": query_cues}
    if not isinstance(query_cues, Mapping):
        raise QueryError(f"{where}: query_cues must be a dict of str to str, got {query_cues!r}")
    cues: dict[str, str] = {}
    for name, text in cast(Mapping[object, object], query_cues).items():
        if not isinstance(name, str) or not isinstance(text, str):
            raise QueryError(f"{where}: query_cues must map str to str, got {name!r}: {text!r}")
        cues[name] = text
    return cues


def whole(where: str, name: str, value: object, least: int) -> int:
    """``value`` as an int >= ``least``, or ``QueryError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise QueryError(f"{where}: {name} must be an int >= {least}, got {value!r}")
    return value


def finite(where: str, name: str, value: object, least: float = -math.inf) -> float:
    """``value`` as a finite float >= ``least``, or ``QueryError`` naming it."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < least
    ):
        bound = "" if least == -math.inf else f" >= {least}"
        raise QueryError(f"{where}: {name} must be a finite number{bound}, got {value!r}")
    return float(value)


def is_model_class(cls: object) -> bool:
    """Whether ``cls`` is a model class (known by its spec: importing ``_model`` here would
    make an import cycle through ``Query.search``)."""
    return isinstance(cls, type) and getattr(cls, "__typedis_spec__", None) is not None


def first_ref(model: type[Model], kind: type[Any]) -> Any:
    """The model's first field reference of class ``kind``, or None."""
    return next((r for r in model.__typedis_refs__.values() if isinstance(r, kind)), None)


# ---- the formulas ----------------------------------------------------------------------------


def avg_confidence(records: Sequence[Model], ref: ConfidenceRef[Any] | None) -> float:
    """Mean confidence of ``records`` (1.0 without a Confidence field, 0.0 without records)."""
    if not records:
        return 0.0
    if ref is None:
        return 1.0
    values = [vars(r)[ref.name] for r in records]
    return statistics.fmean(Defaults.INITIAL_CONFIDENCE if v is None else v for v in values)


def score_spread(scores: Sequence[float]) -> float:
    """Population stddev / mean of ``scores`` (0.0 when empty or ``|mean| < 1e-9``)."""
    finite_scores = [s for s in scores if math.isfinite(s)]
    if not finite_scores:
        return 0.0
    mean = statistics.fmean(finite_scores)
    if abs(mean) < 1e-9:
        return 0.0
    return statistics.pstdev(finite_scores) / mean


def staleness_ratio(
    records: Sequence[Model], ref: DecayRef[Any, Any] | None, threshold: float
) -> float:
    """Share of ``records`` whose ``ref`` decayed to now is below ``threshold`` (None: stale)."""
    if not records or ref is None:
        return 0.0
    stale = sum(
        1
        for r in records
        if vars(r)[ref.name] is None or _store.decayed_value(r, ref, None) < threshold
    )
    return stale / len(records)


def feeling_of_knowing(
    cues: Sequence[str],
    familiar: Mapping[str, bool] | None,
    found: int,
    candidate_scores: Sequence[float] | None,
    max_items: int,
    threshold: float,
) -> tuple[float, dict[str, CueFeeling]]:
    """The feeling of knowing and each cue's parts.

    ``familiar``: the Bloom filter's answer per cue (None: no filter, each cue 0.5);
    ``found``: how many candidates came back; ``candidate_scores``: their composite scores
    (None: no weights, no subthreshold activation).
    """
    if not cues:
        return 0.0, {}
    partial = min(found, max_items) / max_items
    sub = 0.0
    if candidate_scores:
        sub = sum(1 for s in candidate_scores if 0 < s < threshold) / len(candidate_scores)
    per_cue: dict[str, CueFeeling] = {}
    for cue in cues:
        known = NEUTRAL_FAMILIARITY if familiar is None else float(familiar[cue])
        score = (
            FOK_CUE_FAMILIARITY * known
            + FOK_PARTIAL_RETRIEVAL * partial
            + FOK_SUBTHRESHOLD_ACTIVATION * sub
        )
        per_cue[cue] = CueFeeling(known, partial, sub, score)
    return statistics.fmean(c.component_score for c in per_cue.values()), per_cue


@dataclass(frozen=True, slots=True)
class Measure:
    """What a quality is computed from, for one model and its score weights."""

    model: type[Model]
    weighted: bool  # score weights were given (spread, staleness, subthreshold)
    decay: DecayRef[Any, Any] | None
    confidence: ConfidenceRef[Any] | None
    fingerprint: FingerprintRef[Any] | None
    max_items: int
    threshold: float

    @staticmethod
    def of(
        model: type[Model], weights: Mapping[Any, float] | None, max_items: int, threshold: float
    ) -> Measure:
        decay: DecayRef[Any, Any] | None = None
        if weights is not None:
            refs: list[FieldRef[Any, Any]] = list(weights)
            decays = [r for r in refs if isinstance(r, DecayRef)]
            decay = decays[0] if decays else None
        return Measure(
            model,
            weights is not None,
            decay,
            first_ref(model, ConfidenceRef),
            first_ref(model, FingerprintRef),
            max_items,
            threshold,
        )

    def probe(self, tag: str, cues: Sequence[str]) -> Call[dict[str, bool]] | None:
        """The Bloom filter read of the cues in partition ``tag`` (None: nothing to ask)."""
        if self.fingerprint is None or not cues:
            return None
        found = filter_at(self.fingerprint, tag, "assess")
        return probe_call(found, list(dict.fromkeys(cues)))

    def quality(
        self,
        records: Sequence[Model],
        scores: Sequence[float],
        cues: Sequence[str],
        familiar: Mapping[str, bool] | None,
        found: int,
        candidate_scores: Sequence[float],
    ) -> RetrievalQuality:
        """The quality of ``records`` (with their composite ``scores``)."""
        if familiar is None and self.fingerprint is not None and cues:
            familiar = dict.fromkeys(cues, False)  # no partition was read: nothing is known
        weighted = self.weighted
        fok, per_cue = feeling_of_knowing(
            cues,
            familiar,
            found,
            candidate_scores if weighted else None,
            self.max_items,
            self.threshold,
        )
        return RetrievalQuality(
            avg_confidence(records, self.confidence),
            score_spread(scores) if weighted else 0.0,
            fok,
            staleness_ratio(records, self.decay, self.threshold),
            tuple(scores) if weighted else (),
            per_cue,
        )


# ---- from_records ----------------------------------------------------------------------------


def ranked_ids_call(plan: Plan, model: type[Model]) -> Call[dict[str, float]]:
    """The composite score of each id of ``plan`` (mode ``ranked``: ids and scores only)."""

    def decode(flat: list[Any]) -> dict[str, float]:
        it = iter(flat)
        pairs = zip(it, it, strict=True)  # records without a score come last, scored None
        return {rid.decode(): float(score) for rid, score in pairs if score is not None}

    return query_call(model.__typedis_spec__, plan, decode)


def restricted(base: list[Any], ids: Sequence[str]) -> list[Any]:
    """The where-node ``base`` further restricted to ``ids``."""
    only: list[Any] = ["ids", list(ids)]
    return only if base == ["all"] else ["and", [base, only]]


def _from_records(
    records: object,
    query_cues: object,
    weights: object,
    max_items: object,
    threshold: object,
) -> Steps[RetrievalQuality]:
    where = "RetrievalQuality.from_records()"
    if isinstance(records, str | bytes) or not isinstance(records, Sequence):
        raise ModelError(f"{where}: records must be a list of records, got {records!r}")
    given = list(cast(Sequence[object], records))
    cues = cues_of(query_cues, where)
    items = whole(where, "max_items", max_items, 1)
    limit = finite(where, "surfacing_threshold", threshold)
    if not given:
        return RetrievalQuality()
    model = type(given[0])
    if not is_model_class(model) or any(type(r) is not model for r in given):
        kinds = sorted({type(r).__name__ for r in given})
        raise ModelError(f"{where}: records must be records of one model, got {kinds}")
    typed = cast("list[Model]", given)
    located: list[Located] = []
    for r in typed:
        at = _store.saved_at(r)
        if at is None:
            raise ModelError(f"{where}: {r!r} was never saved or read; its scores are unknown")
        located.append(at)
    checked = None if weights is None else cast(Mapping[Any, float], weights)
    measure = Measure.of(cast(Any, model), checked, items, limit)
    by_tag: dict[str, list[str]] = {}
    for tag, rid in located:
        by_tag.setdefault(tag, []).append(rid)
    calls: list[Call[Any]] = []
    if checked is not None:
        sources, shifts = _sources(cast(Any, model), checked, 1.0)
        order = (sources, True) if sources else None
        if order is None:
            raise QueryError(f"{where}: score_weights is empty; name at least one field")
        for tag, ids in by_tag.items():
            plan = Plan(tag, ["ids", ids], order, 0, len(ids), "ranked", (), shift=shifts)
            calls.append(ranked_ids_call(plan, cast(Any, model)))
    probes = [p for p in (measure.probe(tag, list(cues.values())) for tag in by_tag) if p]
    replies: list[Any] = (yield [*calls, *probes]) if calls or probes else []
    found: dict[Located, float] = {}
    for tag, reply in zip(by_tag, replies[: len(calls)], strict=False):
        found.update(((tag, rid), s) for rid, s in cast(dict[str, float], reply).items())
    familiar: dict[str, bool] | None = None
    if probes:
        familiar = {
            cue: any(cast(dict[str, bool], r)[cue] for r in replies[len(calls) :])
            for cue in cues.values()
        }
    scores = [found.get(at, 0.0) for at in located] if checked is not None else []
    return measure.quality(typed, scores, list(cues.values()), familiar, len(typed), scores)
