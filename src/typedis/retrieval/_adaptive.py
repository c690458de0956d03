"""``AdaptiveAssembler`` (``typedis.retrieval``): score weights tuned online, keep or revert.

It wraps a ``ContextAssembler``. Under the baseline weights it gathers ``window_size``
quality samples (``quality_metric`` of each assembly's ``RetrievalQuality``), then proposes a
candidate: ``weight_perturbation`` moved from one weight to another (both kept within
[0.05, 0.9]), chosen by ``rng``. After ``window_size`` samples under the candidate, the
candidate is kept if its mean quality beats the baseline's, else the baseline weights come
back. State is per instance, in memory: nothing is stored on the server.

Examples:
    >>> import random
    >>> from typedis import Key, Model, Sorted, field
    >>> class Fact(Model):
    ...     id: Key[str]
    ...     weight: Sorted[float] = field(default=1.0)
    ...     trust: Sorted[float] = field(default=1.0)
    >>> _ = Fact(id="a").save()
    >>> inner = ContextAssembler(Fact, {Fact.weight: 0.5, Fact.trust: 0.5})
    >>> adaptive = AdaptiveAssembler(inner, window_size=2, rng=random.Random(7))
    >>> for _ in range(2):
    ...     _ = adaptive.assemble("a fact")
    >>> adaptive.is_testing_candidate, round(adaptive.baseline_quality or 0, 2)
    (True, 0.24)
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from .._errors import QueryError
from ._assembly import AssemblyResult, ContextAssembler
from ._quality import RetrievalQuality, finite, whole

if TYPE_CHECKING:
    from .._model import Model

M = TypeVar("M", bound="Model")

DEFAULT_WINDOW_SIZE = 20
"""Quality samples per window (Popoto's ``ADAPTIVE_QUALITY_WINDOW_SIZE``)."""
DEFAULT_PERTURBATION = 0.05
WEIGHT_FLOOR = 0.05
"""No proposal takes a weight below this (nor a weight to 0: the signal stays in play)."""
WEIGHT_CEILING = 0.9
"""No proposal takes a weight above this (no single signal takes over)."""
_PROPOSAL_TRIES = 3


def fok_times_confidence(quality: RetrievalQuality) -> float:
    """The default quality metric: ``fok_score * avg_confidence`` (both must be high).

    Examples:
        >>> fok_times_confidence(RetrievalQuality(avg_confidence=0.5, fok_score=0.8))
        0.4
    """
    return quality.fok_score * quality.avg_confidence


class AdaptiveAssembler(Generic[M]):
    """A ``ContextAssembler`` whose score weights adapt by a keep/revert loop.

    Args:
        inner: the assembler to wrap (its weights are the first baseline).
        window_size: samples per window (>= 1; default 20).
        quality_metric: ``RetrievalQuality -> float`` (default ``fok_times_confidence``).
        weight_perturbation: the weight moved per proposal (> 0; default 0.05).
        rng: the random source of proposals (default ``random.Random()``; seed it for
            repeatable runs).

    Not thread-safe: use one per thread or task.

    Examples:
        >>> AdaptiveAssembler(inner).current_weights == inner.score_weights
        True
    """

    def __init__(
        self,
        inner: ContextAssembler[M],
        window_size: int = DEFAULT_WINDOW_SIZE,
        quality_metric: Callable[[RetrievalQuality], float] | None = None,
        weight_perturbation: float = DEFAULT_PERTURBATION,
        rng: random.Random | None = None,
    ) -> None:
        where = "AdaptiveAssembler()"
        if not isinstance(cast(object, inner), ContextAssembler):
            raise QueryError(f"{where}: inner must be a ContextAssembler, got {inner!r}")
        if quality_metric is not None and not callable(quality_metric):
            raise QueryError(f"{where}: quality_metric must be callable, got {quality_metric!r}")
        if rng is not None and not isinstance(cast(object, rng), random.Random):
            raise QueryError(f"{where}: rng must be a random.Random, got {rng!r}")
        self.inner: ContextAssembler[M] = inner
        self.window_size = whole(where, "window_size", window_size, 1)
        self.weight_perturbation = finite(where, "weight_perturbation", weight_perturbation, 0.0)
        if self.weight_perturbation == 0:
            raise QueryError(f"{where}: weight_perturbation must be > 0, got 0")
        self.quality_metric = quality_metric or fok_times_confidence
        self.rng = rng if rng is not None else random.Random()
        self._baseline: ContextAssembler[M] = inner
        self._baseline_quality: float | None = None
        self._samples: list[float] = []
        self._testing = False

    @property
    def current_weights(self) -> dict[Any, float]:
        """A copy of the weights in use (the candidate's while one is tested)."""
        return self.inner.score_weights

    @property
    def baseline_quality(self) -> float | None:
        """The mean quality of the last baseline window (None before the first is full)."""
        return self._baseline_quality

    @property
    def is_testing_candidate(self) -> bool:
        """Whether samples are gathered under a candidate's weights."""
        return self._testing

    def assemble(
        self,
        query_cues: Mapping[str, str] | str | None = None,
        *,
        partition_filters: Mapping[str, Any] | None = None,
    ) -> AssemblyResult[M]:
        """``inner.assemble(..., assess_quality=True)``, its quality sampled.

        Examples:
            >>> adaptive.assemble("a fact").quality is not None
            True
        """
        result = self.inner.assemble(
            query_cues, partition_filters=partition_filters, assess_quality=True
        )
        self._sample(result)
        return result

    async def aassemble(
        self,
        query_cues: Mapping[str, str] | str | None = None,
        *,
        partition_filters: Mapping[str, Any] | None = None,
    ) -> AssemblyResult[M]:
        """``assemble()`` on the asyncio client.

        Examples:
            >>> import asyncio
            >>> asyncio.run(adaptive.aassemble("a fact")).quality is not None
            True
        """
        result = await self.inner.aassemble(
            query_cues, partition_filters=partition_filters, assess_quality=True
        )
        self._sample(result)
        return result

    def _sample(self, result: AssemblyResult[M]) -> None:
        assert result.quality is not None  # assess_quality=True
        self._samples.append(float(self.quality_metric(result.quality)))
        if len(self._samples) < self.window_size:
            return
        mean = statistics.fmean(self._samples)
        self._samples.clear()
        if self._testing:
            self._testing = False
            if self._baseline_quality is not None and mean > self._baseline_quality:
                self._baseline, self._baseline_quality = self.inner, mean  # keep
            else:
                self.inner = self._baseline  # revert
            return
        self._baseline_quality = mean
        candidate = self._propose()
        if candidate is not None:
            self.inner, self._testing = self._baseline.with_weights(candidate), True

    def _propose(self) -> dict[Any, float] | None:
        """The baseline weights with ``weight_perturbation`` moved from one to another."""
        weights = self._baseline.score_weights
        names = list(weights)
        if len(names) < 2:
            return None
        for _ in range(_PROPOSAL_TRIES):
            source, target = self.rng.sample(names, 2)
            lower = _clamp(weights[source] - self.weight_perturbation)
            higher = _clamp(weights[target] + self.weight_perturbation)
            if (lower, higher) != (weights[source], weights[target]):
                return {**weights, source: lower, target: higher}
        return None


def _clamp(weight: float) -> float:
    return min(WEIGHT_CEILING, max(WEIGHT_FLOOR, weight))
