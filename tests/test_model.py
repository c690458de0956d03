"""Model behaviour against the real server: saves, loads, index entries, keys, expiry, async.

Raw keys are read with the `redis_client` fixture to check exactly what each write left on the
server (layout: see typedis/_keys.py).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import redis
from pydantic import ValidationError

from typedis import (
    AutoKey,
    Confidence,
    Decaying,
    Geo,
    GeoPoint,
    Index,
    Indexed,
    Key,
    KeyMutationError,
    Model,
    ModelError,
    NotFound,
    QueryError,
    Sorted,
    Unique,
    UniqueViolation,
    _connection,
    field,
    new_id,
)
from typedis._index.decay_kind import rank_score

# -- models (names unique to this file: the class name is the key namespace) ----------------


class MdlShop(Model):
    name: Key[str]
    email: Unique[str]
    cuisine: Indexed[str | None] = field(default=None)
    rating: Sorted[float] = field(default=0.0)
    location: Geo[GeoPoint | None] = field(default=None)
    visits: int = 0
    note: str = ""


class MdlBranch(Model, indexes=[Index("city", "street", unique=True), Index("city", "tier")]):
    code: Key[str]
    city: str
    street: str
    tier: int = 0


class MdlMove(Model, ttl=600, indexes=[Index("city", "tier")]):
    name: Key[str]
    email: Unique[str]
    city: Indexed[str]
    tier: int = 0
    rating: Sorted[float] = field(default=0.0)
    spot: Geo[GeoPoint | None] = field(default=None)
    fresh: Decaying[float] = field(default=1.0)


class MdlScores(Model):
    k: Key[str]
    n: Sorted[int] = field(default=0)
    f: Sorted[float] = field(default=0.0)
    d: Sorted[Decimal] = field(default=Decimal(0))
    day: Sorted[date] = field(default=date(1970, 1, 1))
    at: Sorted[datetime] = field(default=datetime(1970, 1, 1, tzinfo=UTC))
    maybe: Sorted[int | None] = field(default=None)


class MdlMemory(Model):
    id: AutoKey = field(default_factory=new_id)
    topic: str = ""
    relevance: Decaying[float] = field(default=1.0, rate=0.1)
    certainty: Confidence = field(default=0.5)


class MdlStamped(Model):
    k: Key[str]
    body: str = ""
    created: datetime | None = field(default=None, auto_now_add=True)
    updated: datetime | None = field(default=None, auto_now=True)


class MdlTemp(Model, ttl=100):
    k: Key[str]
    tag: Indexed[str] = "t"
    score: Sorted[int] = field(default=0)
    email: Unique[str | None] = field(default=None)
    spot: Geo[GeoPoint | None] = field(default=None)


class MdlPlain(Model):
    k: Key[str]
    tag: Indexed[str] = "t"


class MdlNote(Model, partition="agent"):
    id: AutoKey = field(default_factory=new_id)
    agent: Key[str]
    topic: Indexed[str] = ""


class MdlCounter(Model):
    k: Key[str]
    hits: Sorted[int] = field(default=0)
    level: Indexed[int] = 0
    slot: Unique[int | None] = field(default=None)
    ratio: float = 0.0
    weight: Indexed[float] = 0.0
    label: str = ""


class MdlNumbered(Model):
    n: Key[int]
    shelf: Key[str]
    label: str = ""


class MdlUnicode(Model):
    clé: Key[str]
    étiquette: Indexed[str] = ""
    note: Sorted[float] = field(default=0.0)


class MdlEvolve(Model):
    k: Key[str]
    old: str
    added: int = 7
    tags: list[str] = field(default_factory=list)
    maybe: str | None = None
    rank: Sorted[int] = field(default=3)


# -- helpers ---------------------------------------------------------------------------------


def snapshot(client: redis.Redis) -> dict[bytes, Any]:
    """Every key on the server with its type and contents (to prove nothing was written)."""
    out: dict[bytes, Any] = {}
    for key in client.scan_iter("*"):
        kind = client.type(key)
        if kind == b"hash":
            value: Any = client.hgetall(key)
        elif kind == b"set":
            value = client.smembers(key)
        elif kind == b"zset":
            value = [tuple(pair) for pair in client.zrange(key, 0, -1, withscores=True)]
        else:
            value = client.dump(key)
        out[key] = (kind, value)
    return out


def keys_of(client: redis.Redis, tag: str) -> set[str]:
    return {k.decode() for k in client.scan_iter(tag + "*")}


def server_now(client: redis.Redis) -> float:
    seconds, micros = client.time()
    return seconds + micros / 1e6


SHOP = "{td:MdlShop}"


def shop(name: str = "Taco Town", **kw: Any) -> MdlShop:
    return MdlShop(name=name, email=kw.pop("email", f"{name}@x.io"), **kw)


# -- save and load ---------------------------------------------------------------------------


def test_save_load_round_trip(redis_client: redis.Redis) -> None:
    saved = shop(cuisine="Mexican", rating=4.5, location=GeoPoint(40.7, -74.0), visits=3)
    assert saved.save() is saved
    loaded = MdlShop.load("Taco Town")
    assert loaded == saved
    assert loaded is not saved
    assert redis_client.hgetall(f"{SHOP}:r:Taco Town") == {
        b"name": b"Taco Town",
        b"email": b"Taco Town@x.io",
        b"cuisine": b"Mexican",
        b"rating": b"4.5",
        b"location": redis_client.hget(f"{SHOP}:r:Taco Town", "location"),
        b"visits": b"3",
        b"note": b"",
    }
    assert redis_client.smembers(f"{SHOP}:all") == {b"Taco Town"}
    assert redis_client.smembers(f"{SHOP}:i:cuisine:Mexican") == {b"Taco Town"}
    assert redis_client.hgetall(f"{SHOP}:u:email") == {b"Taco Town@x.io": b"Taco Town"}
    assert redis_client.zscore(f"{SHOP}:z:rating", "Taco Town") == 4.5
    assert MdlShop.check_indexes()["total"] == 0


def test_create_saves_and_returns_the_instance() -> None:
    made = MdlShop.create(name="Pho", email="p@x", rating=3.0)
    assert isinstance(made, MdlShop)
    assert MdlShop.load("Pho") == made


def test_create_with_invalid_data_writes_nothing(redis_client: redis.Redis) -> None:
    with pytest.raises(ValidationError):
        MdlShop.create(name="Pho", email="p@x", rating="high")
    assert redis_client.dbsize() == 0


def test_load_missing_raises_not_found() -> None:
    with pytest.raises(NotFound, match="MdlShop"):
        MdlShop.load("nobody")


def test_load_by_position_and_by_keyword() -> None:
    MdlNumbered(n=5, shelf="a", label="five").save()
    assert MdlNumbered.load(5, "a").label == "five"
    assert MdlNumbered.load(n=5, shelf="a").label == "five"
    assert MdlNumbered.load(shelf="a", n=5).label == "five"


def test_load_coerces_key_values_with_pydantic() -> None:
    MdlNumbered(n=5, shelf="a", label="five").save()
    assert MdlNumbered.load("5", "a").n == 5
    assert MdlNumbered.load(n="5", shelf="a").label == "five"
    with pytest.raises(ValidationError):
        MdlNumbered.load("five", "a")


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((5,), {}),
        ((5, "a", "b"), {}),
        ((), {"n": 5}),
        ((), {"n": 5, "shelf": "a", "label": "x"}),
        ((5,), {"shelf": "a"}),
        ((), {}),
    ],
)
def test_load_with_the_wrong_keys_is_refused(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    MdlNumbered(n=5, shelf="a").save()
    with pytest.raises(ModelError, match="MdlNumbered"):
        MdlNumbered.load(*args, **kwargs)


def test_multi_key_model_indexes_each_key(redis_client: redis.Redis) -> None:
    MdlNumbered(n=5, shelf="a").save()
    tag = "{td:MdlNumbered}"
    assert redis_client.smembers(f"{tag}:i:n:5") == {b"5:a"}
    assert redis_client.smembers(f"{tag}:i:shelf:a") == {b"5:a"}
    assert redis_client.exists(f"{tag}:r:5:a")


def test_save_many(redis_client: redis.Redis) -> None:
    records = [shop(f"s{i}", rating=float(i), cuisine="x" if i % 2 else None) for i in range(5)]
    assert MdlShop.save_many(records) is None
    assert [MdlShop.load(f"s{i}") for i in range(5)] == records
    assert redis_client.zcard(f"{SHOP}:z:rating") == 5
    assert MdlShop.check_indexes()["total"] == 0
    # Each record now knows it is saved: a key change needs migrate_key.
    records[0].name = "moved"
    with pytest.raises(KeyMutationError):
        records[0].save()


def test_save_many_with_a_unique_clash_writes_nothing_of_the_batch() -> None:
    shop("taken", email="e@x").save()
    batch = [shop("a"), shop("b", email="e@x"), shop("c")]
    with pytest.raises(UniqueViolation) as caught:
        MdlShop.save_many(batch)
    assert caught.value.position == 1
    assert MdlShop.load("taken").email == "e@x"
    for name in "abc":
        with pytest.raises(NotFound):
            MdlShop.load(name)
    assert MdlShop.check_indexes()["total"] == 0


def test_save_many_empty_is_a_no_op(redis_client: redis.Redis) -> None:
    MdlShop.save_many([])
    assert redis_client.dbsize() == 0


# -- partial saves ---------------------------------------------------------------------------


def test_partial_save_writes_only_listed_fields(redis_client: redis.Redis) -> None:
    record = shop(cuisine="Mexican", rating=1.0, note="first").save()
    record.rating = 4.0
    record.note = "second"
    record.cuisine = "Thai"
    record.save(update_fields=["rating"])
    stored = redis_client.hgetall(f"{SHOP}:r:Taco Town")
    assert stored[b"rating"] == b"4.0"
    assert stored[b"note"] == b"first"
    assert stored[b"cuisine"] == b"Mexican"
    assert redis_client.zscore(f"{SHOP}:z:rating", "Taco Town") == 4.0
    assert redis_client.smembers(f"{SHOP}:i:cuisine:Mexican") == {b"Taco Town"}
    assert not redis_client.exists(f"{SHOP}:i:cuisine:Thai")
    assert MdlShop.check_indexes()["total"] == 0


def test_partial_save_of_an_indexed_field_moves_only_its_index(redis_client: redis.Redis) -> None:
    record = shop(cuisine="Mexican", rating=1.0).save()
    record.cuisine = None
    record.rating = 9.0
    record.save(update_fields=["cuisine"])
    assert redis_client.smembers(f"{SHOP}:i:cuisine:%") == {b"Taco Town"}
    assert not redis_client.exists(f"{SHOP}:i:cuisine:Mexican")
    assert not redis_client.hexists(f"{SHOP}:r:Taco Town", "cuisine")
    assert redis_client.zscore(f"{SHOP}:z:rating", "Taco Town") == 1.0
    assert MdlShop.load("Taco Town").rating == 1.0


def test_partial_save_of_a_deleted_record_raises_not_found(redis_client: redis.Redis) -> None:
    record = shop().save()
    MdlShop.load("Taco Town").delete()
    record.rating = 2.0
    with pytest.raises(NotFound):
        record.save(update_fields=["rating"])
    assert redis_client.dbsize() == 0


def test_partial_save_of_a_never_saved_record_raises_not_found(redis_client: redis.Redis) -> None:
    with pytest.raises(NotFound):
        shop(rating=2.0).save(update_fields=["rating"])
    assert redis_client.dbsize() == 0


def test_partial_save_from_a_fresh_instance_leaves_other_fields(redis_client: redis.Redis) -> None:
    # A fresh instance with the key of a stored record, saving update_fields=["rating"], must
    # update the rating only, never overwrite the stored note with the instance's default.
    shop(note="keep me", cuisine="Thai").save()
    shop(rating=5.0).save(update_fields=["rating"])
    stored = MdlShop.load("Taco Town")
    assert stored.rating == 5.0
    assert stored.note == "keep me"
    assert stored.cuisine == "Thai"


def test_partial_save_with_unknown_fields_is_refused(redis_client: redis.Redis) -> None:
    record = shop().save()
    before = snapshot(redis_client)
    with pytest.raises(ModelError, match=r"unknown field\(s\) \['nope'\]"):
        record.save(update_fields=["rating", "nope"])
    assert snapshot(redis_client) == before


def test_unknown_update_fields_are_refused_on_a_moving_record(redis_client: redis.Redis) -> None:
    record = shop().save()
    before = snapshot(redis_client)
    record.name = "moved"
    with pytest.raises(ModelError, match="nope"):
        record.save(update_fields=["nope"], migrate_key=True)
    assert snapshot(redis_client) == before


def test_update_fields_given_as_a_generator_are_read_once(redis_client: redis.Redis) -> None:
    # The fields are read once for the whole save (its pre-write steps and its call): a
    # generator is not used up before the call is built.
    record = shop(rating=1.0, note="old").save()
    record.rating, record.note = 3.0, "new"
    record.save(update_fields=(f for f in ["rating"]))
    stored = MdlShop.load("Taco Town")
    assert (stored.rating, stored.note) == (3.0, "old")


def test_partial_save_with_no_fields_changes_nothing(redis_client: redis.Redis) -> None:
    record = shop(rating=1.0).save()
    before = snapshot(redis_client)
    record.rating = 3.0
    record.save(update_fields=[])
    assert snapshot(redis_client) == before


# -- key changes -----------------------------------------------------------------------------


def test_key_change_without_migrate_key_is_refused(redis_client: redis.Redis) -> None:
    record = shop().save()
    before = snapshot(redis_client)
    record.name = "Burrito Barn"
    with pytest.raises(KeyMutationError, match="migrate_key=True"):
        record.save()
    assert snapshot(redis_client) == before


def test_migrate_key_moves_the_record_and_every_index_entry(redis_client: redis.Redis) -> None:
    tag = "{td:MdlMove}"
    other = MdlMove(name="other", email="o@x", city="Lyon", rating=1.0).save()
    record = MdlMove(
        name="old", email="e@x", city="Paris", tier=2, rating=4.5, spot=GeoPoint(48.85, 2.35)
    ).save()
    fresh_score = redis_client.zscore(f"{tag}:z:fresh", "old")
    expiry = redis_client.zscore(f"{tag}:exp", "old")
    record.name = "new"
    record.save(migrate_key=True)
    keys = keys_of(redis_client, tag)
    assert f"{tag}:r:old" not in keys
    assert redis_client.hgetall(f"{tag}:r:new")[b"name"] == b"new"
    assert redis_client.smembers(f"{tag}:all") == {b"new", b"other"}
    assert redis_client.smembers(f"{tag}:i:city:Paris") == {b"new"}
    assert redis_client.smembers(f"{tag}:c:city+tier:Paris:2") == {b"new"}
    assert redis_client.hgetall(f"{tag}:u:email") == {b"e@x": b"new", b"o@x": b"other"}
    assert redis_client.zscore(f"{tag}:z:rating", "new") == 4.5
    assert redis_client.zscore(f"{tag}:z:rating", "old") is None
    assert redis_client.zscore(f"{tag}:z:fresh", "new") == fresh_score
    assert redis_client.zscore(f"{tag}:z:fresh", "old") is None
    position = redis_client.geopos(f"{tag}:g:spot", "new")[0]
    assert position is not None
    assert position[0] == pytest.approx(2.35, abs=1e-4)
    assert position[1] == pytest.approx(48.85, abs=1e-4)
    assert redis_client.geopos(f"{tag}:g:spot", "old") == [None]
    new_expiry = redis_client.zscore(f"{tag}:exp", "new")
    assert new_expiry is not None
    assert expiry is not None
    assert new_expiry >= expiry
    assert redis_client.zscore(f"{tag}:exp", "old") is None
    with pytest.raises(NotFound):
        MdlMove.load("old")
    assert MdlMove.load("new") == record
    assert MdlMove.load("other") == other
    assert MdlMove.check_indexes()["total"] == 0
    # The instance now lives at the new key.
    record.rating = 1.5
    record.save()
    assert redis_client.zscore(f"{tag}:z:rating", "new") == 1.5


def test_migrate_onto_an_existing_key_is_refused(redis_client: redis.Redis) -> None:
    shop("a", note="A").save()
    b = shop("b", note="B").save()
    before = snapshot(redis_client)
    b.name = "a"
    with pytest.raises(KeyMutationError, match="another record has that key"):
        b.save(migrate_key=True)
    assert snapshot(redis_client) == before
    assert MdlShop.load("a").note == "A"


def test_migrate_onto_an_expired_key_takes_its_place(redis_client: redis.Redis) -> None:
    MdlTemp(k="a", tag="gone").save(expire_at=datetime.now(UTC) - timedelta(seconds=5))
    b = MdlTemp(k="b", tag="live").save()
    b.k = "a"
    b.save(migrate_key=True)
    assert MdlTemp.load("a").tag == "live"
    assert not redis_client.exists("{td:MdlTemp}:i:tag:gone")
    assert MdlTemp.check_indexes()["total"] == 0


# -- uniqueness ------------------------------------------------------------------------------


def test_unique_violation_on_create(redis_client: redis.Redis) -> None:
    shop("a", email="same@x").save()
    before = snapshot(redis_client)
    with pytest.raises(UniqueViolation) as caught:
        shop("b", email="same@x").save()
    assert caught.value.model == "MdlShop"
    assert caught.value.field == "email"
    assert caught.value.value == "same@x"
    assert snapshot(redis_client) == before


def test_unique_violation_on_update(redis_client: redis.Redis) -> None:
    shop("a", email="a@x").save()
    b = shop("b", email="b@x", rating=1.0).save()
    before = snapshot(redis_client)
    b.email = "a@x"
    b.rating = 5.0
    with pytest.raises(UniqueViolation):
        b.save()
    assert snapshot(redis_client) == before


def test_unique_violation_on_a_composite_unique_index(redis_client: redis.Redis) -> None:
    MdlBranch(code="1", city="Paris", street="Rue A").save()
    MdlBranch(code="2", city="Paris", street="Rue B").save()  # same city, other street: fine
    before = snapshot(redis_client)
    with pytest.raises(UniqueViolation) as caught:
        MdlBranch(code="3", city="Paris", street="Rue A").save()
    assert caught.value.field == "city, street"
    assert caught.value.value == ("Paris", "Rue A")
    assert snapshot(redis_client) == before
    tag = "{td:MdlBranch}"
    assert redis_client.hgetall(f"{tag}:u:city+street") == {
        b"Paris:Rue A": b"1",
        b"Paris:Rue B": b"2",
    }
    assert redis_client.smembers(f"{tag}:c:city+tier:Paris:0") == {b"1", b"2"}


def test_resaving_a_record_with_its_own_unique_value_works() -> None:
    record = shop(email="mine@x").save()
    record.rating = 2.0
    record.save()
    MdlShop.load("Taco Town").save()
    assert MdlShop.load("Taco Town").rating == 2.0


def test_unique_value_freed_by_delete_can_be_reused() -> None:
    first = shop("a", email="e@x").save()
    assert first.delete()
    shop("b", email="e@x").save()
    assert MdlShop.load("b").email == "e@x"
    assert MdlShop.check_indexes()["total"] == 0


def test_unique_value_freed_by_update_can_be_reused(redis_client: redis.Redis) -> None:
    first = shop("a", email="e@x").save()
    first.email = "other@x"
    first.save()
    shop("b", email="e@x").save()
    assert redis_client.hgetall(f"{SHOP}:u:email") == {b"other@x": b"a", b"e@x": b"b"}
    assert MdlShop.check_indexes()["total"] == 0


def test_composite_unique_value_freed_by_update_can_be_reused() -> None:
    one = MdlBranch(code="1", city="Paris", street="Rue A").save()
    one.street = "Rue C"
    one.save()
    MdlBranch(code="2", city="Paris", street="Rue A").save()
    assert MdlBranch.check_indexes()["total"] == 0


def test_none_is_never_unique(redis_client: redis.Redis) -> None:
    MdlTemp(k="a").save()
    MdlTemp(k="b").save()
    assert not redis_client.exists("{td:MdlTemp}:u:email")


# -- value indexes ---------------------------------------------------------------------------


def test_indexed_none_goes_in_the_null_set_and_moves_out(redis_client: redis.Redis) -> None:
    record = shop().save()
    assert redis_client.smembers(f"{SHOP}:i:cuisine:%") == {b"Taco Town"}
    record.cuisine = "Thai"
    record.save()
    assert not redis_client.exists(f"{SHOP}:i:cuisine:%")
    assert redis_client.smembers(f"{SHOP}:i:cuisine:Thai") == {b"Taco Town"}
    record.cuisine = None
    record.save()
    assert redis_client.smembers(f"{SHOP}:i:cuisine:%") == {b"Taco Town"}
    assert not redis_client.exists(f"{SHOP}:i:cuisine:Thai")


def test_indexed_values_are_escaped_in_key_names(redis_client: redis.Redis) -> None:
    shop(cuisine="a:b{c}*%").save()
    assert redis_client.smembers(f"{SHOP}:i:cuisine:a%3Ab%7Bc%7D%2A%25") == {b"Taco Town"}
    assert MdlShop.check_indexes()["total"] == 0


def test_sorted_scores(redis_client: redis.Redis) -> None:
    at = datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)
    MdlScores(k="a", n=-7, f=2.25, d=Decimal("10.5"), day=date(2024, 1, 1), at=at, maybe=3).save()
    tag = "{td:MdlScores}"
    assert redis_client.zscore(f"{tag}:z:n", "a") == -7.0
    assert redis_client.zscore(f"{tag}:z:f", "a") == 2.25
    assert redis_client.zscore(f"{tag}:z:d", "a") == 10.5
    assert redis_client.zscore(f"{tag}:z:day", "a") == (date(2024, 1, 1) - date(1970, 1, 1)).days
    assert redis_client.zscore(f"{tag}:z:at", "a") == at.timestamp()
    assert redis_client.zscore(f"{tag}:z:maybe", "a") == 3.0
    assert MdlScores.load("a").d == Decimal("10.5")
    assert MdlScores.check_indexes()["total"] == 0


def test_sorted_scores_follow_updates_and_none(redis_client: redis.Redis) -> None:
    record = MdlScores(k="a", n=1, maybe=1).save()
    record.n = 100
    record.maybe = None
    record.save()
    tag = "{td:MdlScores}"
    assert redis_client.zscore(f"{tag}:z:n", "a") == 100.0
    assert redis_client.zscore(f"{tag}:z:maybe", "a") is None
    assert MdlScores.load("a").maybe is None
    assert MdlScores.check_indexes()["total"] == 0


def test_sorted_naive_datetime_scores_as_utc(redis_client: redis.Redis) -> None:
    MdlScores(k="a", at=datetime(2024, 1, 2)).save()
    expected = datetime(2024, 1, 2, tzinfo=UTC).timestamp()
    assert redis_client.zscore("{td:MdlScores}:z:at", "a") == expected


def test_sorted_refuses_nan(redis_client: redis.Redis) -> None:
    with pytest.raises(ValidationError):
        MdlScores(k="a", f=float("nan"))
    record = MdlScores(k="a").save()
    with pytest.raises(ValidationError):
        record.f = float("nan")
    assert redis_client.zscore("{td:MdlScores}:z:f", "a") == 0.0


def test_geo_position_and_removal(redis_client: redis.Redis) -> None:
    record = shop(location=GeoPoint(40.7128, -74.006)).save()
    lon, lat = redis_client.geopos(f"{SHOP}:g:location", "Taco Town")[0]
    assert lon == pytest.approx(-74.006, abs=1e-4)
    assert lat == pytest.approx(40.7128, abs=1e-4)
    assert MdlShop.load("Taco Town").location == GeoPoint(40.7128, -74.006)
    record.location = GeoPoint(-33.8688, 151.2093)
    record.save()
    lon, lat = redis_client.geopos(f"{SHOP}:g:location", "Taco Town")[0]
    assert (lon, lat) == (pytest.approx(151.2093, abs=1e-4), pytest.approx(-33.8688, abs=1e-4))
    record.location = None
    record.save()
    assert redis_client.zcard(f"{SHOP}:g:location") == 0
    assert MdlShop.load("Taco Town").location is None
    assert MdlShop.check_indexes()["total"] == 0


def test_geo_point_range_is_validated() -> None:
    with pytest.raises(ValidationError):
        shop(location=GeoPoint(91.0, 0.0))


def test_decaying_touch_time_is_server_time_of_the_last_change(redis_client: redis.Redis) -> None:
    key = "{td:MdlMemory}:z:relevance"
    before = server_now(redis_client)
    memory = MdlMemory(topic="t", relevance=2.0).save()
    after = server_now(redis_client)
    record = f"{{td:MdlMemory}}:r:{memory.id}"
    first = int(redis_client.hget(record, "~t:relevance") or 0)
    assert before * 1000 - 2 <= first <= after * 1000 + 2
    assert redis_client.zscore(key, memory.id) == rank_score(2.0, first, 0.1)
    time.sleep(0.05)
    memory.topic = "other"
    memory.save()  # relevance unchanged: the clock stays
    assert int(redis_client.hget(record, "~t:relevance") or 0) == first
    time.sleep(0.05)
    memory.relevance = 3.0
    memory.save()
    second = int(redis_client.hget(record, "~t:relevance") or 0)
    assert first + 40 <= second <= server_now(redis_client) * 1000 + 2
    assert redis_client.zscore(key, memory.id) == rank_score(3.0, second, 0.1)
    assert MdlMemory.load(memory.id).relevance == 3.0


def test_confidence_is_validated_and_scored(redis_client: redis.Redis) -> None:
    with pytest.raises(ValidationError):
        MdlMemory(certainty=1.5)
    with pytest.raises(ValidationError):
        MdlMemory(certainty=-0.01)
    memory = MdlMemory(certainty=0.75).save()
    with pytest.raises(ValidationError):
        memory.certainty = 2.0
    assert memory.certainty == 0.75
    assert redis_client.zscore("{td:MdlMemory}:z:certainty", memory.id) == 0.75
    memory.certainty = 1.0
    memory.save()
    assert redis_client.zscore("{td:MdlMemory}:z:certainty", memory.id) == 1.0
    assert MdlMemory.check_indexes()["total"] == 0


def test_auto_now_and_auto_now_add() -> None:
    t0 = datetime.now(UTC)
    record = MdlStamped(k="a").save()
    assert record.created is not None
    assert record.updated is not None
    assert t0 <= record.created <= datetime.now(UTC)
    created, updated = record.created, record.updated
    time.sleep(0.01)
    record.body = "changed"
    record.save()
    assert record.created == created
    assert record.updated is not None
    assert record.updated > updated
    loaded = MdlStamped.load("a")
    assert loaded.created == created
    assert loaded.updated == record.updated
    time.sleep(0.01)
    loaded.save()
    assert loaded.created == created
    assert loaded.updated is not None
    assert loaded.updated > record.updated


def test_auto_now_add_keeps_an_explicit_value() -> None:
    when = datetime(2020, 5, 5, tzinfo=UTC)
    record = MdlStamped(k="a", created=when).save()
    assert record.created == when
    assert MdlStamped.load("a").created == when


# -- expiry ----------------------------------------------------------------------------------

TEMP = "{td:MdlTemp}"


def test_model_ttl_sets_the_expiry(redis_client: redis.Redis) -> None:
    start = server_now(redis_client) * 1000
    MdlTemp(k="a").save()
    stored = redis_client.hget(f"{TEMP}:r:a", "~exp")
    assert stored is not None
    assert start + 99_000 <= int(stored) <= start + 101_000
    assert redis_client.zscore(f"{TEMP}:exp", "a") == int(stored)
    assert MdlTemp.load("a").k == "a"  # the hidden field is not a model field


def test_save_ttl_none_removes_the_expiry(redis_client: redis.Redis) -> None:
    record = MdlTemp(k="a").save()
    record.save(ttl=None)
    assert not redis_client.hexists(f"{TEMP}:r:a", "~exp")
    assert redis_client.zscore(f"{TEMP}:exp", "a") is None
    assert MdlTemp.check_indexes()["total"] == 0
    record.save()  # the model's ttl again
    assert redis_client.hexists(f"{TEMP}:r:a", "~exp")


def test_save_ttl_per_instance(redis_client: redis.Redis) -> None:
    start = server_now(redis_client) * 1000
    record = MdlPlain(k="a").save(ttl=30)
    stored = redis_client.hget("{td:MdlPlain}:r:a", "~exp")
    assert stored is not None
    assert start + 29_000 <= int(stored) <= start + 31_000
    record.tag = "u"
    record.save()  # no model ttl: the record keeps its expiry
    assert redis_client.hget("{td:MdlPlain}:r:a", "~exp") == stored
    assert redis_client.zscore("{td:MdlPlain}:exp", "a") == int(stored)
    MdlPlain(k="b").save()
    assert not redis_client.hexists("{td:MdlPlain}:r:b", "~exp")


@pytest.mark.parametrize("ttl", [0, -1, "10", True])
def test_save_with_a_bad_ttl_is_refused(redis_client: redis.Redis, ttl: Any) -> None:
    with pytest.raises(ModelError, match="ttl"):
        MdlPlain(k="a").save(ttl=ttl)
    assert redis_client.dbsize() == 0


def test_save_with_ttl_and_expire_at_is_refused(redis_client: redis.Redis) -> None:
    with pytest.raises(ModelError, match="not both"):
        MdlPlain(k="a").save(ttl=5, expire_at=datetime.now(UTC))
    assert redis_client.dbsize() == 0


def test_save_expire_at_past_hides_the_record_until_swept(redis_client: redis.Redis) -> None:
    MdlTemp(k="live", tag="x").save()
    past = datetime.now(UTC) - timedelta(seconds=10)
    record = MdlTemp(k="gone", tag="x", score=5, email="g@x", spot=GeoPoint(10.0, 10.0)).save(
        expire_at=past
    )
    assert redis_client.zscore(f"{TEMP}:exp", "gone") == int(past.timestamp() * 1000)
    with pytest.raises(NotFound):
        MdlTemp.load("gone")
    assert not record.exists()
    assert MdlTemp.count() == 1
    assert MdlTemp.check_indexes()["total"] == 0
    live_keys = snapshot(redis_client)
    assert MdlTemp.sweep_expired() == 1
    assert MdlTemp.sweep_expired() == 0
    remaining = keys_of(redis_client, TEMP)
    assert remaining == {
        f"{TEMP}:r:live",
        f"{TEMP}:all",
        f"{TEMP}:exp",
        f"{TEMP}:i:tag:x",
        f"{TEMP}:z:score",
        f"{TEMP}:l:k",
        f"{TEMP}:l:tag",
    }
    assert redis_client.smembers(f"{TEMP}:i:tag:x") == {b"live"}
    assert redis_client.zrange(f"{TEMP}:exp", 0, -1) == [b"live"]
    assert len(live_keys) > len(remaining)
    assert MdlTemp.load("live").delete()
    assert redis_client.dbsize() == 0


def test_sweep_leaves_nothing_of_an_expired_model(redis_client: redis.Redis) -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    for i in range(3):
        MdlTemp(k=f"r{i}", score=i, email=f"{i}@x", spot=GeoPoint(1.0, 1.0)).save(expire_at=past)
    assert MdlTemp.count() == 0
    assert MdlTemp.sweep_expired(limit=2) == 3
    assert redis_client.dbsize() == 0


def test_save_naive_expire_at_is_utc(redis_client: redis.Redis) -> None:
    naive = datetime(2999, 1, 1)
    MdlPlain(k="a").save(expire_at=naive)
    expected = int(datetime(2999, 1, 1, tzinfo=UTC).timestamp() * 1000)
    assert redis_client.zscore("{td:MdlPlain}:exp", "a") == expected


def test_count_ignores_expired_records() -> None:
    assert MdlTemp.count() == 0
    for i in range(4):
        MdlTemp(k=f"r{i}").save()
    MdlTemp(k="r0").save(expire_at=datetime.now(UTC) - timedelta(seconds=1))
    assert MdlTemp.count() == 3
    MdlPlain(k="a").save()
    assert MdlPlain.count() == 1
    MdlTemp.sweep_expired()
    assert MdlTemp.count() == 3


def test_an_expired_record_key_can_be_saved_again() -> None:
    MdlTemp(k="a", tag="old", email="e@x").save(expire_at=datetime.now(UTC) - timedelta(seconds=1))
    MdlTemp(k="b", email="e@x").save()  # the expired holder of e@x does not count
    fresh = MdlTemp(k="a", tag="new").save()
    assert MdlTemp.load("a") == fresh
    assert MdlTemp.check_indexes()["total"] == 0


# -- partitions ------------------------------------------------------------------------------


def test_partitioned_keys_carry_the_partition(redis_client: redis.Redis) -> None:
    a = MdlNote(agent="a1", topic="x").save()
    b = MdlNote(agent="a1").save()
    c = MdlNote(agent="a:2").save()
    assert a.redis_key == f"{{td:MdlNote:a1}}:r:{a.id}:a1"
    assert c.redis_key == f"{{td:MdlNote:a%3A2}}:r:{c.id}:a%3A2"
    assert keys_of(redis_client, "{td:MdlNote:a1}") == {
        a.redis_key,
        b.redis_key,
        "{td:MdlNote:a1}:all",
        "{td:MdlNote:a1}:i:topic:x",
        "{td:MdlNote:a1}:i:topic:",
        "{td:MdlNote:a1}:l:id",
        "{td:MdlNote:a1}:l:topic",
    }
    assert MdlNote.count("a1") == 2
    assert MdlNote.count("a:2") == 1
    assert MdlNote.count("nobody") == 0
    with pytest.raises(QueryError):
        MdlNote.count()
    with pytest.raises(QueryError):
        MdlPlain.count("a1")
    assert MdlNote.load(a.id, "a1") == a
    assert MdlNote.check_indexes()["total"] == 0


# -- refresh, exists, delete -----------------------------------------------------------------


def test_refresh_picks_up_changes_by_another_instance() -> None:
    mine = shop(rating=1.0).save()
    theirs = MdlShop.load("Taco Town")
    theirs.rating = 3.5
    theirs.note = "theirs"
    theirs.save()
    assert mine.refresh() is mine
    assert mine.rating == 3.5
    assert mine.note == "theirs"
    theirs.delete()
    with pytest.raises(NotFound):
        mine.refresh()


def test_exists() -> None:
    record = shop()
    assert not record.exists()
    record.save()
    assert record.exists()
    assert shop().exists()  # located by its key values
    record.delete()
    assert not record.exists()


def test_delete_returns_true_then_false(redis_client: redis.Redis) -> None:
    record = shop(cuisine="Thai", location=GeoPoint(1.0, 1.0)).save()
    assert record.delete() is True
    assert record.delete() is False
    assert redis_client.dbsize() == 0
    assert shop("never").delete() is False


def test_delete_uses_the_saved_key_not_the_edited_one(redis_client: redis.Redis) -> None:
    record = shop().save()
    record.name = "edited"
    assert record.delete() is True
    assert redis_client.dbsize() == 0


# -- atomic increments -----------------------------------------------------------------------

COUNTER = "{td:MdlCounter}"


def test_increment_sorted_int_keeps_the_zset_in_step(redis_client: redis.Redis) -> None:
    record = MdlCounter(k="a").save()
    assert record.atomic_increment("hits", 3) == 3
    assert record.atomic_increment("hits", -1) == 2
    assert record.hits == 2
    assert redis_client.hget(f"{COUNTER}:r:a", "hits") == b"2"
    assert redis_client.zscore(f"{COUNTER}:z:hits", "a") == 2.0
    assert MdlCounter.load("a").hits == 2
    assert MdlCounter.check_indexes()["total"] == 0


def test_increment_float() -> None:
    record = MdlCounter(k="a", ratio=1.25).save()
    value = record.atomic_increment("ratio", 0.5)
    assert value == 1.75
    assert isinstance(value, float)
    assert record.atomic_increment("ratio", 2) == 3.75
    assert MdlCounter.load("a").ratio == 3.75


def test_increment_indexed_int_moves_the_sets(redis_client: redis.Redis) -> None:
    record = MdlCounter(k="a").save()
    record.atomic_increment("level", 1)
    assert not redis_client.exists(f"{COUNTER}:i:level:0")
    assert redis_client.smembers(f"{COUNTER}:i:level:1") == {b"a"}
    assert MdlCounter.check_indexes()["total"] == 0


def test_increment_unique_int_collision_writes_nothing(redis_client: redis.Redis) -> None:
    MdlCounter(k="a", slot=1).save()
    b = MdlCounter(k="b", slot=0).save()
    before = snapshot(redis_client)
    with pytest.raises(UniqueViolation):
        b.atomic_increment("slot", 1)
    assert snapshot(redis_client) == before
    assert b.slot == 0
    assert b.atomic_increment("slot", 2) == 2
    assert redis_client.hgetall(f"{COUNTER}:u:slot") == {b"1": b"a", b"2": b"b"}


def test_increment_unsaved_or_deleted_record_raises_not_found(redis_client: redis.Redis) -> None:
    with pytest.raises(NotFound):
        MdlCounter(k="a").atomic_increment("hits", 1)
    record = MdlCounter(k="b").save()
    MdlCounter.load("b").delete()
    with pytest.raises(NotFound):
        record.atomic_increment("hits", 1)
    assert redis_client.dbsize() == 0


@pytest.mark.parametrize(
    ("name", "delta"),
    [
        ("hits", 1.5),
        ("hits", "1"),
        ("hits", True),
        ("ratio", float("nan")),
        ("ratio", None),
        ("label", 1),
        ("nope", 1),
    ],
)
def test_increment_bad_arguments_are_refused(
    redis_client: redis.Redis, name: str, delta: Any
) -> None:
    record = MdlCounter(k="a").save()
    before = snapshot(redis_client)
    with pytest.raises(ModelError):
        record.atomic_increment(name, delta)
    assert snapshot(redis_client) == before


def test_increment_to_infinity_is_refused(redis_client: redis.Redis) -> None:
    record = MdlCounter(k="a", ratio=1.7e308).save()
    before = snapshot(redis_client)
    with pytest.raises(ModelError):
        record.atomic_increment("ratio", 1.7e308)
    assert snapshot(redis_client) == before


# -- odd names and old records ---------------------------------------------------------------


def test_unicode_field_names(redis_client: redis.Redis) -> None:
    record = MdlUnicode(clé="été", étiquette="crème", note=1.5).save()
    tag = "{td:MdlUnicode}"
    assert redis_client.hgetall(f"{tag}:r:été") == {
        "clé".encode(): "été".encode(),
        "étiquette".encode(): "crème".encode(),
        b"note": b"1.5",
    }
    assert redis_client.smembers(f"{tag}:i:étiquette:crème") == {"été".encode()}
    assert MdlUnicode.load("été") == record
    record.étiquette = "brûlée"
    record.save()
    assert not redis_client.exists(f"{tag}:i:étiquette:crème")
    assert MdlUnicode.check_indexes()["total"] == 0


def test_records_written_before_a_field_existed_load_with_defaults(
    redis_client: redis.Redis,
) -> None:
    tag = "{td:MdlEvolve}"
    redis_client.hset(f"{tag}:r:a", mapping={"k": "a", "old": "value"})
    redis_client.sadd(f"{tag}:all", "a")
    loaded = MdlEvolve.load("a")
    assert loaded.old == "value"
    assert loaded.added == 7
    assert loaded.tags == []
    assert loaded.maybe is None
    assert loaded.rank == 3
    loaded.save()  # saving fills in the new fields and their indexes
    assert redis_client.hget(f"{tag}:r:a", "added") == b"7"
    assert redis_client.zscore(f"{tag}:z:rank", "a") == 3.0
    assert MdlEvolve.check_indexes()["total"] == 0


# -- asyncio twins ---------------------------------------------------------------------------


def test_async_twins(redis_client: redis.Redis) -> None:
    async def body() -> None:
        try:
            made = await MdlShop.acreate(name="A", email="a@x", rating=1.0)
            assert await MdlShop.aload("A") == made
            assert await MdlShop.aload(name="A") == made
            assert await made.aexists()
            made.rating = 2.0
            assert await made.asave() is made
            other = await MdlShop.aload("A")
            other.note = "changed"
            await other.asave(update_fields=["note"])
            assert await made.arefresh() is made
            assert made.note == "changed"
            with pytest.raises(UniqueViolation):
                await MdlShop(name="B", email="a@x").asave()
            assert await made.adelete() is True
            assert await made.adelete() is False
            assert not await made.aexists()
            with pytest.raises(NotFound):
                await MdlShop.aload("A")
            with pytest.raises(NotFound):
                await made.arefresh()
            counter = await MdlCounter(k="c").asave()
            assert await counter.aatomic_increment("hits", 5) == 5
            assert counter.hits == 5
        finally:
            await _connection.get_connection().aclose()

    asyncio.run(body())
    assert redis_client.zscore(f"{COUNTER}:z:hits", "c") == 5.0
    assert MdlShop.count() == 0
    assert MdlCounter.check_indexes()["total"] == 0


def test_async_twins_on_a_second_event_loop() -> None:
    async def body() -> MdlShop:
        try:
            return await MdlShop.acreate(name="Z", email="z@x")
        finally:
            await _connection.get_connection().aclose()

    first = asyncio.run(body())
    first.delete()
    second = asyncio.run(body())
    assert second == first
    assert MdlShop.load("Z") == second


def test_async_migrate_key_and_expiry(redis_client: redis.Redis) -> None:
    async def body() -> None:
        try:
            record = await MdlTemp(k="a", tag="x").asave()
            record.k = "b"
            with pytest.raises(KeyMutationError):
                await record.asave()
            await record.asave(migrate_key=True, ttl=None)
            assert (await MdlTemp.aload("b")).tag == "x"
            await record.asave(expire_at=datetime.now(UTC) - timedelta(seconds=1))
            assert not await record.aexists()
        finally:
            await _connection.get_connection().aclose()

    asyncio.run(body())
    assert MdlTemp.sweep_expired() == 1
    assert redis_client.dbsize() == 0
