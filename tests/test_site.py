"""The documentation site (mkdocs.yml, `make docs`): the API reference covers the public API,
and docs/hooks.py takes the repository files the docs link to into the site.

The strict build itself (links, anchors, the nav, docstrings) runs in `make docs`, which
`make test` runs; these tests need no build.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from mkdocs.config import load_config
from mkdocs.structure.files import InclusionLevel, get_files

import typedis
import typedis.pytest_plugin

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference"
# The public modules: the package, and those whose whole `__all__` the reference renders.
PUBLIC = ["typedis", "typedis.query", "typedis.memory", "typedis.pytest_plugin"]
PUBLIC.append("typedis.retrieval")
PUBLIC.append("typedis.eval")
PUBLIC.append("typedis.integrations.loomflow")

# `::: dotted.path`, then its indented YAML options, if any.
_DIRECTIVE = re.compile(r"^::: (?P<path>[\w.]+)\n(?P<options>(?:[ \t]+\S.*\n)*)", re.MULTILINE)


def _hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hooks = _hooks()


def _resolve(path: str) -> Any:
    """The object at a dotted path: the longest importable module, then attributes."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            found = getattr(found, name)
        return found
    raise AssertionError(f"{path}: no such module")


def documented(text: str) -> list[Any]:
    """The objects a reference page renders: each `:::` target, and a module's members (its
    `members:` option, else its whole `__all__`)."""
    found: list[Any] = []
    for match in _DIRECTIVE.finditer(text):
        target = _resolve(match["path"])
        found.append(target)
        if isinstance(target, ModuleType):
            options = yaml.safe_load(textwrap.dedent(match["options"])) or {}
            members = options.get("options", {}).get("members", target.__all__)
            found += [getattr(target, name) for name in members]
    return found


def test_every_public_name_is_in_the_reference() -> None:
    pages = sorted(REFERENCE.glob("*.md"))
    ids = {id(obj) for page in pages for obj in documented(page.read_text())}
    missing = [
        f"{module}.{name}"
        for module in PUBLIC
        for name in importlib.import_module(module).__all__
        if id(getattr(importlib.import_module(module), name)) not in ids
    ]
    assert not missing, f"add them to a page of docs/reference/: {missing}"


def test_the_reference_covers_the_package_name_by_name() -> None:
    # Each name of `typedis.__all__` has its own line (not only a module's member list), so the
    # reference shows it where users import it from.
    lines = {m["path"] for p in REFERENCE.glob("*.md") for m in _DIRECTIVE.finditer(p.read_text())}
    assert {f"typedis.{name}" for name in typedis.__all__} <= lines


def test_the_directive_parser_reads_members_and_whole_modules() -> None:
    page = """# Page

::: typedis.Model

::: typedis.query
    options:
      members:
        - SortedRef
        - Rank

::: typedis.pytest_plugin
"""
    assert documented(page) == [
        typedis.Model,
        typedis.query,
        typedis.query.SortedRef,
        typedis.query.Rank,
        typedis.pytest_plugin,
        *[getattr(typedis.pytest_plugin, name) for name in typedis.pytest_plugin.__all__],
    ]


@pytest.mark.parametrize(
    ("markdown", "src_uri", "expected"),
    [
        # links between pages of docs/ stay as they are
        ("[m](models.md#keys)", "index.md", "[m](models.md#keys)"),
        ("[m](../models.md)", "reference/models.md", "[m](../models.md)"),
        # a repository file outside docs/ is served under repo/
        ("[r](../README.md)", "index.md", "[r](repo/README.md)"),
        (
            "![p](../benchmarks/results/a.png)",
            "performance.md",
            "![p](repo/benchmarks/results/a.png)",
        ),
        ("[r](../../README.md#layout)", "reference/index.md", "[r](../repo/README.md#layout)"),
        # from a copied file: into docs/ goes to the page, beside it stays beside it
        ("[m](docs/models.md#keys)", "repo/README.md", "[m](../models.md#keys)"),
        (
            "[p](../../docs/performance.md)",
            "repo/benchmarks/results/x.md",
            "[p](../../../performance.md)",
        ),
        ("[d](decay.md)", "repo/benchmarks/results/memory.md", "[d](decay.md)"),
        # web addresses, absolute paths, anchors and paths out of the repository: untouched
        ("[w](https://x.io/a.md)", "index.md", "[w](https://x.io/a.md)"),
        ("[a](/abs.md)", "index.md", "[a](/abs.md)"),
        ("[a](#errors)", "index.md", "[a](#errors)"),
        ("[o](../../outside.md)", "index.md", "[o](../../outside.md)"),
    ],
)
def test_links_point_at_the_site_copy(markdown: str, src_uri: str, expected: str) -> None:
    assert hooks.rewrite(markdown, src_uri, "docs") == expected


def test_linked_files_are_repository_paths() -> None:
    markdown = "[a](../README.md) [b](models.md#x) [c](https://x.io) ![d](../benchmarks/d.png)"
    assert hooks.linked(markdown, "index.md", "docs") == [
        "README.md",
        "docs/models.md",
        "benchmarks/d.png",
    ]


def test_the_site_takes_in_the_files_the_docs_link_to() -> None:
    config = load_config(str(ROOT / "mkdocs.yml"))
    files = config.plugins.on_files(get_files(config), config=config)  # the hook among them
    readme = files.get_file_from_path("repo/README.md")
    assert readme is not None
    assert readme.abs_src_path == str(ROOT / "README.md")
    assert readme.inclusion == InclusionLevel.NOT_IN_NAV
    hook = files.get_file_from_path("hooks.py")
    assert hook is not None
    assert hook.inclusion == InclusionLevel.EXCLUDED  # the hook itself stays out of the site


def test_docstring_examples_use_the_section_griffe_reads() -> None:
    # Google style's section is "Examples:"; griffe reads "Example:" as a note, whose `>>>`
    # lines the reference then renders as nested quotes instead of code.
    src = Path(typedis.__file__).parent
    wrong = [
        f"{path.relative_to(src)}:{number}"
        for path in sorted(src.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if line.strip() == "Example:"
    ]
    assert not wrong, f"write 'Examples:' there: {wrong}"
