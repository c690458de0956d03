"""Key escaping is injective: no two different records, indexes or models ever share a key.

Property tests on ``typedis._keys`` (pure), the Lua ``esc`` of ``lua/_lib.lua`` checked byte for
byte against the Python ``escape`` on the real server, and records whose key values differ only
in escaping-relevant characters stored and loaded end to end.
"""

from __future__ import annotations

import re
from importlib import resources

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from typedis import Index, Indexed, Key, Model, NotFound, Unique, _keys, field

# Characters that matter to the key layout, plus some unicode; surrogates cannot be sent to Redis.
SPECIAL = ":{}*\\%[]?+ \x00"
_special_text = st.text(alphabet=st.sampled_from(SPECIAL + "ab%3A"), max_size=8)
_any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
values = st.one_of(
    _special_text, _any_text, st.sampled_from(["", "%", "%25", "%3A", "a:b", "a%3Ab"])
)
names = st.one_of(_special_text, st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True))

# A record's identity: (model name, partition values, key values). A model has at least one key;
# partition values are a prefix-free part of it (their count is fixed per model, but we let it
# vary here, which only makes the property stronger).
identities = st.tuples(
    names,
    st.lists(values, max_size=3).map(tuple),
    st.lists(values, min_size=1, max_size=3).map(tuple),
)
fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def record_key(identity: tuple[str, tuple[str, ...], tuple[str, ...]]) -> str:
    model, partition, key = identity
    return _keys.record(_keys.tag(model, partition), _keys.record_id(key))


def hash_tag(key: str) -> str:
    """The part of a key Redis Cluster hashes: between the first '{' and the next '}'."""
    start = key.index("{")
    end = key.index("}", start + 1)
    return key[start + 1 : end]


@given(identities, identities)
def test_record_keys_are_injective(a: tuple, b: tuple) -> None:
    assert (record_key(a) == record_key(b)) == (a == b)


@given(st.lists(identities, min_size=2, max_size=30, unique=True))
def test_record_keys_distinct_in_bulk(ids: list) -> None:
    keys = [record_key(i) for i in ids]
    assert len(set(keys)) == len(keys)


@given(identities)
def test_hash_tag_is_exactly_the_model_and_partition(identity: tuple) -> None:
    model, partition, _ = identity
    key = record_key(identity)
    tag = _keys.tag(model, partition)
    assert key.startswith(tag)
    assert "{" + hash_tag(key) + "}" == tag
    # the id part never contains a brace, so it cannot open or close another hash tag
    assert not set(key[len(tag) :]) & set("{}")


@given(identities)
def test_model_of_reads_the_model_back_from_any_key(identity: tuple) -> None:
    model, partition, _ = identity
    tag = _keys.tag(model, partition)
    for key in (record_key(identity), _keys.all_ids(tag), _keys.expiry(tag)):
        assert _keys.model_of(key) == model


def test_model_of_a_key_typedis_did_not_name() -> None:
    assert _keys.model_of("session:42") == ""
    assert _keys.model_of("{other:Shop}:r:1") == ""


@given(values)
def test_escaped_values_contain_no_structural_characters(value: str) -> None:
    escaped = _keys.escape(value)
    assert not set(escaped) & set("{}:*?[]\\")
    assert escaped != _keys.NULL
    # escaping is reversible: percent-decoding gives the value back
    assert re.sub(r"%([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), escaped) == value


@given(values, values)
def test_escape_is_injective(a: str, b: str) -> None:
    assert (_keys.escape(a) == _keys.escape(b)) == (a == b)


_value_tuples = st.lists(st.one_of(st.none(), values), min_size=1, max_size=3).map(tuple)


@given(names, st.lists(names, min_size=1, max_size=3).map(tuple), _value_tuples, _value_tuples)
def test_set_index_keys_are_injective(model: str, fields: tuple, a: tuple, b: tuple) -> None:
    tag = _keys.tag(model)
    suffix = _keys.index_suffix("set", fields)
    key_a, key_b = _keys.set_index(tag, suffix, a), _keys.set_index(tag, suffix, b)
    if len(a) == len(b):  # one index always has one arity
        assert (key_a == key_b) == (a == b)
    assert key_a.startswith(tag + ":" + suffix)


@given(
    st.lists(names, min_size=1, max_size=3).map(tuple),
    st.lists(names, min_size=1, max_size=3).map(tuple),
)
def test_index_names_are_injective(a: tuple, b: tuple) -> None:
    for kind in ("set", "uniq", "z", "geo"):
        assert (_keys.index_suffix(kind, a) == _keys.index_suffix(kind, b)) == (a == b)
    suffixes = {_keys.index_suffix(k, a) for k in ("uniq", "z", "geo")}
    assert len(suffixes) == 3


@given(
    names,
    st.lists(names, min_size=1, max_size=2).map(tuple),
    st.lists(values, min_size=1, max_size=2),
)
def test_set_index_never_equals_a_record_or_fixed_key(
    model: str, fields: tuple, texts: list
) -> None:
    tag = _keys.tag(model)
    index = _keys.set_index(tag, _keys.index_suffix("set", fields), texts)
    fixed = {_keys.all_ids(tag), _keys.expiry(tag)}
    fixed |= {tag + ":" + _keys.index_suffix(k, fields) for k in ("uniq", "z", "geo")}
    assert index not in fixed
    assert index != _keys.record(tag, _keys.record_id(texts))


@given(
    st.lists(values, min_size=1, max_size=3).map(tuple),
    st.lists(values, min_size=1, max_size=3).map(tuple),
)
def test_unique_fields_are_injective(a: tuple, b: tuple) -> None:
    if len(a) == len(b):
        assert (_keys.unique_field(a) == _keys.unique_field(b)) == (a == b)


@given(names, names)
def test_scan_pattern_separates_models(a: str, b: str) -> None:
    """A model's SCAN pattern matches its own keys and never another model's."""
    pattern = _keys.scan_pattern(a)
    assert pattern.startswith("{td:" + _keys.escape(a))
    own = [_keys.record(_keys.tag(a), "x"), _keys.all_ids(_keys.tag(a, ["p"]))]
    other = _keys.record(_keys.tag(b), "x")
    # emulate Redis glob: the pattern is '{td:<escaped>[:}]*' and <escaped> holds no glob chars
    regex = re.compile(re.escape(pattern[: -len("[:}]*")]) + r"[:}].*", re.DOTALL)
    assert all(regex.fullmatch(k) for k in own)
    assert bool(regex.fullmatch(other)) == (a == b)


# ---- the Lua escape is the Python escape ---------------------------------------------------


def lua_esc_source() -> str:
    """The text of ``esc`` in _lib.lua, with the one-line upper-case constants it may use."""
    lib = (resources.files("typedis") / "lua" / "_lib.lua").read_text()
    match = re.search(r"^local function esc\(s\)\n.*?^end\n", lib, re.DOTALL | re.MULTILINE)
    assert match is not None, "function esc not found in _lib.lua"
    constants = re.findall(r"^local [A-Z_]+ = [^\n]*\n", lib[: match.start()], re.MULTILINE)
    return "".join(constants) + match.group(0)


LUA_ESC = lua_esc_source() + "return esc(ARGV[1])"


@fixture_ok
@given(st.one_of(values, st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)))
def test_lua_escape_matches_python(redis_client: redis.Redis, value: str) -> None:
    got = redis_client.eval(LUA_ESC, 0, value)
    assert got == _keys.escape(value).encode()


def test_lua_escape_of_every_ascii_character(redis_client: redis.Redis) -> None:
    value = "".join(chr(c) for c in range(1, 128)) + "\x00é☃𝄞"
    assert redis_client.eval(LUA_ESC, 0, value) == _keys.escape(value).encode()


# ---- end to end: records that differ only in escaping-relevant characters -----------------


class KeysOne(Model):
    name: Key[str]
    tagname: Indexed[str | None] = field(default=None)
    email: Unique[str | None] = field(default=None)
    n: int = 0


class KeysTwo(Model, partition="group", indexes=[Index("a", "b", unique=True)]):
    group: Key[str]
    name: Key[str]
    a: str = ""
    b: str = ""


TRICKY = [
    "a:b",
    "a%3Ab",
    "a%253Ab",
    "",
    "%",
    "%25",
    "{x}",
    "%7Bx%7D",
    "*",
    "%2A",
    "\\",
    "?[]",
    "é",
    "%%",
]


def test_tricky_keys_are_stored_separately(redis_client: redis.Redis) -> None:
    for n, name in enumerate(TRICKY):
        KeysOne(name=name, tagname=name, email=name, n=n).save()
    assert redis_client.scard(_keys.all_ids(_keys.tag("KeysOne"))) == len(TRICKY)
    for n, name in enumerate(TRICKY):
        got = KeysOne.load(name)
        assert (got.name, got.tagname, got.email, got.n) == (name, name, name, n)
        index = _keys.set_index(
            _keys.tag("KeysOne"), _keys.index_suffix("set", ("tagname",)), [name]
        )
        assert redis_client.smembers(index) == {_keys.record_id([name]).encode()}
    unique = redis_client.hgetall(
        _keys.tag("KeysOne") + ":" + _keys.index_suffix("uniq", ("email",))
    )
    assert len(unique) == len(TRICKY)


def test_none_and_percent_are_different_index_values(redis_client: redis.Redis) -> None:
    KeysOne(name="none").save()
    KeysOne(name="pct", tagname="%").save()
    tag = _keys.tag("KeysOne")
    suffix = _keys.index_suffix("set", ("tagname",))
    assert redis_client.smembers(_keys.set_index(tag, suffix, [None])) == {b"none"}
    assert redis_client.smembers(_keys.set_index(tag, suffix, ["%"])) == {b"pct"}
    assert KeysOne.load("none").tagname is None
    assert KeysOne.load("pct").tagname == "%"


def test_tricky_partitions_and_keys(redis_client: redis.Redis) -> None:
    pairs = [("x:y", "z"), ("x", "y:z"), ("x", "y%3Az"), ("", ":"), (":", ""), ("%", ""), ("", "%")]
    for n, (group, name) in enumerate(pairs):
        KeysTwo(group=group, name=name, a=group, b=str(n)).save()
    for n, (group, name) in enumerate(pairs):
        got = KeysTwo.load(group, name)
        assert (got.group, got.name, got.a, got.b) == (group, name, group, str(n))
        tag = _keys.tag("KeysTwo", [group])
        assert redis_client.sismember(_keys.all_ids(tag), _keys.record_id([group, name]))
    with pytest.raises(NotFound):
        KeysTwo.load("x", "y")
    # composite unique over (a, b): values that only differ by escaping do not clash
    KeysTwo(group="g", name="1", a="p:q", b="r").save()
    KeysTwo(group="g", name="2", a="p", b="q:r").save()
    assert KeysTwo.load("g", "2").b == "q:r"


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(values, min_size=1, max_size=8, unique=True))
def test_any_distinct_keys_round_trip(redis_client: redis.Redis, names_: list[str]) -> None:
    redis_client.flushdb()
    for n, name in enumerate(names_):
        KeysOne(name=name, tagname=name, n=n).save()
    assert redis_client.scard(_keys.all_ids(_keys.tag("KeysOne"))) == len(names_)
    for n, name in enumerate(names_):
        got = KeysOne.load(name)
        assert (got.name, got.tagname, got.n) == (name, name, n)
