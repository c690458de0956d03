"""Query conditions: small immutable trees built from field references.

``Restaurant.rating >= 4`` is a ``Range``; ``&``, ``|`` and ``~`` combine conditions into
``And``, ``Or`` and ``Not``. A condition refuses ``bool()``, so ``if Model.f == x:`` fails
loudly instead of being silently true.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from .._errors import QueryError

if TYPE_CHECKING:
    from .._model import Model
    from ._refs import FieldRef

M = TypeVar("M", bound="Model")

GeoUnit = Literal["m", "km", "mi", "ft"]


class Cond(Generic[M]):
    """A condition on records of model ``M``."""

    __slots__ = ()

    def __and__(self, other: Cond[M]) -> Cond[M]:
        return And((self, other))

    def __or__(self, other: Cond[M]) -> Cond[M]:
        return Or((self, other))

    def __invert__(self) -> Cond[M]:
        return Not(self)

    def __bool__(self) -> bool:
        raise QueryError(
            f"{self!r} is a query condition, not a truth value: pass it to filter(), and use "
            "&, | and ~ (not 'and', 'or', 'not') to combine conditions"
        )


def utf8(ref: FieldRef[Any, Any], value: Any) -> Any:
    """``value``, unless it is a str that UTF-8 cannot encode (a lone surrogate), which no
    stored value holds and no command can carry (``QueryError``)."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError as error:
            raise QueryError(
                f"{ref!r}: {value!r} is not valid text ({error.reason} at {error.start}); "
                "only str encodable as UTF-8 can match a stored value"
            ) from None
    return value


@dataclass(frozen=True, slots=True, eq=False)
class Eq(Cond[M]):
    """``ref == value`` (``value`` None: the field holds None)."""

    ref: FieldRef[M, Any]
    value: Any

    def __repr__(self) -> str:
        return f"{self.ref!r} == {self.value!r}"


@dataclass(frozen=True, slots=True, eq=False)
class In(Cond[M]):
    """``ref`` holds one of ``values``."""

    ref: FieldRef[M, Any]
    values: tuple[Any, ...]

    def __repr__(self) -> str:
        return f"{self.ref!r} in {list(self.values)!r}"


@dataclass(frozen=True, slots=True, eq=False)
class Range(Cond[M]):
    """``low <(=) ref <(=) high``; a missing bound is open."""

    ref: FieldRef[M, Any]
    low: Any = None
    high: Any = None
    low_open: bool = False
    high_open: bool = False

    def __repr__(self) -> str:
        low = "" if self.low is None else f"{self.low!r} {'<' if self.low_open else '<='} "
        high = "" if self.high is None else f" {'<' if self.high_open else '<='} {self.high!r}"
        return f"{low}{self.ref!r}{high}"


@dataclass(frozen=True, slots=True, eq=False)
class Prefix(Cond[M]):
    """``ref`` (a string) starts with ``prefix``."""

    ref: FieldRef[M, Any]
    prefix: str

    def __repr__(self) -> str:
        return f"{self.ref!r}.startswith({self.prefix!r})"


@dataclass(frozen=True, slots=True, eq=False)
class Within(Cond[M]):
    """``ref`` (a point) lies within ``radius`` ``unit`` of (``lat``, ``lon``)."""

    ref: FieldRef[M, Any]
    lat: float
    lon: float
    radius: float
    unit: GeoUnit

    def __repr__(self) -> str:
        return f"{self.ref!r}.within(({self.lat}, {self.lon}), {self.radius}, {self.unit!r})"


@dataclass(frozen=True, slots=True, eq=False)
class And(Cond[M]):
    parts: Sequence[Cond[M]]

    def __repr__(self) -> str:
        return "(" + " & ".join(map(repr, self.parts)) + ")"


@dataclass(frozen=True, slots=True, eq=False)
class Or(Cond[M]):
    parts: Sequence[Cond[M]]

    def __repr__(self) -> str:
        return "(" + " | ".join(map(repr, self.parts)) + ")"


@dataclass(frozen=True, slots=True, eq=False)
class Not(Cond[M]):
    part: Cond[M]

    def __repr__(self) -> str:
        return f"~{self.part!r}"
