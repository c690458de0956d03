"""`python -m typedis demo` runs end to end and finds its indexes healthy."""

from __future__ import annotations

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


def test_the_command_line_requires_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert "demo" in capsys.readouterr().err
