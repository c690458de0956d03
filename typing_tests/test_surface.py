"""How mypy --strict and pyright strict see the type surface: class keywords, marker types,
range bounds, increments, partial saves, the auto key, multi-key links, public query types.
"""

from __future__ import annotations

from typing import assert_type

from typedis import Index, Key, Model, Sorted, field

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
