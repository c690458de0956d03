"""Check the typing cases in this folder with mypy --strict and pyright --strict.

Every `typing_tests/*.py` file except this one is a case file. A line that must fail to type
check ends with a comment `# E: <why>`; every other line must pass (`assert_type(...)` lines
state what must be inferred). A line that only one checker can refuse is marked
`# E[mypy]: <why>` or `# E[pyright]: <why>`, the why saying what the other one lacks. For each
checker, the set of (file, line) pairs with an error must equal the set of lines marked for
it: an unexpected error or a marked line without an error fails the run. For a statement over
several lines only the line the checker reports counts, so put the marker on the line of the
offending expression.

Usage: python typing_tests/run.py [case files...]   (exit status 0 when both checkers agree)
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import tokenize
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MARKER = re.compile(r"#\s*E(?:\[(?P<only>mypy|pyright)\])?:")
CHECKERS = ("mypy", "pyright")
MYPY_LINE = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):(?:\d+:)? error: (?P<message>.*)$")


@dataclass(frozen=True, order=True)
class Location:
    file: str  # relative to the repository root, with forward slashes
    line: int  # 1-based


def case_files(argv: Sequence[str]) -> list[Path]:
    if argv:
        return [Path(arg).resolve() for arg in argv]
    return sorted(p for p in HERE.glob("*.py") if p.name != Path(__file__).name)


def relative(path: str | Path) -> str:
    resolved = (ROOT / path).resolve()
    try:
        return resolved.relative_to(ROOT).as_posix()
    except ValueError:
        return resolved.as_posix()


def expected_errors(files: Iterable[Path]) -> dict[str, set[Location]]:
    """Per checker, the lines whose comment starts with `E:` or `E[<checker>]:` (found with
    tokenize, so strings don't count)."""
    marked: dict[str, set[Location]] = {checker: set() for checker in CHECKERS}
    for path in files:
        source = path.read_text(encoding="utf-8")
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            match = MARKER.match(token.string) if token.type == tokenize.COMMENT else None
            if match:
                for checker in (match["only"],) if match["only"] else CHECKERS:
                    marked[checker].add(Location(relative(path), token.start[0]))
    return marked


def tool(name: str) -> list[str]:
    """The checker installed next to this interpreter (the project's venv)."""
    script = Path(sys.executable).parent / name
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", name]


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


def mypy_errors(files: Sequence[Path]) -> dict[Location, list[str]]:
    result = run(
        [
            *tool("mypy"),
            "--strict",
            "--no-error-summary",
            "--no-pretty",
            "--show-error-codes",
            "--hide-error-context",
            *map(str, files),
        ]
    )
    if result.returncode not in (0, 1):  # 2: mypy itself failed (bad config, crash)
        sys.exit(f"mypy failed (exit {result.returncode}):\n{result.stdout}{result.stderr}")
    errors: dict[Location, list[str]] = {}
    for line in result.stdout.splitlines():
        match = MYPY_LINE.match(line)
        if match:
            location = Location(relative(match["file"]), int(match["line"]))
            errors.setdefault(location, []).append(match["message"])
    return errors


def pyright_errors(files: Sequence[Path]) -> dict[Location, list[str]]:
    result = run(
        [*tool("pyright"), "--outputjson", "--pythonpath", sys.executable, *map(str, files)]
    )
    try:
        report = cast("dict[str, Any]", json.loads(result.stdout))
    except json.JSONDecodeError:
        sys.exit(f"pyright failed (exit {result.returncode}):\n{result.stdout}{result.stderr}")
    errors: dict[Location, list[str]] = {}
    for diagnostic in cast("list[dict[str, Any]]", report.get("generalDiagnostics", [])):
        if diagnostic.get("severity") != "error":
            continue
        line = int(diagnostic["range"]["start"]["line"]) + 1
        location = Location(relative(str(diagnostic["file"])), line)
        rule = diagnostic.get("rule")
        message = str(diagnostic["message"]).splitlines()[0]
        errors.setdefault(location, []).append(f"{message} [{rule}]" if rule else message)
    return errors


def compare(checker: str, expected: set[Location], found: dict[Location, list[str]]) -> int:
    """Print the differences for one checker; return how many there are."""
    unexpected = sorted(set(found) - expected)
    missing = sorted(expected - set(found))
    for loc in unexpected:
        for message in found[loc]:
            print(f"{loc.file}:{loc.line}: {checker}: unexpected error: {message}")
    for loc in missing:
        print(f"{loc.file}:{loc.line}: {checker}: expected an error (marked `# E`), got none")
    return len(unexpected) + len(missing)


def main(argv: Sequence[str]) -> int:
    files = case_files(argv)
    if not files:
        print("typing_tests: no case files")
        return 1
    expected = expected_errors(files)
    pass_lines = sum(p.read_text(encoding="utf-8").count("assert_type(") for p in files)
    failures = compare("mypy", expected["mypy"], mypy_errors(files))
    failures += compare("pyright", expected["pyright"], pyright_errors(files))
    if failures:
        print(f"typing_tests: {failures} mismatch(es) between the checkers and the `# E` marks")
        return 1
    both = expected["mypy"] & expected["pyright"]
    print(
        f"typing_tests: {pass_lines} pass-lines checked, {len(both)} expected errors matched "
        f"(mypy + pyright), {len(expected['mypy'] - both)} mypy only, "
        f"{len(expected['pyright'] - both)} pyright only, in {len(files)} file(s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
