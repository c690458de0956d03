"""The `typedis` command: --version, usage errors, `install-functions`, one-line errors."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import pytest
import redis

import typedis
from typedis import _lua
from typedis.__main__ import main

MODELS = """
    from typedis import Indexed, Key, Model

    class CliShop(Model):
        name: Key[str]
        cuisine: Indexed[str]

    class CliNote(Model, partition="owner"):
        owner: Key[str]
        text: Key[str]

    class CliBase(Model, abstract=True):
        note: str = ""
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_server: str) -> Path:
    """A working directory holding the module ``cli_models``; REDIS_URL is the own server."""
    (tmp_path / "cli_models.py").write_text(textwrap.dedent(MODELS))
    (tmp_path / "cli_empty.py").write_text("from typedis import Model\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # undo the command's sys.path entry
    for name in ("cli_models", "cli_empty"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setenv("REDIS_URL", own_server)
    return tmp_path


def libraries(client: redis.Redis) -> set[str]:
    return {e[b"library_name"].decode() for e in client.execute_command("FUNCTION", "LIST")}


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The command's stderr, checked to be one line without a traceback."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("typedis: error: ")
    assert "Traceback" not in err
    return err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"typedis {typedis.__version__}\n"


@pytest.mark.parametrize("argv", [[], ["nonsense"], ["install-functions"], ["--bogus", "demo"]])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "usage: typedis" in capsys.readouterr().err


def test_install_functions_installs_every_model_of_a_module(
    project: Path, own_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["install-functions", "cli_models"]) == 0
    cli_models = importlib.import_module("cli_models")  # imported by the command
    wanted = {
        _lua.library(m.__typedis_spec__).name for m in (cli_models.CliShop, cli_models.CliNote)
    }
    assert libraries(own_client) == wanted
    out = capsys.readouterr().out
    assert "installed the function libraries of CliShop, CliNote on redis://" in out
    assert set(out.splitlines()[1:]) == wanted
    assert main(["install-functions", "cli_models", "cli_models:CliNote"]) == 0  # again
    assert "of CliShop, CliNote on" in capsys.readouterr().out
    assert libraries(own_client) == wanted


def test_install_functions_of_one_named_model(
    project: Path, own_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["install-functions", "cli_models:CliNote"]) == 0
    cli_models = importlib.import_module("cli_models")  # imported by the command
    assert libraries(own_client) == {_lua.library(cli_models.CliNote.__typedis_spec__).name}
    assert "of CliNote on" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("cli_missing", "ModuleNotFoundError: No module named 'cli_missing'"),
        (
            "cli_models:Nope",
            "ModelError: cli_models:Nope: cli_models has no concrete typedis Model named",
        ),
        ("cli_models:CliBase", "has no concrete typedis Model named CliBase"),
        ("cli_empty", "ModelError: cli_empty: the module holds no typedis Model subclass"),
    ],
)
def test_install_functions_reports_a_bad_target_in_one_line(
    project: Path,
    own_client: redis.Redis,
    capsys: pytest.CaptureFixture[str],
    target: str,
    says: str,
) -> None:
    assert main(["install-functions", target]) == 1
    assert says in error_line(capsys)
    assert libraries(own_client) == set()


def test_install_functions_needs_redis_url(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("REDIS_URL")
    assert main(["install-functions", "cli_models"]) == 1
    assert "ConfigError: REDIS_URL is not set" in error_line(capsys)


def test_install_functions_as_a_user_without_function_rights(
    project: Path,
    own_server: str,
    own_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    own_client.execute_command(
        "ACL", "SETUSER", "cli-tenant", "on", ">pw", "~*", "+@all", "-function"
    )
    monkeypatch.setenv("REDIS_URL", own_server.replace("redis://", "redis://cli-tenant:pw@"))
    assert main(["install-functions", "cli_models"]) == 1
    assert "PermissionDenied: install_functions(): loading td_" in error_line(capsys)
    assert libraries(own_client) == set()
    with pytest.raises(typedis.PermissionDenied):
        main(["--debug", "install-functions", "cli_models"])
