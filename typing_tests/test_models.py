"""How mypy --strict and pyright strict see models: fields, references, constructor, methods."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, assert_type

from typedis import (
    AutoKey,
    Confidence,
    Connection,
    Decaying,
    Geo,
    GeoPoint,
    Indexed,
    IndexReport,
    Key,
    Model,
    Sorted,
    Unique,
    field,
    get_connection,
    install_functions,
    new_id,
)
from typedis.query import ConfidenceRef, DecayRef, GeoRef, IndexedRef, KeyRef, SortedRef, UniqueRef


class Restaurant(Model):
    name: Key[str]
    email: Unique[str]
    cuisine: Indexed[str | None] = field(default=None)
    rating: Sorted[float] = field(default=0.0)
    opened: Sorted[date | None] = field(default=None)
    location: Geo[GeoPoint | None] = field(default=None)
    visits: int = 0
    note: str | None = None
    updated: datetime | None = field(default=None, auto_now=True)


class Memory(Model, partition="agent_id", ttl=86_400):
    id: AutoKey = field(default_factory=new_id)
    agent_id: Key[str]
    relevance: Decaying[float] = field(default=1.0, rate=0.1)
    certainty: Confidence = field(default=0.5)
    price: Sorted[Decimal] = field(default=Decimal(0))
    floor: Key[int] = field(default=0)


r = Restaurant(name="Taco Town", email="t@x.io")
m = Memory(agent_id="a1")

# ---- instance attributes are the values --------------------------------------------------
assert_type(r.name, str)
assert_type(r.email, str)
assert_type(r.cuisine, str | None)
assert_type(r.rating, float)
assert_type(r.opened, date | None)
assert_type(r.location, GeoPoint | None)
assert_type(r.visits, int)
assert_type(r.note, str | None)
assert_type(r.updated, datetime | None)
assert_type(m.id, str)
assert_type(m.agent_id, str)
assert_type(m.relevance, float)
assert_type(m.certainty, float)
assert_type(m.price, Decimal)
assert_type(m.floor, int)

# ---- class attributes are typed field references -----------------------------------------
assert_type(Restaurant.name, KeyRef[Restaurant, str])
assert_type(Restaurant.email, UniqueRef[Restaurant, str])
assert_type(Restaurant.cuisine, IndexedRef[Restaurant, str | None])
assert_type(Restaurant.rating, SortedRef[Restaurant, float])
assert_type(Restaurant.opened, SortedRef[Restaurant, date | None])
assert_type(Restaurant.location, GeoRef[Restaurant, GeoPoint | None])
assert_type(Memory.id, KeyRef[Memory, str])
assert_type(Memory.relevance, DecayRef[Memory, float])
assert_type(Memory.certainty, ConfidenceRef[Memory])
assert_type(Memory.price, SortedRef[Memory, Decimal])
assert_type(Restaurant.rating.model, type[Restaurant])
assert_type(Restaurant.rating.name, str)

# ---- constructor parameters --------------------------------------------------------------
Restaurant(name="a", email="b", cuisine=None, rating=1.5, location=GeoPoint(1.0, 2.0))
Restaurant(name="a", email="b", rating=2)  # an int is a float
Memory(agent_id="a", id="given", certainty=0.9, floor=3)
Memory(agent_id="a")  # AutoKey with default_factory is optional
Restaurant(name=1, email="b")  # E: name is a Key[str]
Restaurant(name="a", email="b", rating="high")  # E: rating is a float
Restaurant(name="a", email="b", location=(1.0, 2.0, 3.0))  # E: location is a GeoPoint
Restaurant(name="a", email="b", cuisine=3)  # E: cuisine is str | None
Restaurant(name="a", email="b", visits="3")  # E: visits is an int
Restaurant(email="b")  # E: name is required
Restaurant(name="a")  # E: email is required
Memory()  # E: agent_id is required
Memory(agent_id="a", certainty="sure")  # E: certainty is a float
Memory(agent_id="a", relevance=None)  # E: relevance is a float, not optional
Restaurant("Taco Town", "t@x.io")  # E: fields are keyword-only
Restaurant(name="a", email="b", unknown=1)  # E: no such field

# ---- assignments -------------------------------------------------------------------------
r.rating = 4.5
r.cuisine = None
r.location = GeoPoint(lat=1.0, lon=2.0)
r.rating = "x"  # E: rating is a float
r.name = None  # E: name is a str
r.location = 5  # E: location is a GeoPoint | None
m.certainty = "high"  # E: certainty is a float

# ---- methods return the model type -------------------------------------------------------
assert_type(r.save(), Restaurant)
assert_type(r.save(update_fields=["rating"], migrate_key=True, ttl=None), Restaurant)
assert_type(r.save(expire_at=datetime(2030, 1, 1)), Restaurant)
assert_type(r.refresh(), Restaurant)
assert_type(Restaurant.load("Taco Town"), Restaurant)
assert_type(Restaurant.load(name="Taco Town"), Restaurant)
assert_type(Restaurant.create(name="a", email="b"), Restaurant)
assert_type(Memory.create(agent_id="a"), Memory)
assert_type(r.delete(), bool)
assert_type(r.exists(), bool)
assert_type(Restaurant.check_indexes(), IndexReport)
assert_type(Restaurant.check_indexes()["total"], int)
assert_type(Restaurant.check_indexes().total, int)
assert_type(Restaurant.clean_indexes(batch_size=10, progress=lambda done, total: None), IndexReport)
assert_type(Restaurant.rebuild_indexes(progress=print), int)
report: Mapping[str, int] = Restaurant.check_indexes()  # still a read-only dict
assert_type(Restaurant.count(), int)
assert_type(Memory.count("a1"), int)
assert_type(Memory.count("a1", exact=False), int)
assert_type(Restaurant.count(exact=False), int)
assert_type(Restaurant.sweep_expired(), int)
assert_type(Memory.sweep_expired("a1", limit=500), int)
assert_type(install_functions(Restaurant, Memory), list[str])
assert_type(get_connection(), Connection)
Restaurant.sweep_expired(limit="all")  # E: limit is an int
Restaurant.rebuild_indexes(progress=lambda done: None)  # E: progress takes (done, total)
Restaurant.check_indexes(batch_size="all")  # E: batch_size is an int
Restaurant.check_indexes().total = 0  # E: a report is read-only
Restaurant.count(exact="no")  # E: exact is a bool
install_functions(r)  # E: install_functions takes model classes
assert_type(Restaurant.delete_all(), int)
assert_type(Restaurant.save_many([r]), None)
assert_type(r.redis_key, str)
assert_type(r.atomic_increment("visits", 1), Any)
r.save(ttl="forever")  # E: ttl is a number or None
r.save(update_fields="rating", expire_at=3)  # E: expire_at is a datetime
r.atomic_increment("visits", "1")  # E: delta is a number
Restaurant.save_many([m])  # E: save_many takes records of its own model
restaurant_from_memory: Restaurant = Memory.load("x")  # E: load returns the class it is called on


async def async_methods() -> None:
    assert_type(await Restaurant.acheck_indexes(), IndexReport)
    assert_type(await Restaurant.aclean_indexes(batch_size=5), IndexReport)
    assert_type(await Restaurant.arebuild_indexes(progress=None), int)
    assert_type(await r.asave(), Restaurant)
    assert_type(await r.asave(update_fields=["rating"]), Restaurant)
    assert_type(await Restaurant.aload("Taco Town"), Restaurant)
    assert_type(await Restaurant.acreate(name="a", email="b"), Restaurant)
    assert_type(await r.arefresh(), Restaurant)
    assert_type(await r.adelete(), bool)
    assert_type(await r.aexists(), bool)
    assert_type(await r.aatomic_increment("visits", 1), Any)
    r.asave().rating  # E: asave() must be awaited
