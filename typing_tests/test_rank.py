"""How mypy --strict and pyright strict see rank orders (weighted sums of ranked fields)."""

from __future__ import annotations

from typing import assert_type

from typedis import Confidence, Decaying, Indexed, Key, Model, Sorted, field
from typedis.query import Ordering, Query, Rank


class Shop(Model):
    name: Key[str]
    city: Indexed[str]
    rating: Sorted[float] = field(default=0.0)
    visits: Sorted[int | None] = field(default=None)
    trust: Confidence = field(default=0.5)
    fresh: Decaying[float] = field(default=1.0)


class Dish(Model):
    title: Key[str]
    price: Sorted[float] = field(default=0.0)


assert_type(Shop.rating * 0.7, Rank[Shop])
assert_type(0.7 * Shop.rating, Rank[Shop])
assert_type(Shop.rating * 0.7 + Shop.visits * 0.3, Rank[Shop])
assert_type(Shop.rating + Shop.visits, Rank[Shop])
assert_type(Shop.rating * 2 + Shop.trust + Shop.fresh * -1, Rank[Shop])
assert_type((Shop.rating * 0.7 + Shop.visits * 0.3).desc(), Ordering[Shop])
assert_type((Shop.rating + Shop.trust).asc(), Ordering[Shop])
assert_type(Shop.query.order_by(Shop.rating * 0.5 + Shop.trust), Query[Shop])
assert_type(Shop.query.order_by((Shop.rating * 0.5 + Shop.trust).desc()), Query[Shop])

Shop.rating * "2"  # E: a weight is a number
Shop.city * 0.5  # E: a set index has no scores to weigh
Shop.name + Shop.rating  # E: a key has no scores to weigh
Shop.rating + Dish.price  # E: a rank sums fields of one model
Shop.rating * 0.5 + Dish.price * 0.5  # E: a rank sums fields of one model
Shop.query.order_by(Dish.price * 2 + Dish.price)  # E: a rank of another model
rank: Rank[Dish] = Shop.rating * 1.0  # E: a rank belongs to its model
