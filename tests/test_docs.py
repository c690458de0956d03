"""Every Python example in README.md and docs/*.md runs, so the docs cannot drift.

Conventions for doc writers (docs/index.md has the short version):

- A ```` ```python ```` block runs. The blocks of one file run in order in one namespace (a
  later block uses the classes and records of earlier ones), against the test database,
  which is empty when the file starts. Top-level ``await`` and ``async for`` work: such a
  block runs in an event loop of its own.
- A ```` ```pycon ```` block runs as a doctest in the same namespace: its output must be
  exactly what the code prints.
- ``<!-- setup`` ... ``-->``: an HTML comment whose first word is ``setup`` holds Python the
  rendered page hides (the records a fragment needs, say). It runs where it stands.
- ``<!-- no-run: why -->`` right before a block skips that block; say why.
- Every other fence (``text``, ``sh``...) is not run.
- A page runs as a program of its own: the registry of models (``typedis.models()``) is empty
  when it starts, so a page's ``Memory`` never meets a test module's.

A failure points at the Markdown file and line of the code that failed.
"""

from __future__ import annotations

import ast
import asyncio
import doctest
import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from typedis import _registry
from typedis._connection import get_connection

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_PIECE = re.compile(
    r"^<!-- setup\n(?P<setup>.*?)^-->\n"
    r"|^<!-- no-run: .+? -->\n```\w*\n(?P<skipped>.*?)^```\n"
    r"|^```(?P<lang>\w*)[^\n]*\n(?P<code>.*?)^```\n",
    re.MULTILINE | re.DOTALL,
)
_RUNNABLE_FENCE = re.compile(r"^\s*```(?:python|pycon)\b", re.MULTILINE)


@dataclass(frozen=True)
class Block:
    kind: str  # "python", "pycon", "setup" or "no-run"
    code: str
    line: int  # the line of its first line of code in the Markdown file


def blocks(text: str) -> list[Block]:
    """The setup, Python, pycon and no-run blocks of a page, in order."""
    found: list[Block] = []
    for match in _PIECE.finditer(text):
        group = match.lastgroup or ""  # "setup", "skipped" or "code": the group that ends last
        kind = {"setup": "setup", "skipped": "no-run"}.get(group, match["lang"])
        if kind in ("python", "pycon", "setup", "no-run"):
            line = text.count("\n", 0, match.start(group)) + 1
            found.append(Block(kind, match[group], line))
    return found


def run_python(block: Block, page: Path, namespace: dict[str, Any]) -> None:
    # Leading newlines make a traceback's line numbers those of the Markdown file.
    source = "\n" * (block.line - 1) + block.code
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    code = compile(source, str(page), "exec", flags=flags, dont_inherit=True)
    if not code.co_flags & inspect.CO_COROUTINE:
        exec(code, namespace)
        return

    async def body() -> None:
        try:
            await eval(code, namespace)
        finally:
            await get_connection().aclose()

    asyncio.run(body())


def run_pycon(block: Block, page: Path, namespace: dict[str, Any]) -> None:
    test = doctest.DocTestParser().get_doctest(
        block.code, namespace, page.name, str(page), block.line - 1
    )
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report: list[str] = []
    runner.run(test, out=report.append, clear_globs=False)
    assert runner.failures == 0, "".join(report)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_examples_run(page: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_registry, "_models", {})
    text = page.read_text()
    found = blocks(text)
    namespace: dict[str, Any] = {"__name__": f"docs_{page.stem}"}
    for block in found:
        if block.kind in ("python", "setup"):
            run_python(block, page, namespace)
        elif block.kind == "pycon":
            run_pycon(block, page, namespace)
    # A fence the pattern missed (indented, say) would otherwise go silently unrun.
    fenced = [b for b in found if b.kind != "setup"]
    assert len(fenced) == len(_RUNNABLE_FENCE.findall(text))


def test_blocks_are_found_with_their_lines() -> None:
    page = """# Title

<!-- setup
x = 1
-->

```python
y = x + 1
```

```text
not run
```

<!-- no-run: an endless loop -->
```python
while True: pass
```

```pycon
>>> y
2
```
"""
    assert blocks(page) == [
        Block("setup", "x = 1\n", 4),
        Block("python", "y = x + 1\n", 8),
        Block("no-run", "while True: pass\n", 17),
        Block("pycon", ">>> y\n2\n", 21),
    ]


def test_a_failure_points_at_its_markdown_line(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    with pytest.raises(ZeroDivisionError) as failure:
        run_python(Block("python", "x = 1\n1 / 0\n", 7), page, {})
    where = failure.traceback[-1]
    assert (str(where.path), where.lineno + 1) == (str(page), 8)  # pytest counts from 0


def test_top_level_await_runs_in_the_namespace() -> None:
    namespace: dict[str, Any] = {}
    code = "import asyncio\nawait asyncio.sleep(0)\ndone = True\n"
    run_python(Block("python", code, 1), ROOT / "page.md", namespace)
    assert namespace["done"] is True
