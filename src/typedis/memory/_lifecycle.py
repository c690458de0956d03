"""MemoryLifecycle: promotion from the episodic to the semantic tier, and auto-forget.

A policy over primitives the model already declares: its tier (an ``Indexed[str]`` field), an
exponential ``Decaying`` importance, a ``Confidence``, an ``AccessCount`` and a ``Sorted``
creation time. A tick finds the records that can change state through those fields' indexes
(``lua/lifecycle_candidates.lua``), reads only them (``lua/lifecycle_read.lua``), decides on the
client (the hooks see the record) and applies each decision in one atomic step per batch that
acts on a record only while it still holds what the tick read (``lua/lifecycle_apply.lua``, the
``digest`` of ``lua/_lib.lua``): a record written meanwhile is left for the next tick.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar, cast

from .. import _keys, _lua, _maintenance, _scripts, _store
from .._codec import text
from .._errors import ModelError, NotFound
from .._index.decay_kind import decayed, rank_score, touched
from .._query._query import (
    Steps,
    _adrive,  # pyright: ignore[reportPrivateUsage]
    _drive,  # pyright: ignore[reportPrivateUsage]
)
from ._hidden import located

if TYPE_CHECKING:
    from .._model import Model
    from .._query._refs import ConfidenceRef, DecayRef, FieldRef, IndexedRef, SortedRef
    from .._spec import IndexSpec, ModelSpec

M = TypeVar("M", bound="Model")

Verdict = Literal["promote", "forget", "keep"]
"""What a tick would do to a record now."""

_lua.operation("lifecycle_candidates")
_lua.operation("lifecycle_read")
_lua.operation("lifecycle_apply")


@dataclass(frozen=True, slots=True)
class LifecycleState:
    """A record's lifecycle state at one instant, as ``MemoryLifecycle.assess()`` reads it.

    ``last_used`` is the latest of its creation, its last confirmed read and its importance's
    touch; ``idle_seconds`` counts from it. The ``*_eligible`` flags are the default criteria;
    ``verdict`` is what a tick would do, the hooks applied.
    """

    tier: str | None
    access_count: int
    confidence: float | None
    importance: float | None
    age_seconds: float
    idle_seconds: float
    promotion_eligible: bool
    forget_eligible: bool
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class TickResult:
    """What one ``tick()`` did: records promoted, forgotten, and left because they were written
    after the tick read them (judged again by the next tick); its duration in ms."""

    promoted: int
    forgotten: int
    skipped: int
    duration_ms: float


Hook = Callable[[M, LifecycleState], bool]


@dataclass(frozen=True, slots=True)
class _Fields:
    tier: str
    episodic: str  # the tier set keys after "<tag>:"
    semantic: str
    importance: IndexSpec
    confidence: str
    access: str
    created: str
    suffixes: tuple[str, str, str, str]  # access, confidence, created, importance


def _index(spec: ModelSpec, ref: FieldRef[Any, Any], kinds: Sequence[str], what: str) -> IndexSpec:
    name = getattr(ref, "name", None)
    for ix in spec.indexes:
        if ix.kind.name in kinds and ix.fields == (name,):
            return ix
    raise ModelError(f"MemoryLifecycle: {ref!r} is not {what} field of {spec.name}")


def _fields(
    spec: ModelSpec,
    tier: IndexedRef[Any, str],
    importance: DecayRef[Any, float],
    confidence: ConfidenceRef[Any],
    access: SortedRef[Any, int],
    created: SortedRef[Any, datetime] | SortedRef[Any, datetime | None],
) -> _Fields:
    tier_ix = _index(spec, tier, ("set",), "an Indexed[str]")
    decay = _index(spec, importance, ("decay",), "a Decaying")
    if decay.options["curve"] != "exponential":
        raise ModelError(
            f"MemoryLifecycle: {spec.name}.{decay.fields[0]} decays on the power curve; the "
            "importance must decay exponentially (its index then ranges by the decayed value)"
        )
    conf = _index(spec, confidence, ("sorted",), "a Confidence")
    acc = _index(spec, access, ("access",), "an AccessCount")
    born = _index(spec, created, ("sorted",), "a Sorted[datetime]")
    if spec.fields[born.fields[0]].annotation is not datetime:
        raise ModelError(f"MemoryLifecycle: {spec.name}.{born.fields[0]} must be a datetime")
    name = tier_ix.fields[0]
    codec = spec.fields[name].codec
    return _Fields(
        tier=name,
        episodic=tier_ix.suffix + _keys.escape(text(codec, "episodic")),
        semantic=tier_ix.suffix + _keys.escape(text(codec, "semantic")),
        importance=decay,
        confidence=conf.fields[0],
        access=acc.fields[0],
        created=born.fields[0],
        suffixes=(acc.suffix, conf.suffix, born.suffix, decay.suffix),
    )


class MemoryLifecycle(Generic[M]):
    """Promotion (episodic -> semantic) and auto-forget of one model's memories.

    A record is promoted when its access count, confidence and age all reach their thresholds;
    a record that is not semantic is forgotten (deleted with its index entries) when its
    decayed importance is below the floor and it has been idle long enough. Override the six
    constants on the class or an instance; replace either rule with a hook
    ``(record, state) -> bool`` (``state`` holds the default's answer).

    Examples:
        >>> class Memory(Model, partition="agent"):
        ...     agent: Key[str]
        ...     id: AutoKey = field(default_factory=new_id)
        ...     tier: Indexed[str] = field(default="episodic")
        ...     relevance: Decaying[float] = field(default=1.0, rate=0.1)
        ...     certainty: Confidence = field(default=0.5)
        ...     hits: AccessCount = field(default=0)
        ...     created: Sorted[datetime | None] = field(default=None, auto_now_add=True)
        >>> life = MemoryLifecycle(Memory, tier=Memory.tier, importance=Memory.relevance,
        ...     confidence=Memory.certainty, access=Memory.hits, created=Memory.created,
        ...     partition="a1")
        >>> life.tick()
        TickResult(promoted=0, forgotten=0, skipped=0, duration_ms=1.2)
    """

    PROMOTION_ACCESS_COUNT: ClassVar[int] = 3
    PROMOTION_CONFIDENCE_THRESHOLD: ClassVar[float] = 0.6
    PROMOTION_MIN_AGE_SECONDS: ClassVar[float] = 300.0
    FORGET_IMPORTANCE_FLOOR: ClassVar[float] = 0.1
    FORGET_IDLE_SECONDS: ClassVar[float] = 86_400.0
    TICK_BATCH_SIZE: ClassVar[int] = 100

    def __init__(
        self,
        model: type[M],
        *,
        tier: IndexedRef[M, str],
        importance: DecayRef[M, float],
        confidence: ConfidenceRef[M],
        access: SortedRef[M, int],
        created: SortedRef[M, datetime] | SortedRef[M, datetime | None],
        partition: Any = None,
        should_promote: Hook[M] | None = None,
        should_forget: Hook[M] | None = None,
    ) -> None:
        """Bind the policy to a model's fields and, for a partitioned model, one partition.

        Raises:
            ModelError: a field is not of the kind its argument names (the importance must
                decay on the exponential curve), or ``partition`` is missing or has the wrong
                number of values.
        """
        spec = model.__typedis_spec__
        self.model = model
        self._f = _fields(spec, tier, importance, confidence, access, created)
        self._should_promote = should_promote
        self._should_forget = should_forget
        if spec.partition:
            if partition is None:
                raise ModelError(
                    f"MemoryLifecycle: {spec.name} is partitioned by {spec.partition}; give "
                    "partition= (one value, or a tuple of one per partition field)"
                )
            self._tags = [_maintenance.tag_for(spec, _values(partition))]
        elif partition is not None:
            raise ModelError(f"MemoryLifecycle: {spec.name} is not partitioned; omit partition=")
        else:
            self._tags = spec.shard_tags() if spec.shards else [_keys.tag(spec.name)]

    # ---- the policy, on one record's stored hash -------------------------------------------

    def _state(self, record: M, flat: dict[bytes, bytes], now_ms: float) -> LifecycleState:
        f = self._f
        values = vars(record)
        born: datetime | None = values.get(f.created)
        born_ms = now_ms if born is None else _now_ms(born)  # naive: UTC, as its index
        last = born_ms
        log = flat.get(f"~acc:log:{f.access}".encode())
        if log:
            last = max(last, float(log.rsplit(b",", 1)[-1]))
        importance: float | None = None
        base = flat.get(f.importance.fields[0].encode())
        stamp = flat.get(touched(f.importance.fields[0]).encode())
        if base is not None and stamp is not None:
            rate = float(f.importance.options["rate"])
            importance = decayed(float(base), int(stamp), now_ms, rate, "exponential")
            last = max(last, float(stamp))
        tier: str | None = values.get(f.tier)
        count = int(values.get(f.access) or 0)
        conf: float | None = values.get(f.confidence)
        age, idle = (now_ms - born_ms) / 1000, (now_ms - last) / 1000
        promote = (
            tier == "episodic"
            and count >= self.PROMOTION_ACCESS_COUNT
            and conf is not None
            and conf >= self.PROMOTION_CONFIDENCE_THRESHOLD
            and age >= self.PROMOTION_MIN_AGE_SECONDS
        )
        forget = (
            tier != "semantic"
            and importance is not None
            and importance < self.FORGET_IMPORTANCE_FLOOR
            and idle > self.FORGET_IDLE_SECONDS
        )
        state = LifecycleState(tier, count, conf, importance, age, idle, promote, forget, "keep")
        return dataclasses.replace(state, verdict=self._verdict(record, state))

    def _verdict(self, record: M, state: LifecycleState) -> Verdict:
        promote = self._should_promote or _promotion_eligible
        if state.tier != "semantic" and promote(record, state):
            return "promote"
        forget = self._should_forget or _forget_eligible
        if state.tier != "semantic" and forget(record, state):
            return "forget"
        return "keep"

    # ---- the calls -------------------------------------------------------------------------

    def _function(self, name: str) -> _lua.Function:
        return _lua.library(self.model.__typedis_spec__).function(name)

    def _candidates_call(self, tag: str, now_ms: float, limit: int) -> _scripts.Call[Any]:
        f = self._f
        access, conf, born, imp = f.suffixes
        rate = float(f.importance.options["rate"])
        floor = self.FORGET_IMPORTANCE_FLOOR
        below = repr(rank_score(floor, int(now_ms), rate)) if floor > 0 else "-inf"
        args: list[_scripts.Arg] = [
            tag,
            f.episodic,
            f.semantic,
            access,
            repr(float(self.PROMOTION_ACCESS_COUNT)),
            conf,
            repr(float(self.PROMOTION_CONFIDENCE_THRESHOLD)),
            born,
            repr(now_ms / 1000 - self.PROMOTION_MIN_AGE_SECONDS),
            imp,
            below,
            f"~acc:log:{f.access}",
            touched(f.importance.fields[0]),
            repr(now_ms - self.FORGET_IDLE_SECONDS * 1000),
            str(limit),
        ]

        def decode(reply: list[list[bytes]]) -> tuple[list[str], list[str]]:
            return [i.decode() for i in reply[0]], [i.decode() for i in reply[1]]

        keys = (_keys.all_ids(tag),)
        return _scripts.Call(
            self._function("lifecycle_candidates"), keys, args, decode, write=False
        )

    def _read_call(self, tag: str, ids: Sequence[str]) -> _scripts.Call[Any]:
        keys = tuple(_keys.record(tag, i) for i in ids)
        return _scripts.Call(self._function("lifecycle_read"), keys, (), _rows, write=False)

    def _apply_call(self, tag: str, plan: Sequence[tuple[str, str, str]]) -> _scripts.Call[Any]:
        f = self._f
        codec = self.model.__typedis_spec__.fields[f.tier].codec
        args: list[_scripts.Arg] = [tag, f.tier, text(codec, "semantic")]
        for step in plan:
            args.extend(step)
        keys = (_keys.all_ids(tag),)
        return _scripts.Call(self._function("lifecycle_apply"), keys, args, list, write=True)

    def _hydrate(self, tag: str, rid: str, flat: dict[bytes, bytes]) -> M:
        spec = self.model.__typedis_spec__
        return _store.hydrate(self.model, [flat.get(n.encode()) for n in spec.read], (tag, rid))

    # ---- the steps -------------------------------------------------------------------------

    def _tick(self, at: datetime | None, limit: int | None) -> Steps[TickResult]:
        started = time.perf_counter()
        now_ms = _now_ms(at)
        promoted = forgotten = skipped = 0
        batch = _positive("TICK_BATCH_SIZE", self.TICK_BATCH_SIZE)
        cap = 0 if limit is None else _positive("limit", limit)
        spec = self.model.__typedis_spec__
        for tag in self._tags:
            [(up, down)] = yield [self._candidates_call(tag, now_ms, cap)]
            wanted = set(up)
            ids = [*up, *(i for i in down if i not in wanted)]
            for start in range(0, len(ids), batch):
                chunk = ids[start : start + batch]
                [rows] = yield [self._read_call(tag, chunk)]
                plan: list[tuple[str, str, str]] = []
                for rid, flat in zip(chunk, rows, strict=True):
                    if flat is None:
                        continue
                    verdict = self._state(self._hydrate(tag, rid, flat), flat, now_ms).verdict
                    if verdict != "keep":
                        plan.append((rid, _maintenance.digest(spec, flat), verdict[0]))
                if not plan:
                    continue
                [flags] = yield [self._apply_call(tag, plan)]
                for (_, _, action), flag in zip(plan, flags, strict=True):
                    if not flag:
                        skipped += 1
                    elif action == "p":
                        promoted += 1
                    else:
                        forgotten += 1
        return TickResult(promoted, forgotten, skipped, (time.perf_counter() - started) * 1000)

    def _assess(self, record: M, at: datetime | None) -> Steps[LifecycleState]:
        if not isinstance(record, self.model):
            raise ModelError(f"assess(): {record!r} is not a {self.model.__name__} record")
        tag, rid = located(record)
        [rows] = yield [self._read_call(tag, [rid])]
        if rows[0] is None:
            raise NotFound(
                f"assess(): no live {self.model.__name__} stored under key {rid!r}; save() it"
            )
        return self._state(self._hydrate(tag, rid, rows[0]), rows[0], _now_ms(at))

    # ---- the public methods ----------------------------------------------------------------

    def tag_new(self, record: M) -> M:
        """Put a record in the episodic tier and save it (only that field, if it is stored).

        Examples:
            >>> life.tag_new(Memory(agent="a1")).tier
            'episodic'
        """
        setattr(record, self._f.tier, "episodic")
        if _store.saved_at(record) is None:
            return record.save()
        return record.save(update_fields=[self._f.tier])

    async def atag_new(self, record: M) -> M:
        """``tag_new()`` on the asyncio client."""
        setattr(record, self._f.tier, "episodic")
        if _store.saved_at(record) is None:
            return await record.asave()
        return await record.asave(update_fields=[self._f.tier])

    def tick(self, *, at: datetime | None = None, limit: int | None = None) -> TickResult:
        """One lifecycle pass over the partition: promote, then forget, what qualifies.

        Candidates come from index ranges; each batch of ``TICK_BATCH_SIZE`` is read in one
        call and changed in one atomic call, which skips a record written since it was read.

        Args:
            at: the instant to judge at (default: now, by this machine's clock).
            limit: at most this many candidates of each kind per partition (default: all).

        Examples:
            >>> life.tick(at=datetime.now(UTC) + timedelta(days=30))
            TickResult(promoted=0, forgotten=12, skipped=0, duration_ms=3.1)
        """
        return _drive(self._tick(at, limit))

    async def atick(self, *, at: datetime | None = None, limit: int | None = None) -> TickResult:
        """``tick()`` on the asyncio client."""
        return await _adrive(self._tick(at, limit))

    def assess(self, record: M, *, at: datetime | None = None) -> LifecycleState:
        """A stored record's lifecycle state, read from the server (no access is recorded).

        Raises:
            NotFound: the record is not stored (or expired).

        Examples:
            >>> life.assess(memory).verdict
            'keep'
        """
        return _drive(self._assess(record, at))

    async def aassess(self, record: M, *, at: datetime | None = None) -> LifecycleState:
        """``assess()`` on the asyncio client."""
        return await _adrive(self._assess(record, at))


def _values(partition: object) -> tuple[object, ...]:
    if isinstance(partition, tuple):
        return tuple(cast("Iterable[object]", partition))
    return (partition,)


def _promotion_eligible(record: object, state: LifecycleState) -> bool:
    return state.promotion_eligible


def _forget_eligible(record: object, state: LifecycleState) -> bool:
    return state.forget_eligible


def _rows(reply: list[Any]) -> list[dict[bytes, bytes] | None]:
    out: list[dict[bytes, bytes] | None] = []
    for flat in reply:
        if flat:
            out.append(dict(zip(flat[::2], flat[1::2], strict=True)))
        else:
            out.append(None)
    return out


def _now_ms(at: datetime | None) -> float:
    if at is not None and not isinstance(cast(object, at), datetime):
        raise ModelError(f"MemoryLifecycle: at= takes a datetime, got {at!r}")
    moment = datetime.now(UTC) if at is None else at
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp() * 1000


def _positive(what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ModelError(f"MemoryLifecycle: {what} must be an int >= 1, got {value!r}")
    return value
