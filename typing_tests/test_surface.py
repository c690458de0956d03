"""How mypy --strict and pyright strict see the type surface: class keywords, marker types,
range bounds, increments, partial saves, the auto key, multi-key links, public query types.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal, assert_type

import typedis
from typedis import (
    AutoKey,
    Confidence,
    Decaying,
    Geo,
    GeoPoint,
    Index,
    Indexed,
    Key,
    Link,
    Linked,
    Model,
    OptionalLink,
    Sorted,
    Unique,
    field,
    new_id,
)
from typedis.query import Cond, KeyRef, LinkRef, Ordering, Query, SortedRef

# ---- class keywords ------------------------------------------------------------------------


class Menu(
    Model,
    ttl=3600,
    partition="shop",
    indexes=[Index("shop", "dish")],
    order_by="-price",
    frozen=True,
):
    shop: Key[str]
    dish: Key[str]
    price: Sorted[float] = field(default=0.0)


class Base(Model, abstract=True, str_strip_whitespace=True):
    price: Sorted[float] = field(default=0.0)


class Priced(Base, partition=("shop", "dish")):
    shop: Key[str]
    dish: Key[str]


assert_type(Menu(shop="a", dish="b").price, float)
Menu(shop="a", dish="b").price = 2.0  # E: frozen=True reaches pydantic's dataclass_transform


class Typo(Model, tll=60):  # E[pyright]: mypy checks no class keywords under a metaclass
    name: Key[str]


class BadTtl(Model, ttl="1h"):  # E[pyright]: mypy checks no class keywords under a metaclass
    name: Key[str]


class BadIndexes(Model, indexes=["shop"]):  # E[pyright]: mypy checks no class keywords (idem)
    shop: Key[str]


class BadFrozen(Model, frozen=1):  # E: frozen is a bool (dataclass_transform: mypy checks it)
    name: Key[str]


# ---- each marker takes the value types typedis can index -----------------------------------


class Color(StrEnum):
    RED = "red"


class Kinds(Model):
    day: Key[date]
    at: Key[datetime]
    seq: Key[int]
    flag: Indexed[bool] = field(default=False)
    amount: Indexed[Decimal | None] = field(default=None)
    code: Unique[int | None] = field(default=None)
    price: Sorted[Decimal] = field(default=Decimal(0))
    seen: Sorted[datetime | None] = field(default=None)
    heat: Decaying[int | None] = field(default=None)
    spot: Geo[GeoPoint] = field(default=GeoPoint(0.0, 0.0))


kinds = Kinds(day=date(2024, 1, 1), at=datetime(2024, 1, 1), seq=1)
assert_type(kinds.day, date)
assert_type(kinds.flag, bool)
assert_type(kinds.amount, Decimal | None)
assert_type(kinds.code, int | None)
assert_type(kinds.seen, datetime | None)
assert_type(kinds.heat, int | None)
assert_type(kinds.spot, GeoPoint)


class WrongKinds(Model):
    name: Key[float]  # E: a Key is a str, int, date or datetime
    maybe: Key[str | None]  # E: a Key is never None
    blob: Indexed[bytes]  # E: no bytes in a value index
    tags: Unique[list[str]]  # E: a value index takes plain scalars
    label: Sorted[str]  # E: a Sorted field is a number, a date or a datetime
    spot: Geo[int]  # E: a Geo field is a GeoPoint
    heat: Decaying[Decimal]  # E: a Decaying base score is an int or a float
    on: Sorted[bool]  # E[mypy]: pyright takes bool for the int constraint
    color: Indexed[Color]  # E[mypy]: pyright takes an enum for the str constraint
    size: Indexed[Literal["s", "m"]]  # E[mypy]: pyright takes a Literal for the str constraint


# ---- a range bound is never None ------------------------------------------------------------


class Shop(Model):
    name: Key[str]
    score: Sorted[int] = field(default=0)
    rating: Sorted[float] = field(default=0.0)
    opened: Sorted[date | None] = field(default=None)
    cost: Sorted[Decimal | None] = field(default=None)
    trust: Confidence = field(default=0.5)


assert_type(Shop.opened < date(2020, 1, 1), Cond[Shop])
assert_type(Shop.opened <= date(2020, 1, 1), Cond[Shop])
assert_type(Shop.opened > date(2020, 1, 1), Cond[Shop])
assert_type(Shop.opened >= date(2020, 1, 1), Cond[Shop])
assert_type(Shop.opened.between(date(2020, 1, 1), date(2021, 1, 1)), Cond[Shop])
assert_type(Shop.opened == None, Cond[Shop])  # noqa: E711 (is_none())
assert_type(Shop.rating < 4, Cond[Shop])
assert_type(Shop.score.between(1, 5), Cond[Shop])
assert_type(date(2020, 1, 1) <= Shop.opened, Cond[Shop])  # reflected >=
assert_type(Shop.cost > Decimal("1.5"), Cond[Shop])
assert_type(Shop.trust >= 0.5, Cond[Shop])
assert_type(kinds.seen, datetime | None)
assert_type(Kinds.seen < datetime(2024, 1, 1), Cond[Kinds])
_ = Shop.opened < None  # E: a range bound cannot be None
_ = Shop.opened <= None  # E: a range bound cannot be None
_ = Shop.opened > None  # E: a range bound cannot be None
_ = Shop.opened >= None  # E: a range bound cannot be None
Shop.opened.between(None, date(2021, 1, 1))  # E: a range bound cannot be None
Shop.opened.between(date(2020, 1, 1), None)  # E: a range bound cannot be None
_ = Shop.rating < None  # E: rating holds floats
_ = Shop.opened < 3  # E: opened holds dates
_ = None < Shop.opened  # E: a range bound cannot be None (reflected)  # noqa: SIM300
_ = Shop.cost >= None  # E: a range bound cannot be None
_ = Shop.trust > None  # E: a range bound cannot be None
_ = Kinds.seen < date(2024, 1, 1)  # E: seen holds datetimes (a date is not one)


# ---- atomic_increment gives the field's type ------------------------------------------------


class Counter(Model):
    name: Key[str]
    hits: Sorted[int] = field(default=0)
    maybe: Sorted[int | None] = field(default=None)
    ratio: Sorted[float] = field(default=0.0)
    heat: Decaying[float] = field(default=1.0)
    trust: Confidence = field(default=0.5)
    rank: Indexed[int] = field(default=0)
    day: Sorted[date | None] = field(default=None)
    visits: int = 0


counter = Counter(name="c")
other = Shop(name="s")
assert_type(counter.atomic_increment(Counter.hits, 1), int)
assert_type(counter.atomic_increment(Counter.maybe, 1), int)
assert_type(counter.atomic_increment(Counter.ratio, 1), float)
assert_type(counter.atomic_increment(Counter.ratio, 0.5), float)
assert_type(counter.atomic_increment(Counter.heat, 0.5), float)
assert_type(counter.atomic_increment(Counter.trust, 0.1), float)
assert_type(counter.atomic_increment(Counter.rank, 2), int)
assert_type(counter.atomic_increment("visits", 1), Any)
counter.atomic_increment(Counter.hits, 0.5)  # E: an int field takes an int delta
counter.atomic_increment(Counter.day, 1)  # E: a date is not a number
counter.atomic_increment(Counter.name, 1)  # E: a str is not a number
counter.atomic_increment(Shop.score, 1)  # E: a field of another model
counter.atomic_increment("visits", "1")  # E: delta is a number


async def increments() -> None:
    assert_type(await counter.aatomic_increment(Counter.hits, 1), int)
    assert_type(await counter.aatomic_increment(Counter.ratio, 1), float)
    assert_type(await counter.aatomic_increment("visits", 1), Any)
    await counter.aatomic_increment(Counter.day, 1)  # E: a date is not a number
    await other.aatomic_increment(Counter.hits, 1)  # E: a field of another model


# ---- save(update_fields=...) takes references and names ----------------------------------------

assert_type(counter.save(update_fields=[Counter.hits]), Counter)
assert_type(counter.save(update_fields=[Counter.hits, Counter.day, "visits"]), Counter)
assert_type(counter.save(update_fields=("visits",)), Counter)
assert_type(counter.save(update_fields=(f for f in [Counter.hits])), Counter)
counter.save(update_fields=[Shop.score])  # E: a field of another model
counter.save(update_fields=[1])  # E: a field is a reference or a name


async def partial_saves() -> None:
    assert_type(await counter.asave(update_fields=[Counter.ratio, "visits"]), Counter)
    await counter.asave(update_fields=[Shop.score])  # E: a field of another model


# ---- the auto key ------------------------------------------------------------------------------


class Tagged(Model):
    id: AutoKey  # at run time AutoKey supplies the default (new_id())
    tag: Indexed[str]


class TaggedForCheckers(Model):
    id: AutoKey = field(default_factory=new_id)  # the form the checkers see as optional
    tag: Indexed[str]


assert_type(TaggedForCheckers(tag="x").id, str)
assert_type(Tagged(tag="x", id=new_id()).id, str)
assert_type(Tagged.id, KeyRef[Tagged, str])
assert_type(Tagged.id == "abc", Cond[Tagged])
Tagged(tag="x")  # E: dataclass_transform takes a default from the class body only
Tagged(tag="x", id=3)  # E: the key is a str


# ---- a link takes the target's key, one value or a tuple of them ------------------------------


class Branch(Model):
    city: Key[str]
    number: Key[int]
    opened: Key[date] = field(default=date(2020, 1, 1))


class Visit(Model):
    id: AutoKey = field(default_factory=new_id)
    branch: Link[Branch]
    previous: OptionalLink[Branch] = field(default=None)
    first: Link[Tagged] = field(default="t1")


visit = Visit(branch=("Paris", 3, date(2020, 1, 1)), previous=("Lyon", 1, date(2021, 1, 1)))
visit.branch = ("Paris", 4, date(2020, 1, 1))
visit.previous = None
visit.first = "t2"
assert_type(visit.branch, Linked[Branch])
Visit(branch=("Paris", 3.5))  # E: a key value is a str, int, date or datetime
visit.branch = None  # E: a Link is never None


# ---- public query types for annotations ----------------------------------------------------------


def well_rated(query: typedis.Query[Shop], floor: float) -> typedis.Query[Shop]:
    condition: typedis.Cond[Shop] = Shop.rating >= floor
    return query.filter(condition)


assert_type(well_rated(Shop.query, 4), Query[Shop])
assert_type(Shop.query, typedis.Query[Shop])
assert_type(Shop.rating.desc(), Ordering[Shop])
assert_type(Shop.rating, SortedRef[Shop, float])
assert_type(Visit.branch, LinkRef[Visit, Branch])
well_rated(Counter.query, 4)  # E: a query of another model
