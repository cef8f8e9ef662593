"""The real command line when it cannot start: one sentence a person can act
on, a non-zero exit, no traceback."""
from __future__ import annotations

import os
import socket
import subprocess
import sys


def run_cli(*args: str, tmp) -> subprocess.CompletedProcess:
    env = {**os.environ, "BPN_DATA_DIR": str(tmp / "data")}
    return subprocess.run([sys.executable, "-m", "backprop_ninja.server", "--no-open", *args], cwd=tmp, env=env,
                          capture_output=True, text=True, timeout=120)


def test_port_in_use_is_one_line_naming_the_port_and_the_fix(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as held:
        port = held.getsockname()[1]
        r = run_cli("--port", str(port), tmp=tmp_path)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert f"port {port} is in use" in lines[0] and "--port" in lines[0], lines[0]
    assert "Traceback" not in r.stderr + r.stdout and "serving on" not in r.stderr + r.stdout


def test_unresolvable_host_is_one_sentence(tmp_path):
    r = run_cli("--host", "no-such-host.invalid", "--port", "0", tmp=tmp_path)
    assert r.returncode != 0
    assert r.stderr.strip().splitlines() == [
        "backprop-ninja: error: --host no-such-host.invalid: not an address or a name this machine can resolve"]
