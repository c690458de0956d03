"""`python -m typedis demo` runs end to end and finds its indexes healthy."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

import typedis
from typedis.__main__ import main


def test_demo_runs_and_reports_healthy_indexes(
    conn: typedis.Connection, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", conn.url)  # the demo connects on its own: same server
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "total 0: no orphaned, missing or wrong index entry" in out
    assert "caught UniqueViolation" in out and "caught KeyMutationError" in out
    prefixed = "names starting with 'Ta' (prefix index) -> "
    assert f"{prefixed}['Taco Palace', 'Tamale Tent', 'Tapas Tower']" in out
    assert "reviews of Taco Palace (one set read) -> 2" in out
    assert "reviews without a critic (OptionalLink.is_none()) -> 2" in out
    assert "top_by_decay(n=3) -> 'likes green tea' 2.000, 'lives in Lisbon' 1.000, " in out
    assert "certainty of 'likes green tea' after two corroborations (0.9) -> 0.900" in out
    assert "record(s) removed, index entries too" in out


def unreachable_url() -> str:
    """A URL where nothing listens (a port the OS just handed out and took back)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def test_an_unreachable_server_is_one_line_and_exit_status_1() -> None:
    env = {**os.environ, "REDIS_URL": unreachable_url()}
    command = [sys.executable, "-m", "typedis", "demo"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith(f"typedis: error: ConfigError: cannot use {env['REDIS_URL']}")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    debug = subprocess.run(
        [*command[:3], "--debug", "demo"], env=env, capture_output=True, text=True, check=False
    )
    assert debug.returncode == 1
    assert debug.stderr.startswith("Traceback") and "ConnectionError" in debug.stderr
