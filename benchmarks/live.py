"""The real server on a free loopback port, and the CPU time of its threads, for the benchmarks."""
from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import httpx

from benchmarks import trees

REPO = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")
CLIENT = {"X-Requested-With": "benchmarks"}  # requests that change state need it (server/guards/security.py)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(timeout: float = 60, env: dict | None = None, tree: Path = REPO) -> tuple[subprocess.Popen, str]:
    """(process, base URL) of the server once /api/health answers
    and its training workers run. `tree`: another checkout's server (a baseline)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd, tree_env, cwd = trees.server(tree)
    proc = subprocess.Popen([*cmd, "--host", "127.0.0.1", "--port", str(port), "--no-open"],
                            cwd=cwd, env={**tree_env, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"{base}/api/health", timeout=1)
            if r.status_code == 200 and all(w["alive"] for w in r.json()["workers"]):
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("server did not start")


def children(pid: int) -> list[int]:
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
        except FileNotFoundError:
            continue
    return out


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds used so far by each thread of a process and of its
    children (the server trains in worker processes)."""
    out = {}
    for p in (pid, *children(pid)):
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except FileNotFoundError:  # the child just ended
            continue
        for tid in tids:
            try:
                with open(f"/proc/{p}/task/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except FileNotFoundError:  # the thread just ended
                continue
            out[tid] = (int(fields[11]) + int(fields[12])) / TICK
    return out
