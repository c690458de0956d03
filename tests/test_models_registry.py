"""The registry of models: typedis.models(), one model per name, name=, redefinitions."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import pytest
import redis

import typedis
from typedis import Key, Model, RegisteredModel

pytest_plugins = ["pytester"]


class RxShop(Model, ttl=60):
    name: Key[str]


RxShop_ = RxShop  # for the tests whose own RxShop hides it


class RxNote(Model, partition=["owner", "day"]):
    owner: Key[str]
    day: Key[int]
    text: Key[str]


class RxBase(Model, abstract=True):
    note: str = ""


def registered(name: str) -> RegisteredModel | None:
    return next((m for m in typedis.models() if m.name == name), None)


def test_concrete_models_are_listed_by_name_with_their_layout() -> None:
    listed = typedis.models()
    assert [m.name for m in listed] == sorted(m.name for m in listed)
    assert registered("RxShop") == RegisteredModel(RxShop, "RxShop", "{td:RxShop}:*", (), 60)
    assert registered("RxNote") == RegisteredModel(
        RxNote, "RxNote", "{td:RxNote:<owner>:<day>}:*", ("owner", "day"), None
    )
    assert registered("RxBase") is None  # abstract: it stores nothing


def test_a_second_model_of_a_name_is_refused_and_the_first_stays() -> None:
    with pytest.raises(typedis.ModelError) as refused:

        class RxShop(Model):  # another qualified name: test_...<locals>.RxShop
            code: Key[int]

    message = str(refused.value)
    assert message.startswith("RxShop: test_models_registry.test_a_second_model_of_a_name")
    assert "and test_models_registry.RxShop are two models of that name" in message
    assert "would share every key ({td:RxShop}:*)" in message
    assert 'class RxShop(Model, name="...")' in message
    assert registered("RxShop") == RegisteredModel(RxShop_, "RxShop", "{td:RxShop}:*", (), 60)


def test_a_distinct_name_gives_distinct_keys(redis_client: redis.Redis) -> None:
    class RxShop(Model, name="legacy.RxShop"):
        name: Key[str]
        city: str

    assert RxShop.__typedis_spec__.name == "legacy.RxShop"
    assert registered("legacy.RxShop") == RegisteredModel(
        RxShop, "legacy.RxShop", "{td:legacy.RxShop}:*", (), None
    )
    RxShop(name="a", city="Porto").save()
    RxShop_(name="a").save()
    assert redis_client.hgetall("{td:legacy.RxShop}:r:a") == {b"name": b"a", b"city": b"Porto"}
    assert RxShop.load("a").city == "Porto"
    assert RxShop_.load("a").name == "a"


def test_name_is_not_inherited() -> None:
    class RxOld(Model, name="RxOldName"):
        name: Key[str]

    class RxNew(RxOld):
        pass

    assert (RxOld.__typedis_spec__.name, RxNew.__typedis_spec__.name) == ("RxOldName", "RxNew")
    assert registered("RxNew") is not None and registered("RxOld") is None


@pytest.mark.parametrize("name", ["", 3, None.__class__])
def test_name_takes_a_non_empty_str(name: object) -> None:
    with pytest.raises(typedis.ModelError, match=r"RxBad: name= takes a non-empty str, got"):

        class RxBad(Model, name=name):  # type: ignore[call-arg]  # pyright: ignore[reportArgumentType]
            k: Key[str]

    assert registered("RxBad") is None


def test_running_a_class_statement_again_replaces_its_model(redis_client: redis.Redis) -> None:
    """A schema change in one test: the same statement, as a notebook cell run twice."""
    made: list[type[Model]] = []
    for fields in ("name: Key[str]", "name: Key[str]\n    stars: int = 0"):
        namespace = {"Key": Key, "Model": Model, "__name__": __name__}
        exec(f"class RxCell(Model):\n    {fields}\n", namespace)
        made.append(namespace["RxCell"])
        if len(made) == 1:
            made[0](name="a").save()
    assert made[0].__qualname__ == made[1].__qualname__ and made[0] is not made[1]
    assert registered("RxCell") == RegisteredModel(made[1], "RxCell", "{td:RxCell}:*", (), None)
    assert made[1].load("a").model_dump() == {"name": "a", "stars": 0}  # reads v1's record


def test_reloading_a_module_replaces_its_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "rx_models.py").write_text(
        "from typedis import Key, Model\n\nclass RxReloaded(Model):\n    name: Key[str]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("rx_models")
    try:
        first = module.RxReloaded
        second = importlib.reload(module).RxReloaded
    finally:
        del sys.modules["rx_models"]
    assert first is not second
    found = registered("RxReloaded")
    assert found is not None and found.model is second


TESTS = """
from typedis import Key, Model, models

class RxTop(Model):
    name: Key[str]

def test_a():
    class Item(Model):
        name: Key[str]
    assert [m.name for m in models() if m.name.startswith(("Item", "RxTop"))] == ["Item", "RxTop"]

def test_b():
    class Item(Model):
        code: Key[int]
    assert [m.model for m in models() if m.name == "Item"] == [Item]

def test_c():
    assert [m.name for m in models() if m.name.startswith(("Item", "RxTop"))] == ["RxTop"]
"""


def test_the_pytest_plugin_gives_each_test_the_registry_as_it_was(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(textwrap.dedent(TESTS))
    run = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly")
    run.assert_outcomes(passed=3)
    without = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:typedis")
    without.assert_outcomes(passed=1, failed=2)  # test_b's Item meets test_a's; test_c sees it
    assert (
        "Item: test_the_pytest_plugin_gives_each_test_the_registry_as_it_was"
        in without.stdout.str()
    )
