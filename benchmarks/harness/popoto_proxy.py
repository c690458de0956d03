"""Popoto as a contender: its own virtualenv, and a runner subprocess spoken to in JSON lines.

Popoto is never a dependency of typedis: the harness makes ``benchmarks/.popoto-venv`` on first
use (``pip install popoto==1.10.1``, git-ignored) and starts ``popoto_runner.py`` with that
interpreter, pointed at the benchmark server by ``REDIS_URL``. When the install or the runner
fails (no network, say), ``start()`` says why and returns None, and the harness runs without it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

VERSION = "1.10.1"
HERE = Path(__file__).resolve().parent
VENV = HERE.parent / ".popoto-venv"
RUNNER = HERE / "popoto_runner.py"


class PopotoError(RuntimeError):
    """The runner failed an operation."""


class Popoto:
    """A running ``popoto_runner.py``: ``call(op, **params)`` sends a request, returns the reply."""

    def __init__(self, url: str) -> None:
        python = VENV / "bin" / "python"
        env = {**os.environ, "REDIS_URL": url, "PYTHONDONTWRITEBYTECODE": "1"}
        self._process = subprocess.Popen(
            [str(python), str(RUNNER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        self.version: str = self.call("hello")["popoto"]

    def call(self, op: str, **params: Any) -> dict[str, Any]:
        process = self._process
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps({"op": op, **params}) + "\n")
        process.stdin.flush()
        line = process.stdout.readline()
        if not line:
            raise PopotoError(f"the Popoto runner exited (code {process.wait()}) during {op!r}")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise PopotoError(reply["error"])
        return reply

    def seconds(self, op: str, **params: Any) -> float:
        """Run a workload in the runner; the time of its timed part, measured there."""
        return float(self.call(op, **params)["seconds"])

    def close(self) -> None:
        if self._process.stdin:
            self._process.stdin.close()
        self._process.wait(timeout=30)


def ensure_venv() -> str | None:
    """Make the virtualenv with Popoto when it is missing; None, or why it could not."""
    python = VENV / "bin" / "python"
    probe = [str(python), "-c", "import popoto; print(popoto.__version__)"]
    if python.exists():
        found = subprocess.run(probe, capture_output=True, text=True, check=False)
        if found.returncode == 0 and found.stdout.strip() == VERSION:
            return None
    print(f"installing Popoto {VERSION} into {VENV} (once) ...", flush=True)
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(VENV)],
        [str(python), "-m", "pip", "install", "--quiet", f"popoto=={VERSION}"],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return f"`{' '.join(step[-3:])}` failed: {' / '.join(tail)}"
    return None


def start(url: str) -> tuple[Popoto | None, str]:
    """The Popoto contender on the server at ``url``, or None and the reason it is missing."""
    problem = ensure_venv()
    if problem:
        return None, f"Popoto {VERSION} could not be installed ({problem}): running without it"
    try:
        return Popoto(url), ""
    except (OSError, PopotoError, json.JSONDecodeError) as exc:
        return None, f"the Popoto runner did not start ({exc}): running without it"
