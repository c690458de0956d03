"""atomic_increment() is Python's arithmetic: the value stored, indexed and validated is one number.

An int field adds exactly (decimal texts on the server), a float field adds doubles as Python
does and stores repr's text; bounds, multiple_of and unique constraints see that same number,
or the increment is refused with a typed error and nothing is written.
"""

from __future__ import annotations

import asyncio
import math
from decimal import Decimal
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from _util import dumped
from typedis import (
    CorruptRecord,
    Indexed,
    Key,
    Model,
    ModelError,
    NotFound,
    Sorted,
    Unique,
    UniqueViolation,
    _connection,
    field,
)
from typedis._codec import text


class IncInt(Model):
    k: Key[str]
    plain: int = 0
    indexed: Indexed[int] = 0
    unique: Unique[int] = 0
    ranked: Sorted[int] = 0
    int64: int = field(default=0, ge=-(2**63), le=2**63 - 1)
    stepped: Indexed[int] = field(default=0, gt=-30, lt=Decimal("3E+1"), multiple_of=3)


class IncFloat(Model):
    k: Key[str]
    plain: float = 0.0
    indexed: Indexed[float] = 0.0
    unique: Unique[float] = 0.0
    ranked: Sorted[float] = 0.0
    fraction: Sorted[float] = field(default=0.0, ge=0, lt=Decimal("0.90"))
    stepped: float = field(default=0.0, multiple_of=0.5)  # refused: pydantic's check is inexact


class IncLater(Model):
    k: Key[str]
    hits: int = 7  # a record written before this field existed loads it as 7
    maybe: int | None = None


INT_FIELDS = ["plain", "indexed", "unique", "ranked", "int64", "stepped"]
FLOAT_FIELDS = ["plain", "indexed", "unique", "ranked", "fraction"]
TWO_53, TWO_63 = 2**53, 2**63
INT_EDGES = [
    *(n + d for n in (0, TWO_53, -TWO_53, TWO_63, -TWO_63, 2**64) for d in (-1, 0, 1)),
    3,
    -3,
    30,
    -27,
    10**308,
    -(10**308),
    7 * 10**307,
    2**1024,
]
FLOAT_EDGES = [
    0.0,
    -0.0,
    1e-20,
    0.1,
    0.2,
    0.2908,
    0.6092,
    0.9,
    -0.3,
    1.0,
    5e-324,
    2.2250738585072014e-308,
    float(TWO_53),
    1e16,
    1e-5,
    1.7976931348623157e308,
    -1.7e308,
    math.inf,
    -math.inf,
    math.nan,
]
ints = st.one_of(st.sampled_from(INT_EDGES), st.integers(-(2**70), 2**70), st.integers(-50, 50))
floats = st.one_of(st.sampled_from(FLOAT_EDGES), st.floats(), st.floats(-2, 2))
VIA = st.sampled_from(["sync", "async"])  # the executor: atomic_increment or aatomic_increment


def stored(client: redis.Redis, model: type[Model], name: str) -> Any:
    return client.hget(f"{{td:{model.__name__}}}:r:a", name)


def found(model: Any, name: str, value: float) -> bool:
    """Whether a query on the field's index by ``value`` finds record "a"."""
    ref = getattr(model, name)
    sorted_ = model.__typedis_spec__.fields[name].kind == "sorted"
    conds = (ref >= value, ref <= value) if sorted_ else (ref == value,)
    return [r.k for r in model.query.filter(*conds).all()] == ["a"]


def expected(model: type[Model], name: str, start: float, delta: float) -> Any:
    """Python's result of the increment as the field holds it, or None where it is refused."""
    try:
        result = start + delta
        float(delta), float(result)  # typedis keeps deltas and results within the double range
        model.model_validate({"k": "a", name: result})
    except (OverflowError, ValidationError):
        return None
    return result if math.isfinite(result) else None


def increment(record: Any, name: str, delta: float, via: str) -> Any:
    """``atomic_increment()``, or its asyncio twin when ``via`` is "async"."""
    if via == "sync":
        return record.atomic_increment(name, delta)

    async def body() -> Any:
        try:
            return await record.aatomic_increment(name, delta)
        finally:
            await _connection.get_connection().aclose()

    return asyncio.run(body())


def check(
    client: redis.Redis, record: Any, name: str, delta: float, want: Any, via: str = "sync"
) -> None:
    """Increment and compare with ``want`` (None: refused, nothing written)."""
    model = type(record)
    before, held = dumped(client), repr(getattr(record, name))
    event("refused" if want is None else "applied")
    if want is None:
        with pytest.raises(ModelError):
            increment(record, name, delta, via)
        assert dumped(client) == before
        assert repr(getattr(record, name)) == held
        return
    got = increment(record, name, delta, via)
    assert type(got) is type(want)
    assert got == want
    assert getattr(record, name) == want
    spec = model.__typedis_spec__
    assert stored(client, model, name) == text(spec.fields[name].codec, want).encode()
    assert getattr(model.load("a"), name) == want
    assert model.check_indexes()["total"] == 0
    if spec.fields[name].kind is not None:
        assert found(model, name, want)


settle = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@settle
@given(name=st.sampled_from(INT_FIELDS), start=ints, delta=ints, to_edge=st.booleans(), via=VIA)
@example(name="unique", start=TWO_53 - 1, delta=2, to_edge=False, via="sync")
@example(name="indexed", start=TWO_53 + 1, delta=0, to_edge=False, via="sync")
@example(name="int64", start=TWO_63 - 1, delta=1, to_edge=False, via="sync")
@example(name="int64", start=-TWO_63, delta=-1, to_edge=False, via="async")
@example(name="plain", start=10**308, delta=7 * 10**307, to_edge=False, via="sync")
@example(name="plain", start=10**308, delta=8 * 10**307, to_edge=False, via="sync")
@example(name="stepped", start=27, delta=3, to_edge=False, via="sync")
@example(name="stepped", start=0, delta=1, to_edge=False, via="sync")
def test_int_increments_are_exact(
    redis_client: redis.Redis, name: str, start: int, delta: int, to_edge: bool, via: str
) -> None:
    """to_edge: delta is the distance to the drawn value, to land on the edges themselves."""
    redis_client.flushdb()
    try:
        record = IncInt(k="a", **{name: start}).save()
    except ValidationError:
        event("not a value of the field")
        return
    delta = delta - start if to_edge else delta
    check(redis_client, record, name, delta, expected(IncInt, name, start, delta), via)


@settle
@given(name=st.sampled_from(FLOAT_FIELDS), start=floats, delta=st.one_of(floats, ints), via=VIA)
@example(name="fraction", start=0.6092, delta=0.2908, via="sync")
@example(name="fraction", start=0.5, delta=0.4, via="async")  # exactly 0.9: refused
@example(name="ranked", start=1e-20, delta=1e-20, via="sync")
@example(name="indexed", start=0.1, delta=0.2, via="async")
@example(name="unique", start=0.1, delta=TWO_53 + 1, via="sync")
@example(name="plain", start=1.7976931348623157e308, delta=1e292, via="sync")
def test_float_increments_are_pythons(
    redis_client: redis.Redis, name: str, start: float, delta: float, via: str
) -> None:
    redis_client.flushdb()
    try:
        record = IncFloat(k="a", **{name: start}).save()
    except ValidationError:
        event("not a value of the field")
        return
    check(redis_client, record, name, delta, expected(IncFloat, name, start, delta), via)


@settle
@given(start=st.floats(allow_nan=False, allow_infinity=False), delta=st.sampled_from([0.0, -0.0]))
@example(start=7.120236347223045e-307, delta=0.0)  # beside a power of two: not printf's nearest
@example(start=5e-324, delta=0.0)
@example(start=123456789012345680.0, delta=0.0)
@example(start=1e16, delta=-0.0)
@example(start=0.0001, delta=0.0)
def test_a_float_is_stored_as_its_repr(
    redis_client: redis.Redis, start: float, delta: float
) -> None:
    """Adding zero stores the record's own value again, written by the server as repr() does."""
    redis_client.flushdb()
    record = IncFloat(k="a", indexed=start).save()
    check(redis_client, record, "indexed", delta, start + delta)


# -- the cases of issue #8, one by one ------------------------------------------------------


def test_an_int_past_2_53_stays_unique(redis_client: redis.Redis) -> None:
    record = IncInt(k="a", unique=TWO_53 - 1).save()
    assert record.atomic_increment(IncInt.unique, 2) == TWO_53 + 1
    assert redis_client.hgetall("{td:IncInt}:u:unique") == {b"9007199254740993": b"a"}
    with pytest.raises(UniqueViolation) as raised:
        IncInt(k="b", unique=TWO_53 + 1).save()
    assert raised.value.value == TWO_53 + 1
    b = IncInt(k="b", unique=TWO_53 - 1).save()
    before = dumped(redis_client)
    with pytest.raises(UniqueViolation, match="9007199254740993"):
        b.atomic_increment(IncInt.unique, 2)
    assert dumped(redis_client) == before
    assert b.unique == TWO_53 - 1


def test_a_float_bound_holds_for_the_stored_double(redis_client: redis.Redis) -> None:
    record = IncFloat(k="a", fraction=0.6092).save()
    assert record.atomic_increment(IncFloat.fraction, 0.2908) == 0.6092 + 0.2908 < 0.9
    assert IncFloat.load("a").fraction == 0.6092 + 0.2908
    record = IncFloat(k="a", fraction=0.5).save()
    before = dumped(redis_client)
    with pytest.raises(ModelError, match=r"gives 0\.9: .* bounds \(>= 0\.0, < 0\.9\)"):
        record.atomic_increment(IncFloat.fraction, 0.4)
    assert dumped(redis_client) == before


def test_an_indexed_int_past_2_53_keeps_its_entry(redis_client: redis.Redis) -> None:
    record = IncInt(k="a", indexed=TWO_53 + 1).save()
    assert record.atomic_increment(IncInt.indexed, 0) == TWO_53 + 1
    assert redis_client.smembers("{td:IncInt}:i:indexed:9007199254740993") == {b"a"}
    assert IncInt.check_indexes()["total"] == 0


def test_a_tiny_float_is_not_rounded_to_zero(redis_client: redis.Redis) -> None:
    record = IncFloat(k="a", ranked=1e-20).save()
    assert record.atomic_increment(IncFloat.ranked, 1e-20) == 2e-20
    assert stored(redis_client, IncFloat, "ranked") == b"2e-20"
    assert redis_client.zscore("{td:IncFloat}:z:ranked", "a") == 2e-20
    assert [r.k for r in IncFloat.query.filter(IncFloat.ranked > 0).all()] == ["a"]


def test_a_float_sum_is_pythons(redis_client: redis.Redis) -> None:
    record = IncFloat(k="a", unique=0.1).save()
    assert record.atomic_increment(IncFloat.unique, 0.2) == 0.30000000000000004
    assert stored(redis_client, IncFloat, "unique") == b"0.30000000000000004"
    assert found(IncFloat, "unique", 0.1 + 0.2)
    assert IncFloat.check_indexes()["total"] == 0
    with pytest.raises(UniqueViolation):
        IncFloat(k="b", unique=0.30000000000000004).save()
    IncFloat(k="b", unique=0.3).save()  # another number, another entry


# -- what is refused ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "start", "delta", "message"),
    [
        ("stepped", 3, 1, "holds multiples of 3: delta 1 is not one"),
        ("stepped", 27, 3, r"gives 30: .* bounds \(> -30, < 30\)"),
        ("int64", TWO_63 - 1, 1, r"bounds \(>= -9223372036854775808, <= 9223372036854775807\)"),
        ("plain", 10**308, 10**308, "not a number within"),
        ("plain", 0, 2**1024, "delta must be a finite number"),
        ("plain", 0, 1.0, "delta must be an int"),
        ("plain", 0, True, "delta must be a finite number"),
    ],
    ids=["not-a-multiple", "bound", "int64", "beyond-doubles", "huge-delta", "float", "bool"],
)
def test_int_refusals_name_the_field_and_write_nothing(
    redis_client: redis.Redis, name: str, start: int, delta: Any, message: str
) -> None:
    record = IncInt(k="a", **{name: start}).save()
    before = dumped(redis_client)
    with pytest.raises(ModelError, match=message) as raised:
        record.atomic_increment(name, delta)
    assert str(raised.value).startswith("IncInt.")
    assert dumped(redis_client) == before
    assert getattr(record, name) == start


@pytest.mark.parametrize(
    ("name", "start", "delta", "message"),
    [
        ("stepped", 0.5, 0.5, "a float field with multiple_of cannot be incremented"),
        ("plain", 1.7976931348623157e308, 1e292, "not a number within"),
        ("plain", math.inf, 1.0, "not a number within"),
        ("plain", 0.0, math.nan, "delta must be a finite number"),
        ("plain", 0.0, -math.inf, "delta must be a finite number"),
        ("plain", 0.0, 2**1024, "delta must be a finite number"),
    ],
    ids=["multiple_of", "overflow", "inf", "nan-delta", "inf-delta", "huge-delta"],
)
def test_float_refusals_name_the_field_and_write_nothing(
    redis_client: redis.Redis, name: str, start: float, delta: Any, message: str
) -> None:
    record = IncFloat(k="a", **{name: start}).save()
    before = dumped(redis_client)
    with pytest.raises(ModelError, match=message):
        record.atomic_increment(name, delta)
    assert dumped(redis_client) == before


def test_a_missing_value_starts_from_what_load_reads(redis_client: redis.Redis) -> None:
    record = IncLater(k="a").save()
    redis_client.hdel("{td:IncLater}:r:a", "hits")  # as if written before the field existed
    assert IncLater.load("a").hits == 7
    assert record.atomic_increment("hits", 1) == 8
    assert IncLater.load("a").hits == 8
    before = dumped(redis_client)
    with pytest.raises(ModelError, match=r"IncLater\.maybe holds None"):
        record.atomic_increment("maybe", 1)
    assert dumped(redis_client) == before


def test_a_stored_text_that_is_no_number_is_corrupt(redis_client: redis.Redis) -> None:
    record = IncInt(k="a").save()
    redis_client.hset("{td:IncInt}:r:a", "plain", "1.5")
    before = dumped(redis_client)
    with pytest.raises(CorruptRecord, match=r"'1\.5'"):
        record.atomic_increment("plain", 1)
    assert dumped(redis_client) == before


def test_a_deleted_record_is_not_found(redis_client: redis.Redis) -> None:
    record = IncFloat(k="a").save()
    IncFloat.load("a").delete()
    with pytest.raises(NotFound):
        record.atomic_increment(IncFloat.ranked, 1.0)
    assert redis_client.dbsize() == 0


# -- asyncio --------------------------------------------------------------------------------


def test_the_async_twin_is_exact_and_refuses_alike(redis_client: redis.Redis) -> None:
    async def body() -> None:
        try:
            ints = await IncInt(k="a", unique=TWO_53 - 1).asave()
            assert await ints.aatomic_increment(IncInt.unique, 2) == TWO_53 + 1
            floats = await IncFloat(k="a", fraction=0.5).asave()
            assert await floats.aatomic_increment(IncFloat.ranked, 0.1) == 0.1
            before = dumped(redis_client)
            with pytest.raises(ModelError, match="bounds"):
                await floats.aatomic_increment(IncFloat.fraction, 0.4)
            assert dumped(redis_client) == before
        finally:
            await _connection.get_connection().aclose()

    asyncio.run(body())
    assert stored(redis_client, IncInt, "unique") == b"9007199254740993"
    assert IncInt.check_indexes()["total"] == IncFloat.check_indexes()["total"] == 0


def test_a_sorted_int_stops_at_the_exact_scores(redis_client: redis.Redis) -> None:
    """A sorted index ranks by double: an increment may reach ±2**53 but not cross it."""
    record = IncInt(k="edge", ranked=2**53 - 1).save()
    assert record.atomic_increment("ranked", 1) == 2**53
    before = dumped(redis_client)
    with pytest.raises(ModelError, match=r"ranked: adding 1 gives 9007199254740993.*<= 9007"):
        record.atomic_increment("ranked", 1)
    assert dumped(redis_client) == before
    assert record.atomic_increment("ranked", -(2**54)) == -(2**53)
    with pytest.raises(ModelError, match=">= -9007199254740992"):
        record.atomic_increment("ranked", -1)
    assert IncInt.query.filter(IncInt.ranked == -(2**53)).count() == 1
