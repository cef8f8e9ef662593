"""Child processes of the server (framebuilder.py, trainer.py) and the pipes
to them: [uint32 LE length][pickle] each way."""
from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import sys
from pathlib import Path

LEN = struct.Struct("<I")
PIPE_BYTES = 1 << 20
ROOT = Path(__file__).resolve().parents[1]  # the folder holding the server package


def read(stream) -> bytes | None:
    """One message, or None at EOF."""
    head = stream.read(LEN.size)
    if len(head) < LEN.size:
        return None
    (n,) = LEN.unpack(head)
    body = stream.read(n)
    return body if len(body) == n else None


def write(stream, payload: bytes) -> None:
    stream.write(LEN.pack(len(payload)) + payload)
    stream.flush()


def widen(*streams) -> None:
    """Make pipes hold a whole frame (up to 1 MB, Linux's default cap): a
    write bigger than the pipe (64 KB by default) blocks the writer, here
    the trainer, until the reader has taken the rest, a context switch or
    several per frame. Best effort: elsewhere, or if refused, pipes stay as they are."""
    size = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only
    if size is None:
        return
    for stream in streams:
        try:
            fcntl.fcntl(stream.fileno(), size, PIPE_BYTES)
        except OSError:
            pass


def spawn(module: str, *args: str, pass_fds: tuple[int, ...] = ()) -> subprocess.Popen:
    """`python -m module args...` with pipes on stdin/stdout, wide ones."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    proc = subprocess.Popen([sys.executable, "-m", module, *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=env, cwd=ROOT, pass_fds=pass_fds)
    widen(proc.stdin, proc.stdout)
    return proc


def end(proc: subprocess.Popen | None) -> None:
    """Close its input (it then exits by itself) and wait; kill it after 5 s."""
    if proc is None:
        return
    try:
        proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
