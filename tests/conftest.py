"""Fixtures shared by every test directory: the real server on loopback.

`live_server` starts `python -m backprop_ninja.server` as a subprocess once per test run
(the browser tests use it too) and yields its base URL."""
from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]

torch.set_num_threads(1)  # as the server runs: results and timings comparable

# uploaded word lists go to disk (server/sessions/datasets.py): every server this run
# starts, in process or not, keeps them here, never in the user's own data dir
DATA_DIR = tempfile.mkdtemp(prefix="bpn-test-data-")
os.environ["BPN_DATA_DIR"] = DATA_DIR
atexit.register(shutil.rmtree, DATA_DIR, True)

START_TIMEOUT = 60.0  # seconds for the server to answer /api/health
# what the front end sends with every call (server/guards/security.py): requests that
# change state need it, so other sites' pages cannot make them
CLIENT = {"X-Requested-With": "tests"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, extra_env: dict | None = None, args: tuple[str, ...] = ()):
    """Start `python -m backprop_ninja.server` on loopback; returns (process, log file path)."""
    env = {**os.environ, **(extra_env or {})}
    log = tempfile.NamedTemporaryFile("w+", prefix="bpn-server-", suffix=".log", delete=False)
    proc = subprocess.Popen([sys.executable, "-m", "backprop_ninja.server", "--host", "127.0.0.1", "--port", str(port),
                             "--no-open", *args], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    return proc, log.name


def wait_healthy(base: str, proc: subprocess.Popen, log: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{Path(log).read_text()}")
        try:
            r = httpx.get(f"{base}/api/health", timeout=1.0)
            # and its training workers running, so no play waits for one to start
            if r.status_code == 200 and all(w["alive"] for w in r.json()["workers"]):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not answer /api/health in {START_TIMEOUT:g} s:\n{Path(log).read_text()}")


def stop_server(proc: subprocess.Popen, log: str | None = None) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if log is not None:
        Path(log).unlink(missing_ok=True)


@pytest.fixture(scope="session")
def live_server():
    """Base URL ("http://127.0.0.1:PORT") of the real server, started once."""
    port = free_port()
    # room for the property-based and concurrency tests' many sessions; schemathesis
    # tries many unknown room codes, which must not lock the browser tests out of rooms
    proc, log = start_server(port, {"BPN_MAX_SESSIONS": "1000", "BPN_ROOM_MISSES_PER_MINUTE": "1000000"})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc, log)
        yield base
    finally:
        stop_server(proc, log)
