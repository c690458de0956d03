"""Values to Redis bytes and back, sorted-set scores, and index text.

Plain scalars are stored as their canonical text, one text per value (``str`` as is,
``int``/``float`` as ``repr`` with -0.0 as 0.0, ``bool`` as ``1``/``0``, ``Decimal`` without
trailing zeros, ``date`` in ISO form, an aware ``datetime`` in ISO form at UTC), which is also
the text the write scripts use to name index entries and the queries to find them: equal values
spelled differently (``Decimal("1.50")`` and ``Decimal("1.5")``, one instant in two time zones)
are one value to every index and to uniqueness, and load back equal (as that one spelling).
Every other value is stored as msgpack of its pydantic JSON-mode dump. Decoding never
unpickles anything; msgpack extension types are refused.

Reading back, the stored bytes go to pydantic's validator as they are wherever pydantic parses
them from bytes in lax mode (str, int, float, bool, date, datetime, bytes); only Decimal and
msgpack values are decoded here first.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal
from typing import Any

import msgpack
from pydantic import TypeAdapter

from ._errors import CorruptRecord

Arg = str | bytes | int | float  # a value as a Redis command argument
Encode = Callable[[Any], Arg]
Decode = Callable[[bytes], Any]

_EPOCH_DAY = date(1970, 1, 1).toordinal()


@dataclass(frozen=True, slots=True)
class FieldCodec:
    """How one field's values are written, read back, and scored."""

    kind: str
    encode: Encode
    decode: Decode | None  # None: hand the stored bytes to pydantic as they are
    score: Callable[[Any], float] | None  # None: not rankable

    @property
    def plain(self) -> bool:
        """Whether the stored text is the canonical index text (usable in keys and indexes)."""
        return self.kind != "msgpack"


def _encode_float(value: float) -> str:
    return repr(value + 0.0)  # + 0.0 folds -0.0 into 0.0: one text per number


def _encode_bool(value: bool) -> str:
    return "1" if value else "0"


_INTEGER_DIGITS = 28  # integers up to this many digits are written out in full ("100", not "1E+2")


def _encode_decimal(value: Decimal) -> str:
    if not value:
        return "0"  # 0, -0.000, 0E+5
    if not value.is_finite():
        return str(value)
    # normalize() strips trailing zeros; a context as precise as the value rounds nothing
    exact = Context(prec=len(value.as_tuple().digits), Emax=MAX_EMAX, Emin=MIN_EMIN)
    value = value.normalize(exact)
    if int(value.as_tuple().exponent) > 0 and value.adjusted() < _INTEGER_DIGITS:
        value = value.quantize(Decimal(1), context=Context(prec=_INTEGER_DIGITS))
    return str(value)


def _encode_iso(value: date) -> str:
    return value.isoformat()


def _encode_datetime(value: datetime) -> str:
    if value.utcoffset() is None:
        return value.isoformat()
    try:
        return value.astimezone(UTC).isoformat()
    except OverflowError:  # an instant before 0001-01-01 or after 9999-12-31 UTC
        return value.isoformat()


def _decode_text(raw: bytes) -> str:
    return raw.decode()


def _score_number(value: float | int | Decimal) -> float:
    try:
        return float(value)
    except OverflowError:  # an int beyond the double range ranks at the end it points to
        return math.inf if value > 0 else -math.inf


def _score_date(value: date) -> float:
    return float(value.toordinal() - _EPOCH_DAY)


def _score_datetime(value: datetime) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _identity(value: Any) -> Any:
    return value


def _refuse_ext(code: int, data: bytes) -> Any:
    raise CorruptRecord(f"msgpack extension type {code} was not written by typedis")


_TIMESTAMP_HEADS = (b"\xd6\xff", b"\xd7\xff", b"\xc7\x0c\xff")  # ext type -1 (timestamp)


def unpack(raw: bytes) -> Any:
    """Decode msgpack written by typedis; anything else raises ``CorruptRecord``."""
    try:
        value = msgpack.unpackb(raw, ext_hook=_refuse_ext, raw=False, strict_map_key=False)
    except CorruptRecord:
        raise
    except Exception as exc:
        raise CorruptRecord(f"stored value is not valid msgpack: {exc}") from exc
    # msgpack decodes its timestamp extension itself, without ext_hook; typedis never writes it
    if any(head in raw for head in _TIMESTAMP_HEADS) and _has_timestamp(value):
        raise CorruptRecord("msgpack extension type -1 (timestamp) was not written by typedis")
    return value


def _has_timestamp(value: Any) -> bool:
    if isinstance(value, msgpack.Timestamp):
        return True
    items: Any = value  # stays Any: the checks below narrow value only
    if isinstance(value, dict):
        return any(_has_timestamp(k) or _has_timestamp(v) for k, v in items.items())
    if isinstance(value, list):
        return any(_has_timestamp(v) for v in items)
    return False


def pack(value: Any) -> bytes:
    """msgpack bytes of plain data (dicts, lists, str, numbers, bools, None, bytes)."""
    return msgpack.packb(value, use_bin_type=True)


_PLAIN: dict[type, FieldCodec] = {
    str: FieldCodec("str", _identity, None, None),
    bytes: FieldCodec("bytes", _identity, None, None),
    bool: FieldCodec("bool", _encode_bool, None, None),
    int: FieldCodec("int", _identity, None, _score_number),
    float: FieldCodec("float", _encode_float, None, _score_number),
    Decimal: FieldCodec("decimal", _encode_decimal, _decode_text, _score_number),
    datetime: FieldCodec("datetime", _encode_datetime, None, _score_datetime),
    date: FieldCodec("date", _encode_iso, None, _score_date),
}


def _link_id(link: Any) -> str:
    return str(link.id)


LINK = FieldCodec("link", _link_id, None, None)  # a Linked value: stored as the target's id


def codec_for(annotation: Any) -> FieldCodec:
    """The codec for a field whose type (without ``None``) is ``annotation``."""
    if isinstance(annotation, type) and annotation in _PLAIN:
        return _PLAIN[annotation]
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)

    def encode(value: Any) -> bytes:
        return pack(adapter.dump_python(value, mode="json", round_trip=True))

    return FieldCodec("msgpack", encode, unpack, None)


def index_score(kind: str, codec: FieldCodec) -> Callable[[Any], str | float]:
    """How a value of a sorted or geo indexed field is sent to the save script.

    A number (its score), "now" for a Decaying field (the server's clock), "<lon>,<lat>" for a
    point, or "" for None (the record leaves the index).
    """
    if kind == "geo":
        return lambda v: "" if v is None else f"{v.lon!r},{v.lat!r}"
    if kind == "decaying":
        return lambda v: "" if v is None else "now"
    score = codec.score
    assert score is not None
    return lambda v: "" if v is None else score(v)


def text(codec: FieldCodec, value: Any) -> str:
    """The canonical text of a plain value, as stored and as used in index keys."""
    encoded = codec.encode(value)
    if isinstance(encoded, bytes):
        return encoded.decode("utf-8", "surrogateescape")
    return encoded if isinstance(encoded, str) else repr(encoded)
