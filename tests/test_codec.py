"""Every supported field type survives save() + load() on the real server; decoding is safe."""

from __future__ import annotations

import enum
import math
import pickle
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import msgpack
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from typedis import CorruptRecord, GeoPoint, Model, Sorted, TypedisError, _codec, _keys, field

fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


class CodecColor(enum.Enum):
    RED = "red"
    BLUE = "blue"


class CodecLevel(enum.IntEnum):
    LOW = 1
    HIGH = 2


class CodecInner(BaseModel):
    n: int
    tags: list[str]
    when: datetime | None = None


class CodecAll(Model):
    s: str = ""
    i: int = 0
    f: float = 0.0
    b: bool = False
    d: Decimal = Decimal(0)
    dt: datetime | None = None
    da: date | None = None
    by: bytes = b""
    os: str | None = None
    oi: int | None = None
    of: float | None = None
    ints: list[int] = field(default_factory=list)
    floats: dict[str, float] = field(default_factory=dict)
    inner: CodecInner | None = None
    inners: list[CodecInner] = field(default_factory=list)
    color: CodecColor | None = None
    level: CodecLevel = CodecLevel.LOW
    uid: uuid.UUID | None = None
    point: GeoPoint | None = None
    nested: dict[str, list[int | None]] = field(default_factory=dict)


class CodecSorted(Model):
    si: Sorted[int] = 0
    sf: Sorted[float] = 0.0
    sd: Sorted[Decimal] = Decimal(0)
    sdt: Sorted[datetime | None] = None
    sda: Sorted[date | None] = None


# ---- strategies ---------------------------------------------------------------------------

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30) | st.sampled_from(
    ["", "\x00", "a\x00b", "\x00\x00", "é☃𝄞", "%:{}*"]
)
big_ints = st.integers() | st.sampled_from([2**63, -(2**63) - 1, 2**200, -(2**200), 2**64 + 1])
floats_all = st.floats() | st.sampled_from(
    [math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308]
)
decimals = st.decimals(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [
        Decimal("-0.00"),
        Decimal("1E+400"),
        Decimal("1E-400"),
        Decimal("123456789012345678901234567890.5"),
    ]
)
# pydantic parses UTC offsets of whole minutes only (see test_datetime_offset_with_seconds)
minute_offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(
    lambda m: timezone(timedelta(minutes=m))
)
datetimes = st.datetimes() | st.datetimes(timezones=minute_offsets)
int64 = st.integers(-(2**63), 2**63 - 1)
inners = st.builds(
    CodecInner, n=int64, tags=st.lists(texts, max_size=3), when=st.none() | st.datetimes()
)
points = st.builds(
    GeoPoint,
    lat=st.floats(-85.05112878, 85.05112878),
    lon=st.floats(-180.0, 180.0),
)

all_values = st.fixed_dictionaries(
    {},
    optional={
        "s": texts,
        "i": big_ints,
        "f": floats_all,
        "b": st.booleans(),
        "d": decimals,
        "dt": st.none() | datetimes,
        "da": st.none() | st.dates(),
        "by": st.binary(max_size=40),
        "os": st.none() | texts,
        "oi": st.none() | big_ints,
        "of": st.none() | floats_all,
        "ints": st.lists(int64, max_size=5),
        "floats": st.dictionaries(texts, st.floats(), max_size=4),
        "inner": st.none() | inners,
        "inners": st.lists(inners, max_size=3),
        "color": st.none() | st.sampled_from(CodecColor),
        "level": st.sampled_from(CodecLevel),
        "uid": st.none() | st.uuids(),
        "point": st.none() | points,
        "nested": st.dictionaries(texts, st.lists(st.none() | int64, max_size=3), max_size=3),
    },
)


def same(a: Any, b: Any) -> bool:
    """Equality where NaN equals NaN (also inside containers and models) and types match."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, BaseModel) and isinstance(b, BaseModel):
        return type(a) is type(b) and same(a.model_dump(), b.model_dump())
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return a == b  # stored in one canonical form: 1.50 loads as 1.5, -0.00 as 0
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a == b and (a.tzinfo is None) == (b.tzinfo is None)  # aware: the instant, at UTC
    return type(a) is type(b) and a == b


# ---- round trips --------------------------------------------------------------------------


@fixture_ok
@given(all_values)
def test_every_type_round_trips(redis_client: redis.Redis, values: dict[str, Any]) -> None:
    redis_client.flushdb()
    saved = CodecAll(id="r", **values).save()
    loaded = CodecAll.load("r")
    for name in CodecAll.model_fields:
        want, got = getattr(saved, name), getattr(loaded, name)
        assert same(want, got), f"{name}: saved {want!r}, loaded {got!r}"
    # None is stored as a missing hash field, never as a text
    stored = redis_client.hgetall(_keys.record(_keys.tag("CodecAll"), "r"))
    for name in ("dt", "da", "os", "oi", "of", "inner", "color", "uid", "point"):
        assert (name.encode() in stored) == (getattr(saved, name) is not None)


@fixture_ok
@given(all_values, all_values)
def test_partial_save_round_trips(
    redis_client: redis.Redis, first: dict[str, Any], second: dict[str, Any]
) -> None:
    redis_client.flushdb()
    obj = CodecAll(id="p", **first).save()
    for name, value in second.items():
        setattr(obj, name, value)
    obj.save(update_fields=list(second))
    loaded = CodecAll.load("p")
    for name in CodecAll.model_fields:
        assert same(getattr(obj, name), getattr(loaded, name)), name


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("s", "a\x00b\x00"),
        ("s", ""),
        ("i", 2**300),
        ("i", -(2**300)),
        ("f", math.inf),
        ("f", -math.inf),
        ("f", 5e-324),
        ("f", -1.7976931348623157e308),
        ("d", Decimal("-0.000")),
        ("d", Decimal("1E+999")),
        ("dt", datetime(2024, 2, 29, 23, 59, 59, 999999)),
        (
            "dt",
            datetime(2024, 2, 29, 23, 59, 59, 1, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
        ),
        ("dt", datetime(1, 1, 1)),
        ("dt", datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        ("da", date(1, 1, 1)),
        ("by", bytes(range(256))),
        ("ints", [-(2**63), 2**64 - 1]),
        ("floats", {"": math.inf, "\x00": -0.5}),
        ("uid", uuid.UUID(int=0)),
        ("point", GeoPoint(-85.05112878, 180.0)),
    ],
)
def test_edge_values_round_trip(name: str, value: Any) -> None:
    CodecAll(id="e", **{name: value}).save()
    got = getattr(CodecAll.load("e"), name)
    assert same(value, got), f"{name}: {value!r} -> {got!r}"


def test_plain_float_nan_round_trips_as_nan() -> None:
    CodecAll(id="n", f=math.nan, of=math.nan, floats={"x": math.nan}).save()
    got = CodecAll.load("n")
    assert math.isnan(got.f) and got.of is not None and math.isnan(got.of)
    assert math.isnan(got.floats["x"])


def test_negative_zero_is_stored_as_zero(redis_client: redis.Redis) -> None:
    """-0.0 has one text with 0.0 (so index texts agree); the value still compares equal."""
    CodecAll(id="z", f=-0.0).save()
    assert redis_client.hget(_keys.record(_keys.tag("CodecAll"), "z"), "f") == b"0.0"
    assert CodecAll.load("z").f == 0.0


def test_sorted_nan_is_refused() -> None:
    with pytest.raises(ValidationError):
        CodecSorted(sf=math.nan)
    obj = CodecSorted(id="s")
    with pytest.raises(ValidationError):
        obj.sf = math.nan
    assert obj.sf == 0.0


def test_decimal_nan_and_infinity_are_refused() -> None:
    for bad in (Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")):
        with pytest.raises(ValidationError):
            CodecAll(d=bad)


@fixture_ok
@given(
    si=st.integers(-(2**53), 2**53),
    sf=st.floats(allow_nan=False),
    sd=st.floats(allow_nan=False, allow_infinity=False).map(lambda f: Decimal(repr(f)))
    | st.sampled_from([Decimal("-0.00"), Decimal("1.50"), Decimal("-2.5E+10")]),
    sdt=st.none() | datetimes,
    sda=st.none() | st.dates(),
)
def test_sorted_types_round_trip_with_scores(
    redis_client: redis.Redis,
    si: int,
    sf: float,
    sd: Decimal,
    sdt: datetime | None,
    sda: date | None,
) -> None:
    redis_client.flushdb()
    obj = CodecSorted(id="s", si=si, sf=sf, sd=sd, sdt=sdt, sda=sda).save()
    got = CodecSorted.load("s")
    for name in ("si", "sf", "sd", "sdt", "sda"):
        assert same(getattr(obj, name), getattr(got, name)), name
    tag = _keys.tag("CodecSorted")

    def score(name: str) -> float | None:
        return redis_client.zscore(tag + ":" + _keys.index_suffix("z", (name,)), "s")

    assert score("si") == float(si)
    assert score("sf") == sf + 0.0
    assert score("sd") == float(sd)
    assert score("sdt") == (None if sdt is None else _codec._score_datetime(sdt))
    assert score("sda") == (None if sda is None else float((sda - date(1970, 1, 1)).days))


@pytest.mark.parametrize("value", [2**53 + 1, -(2**53) - 1, 2**2000])
def test_a_sorted_int_beyond_exact_scores_is_refused(value: int, redis_client: redis.Redis) -> None:
    """A sorted set ranks by double: past ±2**53 two ints would share a score, so ranges and
    == could not tell them apart. Such a value is refused; ±2**53 itself round-trips."""
    with pytest.raises(ValidationError, match="within ±2"):
        CodecSorted(id="big", si=value)
    for edge in (2**53, -(2**53)):
        CodecSorted(id="edge", si=edge).save()
        assert CodecSorted.load("edge").si == edge
        assert [r.id for r in CodecSorted.query.filter(CodecSorted.si == edge).all()] == ["edge"]
    assert redis_client.dbsize() > 0


@pytest.mark.parametrize("value", ["0.1000000000000000001", "1e400", "3.14159265358979323846"])
def test_a_sorted_decimal_a_double_cannot_hold_is_refused(
    value: str, redis_client: redis.Redis
) -> None:
    """Two such Decimals could share one score: refused, so ranges on a Sorted Decimal are exact."""
    with pytest.raises(ValidationError, match="Sorted Decimal"):
        CodecSorted(id="long", sd=Decimal(value))
    for held in ("0.1", "1.50", "-2.5E+10", "123456789012345"):
        CodecSorted(id="held", sd=Decimal(held)).save()
        assert CodecSorted.load("held").sd == Decimal(held)
        assert CodecSorted.query.filter(CodecSorted.sd == Decimal(held)).count() == 1
    assert redis_client.dbsize() > 0


def test_datetime_offset_with_seconds(redis_client: redis.Redis) -> None:
    """Python allows UTC offsets with seconds (historic zoneinfo LMT offsets, e.g. +00:19:32);
    a saved record must load back as the same instant (or be refused before anything is written)."""
    when = datetime(1900, 1, 1, 12, tzinfo=timezone(timedelta(minutes=19, seconds=32)))
    try:
        CodecAll(id="lmt", dt=when).save()
    except (TypedisError, ValidationError):
        assert redis_client.dbsize() == 0
        return
    assert CodecAll.load("lmt").dt == when


def test_msgpack_int_out_of_64_bits_is_refused_cleanly(redis_client: redis.Redis) -> None:
    """msgpack holds 64-bit ints only: a bigger one in a list must fail as a typedis or pydantic
    error (naming the problem), before anything is written."""
    with pytest.raises((TypedisError, ValidationError)):
        CodecAll(id="o", ints=[2**64]).save()
    assert redis_client.dbsize() == 0


def test_lone_surrogate_str_writes_nothing(redis_client: redis.Redis) -> None:
    """A str with a lone surrogate cannot be encoded as UTF-8: the save fails, nothing written."""
    with pytest.raises((TypedisError, ValidationError, UnicodeEncodeError)):
        CodecAll(id="u", s="\udcff").save()
    assert redis_client.dbsize() == 0


# ---- decoding is safe ---------------------------------------------------------------------


@given(st.binary(max_size=64))
def test_unpack_garbage_is_corrupt_record_or_plain_data(raw: bytes) -> None:
    try:
        value = _codec.unpack(raw)
    except CorruptRecord:
        return
    # whatever decodes is plain msgpack data that packs back to something that decodes alike
    assert _codec.unpack(_codec.pack(value)) == value or value != value


def ext_bytes(code: int, data: bytes) -> bytes:
    """msgpack bytes of one extension value (any code, including the reserved negative ones)."""
    fixed = {1: 0xD4, 2: 0xD5, 4: 0xD6, 8: 0xD7, 16: 0xD8}
    head = bytes([fixed[len(data)]]) if len(data) in fixed else bytes([0xC7, len(data)])
    return head + bytes([code & 0xFF]) + data


@given(st.integers(-128, 127), st.binary(max_size=20), st.booleans())
def test_unpack_refuses_extension_types(code: int, data: bytes, nested: bool) -> None:
    raw = ext_bytes(code, data)
    if nested:
        raw = b"\x92\x01" + raw  # [1, <ext>]
    with pytest.raises(CorruptRecord):
        _codec.unpack(raw)


@pytest.mark.parametrize("size", [4, 8, 12])
def test_unpack_refuses_timestamp_extension(size: int) -> None:
    """Type -1 (timestamp) is decoded by msgpack itself, without calling ext_hook."""
    with pytest.raises(CorruptRecord):
        _codec.unpack(b"\x91" + ext_bytes(-1, b"\x00" * size))


@pytest.mark.parametrize(
    "raw", [b"", b"\xc1", b"\x92\x01", b"\x81\xa1a", b"\x01\x02", b"\xd9\x05ab"]
)
def test_unpack_refuses_truncated_and_trailing_bytes(raw: bytes) -> None:
    with pytest.raises(CorruptRecord):
        _codec.unpack(raw)


_EXECUTED: list[str] = []


class _Boom:
    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (_EXECUTED.append, ("pickle payload executed",))


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize(
    "name", ["ints", "floats", "inner", "inners", "color", "uid", "point", "nested"]
)
def test_pickle_payload_is_never_unpickled(
    redis_client: redis.Redis, name: str, protocol: int
) -> None:
    CodecAll(id="victim").save()
    key = _keys.record(_keys.tag("CodecAll"), "victim")
    redis_client.hset(key, name, pickle.dumps(_Boom(), protocol=protocol))
    with pytest.raises((CorruptRecord, ValidationError)):
        CodecAll.load("victim")
    assert _EXECUTED == []


def test_wrongly_typed_msgpack_is_a_corrupt_record(redis_client: redis.Redis) -> None:
    CodecAll(id="w").save()
    key = _keys.record(_keys.tag("CodecAll"), "w")
    redis_client.hset(key, "ints", msgpack.packb({"not": "a list"}))
    with pytest.raises(CorruptRecord) as caught:
        CodecAll.load("w")
    assert (caught.value.field, caught.value.key) == ("ints", key)
    assert isinstance(caught.value.__cause__, ValidationError)


def test_garbage_in_plain_fields_is_a_validation_error(redis_client: redis.Redis) -> None:
    CodecAll(id="g").save()
    key = _keys.record(_keys.tag("CodecAll"), "g")
    for name, raw in [
        ("i", b"12x"),
        ("f", b"fast"),
        ("b", b"maybe"),
        ("dt", b"yesterday"),
        ("d", b"1.2.3"),
    ]:
        redis_client.hset(key, name, raw)
        with pytest.raises((ValidationError, CorruptRecord)):
            CodecAll.load("g")
        CodecAll(id="g").save()
    assert CodecAll.load("g").i == 0


# ---- one canonical text per value -------------------------------------------------------


@given(decimals, decimals, st.integers(0, 4))
def test_equal_decimals_share_one_text(a: Decimal, b: Decimal, zeros: int) -> None:
    """1.5 and 1.50 (and 0 and -0.000) are one value: one text, which parses back to it."""
    codec = _codec.codec_for(Decimal)
    sign, digits, exponent = a.as_tuple()
    spelled = Decimal((sign, (*digits, *(0,) * zeros), int(exponent) - zeros))
    assert spelled == a
    assert _codec.text(codec, spelled) == _codec.text(codec, a)
    assert Decimal(_codec.text(codec, a)) == a
    assert (_codec.text(codec, a) == _codec.text(codec, b)) == (a == b)


@given(st.datetimes(timezones=minute_offsets), minute_offsets)
def test_one_instant_in_two_zones_shares_one_text(when: datetime, zone: timezone) -> None:
    codec = _codec.codec_for(datetime)
    try:
        elsewhere = when.astimezone(zone)
    except OverflowError:  # the same instant is not a datetime in that zone
        elsewhere = when
    assert _codec.text(codec, elsewhere) == _codec.text(codec, when)
    assert datetime.fromisoformat(_codec.text(codec, when)) == when


def test_canonical_texts_load_back_equal() -> None:
    """The stored text is the canonical one; the loaded value equals the saved one."""
    when = datetime(2020, 1, 1, 13, tzinfo=timezone(timedelta(hours=1)))
    CodecAll(id="c", d=Decimal("1.50"), dt=when).save()
    loaded = CodecAll.load("c")
    assert loaded.d == Decimal("1.5") and str(loaded.d) == "1.5"
    assert loaded.dt == when and loaded.dt is not None and loaded.dt.utcoffset() == timedelta(0)
