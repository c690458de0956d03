"""How the checkers see the bulk changes: bulk_create / bulk_update / bulk_delete and twins."""

from __future__ import annotations

from typing import assert_type

from typedis import Indexed, Key, Model, field


class Shop(Model):
    name: Key[str]
    cuisine: Indexed[str] = field(default="")


class Note(Model):
    title: Key[str]


s = Shop(name="a")
thai = Shop.query.filter(Shop.cuisine == "Thai")

assert_type(Shop.bulk_create([s]), int)
assert_type(Shop.bulk_create((Shop(name=str(i)) for i in range(3)), batch_size=2), int)
assert_type(Shop.bulk_update(thai, cuisine="Lao"), int)
assert_type(Shop.bulk_update([s], batch_size=10, cuisine="Lao"), int)
assert_type(Shop.bulk_delete(thai, batch_size=500), int)
assert_type(Shop.bulk_delete([s]), int)
Shop.bulk_create([Note(title="x")])  # E: bulk_create takes records of its own model
Shop.bulk_update(Note.query, cuisine="Lao")  # E: a query of another model
Shop.bulk_delete([s], batch_size="10")  # E: batch_size is an int
Shop.bulk_create([s], 10)  # E: batch_size is keyword-only


async def async_twins() -> None:
    assert_type(await Shop.abulk_create([s]), int)
    assert_type(await Shop.abulk_update(thai, batch_size=2, cuisine="Lao"), int)
    assert_type(await Shop.abulk_delete([s]), int)
    Shop.abulk_delete(thai) + 1  # E: abulk_delete() must be awaited
