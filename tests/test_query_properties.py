"""Queries against a plain-Python reference: random records, random condition trees.

The reference orders results as the query script does:

* no order: by record id (``typedis._keys.escape`` of the key), byte order, without a limit;
  with one, in no defined order (the walk of an index, which stops at the page): the page is
  then checked as a part of the matches, and the pages of every offset as tiling them;
* ``asc()``: by score, equal scores by id (Redis orders equal scores by member);
* ``desc()``: the exact reverse of that (``ZRANGE ... REV``), so equal scores by id descending;
* records whose order field is None come after all valued ones, by id ascending, either way.

A rank order (``(R.n * 2 + R.x * -1).desc()``) scores each record by the weighted sum of its
valued fields, added in the order the terms are written, as ``ZUNIONSTORE ... WEIGHTS`` does;
records with no valued field come last.

The value pools hold the edges: ±inf and finite floats whose sums overflow, 2**53 ± 1, equal
Decimals spelled differently (1.5, 1.50), one instant in several time zones, NUL inside texts
and keys, empty strings. Equality is Python's (by value, by instant).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import math
import operator
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import redis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import typedis
from typedis import Confidence, Geo, GeoPoint, Indexed, Key, Model, Sorted, Unique, field
from typedis._keys import escape
from typedis._query._conditions import Cond


class QpRec(Model):
    key: Key[str]
    label: Indexed[str | None] = field(default=None)
    mail: Unique[str | None] = field(default=None)
    n: Sorted[int] = 0
    x: Sorted[float | None] = field(default=None)
    loc: Geo[GeoPoint | None] = field(default=None)
    conf: Confidence = field(default=0.5)
    big: Indexed[int | None] = field(default=None)
    dec: Indexed[Decimal | None] = field(default=None)
    code: Unique[Decimal | None] = field(default=None)
    at: Indexed[datetime | None] = field(default=None)


R = QpRec

# Geo: a few fixed points and radii far (> 3%) from every distance between two of them, so
# that the geohash rounding of stored points never decides a match.
CITIES = [
    GeoPoint(lat=48.8566, lon=2.3522),  # Paris
    GeoPoint(lat=51.5074, lon=-0.1278),  # London
    GeoPoint(lat=52.52, lon=13.405),  # Berlin
    GeoPoint(lat=40.4168, lon=-3.7038),  # Madrid
    GeoPoint(lat=40.7128, lon=-74.006),  # New York
    GeoPoint(lat=-33.8688, lon=151.2093),  # Sydney
]
RADII_KM = [1.0, 500.0, 1000.0, 1500.0, 3000.0, 9000.0]
UNIT_METERS = {"m": 1.0, "km": 1000.0, "mi": 1609.34, "ft": 0.3048}
EARTH_RADIUS_M = 6372797.560856  # the radius Redis uses for GEO distances


def distance_m(a: GeoPoint, b: GeoPoint) -> float:
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    u = math.sin((p2 - p1) / 2)
    v = math.sin(math.radians(b.lon - a.lon) / 2)
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(u * u + math.cos(p1) * math.cos(p2) * v * v))


for _a, _b in itertools.product(CITIES, repeat=2):
    for _r in RADII_KM:
        assert abs(distance_m(_a, _b) - _r * 1000) > 0.03 * _r * 1000, (_a, _b, _r)

KEY_ALPHABET = "ab:%Z\x00"
LABELS = ["a", "b", "ab", "c:", "%", "", "a\x00", "a\x00b"]
MAILS = ["m1", "m2", "m:3", "n1", ""]
PREFIXES = ["", "a", "b", "a:", "%", "m", "m:", "Z", "c", "a\x00", "\x00"]
BIG = 1.7976931348623157e308  # the largest double: two of them sum to inf
FLOATS = [-2.5, -1.0, 0.0, 0.5, 1.0, 3.25, 1e300, BIG, -BIG, math.inf, -math.inf]
CONFS = [0.0, 0.25, 0.5, 1.0]
INTS = [2**53 - 1, 2**53, 2**53 + 1, -(2**53) - 1, 0]  # Indexed: equality by exact text
DECIMALS = [Decimal("1.5"), Decimal("1.50"), Decimal("-0"), Decimal("0.00"), Decimal("1E+2")]
DECIMALS += [Decimal("100"), Decimal("2.5")]
_NOON = datetime(2020, 1, 1, 12, tzinfo=UTC)
INSTANTS = [_NOON.astimezone(timezone(timedelta(hours=h))) for h in (0, 1, -5)]
INSTANTS += [_NOON + timedelta(microseconds=1), datetime(2020, 1, 1, 13, tzinfo=UTC)]

Pred = Callable[[QpRec], bool]
Case = tuple[Cond[QpRec], Pred]

# ---- records --------------------------------------------------------------------------------


@st.composite
def records(draw: st.DrawFn) -> list[QpRec]:
    keys = draw(st.lists(st.text(KEY_ALPHABET, min_size=1, max_size=3), max_size=30, unique=True))
    out: list[QpRec] = []
    mails_used: set[str] = set()
    codes_used: set[Decimal] = set()  # by value: 1.5 and 1.50 are one
    for key in keys:
        mail = draw(st.none() | st.sampled_from(MAILS))
        if mail in mails_used:
            mail = None  # Unique
        if mail is not None:
            mails_used.add(mail)
        code = draw(st.none() | st.sampled_from(DECIMALS))
        if code in codes_used:
            code = None
        if code is not None:
            codes_used.add(code)
        out.append(
            QpRec(
                key=key,
                label=draw(st.none() | st.sampled_from(LABELS)),
                mail=mail,
                n=draw(st.integers(-3, 3)),
                x=draw(
                    st.none()
                    | st.sampled_from(FLOATS)
                    | st.floats(-10, 10, allow_nan=False, allow_infinity=False)
                ),
                loc=draw(st.none() | st.sampled_from(CITIES)),
                conf=draw(st.sampled_from(CONFS)),
                big=draw(st.none() | st.sampled_from(INTS)),
                dec=draw(st.none() | st.sampled_from(DECIMALS)),
                code=code,
                at=draw(st.none() | st.sampled_from(INSTANTS)),
            )
        )
    return out


# ---- conditions with their Python predicates -------------------------------------------------

TEXT_FIELDS: dict[str, tuple[Any, st.SearchStrategy[Any]]] = {
    "key": (R.key, st.text(KEY_ALPHABET, min_size=1, max_size=3)),
    "label": (R.label, st.sampled_from(LABELS)),
    "mail": (R.mail, st.sampled_from(MAILS)),
    "big": (R.big, st.sampled_from(INTS)),
    "dec": (R.dec, st.sampled_from(DECIMALS)),
    "code": (R.code, st.sampled_from(DECIMALS)),
    "at": (R.at, st.sampled_from(INSTANTS)),
}
PREFIXED = ("key", "label", "mail")  # the str fields: startswith()
RANKED_FIELDS: dict[str, tuple[Any, st.SearchStrategy[Any]]] = {
    "n": (R.n, st.integers(-4, 4)),
    "x": (R.x, st.sampled_from(FLOATS) | st.floats(-10, 10, allow_nan=False)),
    "conf": (R.conf, st.sampled_from(CONFS) | st.floats(0, 1)),
}


@st.composite
def text_leaf(draw: st.DrawFn) -> Case:
    name = draw(st.sampled_from(sorted(TEXT_FIELDS)))
    ref, values = TEXT_FIELDS[name]
    ops = ["eq", "ne", "in", "none", "prefix"] if name in PREFIXED else ["eq", "ne", "in", "none"]
    op = draw(st.sampled_from(ops))

    def get(r: QpRec) -> Any:
        return getattr(r, name)

    if op == "eq":
        v = draw(values)
        return ref == v, lambda r: get(r) == v
    if op == "ne":
        v = draw(values)
        return ref != v, lambda r: get(r) != v
    if op == "in":
        # in_([]) is covered by test_query.test_in_with_no_values_matches_nothing
        vs = draw(st.lists(st.none() | values, min_size=1, max_size=3))
        return ref.in_(vs), lambda r: get(r) in vs
    if op == "none":
        return ref.is_none(), lambda r: get(r) is None
    p = draw(st.sampled_from(PREFIXES))
    return ref.startswith(p), lambda r: get(r) is not None and get(r).startswith(p)


@st.composite
def ranked_leaf(draw: st.DrawFn) -> Case:
    name = draw(st.sampled_from(sorted(RANKED_FIELDS)))
    ref, values = RANKED_FIELDS[name]
    op = draw(st.sampled_from(["lt", "le", "gt", "ge", "eq", "ne", "between"]))
    v = draw(values)

    def get(r: QpRec) -> Any:
        return getattr(r, name)

    if op == "lt":
        return ref < v, lambda r: get(r) is not None and get(r) < v
    if op == "le":
        return ref <= v, lambda r: get(r) is not None and get(r) <= v
    if op == "gt":
        return ref > v, lambda r: get(r) is not None and get(r) > v
    if op == "ge":
        return ref >= v, lambda r: get(r) is not None and get(r) >= v
    if op == "eq":
        return ref == v, lambda r: get(r) is not None and get(r) == v
    if op == "ne":
        return ref != v, lambda r: not (get(r) is not None and get(r) == v)
    w = draw(values)
    return ref.between(v, w), lambda r: get(r) is not None and v <= get(r) <= w


@st.composite
def geo_leaf(draw: st.DrawFn) -> Case:
    center = draw(st.sampled_from(CITIES))
    radius_km = draw(st.sampled_from(RADII_KM))
    unit = draw(st.sampled_from(["m", "km", "mi", "ft"]))
    radius = radius_km * 1000 / UNIT_METERS[unit]
    cond = R.loc.within((center.lat, center.lon), radius, unit)  # type: ignore[arg-type]
    return cond, lambda r: r.loc is not None and distance_m(center, r.loc) <= radius_km * 1000


def combine(children: st.SearchStrategy[Case]) -> st.SearchStrategy[Case]:
    def and_(pair: tuple[Case, Case]) -> Case:
        (a, pa), (b, pb) = pair
        return a & b, lambda r: pa(r) and pb(r)

    def or_(pair: tuple[Case, Case]) -> Case:
        (a, pa), (b, pb) = pair
        return a | b, lambda r: pa(r) or pb(r)

    def not_(case: Case) -> Case:
        a, pa = case
        return ~a, lambda r: not pa(r)

    return st.one_of(
        st.tuples(children, children).map(and_),
        st.tuples(children, children).map(or_),
        children.map(not_),
    )


def conditions() -> st.SearchStrategy[Case]:
    leaves = st.one_of(text_leaf(), ranked_leaf(), geo_leaf())
    # max_leaves bounds the tree; three levels of combination at most
    depth3 = combine(combine(combine(leaves) | leaves) | leaves) | leaves
    return depth3


Order = tuple[tuple[tuple[str, float], ...], bool]  # ((field, weight), ...), descending
SINGLE_ORDERS = [(((f, 1.0),), d) for f in ("n", "x", "conf") for d in (False, True)]
RANK_TERMS = st.lists(
    st.tuples(st.sampled_from(["n", "x", "conf"]), st.sampled_from([0.5, 1.0, 2.0, -1.0, 3.0])),
    min_size=1,
    max_size=3,
    unique_by=lambda term: term[0],
).map(tuple)
ORDERS = st.none() | st.sampled_from(SINGLE_ORDERS) | st.tuples(RANK_TERMS, st.booleans())


def ordered(q: Any, order: Order | None) -> Any:
    """``q`` ordered by one field (``asc()``/``desc()``) or by a ``Rank`` of several."""
    if order is None:
        return q
    terms, descending = order
    if len(terms) == 1 and terms[0][1] == 1.0:
        source = getattr(R, terms[0][0])
    else:
        source = sum(
            (getattr(R, f) * w for f, w in terms[1:]), getattr(R, terms[0][0]) * terms[0][1]
        )
    return q.order_by(source.desc() if descending else source.asc())


# ---- the reference --------------------------------------------------------------------------


def record_id(r: QpRec) -> bytes:
    return escape(r.key).encode()


def rank_score(r: QpRec, terms: tuple[tuple[str, float], ...]) -> float | None:
    """The weighted sum of a record's valued fields, None when none is valued.

    The server adds the sources in an order of its own (ZUNIONSTORE sorts them by size), and
    double addition is not associative: an example whose sum depends on that order (a tiny
    term lost against a cancellation) has no single right answer and is rejected.
    """
    parts = [w * float(getattr(r, f)) for f, w in terms if getattr(r, f) is not None]
    if not parts:
        return None
    sums = {functools.reduce(operator.add, order) for order in itertools.permutations(parts)}
    assume(len(sums) == 1)
    return sums.pop()


def reference(data: list[QpRec], pred: Pred | None, order: Order | None) -> list[QpRec]:
    found = [r for r in data if pred is None or pred(r)]
    if order is None:
        return sorted(found, key=record_id)
    terms, descending = order
    scored = [(rank_score(r, terms), r) for r in found]
    valued = sorted(
        ((score, r) for score, r in scored if score is not None),
        key=lambda pair: (pair[0], record_id(pair[1])),
        reverse=descending,
    )
    empty = sorted((r for score, r in scored if score is None), key=record_id)
    return [r for _, r in valued] + empty


def run_async(query: Any) -> tuple[list[QpRec], int, int]:
    async def body() -> tuple[list[QpRec], int, int]:
        try:
            return await query.aall(), await query.acount(), await query.acount(exact=False)
        finally:
            await typedis._connection.get_connection().aclose()

    return asyncio.run(body())


# ---- the properties -------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@PROPERTY_SETTINGS
@given(
    data=records(),
    case=st.none() | conditions(),
    order=ORDERS,
    offset=st.integers(0, 8),
    limit=st.none() | st.integers(1, 10),  # limit(0): test_query.test_limit_zero_returns_nothing
)
def test_query_matches_the_reference(
    redis_client: redis.Redis,
    data: list[QpRec],
    case: Case | None,
    order: Order | None,
    offset: int,
    limit: int | None,
) -> None:
    redis_client.flushdb()
    QpRec.save_many(data)
    q = ordered(R.query if case is None else R.query.filter(case[0]), order).offset(offset)
    if limit is not None:
        q = q.limit(limit)

    everything = reference(data, None if case is None else case[1], order)
    expected = everything[offset : None if limit is None else offset + limit]
    expected_keys = [r.key for r in expected]

    found = q.all()
    if order is None and limit is not None:  # no defined order: any page of the matches
        expected_keys = page_of(everything, [r.key for r in found], offset, limit)
        whole = [r.key for o in range(0, len(everything), limit) for r in q.offset(o).all()]
        assert sorted(whole) == sorted(r.key for r in everything), q.explain()
        expected = [next(r for r in everything if r.key == k) for k in expected_keys]
    assert [r.key for r in found] == expected_keys, q.explain()
    assert found == expected  # whole records round-trip
    assert q.count() == len(everything)
    assert q.count(exact=False) == len(everything), q.plan("count")  # nothing damaged: equal
    assert q.keys() == [f"{{td:QpRec}}:r:{escape(k)}" for k in expected_keys]
    async_found, async_count, async_estimate = run_async(q)
    assert [r.key for r in async_found] == expected_keys
    assert async_count == async_estimate == len(everything)
    assert list(redis_client.scan_iter(match="*:q:*")) == []


def page_of(everything: list[QpRec], keys: list[str], offset: int, limit: int) -> list[str]:
    """``keys`` after checking that they can be the page of an unordered query: distinct
    matches, as many as the page holds."""
    assert len(set(keys)) == len(keys) == len(everything[offset : offset + limit]), keys
    assert set(keys) <= {r.key for r in everything}, keys
    return keys


@PROPERTY_SETTINGS
@given(data=records(), case=conditions(), order=ORDERS)
def test_first_exists_and_iter_match_the_reference(
    redis_client: redis.Redis,
    data: list[QpRec],
    case: Case,
    order: Order | None,
) -> None:
    redis_client.flushdb()
    QpRec.save_many(data)
    q = ordered(R.query.filter(case[0]), order)
    expected = [r.key for r in reference(data, case[1], order)]
    first = q.first()
    if order is None:  # a limited query without an order: any match
        assert (first.key in expected) if first else not expected
    else:
        assert (first.key if first else None) == (expected[0] if expected else None)
    assert q.exists() is bool(expected)
    assert [r.key for r in q.iter(batch_size=3)] == expected


@PROPERTY_SETTINGS
@given(data=records(), gone=st.sets(st.integers(0, 29)), case=conditions(), order=ORDERS)
def test_records_deleted_outside_typedis_are_skipped(
    redis_client: redis.Redis,
    data: list[QpRec],
    gone: set[int],
    case: Case,
    order: Order | None,
) -> None:
    """Hashes removed by a stray DEL (their ids stay in the indexes) are neither returned nor
    counted, and a first page is still full."""
    redis_client.flushdb()
    QpRec.save_many(data)
    for i in sorted(gone & set(range(len(data)))):
        redis_client.delete(f"{{td:QpRec}}:r:{escape(data[i].key)}")
    live = [r for i, r in enumerate(data) if i not in gone]
    q = ordered(R.query.filter(case[0]), order)
    matching = reference(live, case[1], order)
    expected = [r.key for r in matching]
    assert [r.key for r in q.all()] == expected, q.explain()
    three = [r.key for r in q.limit(3).all()]
    assert three == (page_of(matching, three, 0, 3) if order is None else expected[:3])
    assert q.count() == len(expected)
    assert R.query.count() == len(live)
    # the index count sees the indexes alone: the deleted records' ids are still there
    assert q.count(exact=False) == len(reference(data, case[1], order))
    assert R.query.count(exact=False) == QpRec.count(exact=False) == len(data)
    assert q.exists() is bool(expected)
    assert [r.key for r in q.iter(batch_size=4)] == expected
    assert q.keys() == [f"{{td:QpRec}}:r:{escape(k)}" for k in expected]
