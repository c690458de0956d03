"""Relationships: Link[Target] stores the target's id, is indexed, and loads on demand.

OptionalLink[Target] is the same, and may also be None.
"""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

import typedis
from typedis import (
    AutoKey,
    Key,
    Link,
    Linked,
    Model,
    ModelError,
    NotFound,
    OptionalLink,
    Sorted,
    field,
    new_id,
)


class LnkCustomer(Model):
    email: Key[str]
    name: str


class LnkOrder(Model):
    id: AutoKey = field(default_factory=new_id)
    customer: Link[LnkCustomer]
    total: Sorted[float] = field(default=0.0)


class LnkTicket(Model):
    id: AutoKey = field(default_factory=new_id)
    assignee: OptionalLink[LnkCustomer] = field(default=None)
    priority: Sorted[int] = field(default=0)


def customers() -> tuple[LnkCustomer, LnkCustomer]:
    return (
        LnkCustomer(email="a:b@x", name="A").save(),
        LnkCustomer(email="b@x", name="B").save(),
    )


def test_link_accepts_a_record_a_key_or_a_link() -> None:
    a, b = customers()
    by_record = LnkOrder(customer=a)
    by_key = LnkOrder(customer="a:b@x")
    by_link = LnkOrder(customer=Linked.to(a))
    assert by_record.customer == by_key.customer == by_link.customer
    assert by_record.customer != LnkOrder(customer=b).customer
    assert isinstance(by_record.customer, Linked)


def test_link_loads_the_target_lazily_and_round_trips() -> None:
    a, _ = customers()
    order = LnkOrder(customer=a, total=3).save()
    loaded = LnkOrder.load(order.id)
    assert loaded.customer == order.customer
    assert loaded.customer.get().name == "A"
    a.delete()
    with pytest.raises(NotFound):
        loaded.customer.get()


def test_link_is_filterable_by_record_key_or_link() -> None:
    a, b = customers()
    LnkOrder(customer=a, total=1).save()
    LnkOrder(customer=b, total=2).save()
    LnkOrder(customer="b@x", total=3).save()
    totals = lambda q: sorted(o.total for o in q.all())  # noqa: E731
    assert totals(LnkOrder.query.filter(LnkOrder.customer == b)) == [2.0, 3.0]
    assert totals(LnkOrder.query.filter(LnkOrder.customer == "a:b@x")) == [1.0]
    assert totals(LnkOrder.query.filter(LnkOrder.customer != b)) == [1.0]
    assert totals(LnkOrder.query.filter(LnkOrder.customer.in_([a, Linked.to(b)]))) == [1, 2, 3]
    assert LnkOrder.query.filter(customer="b@x").count() == 2
    assert LnkOrder.check_indexes()["total"] == 0


def test_changing_a_link_moves_its_index_entry() -> None:
    a, b = customers()
    order = LnkOrder(customer=a).save()
    order.customer = Linked.to(b)
    order.save()
    assert LnkOrder.query.filter(LnkOrder.customer == a).count() == 0
    assert LnkOrder.query.filter(LnkOrder.customer == b).count() == 1
    assert LnkOrder.check_indexes()["total"] == 0


def test_link_dumps_as_the_target_key_and_round_trips() -> None:
    a, _ = customers()
    order = LnkOrder(customer=a)
    assert order.customer.key == "a:b@x"
    assert order.model_dump()["customer"] == "a:b@x"
    assert LnkOrder.model_validate(order.model_dump()).customer == order.customer
    assert LnkOrder.model_validate_json(order.model_dump_json()).customer == order.customer
    schema = LnkOrder.model_json_schema()["properties"]["customer"]
    assert schema["type"] == "string"


def test_bad_link_values_are_validation_errors() -> None:
    with pytest.raises(ValidationError):
        LnkOrder(customer=3.5)
    with pytest.raises(ValidationError):
        LnkOrder(customer=Linked(LnkOrder, "x"))


def test_link_targets_must_be_unpartitioned_models() -> None:
    class LnkPart(Model, partition="tenant"):
        tenant: Key[str]
        name: Key[str]

    with pytest.raises(ModelError, match="partitioned"):

        class LnkBad(Model):
            id: AutoKey = field(default_factory=new_id)
            target: Link[LnkPart]


def test_async_get() -> None:
    a, _ = customers()
    order = LnkOrder(customer=a).save()

    async def body() -> str:
        try:
            return (await order.customer.aget()).name
        finally:
            await typedis._connection.get_connection().aclose()

    assert asyncio.run(body()) == "A"


def test_an_optional_link_may_be_none_and_round_trips() -> None:
    a, _ = customers()
    unassigned = LnkTicket(priority=1).save()
    assigned = LnkTicket(assignee=a, priority=2).save()
    assert LnkTicket.load(unassigned.id).assignee is None
    loaded = LnkTicket.load(assigned.id).assignee
    assert loaded is not None and loaded.get().name == "A"
    assert LnkTicket.model_validate(unassigned.model_dump()).assignee is None
    assert LnkTicket.model_validate_json(assigned.model_dump_json()).assignee == Linked.to(a)
    with pytest.raises(ValidationError):
        LnkTicket(assignee=3.5)


def test_an_optional_link_filters_by_record_or_by_none() -> None:
    a, b = customers()
    for priority, assignee in enumerate([a, b, None, None, a]):
        LnkTicket(assignee=assignee, priority=priority).save()

    def priorities(*conds: typedis._query._conditions.Cond[LnkTicket]) -> list[int]:
        return sorted(t.priority for t in LnkTicket.query.filter(*conds).all())

    assert priorities(LnkTicket.assignee == a) == [0, 4]
    assert priorities(LnkTicket.assignee.is_none()) == [2, 3]
    assert priorities(~LnkTicket.assignee.is_none()) == [0, 1, 4]
    assert priorities(LnkTicket.assignee.is_none() | (LnkTicket.assignee == b)) == [1, 2, 3]
    assert LnkTicket.query.filter(assignee__isnull=True).count() == 2
    assert LnkTicket.check_indexes()["total"] == 0


def test_setting_an_optional_link_to_none_and_back_moves_its_index_entry() -> None:
    a, _ = customers()
    ticket = LnkTicket(assignee=a).save()
    ticket.assignee = None
    ticket.save(update_fields=["assignee"])
    assert LnkTicket.query.filter(LnkTicket.assignee == a).count() == 0
    assert LnkTicket.query.filter(LnkTicket.assignee.is_none()).count() == 1
    assert LnkTicket.check_indexes()["total"] == 0
    ticket.assignee = Linked.to(a)
    ticket.save()
    assert LnkTicket.query.filter(LnkTicket.assignee == a).count() == 1
    assert LnkTicket.query.filter(LnkTicket.assignee.is_none()).count() == 0
    assert LnkTicket.check_indexes()["total"] == 0
    ticket.delete()
    assert LnkTicket.check_indexes()["total"] == 0
