"""Typed pub/sub (``typedis.Channel``) against a real server, on RESP2 and RESP3."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError, create_model

import typedis
from _acl import as_user
from typedis import (
    AutoKey,
    Channel,
    CorruptRecord,
    Key,
    Link,
    Model,
    ModelError,
    PermissionDenied,
    ServerUnavailable,
    Sorted,
    field,
    new_id,
)
from typedis._connection import Connection

WAIT = 10.0  # seconds a test waits for a message it expects (a bound, never asserted on)


class Line(BaseModel):
    sku: str
    qty: int


class Order(BaseModel):
    id: int
    placed: datetime
    total: Decimal
    lines: list[Line]
    note: str | None = None
    tags: frozenset[str] = frozenset()
    blob: bytes = b""


class ChShop(Model):
    city: Key[str]
    name: Key[str]
    rating: Sorted[float] = field(default=0.0)


class ChVisit(Model):
    id: AutoKey = field(default_factory=new_id)
    shop: Link[ChShop]
    at: datetime


ORDER = Order(
    id=7,
    placed=datetime(2026, 11, 26, 1, 2, 3, 456789, tzinfo=timezone(timedelta(hours=5))),
    total=Decimal("19.990"),
    lines=[Line(sku="a:b*{c}", qty=2), Line(sku="é", qty=1)],
    tags=frozenset({"x", "y"}),
    blob=b"\x00\xff",
)
SHOP = ChShop(city="Lyon", name="Chez {Paul}", rating=4.5)
VISIT = ChVisit(shop=SHOP, at=datetime(2026, 1, 1, tzinfo=UTC))


def numsub(client: redis.Redis, channel: str) -> int:
    """How many clients of the server subscribe to ``channel``."""
    [(_, count)] = client.pubsub_numsub(channel)
    return int(count)


@pytest.mark.parametrize("message", [ORDER, Line(sku="s", qty=0), SHOP, VISIT], ids=type)
def test_a_message_arrives_equal_to_what_was_published(protocol: int, message: BaseModel) -> None:
    channel = Channel(type(message), "round-trip")
    with channel.subscribe() as sub:
        assert channel.publish(message) == 1
        received = sub.get(timeout=WAIT)
    assert received == message
    assert type(received) is type(message)


def test_a_received_link_loads_its_record() -> None:
    SHOP.save()
    channel = Channel(ChVisit, "visits")
    with channel.subscribe() as sub:
        channel.publish(VISIT)
        received = sub.get(timeout=WAIT)
    assert received is not None
    assert received.shop.get() == SHOP


def test_publish_returns_how_many_subscribers_received_it() -> None:
    channel = Channel(Line, "count")
    assert channel.publish(Line(sku="nobody", qty=0)) == 0
    with channel.subscribe() as one, channel.subscribe() as two:
        assert channel.publish(Line(sku="both", qty=2)) == 2
        assert one.get(timeout=WAIT) == two.get(timeout=WAIT) == Line(sku="both", qty=2)


def test_bad_messages_are_reported_and_skipped_and_the_next_good_one_arrives(
    protocol: int, redis_client: redis.Redis
) -> None:
    channel = Channel(Order, "orders")
    impostor = Channel(Line, "orders")  # another model on the same channel
    same_name = create_model("Order", id=(str, ...))  # "Order" too, but it does not validate
    reported: list[tuple[bytes, Exception]] = []
    with channel.subscribe(on_error=lambda raw, error: reported.append((raw, error))) as sub:
        redis_client.publish(channel.redis_name, b"garbage")
        redis_client.publish(channel.redis_name, b"\x93\xa1x\x01\x02")  # msgpack, not ours
        impostor.publish(Line(sku="s", qty=1))
        Channel(same_name, "orders").publish(same_name(id="seven"))
        channel.publish(ORDER)
        assert sub.get(timeout=WAIT) == ORDER
    assert sub.skipped == 4
    assert [raw for raw, _ in reported[:2]] == [b"garbage", b"\x93\xa1x\x01\x02"]
    assert [type(error) for _, error in reported] == [CorruptRecord] * 3 + [ValidationError]
    assert "a message of 'Line', not of 'Order'" in str(reported[2][1])


def test_without_on_error_a_bad_message_is_logged(
    redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    channel = Channel(Line, "logged")
    with caplog.at_level(logging.WARNING, logger="typedis"), channel.subscribe() as sub:
        redis_client.publish(channel.redis_name, b"garbage")
        channel.publish(Line(sku="good", qty=1))
        assert sub.get(timeout=WAIT) == Line(sku="good", qty=1)
    assert sub.skipped == 1
    assert (
        "Channel(Line, 'logged') skipped a message: not a message typedis published (b'garbage')"
        in caplog.text
    )


def test_get_returns_none_when_nothing_came_in_time(redis_client: redis.Redis) -> None:
    channel = Channel(Line, "quiet")
    with channel.subscribe() as sub:
        assert sub.get(timeout=0) is None
        redis_client.publish(channel.redis_name, b"garbage")
        assert sub.get(timeout=0.05) is None  # a skipped message is not a message
    assert sub.skipped == 1


def test_iterating_yields_messages_until_the_loop_breaks() -> None:
    channel = Channel(Line, "loop")
    sent = [Line(sku=str(n), qty=n) for n in range(5)]
    received: list[Line] = []
    with channel.subscribe() as sub:
        for line in sent:
            channel.publish(line)
        for line in sub:
            received.append(line)
            if len(received) == len(sent):
                break
    assert received == sent


def test_closing_ends_the_subscription_and_gives_its_connection_back(
    conn: Connection, reconnect: Callable[..., Connection]
) -> None:
    reconnect(conn.url, max_connections=1, pool_timeout=0.05)
    channel = Channel(Line, "held")
    received: list[Line] = []
    with channel.subscribe() as sub:
        assert numsub(conn.client, channel.redis_name) == 1
        with pytest.raises(ServerUnavailable, match="no connection of the pool"):
            typedis.check_connection()  # the subscriber holds the read pool's one connection
        channel.publish(Line(sku="last", qty=1))
        for line in sub:
            received.append(line)
            sub.close()  # closing inside the loop ends it
    assert received == [Line(sku="last", qty=1)]
    typedis.check_connection()
    assert numsub(conn.client, channel.redis_name) == 0
    assert list(sub) == []
    with pytest.raises(ModelError, match="not open"):
        sub.get(timeout=0)


def test_a_subscription_used_outside_with_refuses() -> None:
    with pytest.raises(ModelError, match=r"not open: use it inside `with channel\.subscribe\(\)"):
        Channel(Line, "unopened").subscribe().get(timeout=0)


def test_many_publishers_one_subscriber() -> None:
    channel = Channel(Line, "many")
    publishers, each = 4, 50

    def publish(who: int) -> None:
        for n in range(each):
            channel.publish(Line(sku=f"p{who}", qty=n))

    with channel.subscribe() as sub:
        threads = [threading.Thread(target=publish, args=(who,)) for who in range(publishers)]
        for thread in threads:
            thread.start()
        received = [sub.get(timeout=WAIT) for _ in range(publishers * each)]
        for thread in threads:
            thread.join()
        assert sub.get(timeout=0) is None
    by_publisher: dict[str, list[int]] = {f"p{who}": [] for who in range(publishers)}
    for line in received:
        assert line is not None
        by_publisher[line.sku].append(line.qty)
    assert by_publisher == {f"p{who}": list(range(each)) for who in range(publishers)}


def test_async_twin(protocol: int, redis_client: redis.Redis) -> None:
    channel = Channel(Order, "async-orders")
    reported: list[Exception] = []

    async def scenario() -> list[Order]:
        async with channel.asubscribe(on_error=lambda _, error: reported.append(error)) as sub:
            assert await channel.apublish(ORDER) == 1
            redis_client.publish(channel.redis_name, b"garbage")
            await Channel(Line, "async-orders").apublish(Line(sku="s", qty=1))
            await channel.apublish(ORDER.model_copy(update={"id": 8}))
            received = [await sub.get(timeout=WAIT)]
            async for order in sub:
                received.append(order)
                break
            assert await sub.get(timeout=0) is None
            assert numsub(redis_client, channel.redis_name) == 1
        assert sub.skipped == 2
        with pytest.raises(ModelError, match="not open"):
            await sub.get(timeout=0)
        assert [order async for order in sub] == []
        return [order for order in received if order is not None]

    assert asyncio.run(scenario()) == [ORDER, ORDER.model_copy(update={"id": 8})]
    assert [type(error) for error in reported] == [CorruptRecord, CorruptRecord]
    assert numsub(redis_client, channel.redis_name) == 0


def test_a_dropped_subscriber_connection_is_made_again_and_resubscribed(
    own_conn: Connection, own_client: redis.Redis
) -> None:
    channel = Channel(Line, "dropped")
    with channel.subscribe() as sub:
        own_client.client_kill_filter(_type="pubsub")
        received = None
        while received is None:  # messages published before the resubscription are lost
            channel.publish(Line(sku="again", qty=1))
            received = sub.get(timeout=0.1)
    assert received == Line(sku="again", qty=1)


def test_an_unreachable_server_is_typed(reconnect: Callable[..., Connection]) -> None:
    reconnect("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    channel = Channel(Line, "nowhere")
    with pytest.raises(ServerUnavailable, match="nothing was sent"):
        channel.publish(Line(sku="s", qty=1))
    with pytest.raises(ServerUnavailable), channel.subscribe():
        pass
    with pytest.raises(ServerUnavailable):
        asyncio.run(channel.apublish(Line(sku="s", qty=1)))


def test_acl_denial_of_the_channel_is_typed(own_conn: Connection, own_client: redis.Redis) -> None:
    channel = Channel(Line, "secret")
    rules = ("~*", "resetchannels", "&elsewhere:*")
    with as_user(own_conn.url, own_client, "typedis-channel", *rules):
        with pytest.raises(PermissionDenied, match="ACL"):
            channel.publish(Line(sku="s", qty=1))
        with pytest.raises(PermissionDenied, match="ACL"), channel.subscribe():
            pass

        async def scenario() -> None:
            with pytest.raises(PermissionDenied):
                await channel.apublish(Line(sku="s", qty=1))
            with pytest.raises(PermissionDenied):
                async with channel.asubscribe():
                    pass

        asyncio.run(scenario())
    allowed = ("resetchannels", "&td:ch:*")
    with (
        as_user(own_conn.url, own_client, "typedis-channel-ok", *allowed),
        channel.subscribe() as sub,
    ):
        assert channel.publish(Line(sku="allowed", qty=1)) == 1
        assert sub.get(timeout=WAIT) == Line(sku="allowed", qty=1)


def test_publish_refuses_a_message_of_another_type() -> None:
    with pytest.raises(ModelError, match=r"Channel\(Order, 'orders'\)\.publish\(\) takes a Order"):
        Channel(Order, "orders").publish(Line(sku="s", qty=1))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def test_publish_refuses_what_msgpack_cannot_carry() -> None:
    with pytest.raises(ModelError, match=r"cannot send Line.*Integer value out of range"):
        Channel(Line, "big").publish(Line(sku="s", qty=2**64))


def test_floats_keep_inf_and_nan() -> None:
    class Reading(BaseModel):
        values: list[float]

    channel = Channel(Reading, "readings")
    received = channel.decode(channel.encode(Reading(values=[math.inf, -math.inf, math.nan])))
    assert received.values[:2] == [math.inf, -math.inf]
    assert math.isnan(received.values[2])


def test_channel_names_are_prefixed_and_escaped() -> None:
    assert Channel(Line, "orders").redis_name == "td:ch:orders"
    assert Channel(Line, "a:b*{c}?").redis_name == "td:ch:a%3Ab%2A%7Bc%7D%3F"
    assert repr(Channel(Line, "a:b")) == "Channel(Line, 'a:b')"


decimals = st.decimals(allow_nan=False, allow_infinity=False)
aware = st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-3, minutes=-30))]))
int64 = st.integers(-(2**63), 2**64 - 1)  # what msgpack carries
lines = st.builds(Line, sku=st.text(), qty=int64)
orders = st.builds(
    Order,
    id=int64,
    placed=aware | st.datetimes(),
    total=decimals,
    lines=st.lists(lines, max_size=3),
    note=st.none() | st.text(),
    tags=st.frozensets(st.text(), max_size=3),
    blob=st.binary(),
)


@given(orders)
def test_decode_inverts_encode(order: Order) -> None:
    channel = Channel(Order, "property")
    assert channel.decode(channel.encode(order)) == order


@given(st.binary())
def test_bytes_typedis_did_not_publish_never_decode(raw: bytes) -> None:
    with pytest.raises(CorruptRecord, match="not a message typedis published"):
        Channel(Order, "property").decode(raw)
