"""How mypy --strict and pyright strict see Link and OptionalLink fields."""

from __future__ import annotations

from typing import assert_type

from typedis import AutoKey, Key, Link, Linked, Model, OptionalLink, Sorted, field, new_id
from typedis.query import Cond, LinkRef, OptionalLinkRef


class Customer(Model):
    email: Key[str]


class Order(Model):
    id: AutoKey = field(default_factory=new_id)
    customer: Link[Customer]
    reviewer: OptionalLink[Customer] = field(default=None)
    total: Sorted[float] = field(default=0.0)


alice = Customer(email="alice@x.io")
order = Order(customer=alice)

# ---- class attributes are references, instance attributes are links --------------------------
assert_type(Order.customer, LinkRef[Order, Customer])
assert_type(Order.reviewer, OptionalLinkRef[Order, Customer])
assert_type(order.customer, Linked[Customer])
assert_type(order.reviewer, Linked[Customer] | None)
assert_type(order.customer.get(), Customer)
assert_type(Linked.to(alice), Linked[Customer])

# ---- a link is given as a record, a Linked or a key value -------------------------------------
Order(customer="alice@x.io")
Order(customer=Linked.to(alice), reviewer=alice)
order.customer = Linked.to(alice)
order.reviewer = None
order.customer = None  # E: a Link is never None
Order(customer=1.5)  # E: a link is a record, a Linked or a key value
order.reviewer = order  # E: reviewer links to a Customer, not an Order

# ---- conditions -----------------------------------------------------------------------------
assert_type(Order.customer == alice, Cond[Order])
assert_type(Order.customer != "bob@x.io", Cond[Order])
assert_type(Order.customer.in_([alice, "bob@x.io"]), Cond[Order])
assert_type(Order.reviewer == alice, Cond[Order])
assert_type(Order.reviewer.is_none(), Cond[Order])
assert_type(Order.query.filter(Order.reviewer.is_none()).all(), list[Order])
Order.customer.is_none()  # E: a Link is never None
Order.query.filter(Order.customer == order)  # E: customer links to a Customer, not an Order
Order.customer.in_([order])  # E: customer links to a Customer, not an Order
_ = Order.customer > alice  # E: a link has no order
Order.customer.startswith("a")  # E: a link has no prefix index
Order.reviewer.desc()  # E: a link cannot order results
