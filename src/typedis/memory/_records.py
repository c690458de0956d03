"""The value types of ``RedisMemory``: plain pydantic models, JSON-ready.

Field names follow LoomFlow's ``core/types.py`` where LoomFlow has the field, so an adapter
converts with ``model_dump()`` / ``model_validate()``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field, JsonValue, field_validator


def _now() -> datetime:
    return datetime.now(UTC)


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _aware(value: datetime | None) -> datetime | None:
    """A naive datetime is read as UTC (as LoomFlow's types do)."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class IsolationWarning(UserWarning):
    """A call without ``user_id`` on a memory that holds named users' data.

    The anonymous bucket (``user_id=None``) is a partition of its own: the call sees only
    anonymous data, which is rarely what was meant.

    Examples:
        >>> import warnings
        >>> warnings.simplefilter("error", IsolationWarning)  # make it fatal in tests
    """


class MemoryBlock(BaseModel):
    """A named block of working memory, pinned to every prompt, in ``pinned_order``.

    Examples:
        >>> MemoryBlock(name="persona", content="terse", pinned_order=0).name
        'persona'
    """

    name: str
    content: str
    pinned_order: int = 0
    updated_at: datetime = Field(default_factory=_now)

    _utc = field_validator("updated_at")(_aware)


class Episode(BaseModel):
    """One exchange: the ``input``, the ``output``, when it occurred and in which session.

    ``user_id`` is the partition: an episode is only ever seen by calls naming the same
    ``user_id`` (``None`` is the anonymous partition). ``embedding`` is filled on
    ``remember`` when the memory has an embedder and it is None.

    Examples:
        >>> Episode(session_id="s1", input="hi", output="hello").user_id is None
        True
    """

    id: str = Field(default_factory=lambda: _id("ep"))
    session_id: str
    user_id: str | None = None
    occurred_at: datetime = Field(default_factory=_now)
    input: str
    output: str
    metadata: dict[str, JsonValue] = {}
    embedding: list[float] | None = None

    _utc = field_validator("occurred_at")(_aware)


class EpisodeMatch(BaseModel):
    """A recalled episode with the scores that ranked it (``recall_scored``).

    ``score`` is the fused score (higher is better, relative to the query); ``text_score`` the
    BM25 score, ``vector_score`` the cosine (None when that source took no part).

    Examples:
        >>> ep = Episode(session_id="s", input="a", output="b")
        >>> EpisodeMatch(episode=ep, score=1.0).text_score is None
        True
    """

    episode: Episode
    score: float
    text_score: float | None = None
    vector_score: float | None = None


class Fact(BaseModel):
    """A bi-temporal statement ``subject predicate object``.

    ``valid_from`` / ``valid_until`` say when it held in the world (``valid_until`` None: still
    holds); ``recorded_at`` when the memory learned it. Recording a new fact for the same
    ``user_id``, subject and predicate closes the validity of the one it supersedes.

    Examples:
        >>> Fact(subject="ann", predicate="drinks", object="tea").valid_until is None
        True
    """

    id: str = Field(default_factory=lambda: _id("fact"))
    user_id: str | None = None
    subject: str
    predicate: str
    object: str
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    valid_from: datetime = Field(default_factory=_now)
    valid_until: datetime | None = None
    recorded_at: datetime = Field(default_factory=_now)
    sources: list[str] = []

    _utc = field_validator("valid_from", "valid_until", "recorded_at")(_aware)


class Message(BaseModel):
    """One turn of a session replayed by ``session_messages``: LoomFlow's ``Message`` shape.

    Examples:
        >>> Message(role="user", content="hi").role
        'user'
    """

    role: Literal["user", "assistant"]
    content: str


class MemoryProfile(BaseModel):
    """What the memory holds about one user: counts, last activity, a sample of facts.

    Examples:
        >>> MemoryProfile(user_id="ann").episode_count
        0
    """

    user_id: str | None
    episode_count: int = 0
    fact_count: int = 0
    block_count: int = 0
    last_seen: datetime | None = None
    recent_sessions: list[str] = []
    sample_facts: list[Fact] = []


class RecordState(BaseModel):
    """The memory primitives' state of one record (``ModelState.records``): the hidden hash
    fields of the record, by name, as the server holds them.

    The names: ``~t:<field>`` the touch time (epoch ms) of a ``Decaying`` or ``CyclicDecay``
    field; ``~conf+:<field>`` / ``~conf-:<field>`` the corroborations / contradictions of a
    ``Confidence`` field; ``~acc:log:<field>`` the confirmed read times (epoch ms,
    comma-separated) of an ``AccessCount`` field, ``~acc:n:<field>`` / ``~acc:s:<field>`` its
    staged reads; ``~cy:r:<field>`` / ``~cy:a:<field>`` a ``CyclicDecay`` field's last pressure
    resolution (epoch ms) and cycle amplitudes.

    Examples:
        >>> RecordState(id="n1", hidden={"~conf+:sure": "1"}).hidden["~conf+:sure"]
        '1'
    """

    id: str
    hidden: dict[str, str] = {}


class EdgeState(BaseModel):
    """A co-occurrence edge between two records of one user (``ModelState.edges``): the
    ``Associations`` field, the two record ids (``a < b``; the edge holds both ways) and its
    weight.

    Examples:
        >>> EdgeState(field="related", a="n1", b="n2", weight=1.0).weight
        1.0
    """

    field: str
    a: str
    b: str
    weight: float


class PredictionState(BaseModel):
    """A prediction of a record's ledger (``ModelState.predictions``): the ``Predictions``
    field, the record id, the prediction's key, its ``data`` as the ledger holds it (recorded
    and resolved times in epoch ms, mode, error, predicted and actual values as JSON: one a
    line) and its error once resolved.

    Examples:
        >>> PredictionState(field="predictions", record="n1", key="k", data="").error is None
        True
    """

    field: str
    record: str
    key: str
    data: str
    error: float | None = None


class ModelState(BaseModel):
    """The memory primitives' state of one user's records of a ``models=`` model
    (``MemoryExport.state``): per record its hidden values, the co-occurrence edges between
    them, the ledger's predictions.

    Examples:
        >>> ModelState().edges
        []
    """

    records: list[RecordState] = []
    edges: list[EdgeState] = []
    predictions: list[PredictionState] = []


class MemoryExport(BaseModel):
    """Everything the memory holds for one user, which ``forget`` erases and ``restore``
    writes back: blocks, episodes (with their vectors), facts (every version) and, by model
    name, the records of the memory's ``models=`` (``model_dump(mode="json")``) and their
    memory primitives' state (``state``: touch times, confidence evidence, access logs,
    co-occurrence edges, predictions).

    Examples:
        >>> MemoryExport(user_id="ann").model_dump()["episodes"]
        []
    """

    user_id: str | None
    blocks: list[MemoryBlock] = []
    episodes: list[Episode] = []
    facts: list[Fact] = []
    records: dict[str, list[dict[str, JsonValue]]] = {}
    state: dict[str, ModelState] = {}
    exported_at: datetime = Field(default_factory=_now)
