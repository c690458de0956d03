"""The run-time side of the typed surface: class keywords, field references as arguments,
the auto key's default.
"""

from __future__ import annotations

import asyncio

import pytest
import redis

from typedis import (
    AutoKey,
    Indexed,
    Key,
    Link,
    Linked,
    Model,
    ModelError,
    OptionalLink,
    Sorted,
    _connection,
    field,
)

# -- models (names unique to this file: the class name is the key namespace) ----------------


class TsRanked(Model, abstract=True):
    score: Sorted[int] = field(default=0)


class TsShop(TsRanked):
    name: Key[str]
    rating: Sorted[float] = field(default=0.0)
    visits: int = 0


class TsTagged(Model):
    id: AutoKey  # no default written: the marker supplies new_id()
    tag: Indexed[str]


class TsBranch(Model):
    city: Key[str]
    number: Key[int]


class TsVisit(Model):
    id: AutoKey
    branch: Link[TsBranch]
    previous: OptionalLink[TsBranch] = field(default=None)


class TsOther(Model):
    name: Key[str]
    score: Sorted[int] = field(default=0)


# -- class keywords ----------------------------------------------------------------------------


def test_an_unknown_class_keyword_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"TsTypo: unknown class keyword\(s\) 'tll'; typedis takes"):

        class TsTypo(Model, tll=60):
            name: Key[str]


def test_pydantic_config_keywords_still_reach_pydantic() -> None:
    class TsFrozen(Model, frozen=True, ttl=30):
        name: Key[str]

    assert TsFrozen.model_config.get("frozen") is True
    assert TsFrozen.__typedis_spec__.ttl == 30


def test_a_keyword_for_a_cooperative_base_passes_through() -> None:
    seen: list[int] = []

    class Counted:
        def __init_subclass__(cls, count: int = 0, **kwargs: object) -> None:
            seen.append(count)
            super().__init_subclass__(**kwargs)

    class TsCounted(Model, Counted, count=3):
        name: Key[str]

    assert seen == [3]
    assert TsCounted.__typedis_spec__.keys == ("name",)


def test_a_redeclared_field_does_not_warn_that_it_shadows_the_reference() -> None:
    # pydantic looks a subclass's field names up on its bases; the parent's field references
    # must not show there (warnings are errors in this test run).
    class TsRedeclared(TsRanked):
        name: Key[str]
        score: Sorted[int] = field(default=5)

    assert TsRedeclared(name="a").score == 5
    assert repr(TsRanked.score) == "TsRanked.score"
    assert repr(TsRedeclared.score) == "TsRedeclared.score"


# -- atomic_increment(reference, delta) ----------------------------------------------------------

SHOP = "{td:TsShop}"


def test_atomic_increment_takes_a_reference(redis_client: redis.Redis) -> None:
    shop = TsShop(name="a").save()
    assert shop.atomic_increment(TsShop.score, 3) == 3
    assert shop.atomic_increment(TsShop.rating, 1) == 1.0
    assert isinstance(shop.rating, float)
    assert redis_client.zscore(f"{SHOP}:z:score", "a") == 3.0
    assert shop.atomic_increment("visits", 2) == 2  # a field without an index, by name
    assert shop.atomic_increment(field_name=TsShop.score, delta=1) == 4
    assert TsShop.load("a").score == 4


def test_atomic_increment_takes_the_abstract_parents_reference() -> None:
    shop = TsShop(name="a").save()
    assert shop.atomic_increment(TsRanked.score, 2) == 2


def test_atomic_increment_refuses_another_models_reference() -> None:
    shop = TsShop(name="a").save()
    with pytest.raises(ModelError, match=r"TsOther.score is a field of TsOther; name a field of"):
        shop.atomic_increment(TsOther.score, 1)
    with pytest.raises(ModelError, match="a field is its name or a reference"):
        shop.atomic_increment(3, 1)
    assert TsShop.load("a").score == 0


def test_aatomic_increment_takes_a_reference() -> None:
    async def body() -> int:
        try:
            shop = await TsShop(name="a").asave()
            return await shop.aatomic_increment(TsShop.score, 4)
        finally:
            await _connection.get_connection().aclose()

    assert asyncio.run(body()) == 4
    assert TsShop.load("a").score == 4


# -- save(update_fields=[references and names]) -------------------------------------------------


def test_update_fields_takes_references_and_names(redis_client: redis.Redis) -> None:
    shop = TsShop(name="a").save()
    shop.score, shop.rating, shop.visits = 5, 2.5, 7
    shop.save(update_fields=[TsShop.score, "visits"])
    assert redis_client.hget(f"{SHOP}:r:a", "rating") == b"0.0"  # not listed: not written
    assert redis_client.zscore(f"{SHOP}:z:score", "a") == 5.0
    loaded = TsShop.load("a")
    assert (loaded.score, loaded.rating, loaded.visits) == (5, 0.0, 7)
    assert TsShop.check_indexes()["total"] == 0


def test_update_fields_given_one_string_is_refused(redis_client: redis.Redis) -> None:
    shop = TsShop(name="a").save()
    shop.score = 5
    refused = r"TsShop\.save\(update_fields=\.\.\.\): got the string 'score'; pass a list of"
    with pytest.raises(ModelError, match=refused):
        shop.save(update_fields="score")
    assert redis_client.zscore(f"{SHOP}:z:score", "a") == 0.0


def test_update_fields_refuses_another_models_reference() -> None:
    shop = TsShop(name="a").save()
    with pytest.raises(ModelError, match=r"TsOther\.score is a field of TsOther"):
        shop.save(update_fields=[TsOther.score])


def test_asave_update_fields_takes_references_and_refuses_a_string() -> None:
    async def body() -> None:
        try:
            shop = await TsShop(name="a").asave()
            shop.score = 9
            await shop.asave(update_fields=[TsShop.score])
            with pytest.raises(ModelError, match=r"update_fields=\.\.\.\): got the string"):
                await shop.asave(update_fields="score")
        finally:
            await _connection.get_connection().aclose()

    asyncio.run(body())
    assert TsShop.load("a").score == 9


# -- AutoKey without a default ---------------------------------------------------------------------


def test_an_auto_key_declared_without_a_default_gets_a_new_id(redis_client: redis.Redis) -> None:
    first, second = TsTagged(tag="x").save(), TsTagged(tag="x").save()
    assert len(first.id) == 32
    assert int(first.id, 16) >= 0
    assert first.id != second.id
    assert TsTagged.__typedis_spec__.keys == ("id",)
    assert TsTagged.__typedis_spec__.fields["id"].auto
    assert TsTagged.load(first.id) == first
    assert redis_client.smembers("{td:TsTagged}:i:tag:x") == {first.id.encode(), second.id.encode()}
    assert TsTagged(tag="y", id="given").id == "given"


# -- a multi-key link given as the target's key tuple -----------------------------------------


def test_a_link_takes_the_targets_key_tuple() -> None:
    paris = TsBranch(city="Paris", number=3).save()
    visit = TsVisit(branch=("Paris", 3), previous=("Lyon", 1)).save()
    assert visit.branch == Linked.to(paris)
    assert visit.branch.key == ("Paris", "3")
    visit.previous = ("Paris", 3)
    assert visit.previous == Linked.to(paris)
    assert TsVisit.load(visit.id).branch.get() == paris
