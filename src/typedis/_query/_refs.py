"""Field references: what ``Model.field`` gives on the class (``Restaurant.rating``).

A reference names one indexed field of one model and carries only the operators its index
can serve, so a type checker refuses ``Restaurant.cuisine >= "a"`` (a set index has no order)
and ``Restaurant.rating.startswith("4")``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import (
    TYPE_CHECKING,
    Any,
    Generic,
    Literal,
    TypeAlias,
    TypeVar,
    cast,
    get_args,
    overload,
)

from .._errors import QueryError
from .._markers import GeoPoint
from ._conditions import Cond, Eq, GeoUnit, In, Not, Prefix, Range, Within, utf8

if TYPE_CHECKING:
    from datetime import date, datetime
    from decimal import Decimal

    from .._links import Linked
    from .._model import Model

M = TypeVar("M", bound="Model")
TM = TypeVar("TM", bound="Model")
T = TypeVar("T")


class FieldRef(Generic[M, T]):
    """A reference to field ``name`` of ``model``, whose values are ``T``."""

    __slots__ = ("model", "name")

    def __init__(self, model: type[M], name: str) -> None:
        self.model = model
        self.name = name

    def __repr__(self) -> str:
        return f"{self.model.__name__}.{self.name}"


class _ValueRef(FieldRef[M, T]):
    """Equality lookups, served by a set per value (or the key itself, or a unique hash)."""

    __slots__ = ()

    def __hash__(self) -> int:  # by identity despite __eq__ (a condition): refs key dicts
        return object.__hash__(self)

    def __eq__(self, value: T) -> Cond[M]:  # type: ignore[override]
        return Eq(self, value)

    def __ne__(self, value: T) -> Cond[M]:  # type: ignore[override]
        return Not(Eq(self, value))

    def in_(self, values: Iterable[T]) -> Cond[M]:
        """The field holds one of ``values``."""
        return In(self, _values(self, values))

    def is_none(self) -> Cond[M]:
        """The field holds None."""
        return Eq(self, None)

    def startswith(self: _ValueRef[M, str] | _ValueRef[M, str | None], prefix: str) -> Cond[M]:
        """The field (a string) starts with ``prefix``; served by a lexicographic index."""
        given = cast(object, prefix)  # typed, but given by users at run time
        if not isinstance(given, str):
            raise QueryError(f"{self!r}.startswith() takes a str, got {given!r}")
        return Prefix(self, utf8(self, prefix))


def _values(ref: FieldRef[Any, Any], values: Iterable[Any]) -> tuple[Any, ...]:
    given = cast(object, values)  # typed, but given by users at run time
    if isinstance(given, str | bytes) or not isinstance(given, Iterable):
        raise QueryError(f"{ref!r}.in_() takes a list, tuple or set of values, got {given!r}")
    return tuple(values)


class KeyRef(_ValueRef[M, T]):
    """A ``Key`` field."""

    __slots__ = ()


class UniqueRef(_ValueRef[M, T]):
    """A ``Unique`` field."""

    __slots__ = ()


class IndexedRef(_ValueRef[M, T]):
    """An ``Indexed`` field."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Ordering(Generic[M]):
    """An order for query results: a ranked field or a ``Rank``, ascending or descending."""

    source: _OrderedRef[M, Any] | Rank[M] | Decayed[M]
    descending: bool = False

    def __repr__(self) -> str:
        if isinstance(self.source, Decayed):
            return repr(self.source)
        return f"{self.source!r}.{'desc' if self.descending else 'asc'}()"


@dataclass(frozen=True, slots=True)
class Decayed(Generic[M]):
    """A ``Decaying`` field's value as decayed at a time (None: the server's now)."""

    ref: DecayRef[M, Any]
    at: datetime | None = None

    def __repr__(self) -> str:
        return f"{self.ref!r}.decayed({'' if self.at is None else repr(self.at)})"


@dataclass(frozen=True, slots=True)
class Rank(Generic[M]):
    """A weighted sum of ranked fields, computed on the server to order results.

    ``(Shop.rating * 0.7 + Shop.visits * 0.3).desc()``; a record without a value for a field
    gets no part from it, and one with no value for any comes last.
    """

    terms: tuple[tuple[_OrderedRef[M, Any], float], ...]
    how: Literal["SUM", "MIN", "MAX"] = "SUM"  # how the terms combine (ZUNIONSTORE AGGREGATE)

    def __add__(self, other: Rank[M] | _OrderedRef[M, Any]) -> Rank[M]:
        return Rank(self.terms + _terms(other), _how(self, other))

    def __radd__(self, other: _OrderedRef[M, Any]) -> Rank[M]:
        return Rank(_terms(other) + self.terms, self.how)

    def aggregate(self, how: Literal["SUM", "MIN", "MAX"]) -> Rank[M]:
        """This rank with its weighted terms combined by ``how``: their sum (the default),
        smallest or largest; a record's missing terms take no part."""
        if how not in ("SUM", "MIN", "MAX"):
            raise QueryError(f"{self!r}.aggregate(): how is one of SUM, MIN, MAX; got {how!r}")
        return Rank(self.terms, how)

    def asc(self) -> Ordering[M]:
        """Order results by this rank, smallest first."""
        return Ordering(self)

    def desc(self) -> Ordering[M]:
        """Order results by this rank, largest first."""
        return Ordering(self, descending=True)

    def __repr__(self) -> str:
        terms = "(" + " + ".join(f"{ref!r} * {weight!r}" for ref, weight in self.terms) + ")"
        return terms if self.how == "SUM" else f"{terms}.aggregate({self.how!r})"


def _how(rank: Rank[M], other: Rank[M] | _OrderedRef[M, Any]) -> Literal["SUM", "MIN", "MAX"]:
    if isinstance(other, Rank) and other.how != rank.how:
        raise QueryError(f"cannot add {rank!r} and {other!r}: they aggregate differently")
    return rank.how


def _terms(part: Rank[M] | _OrderedRef[M, Any]) -> tuple[tuple[_OrderedRef[M, Any], float], ...]:
    return part.terms if isinstance(part, Rank) else ((part, 1.0),)


class _OrderedRef(FieldRef[M, T]):
    """A field whose sorted set can order query results, alone or weighted in a ``Rank``."""

    __slots__ = ()

    def asc(self) -> Ordering[M]:
        """Order results by this field, smallest first."""
        return Ordering(self)

    def desc(self) -> Ordering[M]:
        """Order results by this field, largest first."""
        return Ordering(self, descending=True)

    def __mul__(self, weight: float) -> Rank[M]:
        return Rank(((self, _weight(weight)),))

    def __rmul__(self, weight: float) -> Rank[M]:
        return self * weight

    def __add__(self, other: Rank[M] | _OrderedRef[M, Any]) -> Rank[M]:
        return Rank(((self, 1.0), *_terms(other)), other.how if isinstance(other, Rank) else "SUM")


def _weight(weight: object) -> float:
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight):
        raise QueryError(f"a rank weight must be a finite number, got {weight!r}")
    return float(weight)


class _RankedRef(_OrderedRef[M, T]):
    """Range lookups and ordering, served by a sorted set of scores."""

    __slots__ = ()

    def __hash__(self) -> int:  # by identity, as _ValueRef
        return object.__hash__(self)

    # A bound is of the field's type without None, so `Restaurant.opened < None` fails to
    # type check. One overload per rankable type: for a generic `self: _RankedRef[M, V] |
    # _RankedRef[M, V | None]`, mypy infers V loosely and lets `None` (or an int for a date) by.
    @overload
    def __lt__(self: _Bound[M, int], value: int) -> Cond[M]: ...
    @overload
    def __lt__(self: _Bound[M, float], value: float) -> Cond[M]: ...
    @overload
    def __lt__(self: _Bound[M, Decimal], value: Decimal) -> Cond[M]: ...
    @overload
    def __lt__(self: _Bound[M, date], value: date) -> Cond[M]: ...
    @overload
    def __lt__(self: _Bound[M, datetime], value: datetime) -> Cond[M]: ...
    def __lt__(self, value: Any) -> Cond[M]:
        return Range(self, high=self._bound(value), high_open=True)

    @overload
    def __le__(self: _Bound[M, int], value: int) -> Cond[M]: ...
    @overload
    def __le__(self: _Bound[M, float], value: float) -> Cond[M]: ...
    @overload
    def __le__(self: _Bound[M, Decimal], value: Decimal) -> Cond[M]: ...
    @overload
    def __le__(self: _Bound[M, date], value: date) -> Cond[M]: ...
    @overload
    def __le__(self: _Bound[M, datetime], value: datetime) -> Cond[M]: ...
    def __le__(self, value: Any) -> Cond[M]:
        return Range(self, high=self._bound(value))

    @overload
    def __gt__(self: _Bound[M, int], value: int) -> Cond[M]: ...
    @overload
    def __gt__(self: _Bound[M, float], value: float) -> Cond[M]: ...
    @overload
    def __gt__(self: _Bound[M, Decimal], value: Decimal) -> Cond[M]: ...
    @overload
    def __gt__(self: _Bound[M, date], value: date) -> Cond[M]: ...
    @overload
    def __gt__(self: _Bound[M, datetime], value: datetime) -> Cond[M]: ...
    def __gt__(self, value: Any) -> Cond[M]:
        return Range(self, low=self._bound(value), low_open=True)

    @overload
    def __ge__(self: _Bound[M, int], value: int) -> Cond[M]: ...
    @overload
    def __ge__(self: _Bound[M, float], value: float) -> Cond[M]: ...
    @overload
    def __ge__(self: _Bound[M, Decimal], value: Decimal) -> Cond[M]: ...
    @overload
    def __ge__(self: _Bound[M, date], value: date) -> Cond[M]: ...
    @overload
    def __ge__(self: _Bound[M, datetime], value: datetime) -> Cond[M]: ...
    def __ge__(self, value: Any) -> Cond[M]:
        return Range(self, low=self._bound(value))

    def __eq__(self, value: T) -> Cond[M]:  # type: ignore[override]
        if value is None:
            return self.is_none()
        return Range(self, low=value, high=value)

    def __ne__(self, value: T) -> Cond[M]:  # type: ignore[override]
        return Not(self == value)

    @overload
    def between(self: _Bound[M, int], low: int, high: int) -> Cond[M]: ...
    @overload
    def between(self: _Bound[M, float], low: float, high: float) -> Cond[M]: ...
    @overload
    def between(self: _Bound[M, Decimal], low: Decimal, high: Decimal) -> Cond[M]: ...
    @overload
    def between(self: _Bound[M, date], low: date, high: date) -> Cond[M]: ...
    @overload
    def between(self: _Bound[M, datetime], low: datetime, high: datetime) -> Cond[M]: ...
    def between(self, low: Any, high: Any) -> Cond[M]:
        """``low <= field <= high``."""
        return Range(self, low=self._bound(low), high=self._bound(high))

    def is_none(self) -> Cond[M]:
        """The field holds None (its record is not in the sorted set)."""
        return Not(Range(self))

    def _bound(self, value: T) -> T:
        if value is None:
            raise QueryError(f"{self!r}: a range bound cannot be None (use is_none())")
        return value


if TYPE_CHECKING:
    V = TypeVar("V")
    _Bound: TypeAlias = _RankedRef[M, V] | _RankedRef[M, V | None]
    """A ranked reference whose bounds are ``V`` values: a field of ``V`` or ``V | None``."""


class SortedRef(_RankedRef[M, T]):
    """A ``Sorted`` field."""

    __slots__ = ()


class ConfidenceRef(_RankedRef[M, float]):
    """A ``Confidence`` field (ranked by its value)."""

    __slots__ = ()


class LinkRef(FieldRef[M, "Linked[TM]"], Generic[M, TM]):
    """A ``Link`` field: equality on the linked record (a record, a link or its key)."""

    __slots__ = ()

    def __eq__(self, value: TM | Linked[TM] | str | int) -> Cond[M]:  # type: ignore[override]
        return Eq(self, value)

    def __ne__(self, value: TM | Linked[TM] | str | int) -> Cond[M]:  # type: ignore[override]
        return Not(Eq(self, value))

    def in_(self, values: Iterable[TM | Linked[TM] | str | int]) -> Cond[M]:
        """The field links to one of ``values``."""
        return In(self, _values(self, values))


class OptionalLinkRef(LinkRef[M, TM]):
    """An ``OptionalLink`` field: a ``Link`` that can also be matched when it is None."""

    __slots__ = ()

    def is_none(self) -> Cond[M]:
        """The field links to no record."""
        return Eq(self, None)


class DecayRef(_OrderedRef[M, T]):
    """A ``Decaying`` field: a base value that decays with the time since its last touch.

    ``asc()``/``desc()`` order by its index's scores: for the exponential curve, the decayed
    value's order; for the power curve, the touch time. ``decayed()`` orders by the decayed
    value itself, on either curve.
    """

    __slots__ = ()

    def decayed(self, at: datetime | None = None) -> Ordering[M]:
        """Order results by the decayed value at ``at`` (default: now), largest first."""
        return Ordering(Decayed(self, at), descending=True)


class GeoRef(FieldRef[M, T]):
    """A ``Geo`` field (``T`` is ``GeoPoint`` or ``GeoPoint | None``)."""

    __slots__ = ()

    def within(
        self, center: GeoPoint | tuple[float, float], radius: float, unit: GeoUnit = "km"
    ) -> Cond[M]:
        """The point lies within ``radius`` ``unit`` (m, km, mi, ft) of ``center`` (lat, lon),
        which must lie in Redis' GEO range (as a ``GeoPoint``)."""
        try:
            lat, lon = cast(tuple[object, object], center)  # typed, but given at run time
        except (TypeError, ValueError):
            raise QueryError(
                f"{self!r}.within(): the center is a (lat, lon) pair, got {center!r}"
            ) from None
        if unit not in get_args(GeoUnit):
            units = ", ".join(get_args(GeoUnit))
            raise QueryError(f"{self!r}.within(): the unit is one of {units}; got {unit!r}")
        return Within(
            self,
            _finite(self, "the center's latitude", lat, -_GEO_LAT, _GEO_LAT),
            _finite(self, "the center's longitude", lon, -180.0, 180.0),
            _finite(self, "the radius", radius, 0.0, sys.float_info.max),
            unit,
        )


_GEO_LAT = 85.05112878  # the latitudes Redis' GEO commands accept, as GeoPoint's


def _finite(ref: FieldRef[Any, Any], what: str, value: object, low: float, high: float) -> float:
    """``value`` as a float within ``low .. high`` (a ``within()`` argument)."""
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if number is None or not low <= number <= high:  # NaN fails the comparison too
        span = f">= {low}" if high == sys.float_info.max else f"within {low} .. {high}"
        raise QueryError(f"{ref!r}.within(): {what} must be a finite number {span}, got {value!r}")
    return float(number)
