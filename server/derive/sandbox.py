"""The server's side of the sandbox: one zygote process (zygote.py), jobs
sent to it, answers matched back to the waiting request by id.

Learner code never runs here, and is not even parsed here: the server sends
the source with the tensors, and reads back JSON (never a pickle) that the
sandboxed child wrote. If the zygote dies it is started again on the next
attempt; the attempts it had in hand get an error answer."""
from __future__ import annotations

import itertools
import json
import signal
import socket
import subprocess
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from multiprocessing.connection import Connection

from .. import processes


@dataclass(frozen=True)
class Limits:
    cpu_s: int = 2  # CPU seconds: the lecture's own lines take ~10 ms
    wall_s: float = 10.0  # a child is stopped after this, loaded machine or not
    mem_mb: int = 256  # address space the child may add to the zygote's (a lecture-size attempt needs ~10 MB)
    max_numel: int = 4_000_000  # elements of the tensor it answers
    # children at once: more than the cores, so a few runaways (up to 2 s
    # each) do not hold up the queue; they share the CPU, at nice 19 after 1 s
    max_running: int = 12


class SandboxError(RuntimeError):
    """The sandbox itself failed (not the learner's code)."""


class Sandbox:
    def __init__(self, limits: Limits | None = None):
        self.limits = limits or Limits()
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._pending: dict[int, tuple[subprocess.Popen, Future]] = {}  # by job id: the zygote it went to
        self._proc: subprocess.Popen | None = None
        self._conn: Connection | None = None

    # ---- the zygote's life ------------------------------------------------
    def start(self) -> None:
        with self._lock:
            self._ensure()

    def _ensure(self) -> None:
        """Start the zygote if it is not running; the caller holds the lock."""
        if self._proc is not None and self._proc.poll() is None:
            return
        self._proc, self._conn = processes.start(f"{__package__}.zygote", str(self.limits.max_running))
        threading.Thread(target=self._read, args=(self._conn, self._proc), daemon=True,
                         name="sandbox-reader").start()

    def _read(self, conn: Connection, proc: subprocess.Popen) -> None:
        while True:
            try:
                job_id, sig, out = conn.recv()
            except (EOFError, OSError):
                break
            entry = self._pending.pop(job_id, None)
            if entry is not None:
                entry[1].set_result((sig, out))
        with self._lock:  # this zygote is gone: fail what it had (a new one may be running already)
            conn.close()  # under the lock, as close() shuts it down
            if self._proc is proc:
                self._proc, self._conn = None, None
            lost = [k for k, (p, _) in self._pending.items() if p is proc]
            lost = [self._pending.pop(k)[1] for k in lost]
        for f in lost:
            if not f.done():
                f.set_exception(SandboxError("the sandbox process stopped while running your code; "
                                             "it has been restarted: submit again"))

    def close(self) -> None:
        with self._lock:
            proc, conn = self._proc, self._conn
            self._proc = self._conn = None
            if conn is not None:
                # shut down, and the reader closes it: closing it here left the
                # socket open while the reader's recv held it, so the zygote saw
                # no EOF and was killed 5 s later (each app's shutdown took 5 s)
                with socket.fromfd(conn.fileno(), socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                    sock.shutdown(socket.SHUT_RDWR)  # the zygote sees EOF, kills its children and exits
        if proc is not None:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    # ---- one job ------------------------------------------------------------
    def run(self, job: dict, cpu_s: int | None = None, wall_s: float | None = None) -> dict:
        """A job in a fresh sandboxed child (sandbox_child.run: an attempt,
        its code run once per scope; sandbox_train.run: "kind" "train"), with
        the limits, or longer CPU and wall times for this job; returns the
        child's answer: {"status": ..., ...}."""
        lim = self.limits
        cpu_s, wall_s = cpu_s or lim.cpu_s, wall_s or lim.wall_s
        job = {**job, "cpu_s": cpu_s, "wall_s": wall_s, "mem_bytes": lim.mem_mb << 20, "max_numel": lim.max_numel}
        future: Future = Future()
        with self._lock:
            self._ensure()
            job_id = next(self._ids)
            self._pending[job_id] = (self._proc, future)
            try:
                self._conn.send((job_id, job))
            except (OSError, ValueError):
                self._pending.pop(job_id, None)
                raise SandboxError("the sandbox process is not running; submit again") from None
        # the zygote's own deadline comes first; this one only guards against it hanging
        sig, out = future.result(timeout=wall_s + 20)
        return self._decode(sig, out, cpu_s, wall_s)

    @staticmethod
    def _decode(sig: int, out: bytes, cpu_s: int, wall_s: float) -> dict:
        if out:
            try:
                answer = json.loads(out)
                if isinstance(answer, dict) and isinstance(answer.get("status"), str):
                    return answer
            except ValueError:
                pass
        if sig == -1:
            return {"status": "timeout", "message": f"your code ran for more than {wall_s:g} s and was stopped"}
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and not out):
            return {"status": "timeout", "message": f"your code ran for more than {cpu_s} s "
                    "(CPU time) and was stopped: is a loop far longer than the batch?"}
        if sig:
            return {"status": "crash", "message": f"your code crashed the sandbox ({signal.Signals(sig).name}); "
                    "deeply nested source or a huge allocation can do this"}
        return {"status": "crash", "message": "the sandbox gave no answer"}
