"""The embedded Valkey server never outlives the process that started it, however that ends:
its server process and its temporary directory are gone afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# A process that starts the embedded server, reports it, and waits to be ended.
CHILD = """
import os, sys, time
import typedis
conn = typedis.connect()
info = conn.client.info("server")
print(conn.client.config_get("dir")["dir"], info["process_id"], flush=True)
if sys.argv[1] == "exit":
    sys.exit(0)
time.sleep(120)
"""


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie no parent has reaped yet does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def gone(pid: int, data_dir: Path) -> bool:
    """Whether the server and its directory are gone, polled for up to 60 s (a loaded machine)."""
    deadline = time.monotonic() + 60
    while alive(pid) or data_dir.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize("end", ["exit", "SIGTERM", "SIGKILL", "SIGINT"])
def test_the_server_and_its_directory_go_with_the_process(end: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, end], env=env, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    data_dir, pid = child.stdout.readline().split()
    server = int(pid)
    assert alive(server) and Path(data_dir).name.startswith("typedis-valkey-")
    if end != "exit":
        child.send_signal(getattr(signal, end))
    child.wait(30)
    child.stdout.close()
    assert gone(server, Path(data_dir))
