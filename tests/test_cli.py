"""The `typedis` command: each verb's exit status, usage errors, one-line errors, progress bars
only on a terminal, `python -m typedis`."""

from __future__ import annotations

import importlib
import os
import pty
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import ModuleType

import pytest
import redis

import typedis
from typedis import _lua
from typedis.__main__ import main
from typedis._connection import Connection

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
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding the modules ``cli_models``, ``cli_empty``, ``cli_broken``."""
    (tmp_path / "cli_models.py").write_text(textwrap.dedent(MODELS))
    (tmp_path / "cli_empty.py").write_text("from typedis import Model\n")
    (tmp_path / "cli_broken.py").write_text("import cli_not_installed\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # undo the command's sys.path entry
    for name in ("cli_models", "cli_empty", "cli_broken"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return tmp_path


@pytest.fixture
def project(workdir: Path, monkeypatch: pytest.MonkeyPatch, own_server: str) -> Path:
    """``workdir``, REDIS_URL the own server (for tests that load functions)."""
    monkeypatch.setenv("REDIS_URL", own_server)
    return workdir


@pytest.fixture
def shop(workdir: Path, monkeypatch: pytest.MonkeyPatch, conn: Connection) -> ModuleType:
    """``workdir``, REDIS_URL the test database; the module ``cli_models`` with 3 shops and
    4 notes in 2 partitions."""
    monkeypatch.setenv("REDIS_URL", conn.url)
    monkeypatch.syspath_prepend(str(workdir))
    models = importlib.import_module("cli_models")
    for name, cuisine in (("a", "thai"), ("b", "thai"), ("c", "lao")):
        models.CliShop(name=name, cuisine=cuisine).save()
    for owner, text in (("ann", "x"), ("ann", "y"), ("bob", "x"), ("bob", "z")):
        models.CliNote(owner=owner, text=text).save()
    return models


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


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nonsense"],
        ["install-functions"],
        ["--bogus", "demo"],
        ["check"],
        ["clean"],
        ["rebuild"],
        ["sweep"],
        ["check", "cli_models", "--batch-size", "0"],
        ["sweep", "cli_models", "--every", "-1"],
        ["sweep", "cli_models", "--every", "soon"],
    ],
)
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
def test_a_target_naming_no_module_or_model_is_a_usage_error(
    project: Path,
    own_client: redis.Redis,
    capsys: pytest.CaptureFixture[str],
    target: str,
    says: str,
) -> None:
    for verb in ("install-functions", "info", "check", "clean", "rebuild", "sweep"):
        assert main([verb, target]) == 2
        assert says in error_line(capsys)
    assert libraries(own_client) == set()
    with pytest.raises((ModuleNotFoundError, typedis.ModelError)):
        main(["--debug", "check", target])


def test_a_module_that_fails_to_import_is_a_problem_not_a_usage_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "cli_broken"]) == 1
    assert "ModuleNotFoundError: No module named 'cli_not_installed'" in error_line(capsys)


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


def test_info_shows_the_server_and_the_records_of_each_model(
    shop: ModuleType, conn: Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["info", "cli_models"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""  # no progress bar: stdout is not a terminal
    lines = captured.out.splitlines()
    assert lines[0].startswith(f"server:  {conn.redacted_url} (")
    assert lines[1].startswith("memory:  ") and " used, maxmemory " in lines[1]
    assert lines[2] == "evicts:  noeviction"
    assert lines[3:] == [
        "models:",
        "  CliShop           3 records  {td:CliShop}:*",
        "  CliNote           4 records  {td:CliNote:<owner>}:*",
    ]


def test_info_without_targets_shows_the_server(
    shop: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["info"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("models:  none named")


def test_every_verb_needs_redis_url(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    for verb in ("info", "check", "clean", "rebuild", "sweep"):
        assert main([verb, "cli_models"]) == 1
        assert "ConfigError: REDIS_URL is not set" in error_line(capsys)
    with pytest.raises(typedis.ConfigError):
        main(["--debug", "info"])


def test_check_exits_1_on_damage_and_clean_repairs_it(
    shop: ModuleType, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "cli_models"]) == 0
    assert capsys.readouterr().out == (
        "CliShop: 0 damaged index entries\nCliNote: 0 damaged index entries\n"
    )
    redis_client.delete("{td:CliShop}:r:a", "{td:CliNote:bob}:r:bob:z")  # a stray DEL
    assert main(["check", "cli_models", "--batch-size", "1"]) == 1
    found = capsys.readouterr().out.splitlines()
    assert all(" damaged index entries (" in line for line in found)
    assert main(["clean", "cli_models:CliShop", "cli_models:CliNote"]) == 0
    assert [line.split(": removed ")[0] for line in capsys.readouterr().out.splitlines()] == [
        "CliShop",
        "CliNote",
    ]
    assert main(["check", "cli_models"]) == 0
    assert shop.CliShop.query.filter(shop.CliShop.cuisine == "thai").count() == 1


def test_rebuild_indexes_records_written_around_typedis(
    shop: ModuleType, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    redis_client.hset("{td:CliShop}:r:d", mapping={"name": "d", "cuisine": "lao"})  # an import
    assert main(["rebuild", "cli_models:CliShop"]) == 0
    assert capsys.readouterr().out == "CliShop: rebuilt the indexes of 4 records\n"
    assert {s.name for s in shop.CliShop.query.filter(shop.CliShop.cuisine == "lao").all()} == {
        "c",
        "d",
    }


def expire(shop: ModuleType) -> None:
    """Two expired notes of ann's and one of bob's."""
    for owner, text in (("ann", "old1"), ("ann", "old2"), ("bob", "old")):
        shop.CliNote(owner=owner, text=text).save(ttl=0.001)
    time.sleep(0.01)


def test_sweep_once(
    shop: ModuleType, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    expire(shop)
    assert main(["sweep", "cli_models"]) == 0
    assert capsys.readouterr() == (
        "CliShop: removed 0 expired records\nCliNote: removed 3 expired records\n",
        "",
    )
    assert shop.CliNote.count("ann") == 2 and redis_client.zcard("{td:CliNote:ann}:exp") == 0


def test_a_failed_sweep_exits_1_after_sweeping_the_rest(
    shop: ModuleType, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    expire(shop)
    redis_client.set("{td:CliNote:ann}:exp", "not a sorted set")
    assert main(["sweep", "cli_models:CliNote"]) == 1
    out, err = capsys.readouterr()
    assert out == "CliNote: removed 1 expired records\n"  # bob's
    assert err.startswith("typedis: error: sweeping CliNote {td:CliNote:ann}: CorruptRecord: ")
    assert err.count("\n") == 1


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "typedis", *args]


def test_python_m_typedis_runs_the_command(workdir: Path) -> None:
    done = subprocess.run(command("--version"), capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, f"typedis {typedis.__version__}\n")
    done = subprocess.run(command("check"), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "usage: typedis" in done.stderr


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_sweep_every_runs_until_interrupted(
    shop: ModuleType, conn: Connection, redis_client: redis.Redis, stop: signal.Signals
) -> None:
    expire(shop)
    env = {**os.environ, "REDIS_URL": conn.url}
    sweeping = subprocess.Popen(
        command("sweep", "cli_models", "--every", "0.05"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert sweeping.stdout is not None
        assert sweeping.stdout.readline().startswith("sweeping CliShop, CliNote every 0.05 s")
        deadline = time.monotonic() + 60
        held = ("{td:CliNote:ann}:all", "{td:CliNote:bob}:all")
        while sum(redis_client.scard(key) for key in held) > 4:  # not swept yet
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        sweeping.send_signal(stop)
        out, err = sweeping.communicate(timeout=60)
    assert sweeping.returncode == 0, err
    assert out.startswith("stopped after ") and out.endswith(": removed 3 expired records\n")


def test_progress_bars_are_drawn_on_a_terminal(shop: ModuleType, conn: Connection) -> None:
    expire(shop)
    leader, follower = pty.openpty()
    env = {**os.environ, "REDIS_URL": conn.url, "COLUMNS": "100"}
    done = subprocess.run(
        command("sweep", "cli_models"), stdout=follower, stderr=follower, env=env, timeout=60
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: everything is read
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert done.returncode == 0
    text = shown.decode()
    assert "sweep CliNote" in text and "2/2" in text  # its bar: 2 partitions of 2
    assert "CliNote: removed 3 expired records" in text
