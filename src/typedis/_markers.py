"""Index markers and ``field()``.

At runtime every marker alias is ``Annotated[T, <marker>]``: pydantic validates ``T`` and
typedis reads the marker from ``FieldInfo.metadata`` when the class is created. Type checkers
see generic descriptors instead (below ``TYPE_CHECKING``): read on an instance they give ``T``,
read on the class they give a typed field reference, and their ``__set__`` gives the
constructor its parameter type (PEP 681 descriptor-typed fields).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import (
    TYPE_CHECKING,
    Annotated,
    Any,
    ClassVar,
    Generic,
    Literal,
    NamedTuple,
    TypeAlias,
    TypeVar,
)

from pydantic import AfterValidator, Field
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

T = TypeVar("T")
DecayCurve = Literal["exponential", "power"]


@dataclass(frozen=True, slots=True)
class Marker:
    """Base of the index markers found in ``Annotated`` metadata."""

    kind: ClassVar[str] = ""


@dataclass(frozen=True, slots=True)
class KeyMarker(Marker):
    kind: ClassVar[str] = "key"
    auto: bool = False


@dataclass(frozen=True, slots=True)
class UniqueMarker(Marker):
    kind: ClassVar[str] = "unique"


@dataclass(frozen=True, slots=True)
class IndexedMarker(Marker):
    kind: ClassVar[str] = "indexed"


@dataclass(frozen=True, slots=True)
class SortedMarker(Marker):
    kind: ClassVar[str] = "sorted"


@dataclass(frozen=True, slots=True)
class GeoMarker(Marker):
    kind: ClassVar[str] = "geo"


@dataclass(frozen=True, slots=True)
class DecayingMarker(Marker):
    kind: ClassVar[str] = "decaying"


@dataclass(frozen=True, slots=True)
class ConfidenceMarker(Marker):
    kind: ClassVar[str] = "confidence"


@dataclass(frozen=True, slots=True)
class LinkMarker(Marker):
    kind: ClassVar[str] = "link"


@dataclass(frozen=True, slots=True)
class FieldOptions:
    """typedis options given to ``field()``, kept in the field's metadata."""

    rate: float | None = None
    curve: DecayCurve | None = None
    auto_now: bool = False
    auto_now_add: bool = False
    prefix_index: bool = True
    source: str | None = None  # an Embedding field's source field
    provider: Any = None  # an Embedding field's provider (typedis.retrieval.EmbeddingProvider)
    dimension: int | None = None  # an Embedding field's vector length


class GeoPoint(NamedTuple):
    """A point on Earth in degrees (Redis accepts latitudes within ±85.05112878)."""

    lat: Annotated[float, Field(ge=-85.05112878, le=85.05112878)]
    lon: Annotated[float, Field(ge=-180.0, le=180.0)]


_pydantic_field: Any = Field  # its overloads do not admit a pass-through of **kwargs


def new_id() -> str:
    """A fresh random key: 32 lowercase hex digits (uuid4)."""
    return uuid.uuid4().hex


def field(
    default: Any = PydanticUndefined,
    *,
    default_factory: Any = None,
    rate: float | None = None,
    curve: DecayCurve | None = None,
    auto_now: bool = False,
    auto_now_add: bool = False,
    prefix_index: bool = True,
    source: str | None = None,
    provider: Any = None,
    dimension: int | None = None,
    **kwargs: Any,
) -> Any:
    """Declare a field's default and options; other keywords go to ``pydantic.Field``.

    Args:
        default: the default value.
        default_factory: a callable giving the default.
        rate: decay rate of a ``Decaying`` field, per day (> 0, default 0.1).
        curve: how a ``Decaying`` field decays: ``"exponential"`` (the default: value *
            e^(-rate*days); top-N in O(log N + n)) or ``"power"`` (value * (1 + days)^-rate).
        auto_now: set the field (a datetime) to the current UTC time on every save.
        auto_now_add: set the field (a datetime) to the current UTC time when first created.
        prefix_index: keep the lexicographic index that serves ``startswith()`` on a str
            ``Key``, ``Indexed`` or ``Unique`` field (default True; False saves its memory and
            two sorted-set writes per save).
        source: the field an ``Embedding`` field embeds (a str field).
        provider: the ``EmbeddingProvider`` of an ``Embedding`` field (default: the one
            ``typedis.retrieval.configure(embedder=...)`` set).
        dimension: the vector length of an ``Embedding`` field (default: its provider's).

    Examples:
        >>> class Note(Model):
        ...     id: AutoKey = field(default_factory=new_id)
        ...     score: Sorted[float] = field(default=0.0, ge=0)
    """
    info: FieldInfo = _pydantic_field(default, default_factory=default_factory, **kwargs)
    options = FieldOptions(
        rate=rate,
        curve=curve,
        auto_now=auto_now,
        auto_now_add=auto_now_add,
        prefix_index=prefix_index,
        source=source,
        provider=provider,
        dimension=dimension,
    )
    if options != FieldOptions():
        info.metadata.append(options)
    return info


#: The largest integer magnitude a sorted set's score (a double) holds exactly: a ``Sorted[int]``
#: beyond it would share its score with a neighbour, and ranges could not tell them apart.
EXACT_SCORE = 2**53


def _rankable(value: Any) -> Any:
    """Refuse what a sorted set cannot rank exactly: NaN, and integers beyond ±2**53."""
    if value != value:
        raise ValueError("NaN cannot be ranked in a sorted index")
    if isinstance(value, int) and abs(value) > EXACT_SCORE:
        raise ValueError(
            f"a Sorted int must be within ±2**53 ({EXACT_SCORE}), the integers a sorted "
            "index ranks exactly; use Indexed[int] for exact equality on larger values"
        )
    if isinstance(value, Decimal) and value.is_finite() and Decimal(repr(float(value))) != value:
        raise ValueError(
            f"a Sorted Decimal must be a number a double holds (at most 15 significant digits "
            f"are always safe), so that its rank is exact; {value} is not"
        )
    return value


_RANKABLE = AfterValidator(_rankable)
_DECAY_BASE = Field(ge=0)  # decay shrinks a value toward 0: the base is >= 0 (NaN is refused)
_KEY = KeyMarker()
_AUTO_KEY = KeyMarker(auto=True)
_UNIQUE = UniqueMarker()
_INDEXED = IndexedMarker()
_SORTED = SortedMarker()
_GEO = GeoMarker()
_DECAYING = DecayingMarker()
_CONFIDENCE = ConfidenceMarker()
_LINK = LinkMarker()

if TYPE_CHECKING:
    from datetime import date, datetime
    from decimal import Decimal
    from typing import overload

    from ._links import Linked
    from ._model import Model
    from ._query._refs import (
        ConfidenceRef,
        DecayRef,
        GeoRef,
        IndexedRef,
        KeyRef,
        LinkRef,
        OptionalLinkRef,
        SortedRef,
        UniqueRef,
    )

    M = TypeVar("M", bound=Model)
    TM = TypeVar("TM", bound=Model)

    # The value types each marker takes, as _schema refuses the others when the class is
    # created. Constraints rather than a bound: mypy then takes a constraint's type only, not
    # its subclasses (bool for int, an enum for str); pyright still takes those.
    KeyT = TypeVar("KeyT", str, int, date, datetime)
    ValueT = TypeVar(
        "ValueT",
        str,
        int,
        float,
        bool,
        Decimal,
        date,
        datetime,
        str | None,
        int | None,
        float | None,
        bool | None,
        Decimal | None,
        date | None,
        datetime | None,
    )
    RankT = TypeVar(
        "RankT",
        int,
        float,
        Decimal,
        date,
        datetime,
        int | None,
        float | None,
        Decimal | None,
        date | None,
        datetime | None,
    )
    PointT = TypeVar("PointT", GeoPoint, GeoPoint | None)
    ScoreT = TypeVar("ScoreT", int, float, int | None, float | None)
    _KeyValue: TypeAlias = str | int | date | datetime
    _KeyValues: TypeAlias = _KeyValue | tuple[_KeyValue, ...]
    """A link's target given by its key: one value, or a tuple of them for several Key fields."""

    class Key(Generic[KeyT]):
        """Part of the record's key; equality lookups."""

        @overload
        def __get__(self, obj: None, owner: type[M]) -> KeyRef[M, KeyT]: ...
        @overload
        def __get__(self, obj: object, owner: Any) -> KeyT: ...
        def __get__(self, obj: object, owner: Any) -> Any: ...
        def __set__(self, obj: object, value: KeyT) -> None: ...

    class Unique(Generic[ValueT]):
        """At most one record per value; equality lookups."""

        @overload
        def __get__(self, obj: None, owner: type[M]) -> UniqueRef[M, ValueT]: ...
        @overload
        def __get__(self, obj: object, owner: Any) -> ValueT: ...
        def __get__(self, obj: object, owner: Any) -> Any: ...
        def __set__(self, obj: object, value: ValueT) -> None: ...

    class Indexed(Generic[ValueT]):
        """Equality lookups through a set per value."""

        @overload
        def __get__(self, obj: None, owner: type[M]) -> IndexedRef[M, ValueT]: ...
        @overload
        def __get__(self, obj: object, owner: Any) -> ValueT: ...
        def __get__(self, obj: object, owner: Any) -> Any: ...
        def __set__(self, obj: object, value: ValueT) -> None: ...

    class Sorted(Generic[RankT]):
        """Range lookups and ordering through a sorted set (numbers, dates, datetimes)."""

        @overload
        def __get__(self, obj: None, owner: type[M]) -> SortedRef[M, RankT]: ...
        @overload
        def __get__(self, obj: object, owner: Any) -> RankT: ...
        def __get__(self, obj: object, owner: Any) -> Any: ...
        def __set__(self, obj: object, value: RankT) -> None: ...

    class Geo(Generic[PointT]):
        """Radius lookups through a geo set (``GeoPoint`` or ``GeoPoint | None``)."""

        @overload
        def __get__(self, obj: None, owner: type[M]) -> GeoRef[M, PointT]: ...
        @overload
        def __get__(self, obj: object, owner: Any) -> PointT: ...
        def __get__(self, obj: object, owner: Any) -> Any: ...
        def __set__(self, obj: object, value: PointT) -> None: ...

    class Decaying(Generic[ScoreT]):
        """A base score ranked by time decay since it was last written."""

        @overload
        def __get__(self, obj: None, owner: type[M]) -> DecayRef[M, ScoreT]: ...
        @overload
        def __get__(self, obj: object, owner: Any) -> ScoreT: ...
        def __get__(self, obj: object, owner: Any) -> Any: ...
        def __set__(self, obj: object, value: ScoreT) -> None: ...

    class Confidence:
        """A belief in [0, 1], ranked through a sorted set."""

        @overload
        def __get__(self, obj: None, owner: type[M]) -> ConfidenceRef[M]: ...
        @overload
        def __get__(self, obj: object, owner: Any) -> float: ...
        def __get__(self, obj: object, owner: Any) -> Any: ...
        def __set__(self, obj: object, value: float) -> None: ...

    class Link(Generic[TM]):
        """A reference to a record of another model, stored as its key and indexed."""

        @overload
        def __get__(self, obj: None, owner: type[M]) -> LinkRef[M, TM]: ...
        @overload
        def __get__(self, obj: object, owner: Any) -> Linked[TM]: ...
        def __get__(self, obj: object, owner: Any) -> Any: ...
        def __set__(self, obj: object, value: TM | Linked[TM] | _KeyValues) -> None: ...

    class OptionalLink(Generic[TM]):
        """A ``Link`` that may be None (no related record); adds ``is_none()`` to queries."""

        @overload
        def __get__(self, obj: None, owner: type[M]) -> OptionalLinkRef[M, TM]: ...
        @overload
        def __get__(self, obj: object, owner: Any) -> Linked[TM] | None: ...
        def __get__(self, obj: object, owner: Any) -> Any: ...
        def __set__(self, obj: object, value: TM | Linked[TM] | _KeyValues | None) -> None: ...

    AutoKey: TypeAlias = Key[str]
else:
    from ._links import Linked

    Link = Annotated[Linked[T], _LINK]
    OptionalLink = Annotated[Linked[T] | None, _LINK]
    Key = Annotated[T, _KEY]
    AutoKey = Annotated[str, Field(default_factory=new_id), _AUTO_KEY]
    Unique = Annotated[T, _UNIQUE]
    Indexed = Annotated[T, _INDEXED]
    Sorted = Annotated[T, _RANKABLE, _SORTED]
    Geo = Annotated[T, _GEO]
    Decaying = Annotated[T, _DECAY_BASE, _DECAYING]
    Confidence = Annotated[float, Field(ge=0.0, le=1.0), _CONFIDENCE]
