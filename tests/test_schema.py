"""Class creation: what a model may declare, what is refused (naming model and field), and the
spec typedis reads from a model (index layout, key layout, Lua spec)."""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
import redis

from typedis import (
    AutoKey,
    Confidence,
    Decaying,
    Geo,
    GeoPoint,
    Index,
    Indexed,
    Key,
    Model,
    ModelError,
    NotFound,
    QueryError,
    Sorted,
    Unique,
    _lua,
    field,
    new_id,
)
from typedis._index import DECAY, GEO, PREFIX, SET, SORTED, UNIQUE
from typedis._query._refs import (
    ConfidenceRef,
    DecayRef,
    GeoRef,
    IndexedRef,
    KeyRef,
    SortedRef,
    UniqueRef,
)
from typedis._spec import IndexSpec

# -- refused declarations --------------------------------------------------------------------
#
# Each case declares a model named `Bad` inside the test (never saved: no key namespace is
# used) and checks that class creation raises ModelError naming the model and the field.


def _refused(match: str) -> Any:
    return pytest.raises(ModelError, match=match)


def test_sorted_str_is_refused() -> None:
    with _refused(r"^Bad\.score: Sorted fields need a numeric or date type .*got str$"):

        class Bad(Model):
            k: Key[str]
            score: Sorted[str]


def test_sorted_bool_is_refused() -> None:
    with _refused(r"^Bad\.flag: Sorted fields need a numeric or date type .*got bool$"):

        class Bad(Model):
            k: Key[str]
            flag: Sorted[bool]


class SchRankInt(Model):
    k: Key[str]
    score: Sorted[int]


class SchRankFloat(Model):
    k: Key[str]
    score: Sorted[float]


class SchRankDecimal(Model):
    k: Key[str]
    score: Sorted[Decimal]


class SchRankDate(Model):
    k: Key[str]
    score: Sorted[date]


class SchRankDatetime(Model):
    k: Key[str]
    score: Sorted[datetime]


@pytest.mark.parametrize(
    "model", [SchRankInt, SchRankFloat, SchRankDecimal, SchRankDate, SchRankDatetime]
)
def test_sorted_accepts_numbers_and_dates(model: type[Model]) -> None:
    field_spec = model.__typedis_spec__.fields["score"]
    assert field_spec.kind == "sorted"
    assert field_spec.codec.score is not None


def test_annotations_naming_locals_resolve_like_pydantic() -> None:
    # With `from __future__ import annotations` (this module) every annotation is a string.
    # pydantic resolves names local to the defining function from the caller's frame; a typedis
    # model must too, and must never build its spec from an unresolved annotation.
    rank = int

    class Local(Model):
        k: Key[str]
        score: Sorted[rank]  # type: ignore[valid-type]

    assert Local.__pydantic_complete__
    assert Local.__typedis_spec__.fields["score"].kind == "sorted"
    assert Local(k="a", score=1).score == 1


def test_an_unresolved_annotation_never_loses_its_marker() -> None:
    # A forward reference that cannot be resolved at class creation: typedis must either refuse
    # the class (ModelError) or, once model_rebuild() resolves it, know the field is Indexed.
    refused = False
    try:

        class Fwd(Model):
            k: Key[str]
            tag: Indexed[LaterType]

    except ModelError:
        refused = True
    if not refused:
        LaterType = str
        Fwd.model_rebuild()
        assert Fwd.__typedis_spec__.fields["tag"].kind == "indexed"
    assert refused or Fwd.__typedis_spec__.fields["tag"].codec.kind == "str"


def test_sorted_optional_number_is_accepted() -> None:
    class Fine(Model):
        k: Key[str]
        score: Sorted[int | None] = field(default=None)

    assert Fine.__typedis_spec__.fields["score"].nullable


def test_key_float_is_refused() -> None:
    with _refused(r"^Bad\.k: Key fields need a str, int, date or datetime, got float$"):

        class Bad(Model):
            k: Key[float]


def test_key_optional_is_refused() -> None:
    # It once said "need a str, int, date or datetime, got <class 'str'>" for a str key.
    with _refused(r"^Bad\.k: a Key field cannot be None .*got str \| None; declare Key\[str\]$"):

        class Bad(Model):
            k: Key[str | None]


def test_key_of_a_union_names_the_union() -> None:
    with _refused(r"^Bad\.k: Key fields need a str, int, date or datetime, got str \| int$"):

        class Bad(Model):
            k: Key[str | int]


def test_geo_int_is_refused() -> None:
    with _refused(r"^Bad\.where: Geo fields need a GeoPoint"):

        class Bad(Model):
            k: Key[str]
            where: Geo[int]


def test_indexed_list_is_refused() -> None:
    with _refused(r"^Bad\.tags: Indexed fields need a str, int, float, bool"):

        class Bad(Model):
            k: Key[str]
            tags: Indexed[list[int]]


def test_unique_bytes_is_refused() -> None:
    with _refused(r"^Bad\.blob: Unique fields need a str"):

        class Bad(Model):
            k: Key[str]
            blob: Unique[bytes]


def test_decaying_str_is_refused() -> None:
    with _refused(r"^Bad\.fresh: Decaying fields need an int or float"):

        class Bad(Model):
            k: Key[str]
            fresh: Decaying[str]


def test_rate_on_a_non_decaying_field_is_refused() -> None:
    with _refused(r"^Bad\.score: rate= applies to Decaying fields only"):

        class Bad(Model):
            k: Key[str]
            score: Sorted[float] = field(default=0.0, rate=0.5)


def test_rate_equal_to_the_default_on_a_non_decaying_field_is_refused() -> None:
    # rate= is meaningless on a Sorted field whatever its value, including 0.1 (the default
    # decay rate): giving it is a mistake the schema should report.
    with _refused(r"^Bad\.score: rate= applies to Decaying fields only"):

        class Bad(Model):
            k: Key[str]
            score: Sorted[float] = field(default=0.0, rate=0.1)


@pytest.mark.parametrize("rate", [0, 0.0, -1, -0.5, math.inf, math.nan])
def test_rate_must_be_positive(rate: float) -> None:
    with _refused(r"^Bad\.fresh: the decay rate must be a finite number > 0"):

        class Bad(Model):
            k: Key[str]
            fresh: Decaying[float] = field(default=1.0, rate=rate)


def test_auto_now_on_a_non_datetime_is_refused() -> None:
    with _refused(r"^Bad\.stamp: auto_now and auto_now_add need a datetime field"):

        class Bad(Model):
            k: Key[str]
            stamp: str | None = field(default=None, auto_now=True)


def test_auto_now_add_on_a_date_is_refused() -> None:
    with _refused(r"^Bad\.day: auto_now and auto_now_add need a datetime field"):

        class Bad(Model):
            k: Key[str]
            day: date | None = field(default=None, auto_now_add=True)


def test_two_markers_on_one_field_are_refused() -> None:
    with _refused(r"^Bad\.score: a field takes one index marker, got "):

        class Bad(Model):
            k: Key[str]
            score: Indexed[Sorted[int]]


def test_partition_must_name_a_key_field() -> None:
    with _refused(r"^Bad: partition field 'city' must be a Key field"):

        class Bad(Model, partition="city"):
            k: Key[str]
            city: str


def test_partition_naming_an_unknown_field_is_refused() -> None:
    with _refused(r"^Bad: partition field 'nope' must be a Key field"):

        class Bad(Model, partition=["k", "nope"]):
            k: Key[str]


@pytest.mark.parametrize("ttl", [0, -5, 0.0, "60", True, [60], math.inf, math.nan, -math.inf])
def test_ttl_must_be_a_positive_number(ttl: object) -> None:
    with _refused(r"^Bad: ttl= must be a positive, finite number of seconds, got "):

        class Bad(Model, ttl=ttl):
            k: Key[str]


def test_order_by_must_name_a_sorted_field() -> None:
    with _refused(r"^Bad: order_by='-visits' must name a Sorted field"):

        class Bad(Model, order_by="-visits"):
            k: Key[str]
            visits: int = 0


def test_order_by_an_unknown_field_is_refused() -> None:
    with _refused(r"^Bad: order_by='nope' must name a Sorted field"):

        class Bad(Model, order_by="nope"):
            k: Key[str]


def test_composite_index_with_an_unknown_field_is_refused() -> None:
    with _refused(r"^Bad: Index\('city', 'nope'\) names unknown field 'nope'"):

        class Bad(Model, indexes=[Index("city", "nope")]):
            k: Key[str]
            city: str


def test_composite_index_with_one_field_is_refused() -> None:
    with _refused(r"^Bad: a composite Index needs two or more fields"):

        class Bad(Model, indexes=[Index("city")]):
            k: Key[str]
            city: str


def test_composite_index_over_a_msgpack_field_is_refused() -> None:
    with _refused(r"^Bad\.tags: composite indexes need str, int, float"):

        class Bad(Model, indexes=[Index("city", "tags")]):
            k: Key[str]
            city: str
            tags: list[str]


def test_composite_index_over_a_geo_field_is_refused() -> None:
    with _refused(r"^Bad\.spot: composite indexes need"):

        class Bad(Model, indexes=[Index("city", "spot")]):
            k: Key[str]
            city: str
            spot: Geo[GeoPoint | None] = field(default=None)


def test_indexes_takes_index_objects() -> None:
    with _refused(r"^Bad: indexes= takes Index\(\.\.\.\) objects"):

        class Bad(Model, indexes=[("city", "k")]):
            k: Key[str]
            city: str


# -- the automatic key -----------------------------------------------------------------------


class SchAutoNote(Model):
    text: str
    rank: Sorted[int] = field(default=0)


class SchExplicitAuto(Model):
    id: AutoKey = field(default_factory=new_id)
    text: str = ""


def test_a_model_without_key_gets_an_id_field() -> None:
    spec = SchAutoNote.__typedis_spec__
    assert spec.keys == ("id",)
    assert spec.fields["id"].kind == "key"
    assert spec.fields["id"].auto
    a, b = SchAutoNote(text="a"), SchAutoNote(text="b")
    assert re.fullmatch(r"[0-9a-f]{32}", a.id)
    assert a.id != b.id
    assert isinstance(SchAutoNote.id, KeyRef)  # type: ignore[attr-defined]


def test_an_auto_id_model_works_end_to_end(redis_client: redis.Redis) -> None:
    note = SchAutoNote(text="hello", rank=3).save()
    key = f"{{td:SchAutoNote}}:r:{note.id}"
    assert redis_client.hgetall(key) == {b"id": note.id.encode(), b"text": b"hello", b"rank": b"3"}
    assert redis_client.smembers("{td:SchAutoNote}:all") == {note.id.encode()}
    assert redis_client.zscore("{td:SchAutoNote}:z:rank", note.id) == 3.0
    loaded = SchAutoNote.load(note.id)
    assert loaded == note
    assert SchAutoNote.load(id=note.id).text == "hello"
    assert note.delete() is True
    with pytest.raises(NotFound):
        SchAutoNote.load(note.id)
    assert redis_client.dbsize() == 0


def test_explicit_auto_key_is_generated_and_may_be_given() -> None:
    made = SchExplicitAuto()
    assert re.fullmatch(r"[0-9a-f]{32}", made.id)
    assert SchExplicitAuto(id="mine").id == "mine"
    assert SchExplicitAuto.__typedis_spec__.fields["id"].auto


def test_a_model_without_key_whose_id_is_a_plain_field_is_refused() -> None:
    with _refused(r"^Bad: no Key field, and 'id' is taken"):

        class Bad(Model):
            id: int
            text: str


# -- abstract models -------------------------------------------------------------------------


class SchBase(Model, abstract=True, ttl=120, order_by="-score"):
    owner: Indexed[str]
    score: Sorted[int] = field(default=0)


class SchConcrete(SchBase):
    name: Key[str]


class SchConcreteAuto(SchBase):
    note: str = ""


class SchConcreteOwnTtl(SchBase, ttl=30):
    name: Key[str]


def test_abstract_model_cannot_be_instantiated() -> None:
    with pytest.raises(ModelError, match=r"^SchBase is abstract"):
        SchBase(owner="x")


def test_abstract_model_cannot_be_saved(redis_client: redis.Redis) -> None:
    sneaked = SchBase.model_construct(owner="x", score=1)  # bypasses the constructor check
    with pytest.raises(ModelError, match=r"^SchBase is abstract"):
        sneaked.save()
    assert redis_client.dbsize() == 0


def test_abstract_model_has_a_spec_without_keys() -> None:
    spec = SchBase.__typedis_spec__
    assert spec.abstract
    assert spec.keys == ()
    assert "id" not in spec.fields


def test_concrete_subclass_inherits_fields_and_options(redis_client: redis.Redis) -> None:
    spec = SchConcrete.__typedis_spec__
    assert not spec.abstract
    assert spec.keys == ("name",)
    assert set(spec.fields) == {"owner", "score", "name"}
    assert spec.ttl == 120
    assert spec.order_by == ("score", True)
    record = SchConcrete(name="n", owner="o", score=5).save()
    assert SchConcrete.load("n") == record
    assert redis_client.sismember("{td:SchConcrete}:i:owner:o", "n")
    assert redis_client.zscore("{td:SchConcrete}:z:score", "n") == 5.0
    ttl_ms = redis_client.zscore("{td:SchConcrete}:exp", "n")
    assert ttl_ms is not None
    assert redis_client.hget("{td:SchConcrete}:r:n", "~exp") == str(int(ttl_ms)).encode()


def test_concrete_subclass_without_key_gets_an_id() -> None:
    spec = SchConcreteAuto.__typedis_spec__
    assert spec.keys == ("id",)
    assert spec.ttl == 120
    record = SchConcreteAuto(owner="o").save()
    assert SchConcreteAuto.load(record.id).owner == "o"


def test_subclass_options_override_inherited_ones() -> None:
    assert SchConcreteOwnTtl.__typedis_spec__.ttl == 30
    assert SchConcreteOwnTtl.__typedis_spec__.order_by == ("score", True)


# -- the spec of a sample model --------------------------------------------------------------


class SchSample(
    Model,
    partition="region",
    ttl=60,
    order_by="-rating",
    indexes=[Index("city", "cuisine", unique=True), Index("city", "tier")],
):
    region: Key[str]
    name: Key[str]
    branch: Key[int]
    city: str
    cuisine: Indexed[str | None] = field(default=None)
    tier: int = 0
    email: Unique[str]
    rating: Sorted[float] = field(default=0.0)
    spot: Geo[GeoPoint | None] = field(default=None)
    fresh: Decaying[float] = field(default=1.0, rate=0.5)
    trust: Confidence = field(default=0.5)
    notes: list[str] = field(default_factory=list)


class SchSingle(Model):
    name: Key[str]
    email: Unique[str]


def test_sample_index_list() -> None:
    assert SchSample.__typedis_spec__.indexes == (
        IndexSpec(SET, "key", ("name",), "i:name:"),
        IndexSpec(SET, "key", ("branch",), "i:branch:"),
        IndexSpec(SET, "indexed", ("cuisine",), "i:cuisine:"),
        IndexSpec(UNIQUE, "unique", ("email",), "u:email"),
        IndexSpec(SORTED, "sorted", ("rating",), "z:rating"),
        IndexSpec(SORTED, "confidence", ("trust",), "z:trust"),
        IndexSpec(DECAY, "decaying", ("fresh",), "z:fresh", {"rate": 0.5, "curve": "exponential"}),
        IndexSpec(GEO, "geo", ("spot",), "g:spot"),
        IndexSpec(PREFIX, "prefix", ("name",), "l:name"),
        IndexSpec(PREFIX, "prefix", ("cuisine",), "l:cuisine"),
        IndexSpec(PREFIX, "prefix", ("email",), "l:email"),
        IndexSpec(UNIQUE, "composite", ("city", "cuisine"), "u:city+cuisine"),
        IndexSpec(SET, "composite", ("city", "tier"), "c:city+tier:"),
    )


def test_sample_lua_spec() -> None:
    spec = SchSample.__typedis_spec__
    assert _lua.spec_source(spec.stored, spec.indexes, spec.hidden) == (
        "local SPEC = {fields = {'region', 'name', 'branch', 'city', 'cuisine', 'tier', 'email', "
        "'rating', 'spot', 'fresh', 'trust', 'notes'}, idx = {"
        "{kind = 'set', suffix = 'i:name:', fields = {'name'}, opts = {}}, "
        "{kind = 'set', suffix = 'i:branch:', fields = {'branch'}, opts = {}}, "
        "{kind = 'set', suffix = 'i:cuisine:', fields = {'cuisine'}, opts = {}}, "
        "{kind = 'unique', suffix = 'u:email', fields = {'email'}, opts = {}}, "
        "{kind = 'sorted', suffix = 'z:rating', fields = {'rating'}, opts = {}}, "
        "{kind = 'sorted', suffix = 'z:trust', fields = {'trust'}, opts = {}}, "
        "{kind = 'decay', suffix = 'z:fresh', fields = {'fresh'}, "
        "opts = {['rate'] = 0.5, ['curve'] = 'exponential'}}, "
        "{kind = 'geo', suffix = 'g:spot', fields = {'spot'}, opts = {}}, "
        "{kind = 'prefix', suffix = 'l:name', fields = {'name'}, opts = {}}, "
        "{kind = 'prefix', suffix = 'l:cuisine', fields = {'cuisine'}, opts = {}}, "
        "{kind = 'prefix', suffix = 'l:email', fields = {'email'}, opts = {}}, "
        "{kind = 'unique', suffix = 'u:city+cuisine', fields = {'city', 'cuisine'}, opts = {}}, "
        "{kind = 'set', suffix = 'c:city+tier:', fields = {'city', 'tier'}, opts = {}}}, "
        "hidden = {'~t:fresh'}, read = {'region', 'name', 'branch', 'city', 'cuisine', 'tier', "
        "'email', 'rating', 'spot', 'fresh', 'trust', 'notes', '~t:fresh'}}\n"
    )


def test_sample_spec_fields() -> None:
    spec = SchSample.__typedis_spec__
    assert spec.name == "SchSample"
    assert spec.keys == ("region", "name", "branch")
    assert spec.partition == ("region",)
    assert spec.ttl == 60
    assert spec.order_by == ("rating", True)
    assert not spec.abstract
    assert spec.stored == (
        "region", "name", "branch", "city", "cuisine", "tier", "email", "rating", "spot",
        "fresh", "trust", "notes",
    )  # fmt: skip
    assert spec.required == frozenset(spec.stored) - {"cuisine", "spot"}
    assert {n for n, _ in spec.decoders} == {"spot", "notes"}
    kinds = {n: (f.kind, f.codec.kind, f.nullable) for n, f in spec.fields.items()}
    assert kinds == {
        "region": ("key", "str", False),
        "name": ("key", "str", False),
        "branch": ("key", "int", False),
        "city": (None, "str", False),
        "cuisine": ("indexed", "str", True),
        "tier": (None, "int", False),
        "email": ("unique", "str", False),
        "rating": ("sorted", "float", False),
        "spot": ("geo", "msgpack", True),
        "fresh": ("decaying", "float", False),
        "trust": ("confidence", "float", False),
        "notes": (None, "msgpack", False),
    }
    assert spec.fields["fresh"].options.rate == 0.5


def test_single_key_model_has_no_key_set_index() -> None:
    spec = SchSingle.__typedis_spec__
    assert spec.indexes == (
        IndexSpec(UNIQUE, "unique", ("email",), "u:email"),
        IndexSpec(PREFIX, "prefix", ("name",), "l:name"),
        IndexSpec(PREFIX, "prefix", ("email",), "l:email"),
    )
    assert spec.partition == ()
    assert spec.ttl is None
    assert spec.order_by is None


def test_sample_key_layout() -> None:
    record = SchSample(region="eu:west", name="A{b}", branch=3, city="Paris", email="e@x")
    assert record.redis_key == "{td:SchSample:eu%3Awest}:r:eu%3Awest:A%7Bb%7D:3"
    assert SchSingle(name="a:b*", email="e").redis_key == "{td:SchSingle}:r:a%3Ab%2A"


def test_sample_keys_written(redis_client: redis.Redis) -> None:
    SchSample(
        region="eu", name="Chez", branch=2, city="Paris", cuisine="fr", tier=1, email="c@x",
        rating=4.5, spot=GeoPoint(48.85, 2.35), fresh=2.0, trust=0.75,
    ).save()  # fmt: skip
    rid = "eu:Chez:2"
    tag = "{td:SchSample:eu}"
    assert sorted(k.decode() for k in redis_client.keys("*")) == sorted(
        [
            f"{tag}:r:{rid}",
            f"{tag}:all",
            f"{tag}:exp",
            f"{tag}:i:name:Chez",
            f"{tag}:i:branch:2",
            f"{tag}:i:cuisine:fr",
            f"{tag}:u:email",
            f"{tag}:z:rating",
            f"{tag}:g:spot",
            f"{tag}:z:fresh",
            f"{tag}:z:trust",
            f"{tag}:l:name",
            f"{tag}:l:cuisine",
            f"{tag}:l:email",
            f"{tag}:u:city+cuisine",
            f"{tag}:c:city+tier:Paris:1",
            "{td:SchSample}:partitions",  # the registry of partitions
        ]
    )
    assert redis_client.hgetall(f"{tag}:u:city+cuisine") == {b"Paris:fr": rid.encode()}
    assert redis_client.hgetall(f"{tag}:u:email") == {b"c@x": rid.encode()}
    assert redis_client.zscore(f"{tag}:z:trust", rid) == 0.75
    assert redis_client.zrange(f"{tag}:l:name", 0, -1) == [f"Chez\x00{rid}".encode()]
    assert SchSample.check_indexes()["total"] == 0


# -- class references ------------------------------------------------------------------------


def test_class_attributes_are_field_references() -> None:
    assert type(SchSample.name) is KeyRef
    assert type(SchSample.cuisine) is IndexedRef
    assert type(SchSample.email) is UniqueRef
    assert type(SchSample.rating) is SortedRef
    assert type(SchSample.spot) is GeoRef
    assert type(SchSample.fresh) is DecayRef
    assert type(SchSample.trust) is ConfidenceRef
    assert SchSample.rating.model is SchSample
    assert SchSample.rating.name == "rating"
    assert repr(SchSample.rating) == "SchSample.rating"


def test_plain_fields_are_not_references() -> None:
    with pytest.raises(AttributeError):
        _ = SchSample.city  # type: ignore[attr-defined]


def test_instance_attributes_are_values() -> None:
    record = SchSample(region="eu", name="n", branch=1, city="c", email="e", rating=2.5)
    assert record.rating == 2.5
    assert record.name == "n"
    assert record.spot is None


def test_models_stay_ordinary_pydantic_models() -> None:
    record = SchSingle(name="n", email="e")
    assert record.model_dump() == {"name": "n", "email": "e"}
    schema = SchSingle.model_json_schema()
    assert schema["required"] == ["name", "email"]
    assert SchSingle.model_validate({"name": "a", "email": "b"}).email == "b"


class NoPrefix(Model):
    name: Key[str] = field(prefix_index=False)
    email: Unique[str] = field(prefix_index=False)
    cuisine: Indexed[str]


def test_prefix_index_false_drops_the_lexicographic_index() -> None:
    kinds = {(ix.kind.name, ix.fields) for ix in NoPrefix.__typedis_spec__.indexes}
    assert ("prefix", ("cuisine",)) in kinds
    assert not {("prefix", ("name",)), ("prefix", ("email",))} & kinds


def test_prefix_index_false_is_refused_where_there_is_no_prefix_index() -> None:
    for annotation in (Indexed[int], Sorted[float], str):
        with pytest.raises(ModelError, match=r"Bad\.x: prefix_index= applies to str Key"):
            type(
                "Bad",
                (Model,),
                {"__annotations__": {"x": annotation}, "x": field(default=0, prefix_index=False)},
            )


def test_a_field_without_a_prefix_index_writes_none_and_refuses_startswith(
    redis_client: redis.Redis,
) -> None:
    NoPrefix(name="Taco", email="t@x.io", cuisine="mex").save()
    lex_keys = {k.decode() for k in redis_client.scan_iter(match="{td:NoPrefix}:l:*")}
    assert lex_keys == {"{td:NoPrefix}:l:cuisine"}
    assert NoPrefix.query.filter(NoPrefix.cuisine.startswith("me")).count() == 1
    with pytest.raises(QueryError, match=r"NoPrefix\.name: startswith\(\) needs .*prefix_index"):
        NoPrefix.query.filter(NoPrefix.name.startswith("Ta")).all()
    with pytest.raises(QueryError, match="prefix_index"):
        NoPrefix.query.filter(email__startswith="t").count()
    assert NoPrefix.check_indexes()["total"] == 0
