"""The pure planner: exact plans and explain() texts for representative queries (no Redis).

Like peewee's SQL-rendering tests, each test compares ``Query.plan()`` with the exact node tree
the query script will evaluate (see the node vocabulary at the top of ``lua/query.lua``).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from typedis import (
    Confidence,
    Decaying,
    Geo,
    GeoPoint,
    Indexed,
    Key,
    Model,
    QueryError,
    Sorted,
    Unique,
    field,
)
from typedis._query._planner import Plan
from typedis._query._query import Query


class PlRestaurant(Model, order_by="-rating"):
    name: Key[str]
    cuisine: Indexed[str | None] = field(default=None)
    rating: Sorted[float] = field(default=0.0)
    location: Geo[GeoPoint | None] = field(default=None)
    email: Unique[str | None] = field(default=None)
    seats: Indexed[int] = 0
    opened: Sorted[date | None] = field(default=None)
    inspected: Sorted[datetime | None] = field(default=None)
    price: Sorted[Decimal | None] = field(default=None)
    visits: int = 0


class PlPlain(Model):
    name: Key[str]
    score: Sorted[int] = 0
    certainty: Confidence = field(default=0.5)
    heat: Decaying[float] = field(default=1.0, rate=0.1)


class PlPair(Model):
    city: Key[str]
    number: Key[int]
    kind: Indexed[str] = ""


class PlMemory(Model, partition="agent"):
    agent: Key[str]
    slug: Key[str]
    topic: Indexed[str] = ""
    weight: Sorted[float] = 0.0


class PlOther(Model):
    name: Key[str]
    cuisine: Indexed[str | None] = field(default=None)


R = PlRestaurant
TAG = "{td:PlRestaurant}"
BY_RATING_DESC = ((("z:rating", 1.0),), True)


def where(query: Query[Any]) -> list[Any]:
    return query.plan().where


# ---- equality, membership, None -------------------------------------------------------------


def test_no_filter_reads_the_id_set_in_the_default_order() -> None:
    p = R.query.plan()
    assert p == Plan(
        tag=TAG,
        where=["all"],
        order=BY_RATING_DESC,
        offset=0,
        limit=-1,
        mode="records",
        fields=(
            "name",
            "cuisine",
            "rating",
            "location",
            "email",
            "seats",
            "opened",
            "inspected",
            "price",
            "visits",
        ),
    )
    assert json.loads(p.program()) == {
        "tag": TAG,
        "where": ["all"],
        "order": {"by": [["z:rating", 1.0]], "desc": True},
        "offset": 0,
        "limit": -1,
        "mode": "records",
        "fields": list(p.fields),
        "shape": "sort",
    }


def test_plan_modes() -> None:
    assert R.query.plan("ids").mode == "ids"
    assert R.query.plan("count").mode == "count"


def test_equality_on_indexed_reads_one_set() -> None:
    assert where(R.query.filter(R.cuisine == "Thai")) == ["set", "i:cuisine:Thai"]
    assert where(R.query.filter(R.seats == 12)) == ["set", "i:seats:12"]


def test_equality_text_is_escaped() -> None:
    assert where(R.query.filter(R.cuisine == "a:b*{c}%")) == ["set", "i:cuisine:a%3Ab%2A%7Bc%7D%25"]


def test_equality_on_unique_reads_the_unique_hash() -> None:
    assert where(R.query.filter(R.email == "t@x.io")) == ["uniq", "u:email", ["t@x.io"]]
    assert where(R.query.filter(R.email == "a:b")) == ["uniq", "u:email", ["a%3Ab"]]


def test_equality_on_the_single_key_names_the_record_id() -> None:
    assert where(R.query.filter(R.name == "Taco Town")) == ["ids", ["Taco Town"]]
    assert where(R.query.filter(R.name == "a:b%c")) == ["ids", ["a%3Ab%25c"]]
    assert where(R.query.filter(R.name.in_(["x", "y:z"]))) == ["ids", ["x", "y%3Az"]]


def test_key_field_of_a_multi_key_model_reads_a_set() -> None:
    assert where(PlPair.query.filter(PlPair.city == "Oslo")) == ["set", "i:city:Oslo"]
    assert where(PlPair.query.filter(PlPair.number == 7)) == ["set", "i:number:7"]


def test_in_is_a_union_of_sets() -> None:
    assert where(R.query.filter(R.cuisine.in_(["Thai", "Lao"]))) == [
        "or",
        [["set", "i:cuisine:Thai"], ["set", "i:cuisine:Lao"]],
    ]
    assert where(R.query.filter(R.cuisine.in_(["Thai"]))) == ["set", "i:cuisine:Thai"]
    assert where(R.query.filter(R.email.in_(["a", "b"]))) == ["uniq", "u:email", ["a", "b"]]


def test_is_none_on_indexed_reads_the_null_set() -> None:
    assert where(R.query.filter(R.cuisine.is_none())) == ["set", "i:cuisine:%"]
    assert where(R.query.filter(R.cuisine == None)) == ["set", "i:cuisine:%"]  # noqa: E711
    assert where(R.query.filter(R.cuisine.in_(["Thai", None]))) == [
        "or",
        [["set", "i:cuisine:Thai"], ["set", "i:cuisine:%"]],
    ]


def test_is_none_on_unique_reads_records_missing_from_the_hash() -> None:
    node = where(R.query.filter(R.email.is_none()))
    # The planner adds an empty "uniq" lookup next to "uniqnone" (harmless: it finds nothing).
    assert node in (
        ["uniqnone", "u:email"],
        ["or", [["uniq", "u:email", []], ["uniqnone", "u:email"]]],
    )
    assert where(R.query.filter(R.email.in_(["a", None]))) == [
        "or",
        [["uniq", "u:email", ["a"]], ["uniqnone", "u:email"]],
    ]


def test_not_equal_is_all_except_the_set() -> None:
    assert where(R.query.filter(R.cuisine != "Thai")) == ["not", ["set", "i:cuisine:Thai"]]
    assert where(R.query.filter(R.name != "a")) == ["not", ["ids", ["a"]]]
    assert where(R.query.filter(R.rating != 2)) == ["not", ["range", "z:rating", "2.0", "2.0"]]


# ---- ranges, prefixes, radii ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("cond", "low", "high"),
    [
        (R.rating > 1, "(1.0", "+inf"),
        (R.rating >= 1, "1.0", "+inf"),
        (R.rating < 2.5, "-inf", "(2.5"),
        (R.rating <= 2.5, "-inf", "2.5"),
        (R.rating == 3, "3.0", "3.0"),
        (R.rating.between(1, 2), "1.0", "2.0"),
        (R.rating >= float("-inf"), "-inf", "+inf"),
        (R.rating <= float("inf"), "-inf", "inf"),
        (R.price >= Decimal("1.25"), "1.25", "+inf"),
    ],
)
def test_range_bounds(cond: Any, low: str, high: str) -> None:
    node = where(R.query.filter(cond))
    assert node == ["range", node[1], low, high]
    assert node[1] in ("z:rating", "z:price")


def test_int_sorted_field_bounds_are_scores() -> None:
    assert where(PlPlain.query.filter(PlPlain.score > 3)) == ["range", "z:score", "(3.0", "+inf"]
    assert where(PlPlain.query.filter(PlPlain.certainty <= 0.25)) == [
        "range",
        "z:certainty",
        "-inf",
        "0.25",
    ]


def test_date_and_datetime_bounds_are_scores() -> None:
    day = date(2020, 1, 1)
    assert where(R.query.filter(R.opened >= day)) == ["range", "z:opened", "18262.0", "+inf"]
    moment = datetime(2020, 1, 1, tzinfo=UTC)
    assert where(R.query.filter(R.inspected < moment)) == [
        "range",
        "z:inspected",
        "-inf",
        "(1577836800.0",
    ]
    # an aware datetime in another zone compares on the same instant
    east = moment.astimezone(timezone(timedelta(hours=2)))
    assert where(R.query.filter(R.inspected < east)) == where(R.query.filter(R.inspected < moment))


def test_startswith_reads_the_lexicographic_index() -> None:
    assert where(R.query.filter(R.name.startswith("Ta"))) == ["lex", "l:name", "Ta"]
    assert where(R.query.filter(R.cuisine.startswith("a:b"))) == ["lex", "l:cuisine", "a:b"]
    assert where(R.query.filter(R.email.startswith("t@"))) == ["lex", "l:email", "t@"]


def test_within_is_a_geo_search() -> None:
    assert where(R.query.filter(R.location.within((1.5, 2.5), 3, "mi"))) == [
        "geo",
        "g:location",
        "2.5",
        "1.5",
        "3.0",
        "mi",
    ]
    assert where(R.query.filter(R.location.within(GeoPoint(lat=48.85, lon=2.35), 10))) == [
        "geo",
        "g:location",
        "2.35",
        "48.85",
        "10.0",
        "km",
    ]


# ---- combinations ---------------------------------------------------------------------------


def test_filter_arguments_and_chained_filters_are_one_intersection() -> None:
    expected = ["and", [["set", "i:cuisine:Thai"], ["range", "z:rating", "4.0", "+inf"]]]
    assert where(R.query.filter(R.cuisine == "Thai", R.rating >= 4)) == expected
    assert where(R.query.filter(R.cuisine == "Thai").filter(R.rating >= 4)) == expected
    assert where(R.query.filter((R.cuisine == "Thai") & (R.rating >= 4))) == expected


def test_and_or_not_nesting() -> None:
    cond = ((R.cuisine == "a") | ~(R.seats == 3)) & ~((R.rating > 1) | R.name.startswith("Z"))
    assert where(R.query.filter(cond)) == [
        "and",
        [
            ["or", [["set", "i:cuisine:a"], ["not", ["set", "i:seats:3"]]]],
            [
                "not",
                ["or", [["range", "z:rating", "(1.0", "+inf"], ["lex", "l:name", "Z"]]],
            ],
        ],
    ]


def test_exclude_is_not_of_the_conjunction() -> None:
    q = R.query.filter(R.cuisine == "Thai").exclude(R.rating >= 4, R.name.startswith("Z"))
    assert where(q) == [
        "and",
        [
            ["set", "i:cuisine:Thai"],
            ["not", ["and", [["range", "z:rating", "4.0", "+inf"], ["lex", "l:name", "Z"]]]],
        ],
    ]
    assert where(R.query.exclude(R.cuisine == "x")) == ["not", ["set", "i:cuisine:x"]]
    assert R.query.exclude() == R.query


# ---- order, offset, limit -------------------------------------------------------------------


def test_default_order_comes_from_the_model_option() -> None:
    assert R.query.plan().order == ((("z:rating", 1.0),), True)
    assert PlPlain.query.plan().order is None


def test_explicit_order() -> None:
    assert R.query.order_by(R.rating.asc()).plan().order == ((("z:rating", 1.0),), False)
    assert R.query.order_by(R.rating).plan().order == ((("z:rating", 1.0),), False)
    assert R.query.order_by(R.opened.desc()).plan().order == ((("z:opened", 1.0),), True)
    assert PlPlain.query.order_by(PlPlain.certainty.desc()).plan().order == (
        (("z:certainty", 1.0),),
        True,
    )
    # a Decaying field has no asc()/desc(), but a bare reference orders ascending
    assert PlPlain.query.order_by(PlPlain.heat).plan().order == ((("z:heat", 1.0),), False)


def test_order_by_a_field_without_a_sorted_set_is_refused() -> None:
    with pytest.raises(QueryError, match=r"PlRestaurant\.cuisine cannot order .* Sorted, Conf"):
        R.query.order_by(R.cuisine).plan()


def test_offset_and_limit() -> None:
    p = R.query.offset(5).limit(10).plan()
    assert (p.offset, p.limit) == (5, 10)
    p = R.query.limit(0).plan()
    assert (p.offset, p.limit) == (0, 0)
    with pytest.raises(QueryError, match=r"PlRestaurant\.query\.offset\(\): takes an int >= 0"):
        R.query.offset(-1)
    with pytest.raises(QueryError, match=r"PlRestaurant\.query\.limit\(\): takes an int >= 0"):
        R.query.limit(-2)


def test_builder_methods_return_copies() -> None:
    base = R.query
    filtered = base.filter(R.cuisine == "x")
    assert base.where is None
    assert filtered is not base
    assert base.limit(3).take == 3
    assert base.take is None


# ---- explain --------------------------------------------------------------------------------


def test_explain_texts() -> None:
    assert R.query.explain() == (
        "PlRestaurant in {td:PlRestaurant}: every record (set all); ordered by sorted set "
        "z:rating descending; offset 0; records in one function call; " + SORT
    )
    q = (
        PlPlain.query.filter((PlPlain.score > 1) | PlPlain.name.startswith("a"))
        .exclude(PlPlain.name == "b")
        .order_by(PlPlain.score.asc())
        .offset(2)
        .limit(3)
    )
    assert q.explain() == (
        "PlPlain in {td:PlPlain}: intersection of (union of (sorted set z:score scores (1.0..+inf, "
        "lexicographic index l:name prefix 'a'), all except (records by key ['b'])); ordered by "
        "sorted set z:score ascending; offset 2, limit 3; records in one function call; "
        "ordered scan with early stop: walks z:score keeping the matches, O(k·N/M·K); after 4·S "
        "ids without a full page, intersection and sort instead, O(S·K + M log M)"
    )
    assert R.query.filter(R.location.within((1, 2), 5, "m"), R.email == "e").explain() == (
        "PlRestaurant in {td:PlRestaurant}: intersection of (geo set g:location within 5.0 m of "
        "lon 2.0, lat 1.0, unique hash u:email at ['e']); ordered by sorted set z:rating "
        "descending; offset 0; records in one function call; " + SORT
    )
    assert PlPair.query.filter(PlPair.city == "Oslo").explain() == (
        "PlPair in {td:PlPair}: set i:city:Oslo; in no order; offset 0; "
        "records in one function call; scan: walks the smallest part, checking the others, "
        "O(S·K); the client orders the matches by id, O(M log M)"
    )
    assert PlPair.query.filter(PlPair.city == "Oslo").offset(1).plan().shape == "sort"
    assert PlPair.query.filter(PlPair.city == "Oslo").plan("ids").shape == "sort"


SORT = "sort: every match ordered before the page is cut, O(S·K + M log M)"


def test_each_shape_is_named_with_its_cost_class() -> None:
    """The planner picks the shape the query script runs; explain() ends with it."""
    by_rating = R.query.order_by(R.rating.desc())
    thai = R.query.filter(R.cuisine == "Thai")
    other = PlOther.query.filter(PlOther.cuisine == "Thai")  # no order_by= class option
    shapes = {
        "index": by_rating.limit(10),
        "range": R.query.filter(R.rating >= 4).order_by(R.rating).limit(10),
        "ordered": thai.order_by(R.rating.desc()).limit(10),
        "scan": other.limit(10),
        "sort": thai.order_by(R.rating.desc()),  # no limit
        "empty": by_rating.limit(0),
    }
    for shape, query in shapes.items():
        assert query.plan().shape == shape, shape
        assert json.loads(query.plan().program())["shape"] == shape
    assert R.query.filter(R.rating >= 4).order_by(R.rating).plan().shape == "range"  # no limit
    assert R.query.filter(R.rating >= 4).order_by(R.price).limit(3).plan().shape == "ordered"
    assert thai.plan("count").shape == "count"
    rank = R.query.order_by((R.rating * 0.5 + R.price * 0.5).desc()).limit(3)
    assert rank.plan().shape == "sort"  # a rank stage
    index = "index page: walks z:rating from the offset, O(log N + k)"
    assert by_rating.limit(10).explain().endswith(index)
    scan = "scan with early stop: walks the smallest part, checking the others, O(k·S/M·K)"
    assert other.limit(10).explain().endswith(scan)
    assert by_rating.limit(0).explain().endswith("empty page: nothing is read, O(1)")


# ---- partitions -----------------------------------------------------------------------------


def test_partitioned_model_tag_carries_the_partition() -> None:
    q = PlMemory.query.filter(PlMemory.agent == "ag:1", PlMemory.topic == "t")
    p = q.plan()
    assert p.tag == "{td:PlMemory:ag%3A1}"
    assert p.where == ["set", "i:topic:t"]
    only = PlMemory.query.filter(PlMemory.agent == "a").plan()
    assert (only.tag, only.where) == ("{td:PlMemory:a}", ["all"])
    assert PlMemory.query.filter(PlMemory.agent == "a", PlMemory.slug == "s:1").plan().where == [
        "ids",
        ["a:s%3A1"],
    ]


def test_partition_field_inside_or_or_not_is_true_for_that_partition_only() -> None:
    q = PlMemory.query.filter(
        PlMemory.agent == "a", (PlMemory.agent == "b") | (PlMemory.topic == "t")
    )
    assert q.plan().where == ["or", [["or", [["ids", []]]], ["set", "i:topic:t"]]]
    q = PlMemory.query.filter(PlMemory.agent == "a", PlMemory.agent.in_(["a", "b"]))
    assert q.plan().where == ["all"]  # both name partitions: the one they have in common


def test_partitioned_model_without_partition_is_refused() -> None:
    with pytest.raises(QueryError, match=r"PlMemory is partitioned by \('agent',\).*agent == "):
        PlMemory.query.filter(PlMemory.topic == "t").plan()
    with pytest.raises(QueryError, match="partitioned"):
        PlMemory.query.plan()
    with pytest.raises(QueryError, match="partitioned"):  # inside an Or: not at the top level
        PlMemory.query.filter((PlMemory.agent == "a") | (PlMemory.topic == "t")).plan()
    with pytest.raises(QueryError, match="two different values for partition field 'agent'"):
        PlMemory.query.filter(PlMemory.agent == "a", PlMemory.agent == "b").plan()


# ---- keyword lookups ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lookups", "cond"),
    [
        ({"cuisine": "Thai"}, R.cuisine == "Thai"),
        ({"cuisine__eq": "Thai"}, R.cuisine == "Thai"),
        ({"cuisine__ne": "Thai"}, R.cuisine != "Thai"),
        ({"cuisine__in": ["a", "b"]}, R.cuisine.in_(["a", "b"])),
        ({"cuisine__isnull": True}, R.cuisine.is_none()),
        ({"cuisine__isnull": False}, ~R.cuisine.is_none()),
        ({"name__startswith": "Ta"}, R.name.startswith("Ta")),
        ({"name": "x"}, R.name == "x"),
        ({"email": "e"}, R.email == "e"),
        ({"rating__gte": 4}, R.rating >= 4),
        ({"rating__gt": 4}, R.rating > 4),
        ({"rating__lte": 4}, R.rating <= 4),
        ({"rating__lt": 4}, R.rating < 4),
        ({"rating": 4}, R.rating == 4),
        ({"rating__ne": 4}, R.rating != 4),
        ({"rating__between": (1, 2)}, R.rating.between(1, 2)),
        ({"opened__gte": date(2020, 1, 1)}, R.opened >= date(2020, 1, 1)),
        ({"location": (1, 2), "location_radius": 5}, R.location.within((1, 2), 5)),
        (
            {
                "location": GeoPoint(lat=1, lon=2),
                "location_radius": 5,
                "location_radius_unit": "mi",
            },
            R.location.within((1, 2), 5, "mi"),
        ),
    ],
)
def test_keyword_lookups_plan_like_typed_conditions(lookups: dict[str, Any], cond: Any) -> None:
    assert R.query.filter(**lookups).plan() == R.query.filter(cond).plan()


def test_keyword_lookups_combine_with_conditions() -> None:
    a = R.query.filter(R.seats == 3, cuisine="Thai", rating__gte=4).plan()
    b = R.query.filter(R.seats == 3, R.cuisine == "Thai", R.rating >= 4).plan()
    assert a == b
    assert R.query.exclude(cuisine="x").plan() == R.query.exclude(R.cuisine == "x").plan()
    part = PlMemory.query.filter(agent="a", topic="t").plan()
    assert part == PlMemory.query.filter(PlMemory.agent == "a", PlMemory.topic == "t").plan()


# ---- errors ---------------------------------------------------------------------------------


def test_unknown_field_or_lookup() -> None:
    with pytest.raises(QueryError, match="PlRestaurant has no field 'colour'"):
        R.query.filter(colour="red")
    with pytest.raises(QueryError, match="unknown lookup 'like' in cuisine__like"):
        R.query.filter(cuisine__like="T%")
    with pytest.raises(QueryError, match=r"PlRestaurant\.visits is not indexed"):
        R.query.filter(visits=3)


def test_a_radius_without_its_center_is_refused() -> None:
    # Silently ignoring it would return every record.
    with pytest.raises(QueryError, match=r"location_radius=\.\.\.: give the center too"):
        R.query.filter(location_radius=5)
    with pytest.raises(QueryError, match="give the center too"):
        R.query.filter(cuisine="Thai", location_radius=5, location_radius_unit="km").plan()


def test_ordering_by_a_field_of_another_model_is_refused() -> None:
    other: Any = PlOther.name  # typed code cannot write this: Ordering[PlOther]
    with pytest.raises(QueryError, match=r"cannot order PlRestaurant by PlOther\.name"):
        R.query.order_by(other).plan()


@pytest.mark.parametrize("op", ["lt", "lte", "gt", "gte"])
def test_range_on_an_indexed_field_via_keywords(op: str) -> None:
    # Refused when the filter is built, with a message naming the lookup and the field.
    with pytest.raises(
        QueryError, match=rf"seats__{op}=\.\.\.: PlRestaurant\.seats does not support"
    ):
        R.query.filter(**{f"seats__{op}": 3})


def test_between_on_an_indexed_field_via_keywords() -> None:
    with pytest.raises(QueryError, match="cuisine__between"):
        R.query.filter(cuisine__between=("a", "b"))


def test_startswith_on_a_non_text_field() -> None:
    with pytest.raises(QueryError, match=r"PlRestaurant\.seats: startswith\(\) needs a str"):
        R.query.filter(R.seats.startswith("1")).plan()  # type: ignore[misc]
    with pytest.raises(QueryError, match="rating__startswith"):
        R.query.filter(rating__startswith="1")
    with pytest.raises(QueryError, match=r"startswith\(\) takes a str"):
        R.query.filter(R.name.startswith(1)).plan()  # type: ignore[arg-type]


def test_wrong_value_type_names_the_field() -> None:
    with pytest.raises(QueryError, match=r"PlRestaurant\.seats: 'many' is not a valid value"):
        R.query.filter(R.seats == "many").plan()  # type: ignore[operator]
    with pytest.raises(QueryError, match=r"PlRestaurant\.rating: 'high'"):
        R.query.filter(R.rating >= "high").plan()  # type: ignore[operator]
    with pytest.raises(QueryError, match=r"PlRestaurant\.opened"):
        R.query.filter(opened__lt="not a date").plan()
    with pytest.raises(QueryError, match=r"PlRestaurant\.name"):
        R.query.filter(R.name == 3.5).plan()  # type: ignore[operator]
    with pytest.raises(QueryError, match=r"PlRestaurant\.rating"):
        R.query.filter(R.rating <= float("nan")).plan()


def test_geo_errors() -> None:
    with pytest.raises(QueryError, match="unit is one of m, km, mi, ft"):
        R.location.within((1, 2), 5, "yd")  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="radius must be a finite number >= 0"):
        R.location.within((1, 2), -1)
    with pytest.raises(QueryError, match="location_radius"):
        R.query.filter(location=(1, 2))
    with pytest.raises(QueryError, match="a Geo field takes"):
        R.query.filter(location__ne=(1, 2))


def test_condition_from_another_model_is_refused() -> None:
    with pytest.raises(
        QueryError, match=r"PlOther\.cuisine is a field of PlOther, not PlRestaurant"
    ):
        R.query.filter(PlOther.cuisine == "x").plan()  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="PlOther"):
        R.query.filter((R.cuisine == "a") | ~(PlOther.name == "x")).plan()  # type: ignore[operator]


def test_filter_refuses_non_conditions() -> None:
    with pytest.raises(QueryError, match="filter\\(\\) takes conditions"):
        R.query.filter(True)  # type: ignore[arg-type]


def test_bool_of_a_condition_raises() -> None:
    cond = R.cuisine == "Thai"
    with pytest.raises(QueryError, match="not a truth value"):
        bool(cond)
    with pytest.raises(QueryError, match="not a truth value"):
        if R.rating > 3:
            pass
    with pytest.raises(QueryError):
        _ = (R.rating > 1) and (R.rating < 3)


def test_condition_reprs() -> None:
    assert repr(R.cuisine == "Thai") == "PlRestaurant.cuisine == 'Thai'"
    assert repr((R.rating > 1) & ~R.name.startswith("Z")) == (
        "(1 < PlRestaurant.rating & ~PlRestaurant.name.startswith('Z'))"
    )
    assert repr(R.rating.desc()) == "PlRestaurant.rating.desc()"
