"""The public surface: every exported name imports, the version, the py.typed marker."""

from __future__ import annotations

import importlib
import importlib.resources

import pytest

import typedis
import typedis.query

PUBLIC_MODULES = ["typedis", "typedis.query"]


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_all_is_sorted_and_unique(module_name: str) -> None:
    exported: list[str] = importlib.import_module(module_name).__all__
    assert len(set(exported)) == len(exported)
    assert sorted(exported) == exported


@pytest.mark.parametrize(
    ("module_name", "name"),
    [(m, n) for m in PUBLIC_MODULES for n in importlib.import_module(m).__all__],
)
def test_every_exported_name_imports(module_name: str, name: str) -> None:
    module = importlib.import_module(module_name)
    assert getattr(module, name) is not None
    namespace: dict[str, object] = {}
    exec(f"from {module_name} import {name}", namespace)
    assert namespace[name] is getattr(module, name)


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_star_import_gives_exactly_all(module_name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from {module_name} import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(importlib.import_module(module_name).__all__)


def test_query_module_only_re_exports() -> None:
    for name in typedis.query.__all__:
        assert getattr(typedis.query, name).__module__.startswith("typedis._query.")
    assert typedis.Query is typedis.query.Query
    assert typedis.Cond is typedis.query.Cond


def test_version_is_a_string() -> None:
    assert isinstance(typedis.__version__, str)
    assert typedis.__version__
    assert typedis.__version__ != "0.0.0+unknown"  # the venv has the package installed


def test_package_ships_py_typed() -> None:
    marker = importlib.resources.files("typedis") / "py.typed"
    assert marker.is_file()


def test_package_ships_its_lua_scripts() -> None:
    folder = importlib.resources.files("typedis") / "lua"
    names = {entry.name for entry in folder.iterdir()}
    assert {"_lib.lua", "save.lua", "delete.lua", "load.lua", "incr.lua", "sweep.lua"} <= names


def test_errors_share_one_base() -> None:
    errors = [
        typedis.ConfigError,
        typedis.CorruptRecord,
        typedis.KeyMutationError,
        typedis.ModelError,
        typedis.NotFound,
        typedis.OutcomeUnknown,
        typedis.PermissionDenied,
        typedis.QueryError,
        typedis.UniqueViolation,
    ]
    assert all(issubclass(e, typedis.TypedisError) for e in errors)
    assert issubclass(typedis.NotFound, LookupError)
    assert issubclass(typedis.ModelError, TypeError)
    assert issubclass(typedis.QueryError, ValueError)
    assert issubclass(typedis.ConfigError, ValueError)
    assert issubclass(typedis.PermissionDenied, PermissionError)


def test_every_error_is_shown_where_it_is_imported_from() -> None:
    errors = [
        value
        for value in vars(typedis).values()
        if isinstance(value, type) and issubclass(value, typedis.TypedisError | Warning)
    ]
    assert len(errors) >= 14
    for error in errors:
        assert f"{error.__module__}.{error.__qualname__}" == f"typedis.{error.__name__}"
        assert getattr(typedis, error.__name__) is error
