"""The demo run by ``python -m typedis demo`` (and ``make demo``): restaurants, step by step.

It works only in its own namespace (the models ``DemoRestaurant``, ``DemoCritic`` and
``DemoReview``, keys under ``{td:Demo...}``), which it empties at the start and at the end, so
it leaves any other data on the server alone.
"""

from __future__ import annotations

import runpy
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typedis
from typedis import (
    AutoKey,
    Confidence,
    ConfigError,
    Decaying,
    Geo,
    GeoPoint,
    Indexed,
    Key,
    KeyMutationError,
    Link,
    Model,
    NotFound,
    OptionalLink,
    Sorted,
    Unique,
    UniqueViolation,
    field,
    new_id,
)
from typedis.memory import update_confidence


class DemoRestaurant(Model):
    """A restaurant: found by name, indexed by cuisine, ranked by rating, placed on a map."""

    name: Key[str]
    cuisine: Indexed[str]
    email: Unique[str]
    rating: Sorted[float] = field(default=0.0)
    location: Geo[GeoPoint | None] = field(default=None)
    visits: int = 0


class DemoCritic(Model):
    """A food critic, found by handle."""

    handle: Key[str]


class DemoReview(Model):
    """A review of one restaurant, maybe by a known critic."""

    id: AutoKey = field(default_factory=new_id)
    restaurant: Link[DemoRestaurant]
    critic: OptionalLink[DemoCritic] = field(default=None)
    stars: Sorted[int]


class DemoMemory(Model, partition="agent"):
    """An agent's memory: its relevance fades with time, its certainty follows evidence."""

    agent: Key[str]
    text: Key[str]
    relevance: Decaying[float] = field(default=1.0, rate=0.1)
    certainty: Confidence = field(default=0.5)


MODELS: tuple[type[Model], ...] = (DemoRestaurant, DemoCritic, DemoReview, DemoMemory)
TAG = "{td:DemoRestaurant}"


def _text(member: bytes | str) -> str:
    return member.decode() if isinstance(member, bytes) else member


def _step(title: str) -> None:
    print(f"\n== {title}")


def run() -> None:
    """Run the demo against the server of ``typedis.connect()`` (REDIS_URL, else embedded)."""
    conn = typedis.connect()
    where = "the embedded Valkey server" if conn.embedded else "REDIS_URL"
    try:
        typedis.check_connection()
    except typedis.TypedisError as error:
        raise ConfigError(f"cannot use {conn.redacted_url} ({where}): {error}") from error
    print(f"typedis {typedis.__version__} demo, connected to {conn.redacted_url} ({where})")
    print("the demo uses only keys under {td:Demo...} and empties them at the start and the end")
    removed = sum(model.delete_all() for model in MODELS)
    print(f"delete_all() of each demo model -> {removed} record(s) left by an earlier run removed")
    try:
        _tour(conn)
    finally:
        removed = sum(model.delete_all() for model in MODELS)
        _step("clean up")
        print(f"delete_all() of each demo model -> {removed} record(s) removed, index entries too")
        conn.close()


def _tour(conn: typedis.Connection) -> None:
    r = conn.client

    _step("1. save a few restaurants (one atomic Lua call each: the hash and every index)")
    taco = DemoRestaurant(
        name="Taco Town",
        cuisine="Mexican",
        email="hola@tacotown.example",
        rating=4.2,
        location=GeoPoint(lat=40.7128, lon=-74.0060),
    ).save()
    pho = DemoRestaurant(name="Pho Real", cuisine="Vietnamese", email="pho@real.example")
    barn = DemoRestaurant(name="Burrito Barn", cuisine="Mexican", email="hi@barn.example")
    pho.rating, barn.rating = 4.6, 3.9
    DemoRestaurant.save_many([pho, barn])
    print(f"saved {taco.name!r} at {taco.redis_key}, and two more with save_many()")
    mexican = sorted(_text(m) for m in r.smembers(f"{TAG}:i:cuisine:Mexican"))
    print(f"the Indexed set {TAG}:i:cuisine:Mexican holds {mexican}")

    _step("2. load one by its key")
    pho = DemoRestaurant.load("Pho Real")
    print(f"DemoRestaurant.load('Pho Real') -> {pho!r}")

    _step("3. partial save: write only the fields named (the record must exist)")
    taco.rating = 4.4
    taco.save(update_fields=["rating"])
    score = r.zscore(f"{TAG}:z:rating", "Taco Town")
    print(f"taco.rating = 4.4; taco.save(update_fields=['rating']) -> sorted index score {score}")

    _step("4. atomic_increment: the server adds, the indexes follow")
    visits = taco.atomic_increment("visits", 1)
    rating = taco.atomic_increment("rating", 0.3)
    score = r.zscore(f"{TAG}:z:rating", "Taco Town")
    print(f"atomic_increment('visits', 1) -> {visits}; atomic_increment('rating', 0.3) -> {rating}")
    print(f"the instance follows (taco.rating = {taco.rating}) and so does the index ({score})")

    _step("5. a Unique value that is taken: UniqueViolation, and nothing is written")
    try:
        DemoRestaurant(name="Taco Clone", cuisine="Mexican", email="hola@tacotown.example").save()
    except UniqueViolation as error:
        print(f"caught UniqueViolation: {error}")
        print(f"  (error.field = {error.field!r}, error.value = {error.value!r})")
    try:
        DemoRestaurant.load("Taco Clone")
    except NotFound as error:
        print(f"and the clone was not stored: load('Taco Clone') raises NotFound ({error})")

    _step("6. changing a key field: refused unless you ask to move the record")
    taco.name = "Taco Palace"
    try:
        taco.save()
    except KeyMutationError as error:
        print(f"caught KeyMutationError: {error}")
    taco.save(migrate_key=True)
    print(f"taco.save(migrate_key=True) moved the record and its index entries to {taco.redis_key}")
    try:
        DemoRestaurant.load("Taco Town")
    except NotFound:
        print("load('Taco Town') now raises NotFound; load('Taco Palace') finds it:")
    print(f"  {DemoRestaurant.load('Taco Palace')!r}")

    _step("7. time to live: a TTL, then an expiry in the past")
    pho.save(ttl=3600)
    expires = r.zscore(f"{TAG}:exp", "Pho Real")
    print(f"pho.save(ttl=3600): expiry {expires:.0f} (epoch ms) in the expiry index {TAG}:exp")
    print(
        f"Redis' own PTTL of the hash is {r.pttl(pho.redis_key)}: typedis keeps expiries itself, "
        "so Redis never drops a hash behind the indexes' back"
    )
    pho.save(expire_at=datetime.now(UTC) - timedelta(seconds=1))
    try:
        DemoRestaurant.load("Pho Real")
    except NotFound:
        print("pho.save(expire_at=<a second ago>): load('Pho Real') raises NotFound at once")
    members = r.sismember(f"{TAG}:i:cuisine:Vietnamese", "Pho Real")
    print(f"its index entries are still there until a sweep (in the cuisine set: {bool(members)})")
    swept = DemoRestaurant.sweep_expired()
    members = r.sismember(f"{TAG}:i:cuisine:Vietnamese", "Pho Real")
    print(f"DemoRestaurant.sweep_expired() -> {swept}; in the cuisine set now: {bool(members)}")

    _step("8. typed queries: one script call each, every filter served by an index")
    DemoRestaurant.save_many(
        [
            DemoRestaurant(
                name="Tapas Tower", cuisine="Spanish", email="t@tower.example", rating=4.8,
                location=GeoPoint(lat=40.7306, lon=-73.9866),
            ),
            DemoRestaurant(
                name="Tamale Tent", cuisine="Mexican", email="t@tent.example", rating=4.1
            ),
        ]
    )  # fmt: skip
    best = (
        DemoRestaurant.query.filter(
            DemoRestaurant.cuisine == "Mexican", DemoRestaurant.rating >= 4.0
        )
        .order_by(DemoRestaurant.rating.desc())
        .limit(10)
    )
    print(f"plan: {best.explain()}")
    print(f"Mexican, rated 4.0 or more, best first -> {[x.name for x in best.all()]}")
    named = DemoRestaurant.query.filter(DemoRestaurant.name.startswith("Ta"))
    print(f"names starting with 'Ta' (prefix index) -> {[x.name for x in named.all()]}")
    near = DemoRestaurant.query.filter(
        DemoRestaurant.location.within(GeoPoint(lat=40.7128, lon=-74.0060), 5, "km")
    )
    distances = [f"{x.name} {km:.2f} km" for x, km in near.with_distances()]
    print(f"within 5 km of lower Manhattan, nearest first -> {distances}")
    by_keywords = DemoRestaurant.query.filter(cuisine="Mexican", rating__gte=4)
    print(f"the same with keyword lookups: count -> {by_keywords.count()}")
    print(f"DemoRestaurant.query.count() -> {DemoRestaurant.query.count()} (O(1): no filter)")

    _step("9. relationships: a Link stores the target's key, is indexed, loads on demand")
    taco = DemoRestaurant.load("Taco Palace")
    ana = DemoCritic(handle="ana").save()
    DemoReview.save_many(
        [
            DemoReview(restaurant=taco, critic=ana, stars=5),
            DemoReview(restaurant=taco, stars=4),
            DemoReview(restaurant="Tapas Tower", stars=3),
        ]
    )
    of_taco = DemoReview.query.filter(DemoReview.restaurant == taco)
    print(f"reviews of Taco Palace (one set read) -> {of_taco.count()}")
    anonymous = DemoReview.query.filter(DemoReview.critic.is_none())
    print(f"reviews without a critic (OptionalLink.is_none()) -> {anonymous.count()}")
    top = DemoReview.query.order_by(DemoReview.stars.desc()).first()
    if top is not None:
        place = top.restaurant.get()
        print(f"best review: {top.stars} stars of {top.restaurant!r}, loaded on demand:")
        print(f"  {place.name}, rated {place.rating}")

    _step("10. agent memory: time decay ranked without a scan, Bayesian certainty")
    now = datetime.now(UTC)
    tea = DemoMemory(agent="a1", text="likes green tea", relevance=2.0).save()
    DemoMemory(agent="a1", text="allergic to peanuts", relevance=5.0).save()
    DemoMemory(agent="a1", text="lives in Lisbon", relevance=1.0).save()
    old = DemoMemory.load("a1", "allergic to peanuts")
    old.touch(DemoMemory.relevance, at=now - timedelta(days=30))  # last used a month ago
    memories = DemoMemory.query.filter(DemoMemory.agent == "a1").top_by_decay(n=3)
    ranked = (f"{m.text!r} {m.decayed(DemoMemory.relevance):.3f}" for m in memories)
    print(f"top_by_decay(n=3) -> {', '.join(ranked)}")
    for signal in (0.9, 0.9):
        update_confidence(tea, DemoMemory.certainty, signal)
    print(f"certainty of {tea.text!r} after two corroborations (0.9) -> {tea.certainty:.3f}")

    _step("11. check the indexes against the records (read-only, SCAN-based)")
    reports = {model: model.check_indexes() for model in MODELS}
    print(f"DemoRestaurant.check_indexes() -> {reports[DemoRestaurant]}")
    total = sum(report["total"] for report in reports.values())
    print(
        "total 0: no orphaned, missing or wrong index entry (the other demo models too)"
        if total == 0
        else f"PROBLEM: {total} bad index entries"
    )


def run_example(name: str) -> None:
    """Run ``examples/<name>`` (``typedis demo memory``): the copy the wheel ships in
    ``typedis/_examples``, else the one of the source checkout."""
    here = Path(__file__).parent
    shipped = here / "_examples" / name
    runpy.run_path(
        str(shipped if shipped.exists() else here.parents[1] / "examples" / name),
        run_name="__main__",
    )
