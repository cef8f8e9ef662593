"""The sandbox's zygote: a long-lived process with torch already imported,
which forks one short-lived child per attempt (sandbox_child.py).

Forking a warm process costs a few ms where starting Python and importing
torch costs ~1.5 s, which is what makes a verdict in well under 300 ms
possible. The zygote itself never runs learner code: it receives jobs from
the server, forks, waits on each child's pipe with a deadline, and relays
the child's bytes unopened (the server parses them as JSON, never as pickle).

Started by the server (processes.start) as `python -P -m
backprop_ninja.server.derive.zygote FD N`: FD its connection, N the children at once."""
from __future__ import annotations

import collections
import os
import signal
import sys
import time
from contextlib import suppress
from multiprocessing.connection import Connection, wait

import numpy  # noqa: F401  (the jobs' arrays; imported before any fork)
import torch

from .. import processes
from . import sandbox_child, sandbox_train

MAX_OUTPUT = 32 << 20  # bytes a child may write back (a lecture-size answer is ~100 KB)


class Child:
    def __init__(self, job_id: int, pid: int, fd: int, wall_s: float):
        self.job_id, self.pid, self.fd = job_id, pid, fd
        self.deadline = time.monotonic() + wall_s
        self.out = bytearray()
        self.timed_out = False


def _fork(job_id: int, job: dict) -> Child:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(r)
        sandbox_child.main(job, w, sandbox_train.run if job.get("kind") == "train" else sandbox_child.run)
    os.close(w)
    return Child(job_id, pid, r, job["wall_s"])


def _finish(conn: Connection, child: Child) -> None:
    os.close(child.fd)
    with suppress(ProcessLookupError):
        os.kill(child.pid, signal.SIGKILL)  # a no-op if it has exited; ends one that closed its pipe
    _, status = os.waitpid(child.pid, 0)
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
    if child.timed_out:
        sig = -1  # we stopped it at its wall-time deadline
    conn.send((child.job_id, sig, bytes(child.out)))


def serve(conn: Connection, max_running: int) -> None:
    queue: collections.deque[tuple[int, dict]] = collections.deque()
    running: dict[int, Child] = {}  # by pipe fd
    while True:
        while queue and len(running) < max_running:
            child = _fork(*queue.popleft())
            running[child.fd] = child
        now = time.monotonic()
        timeout = max(0.0, min((c.deadline for c in running.values()), default=now + 60) - now)
        ready = wait([conn, *running], timeout)
        for r in ready:
            if r is conn:
                try:
                    queue.append(conn.recv())
                except EOFError:  # the server has gone: so do we, and our children
                    for c in running.values():
                        os.kill(c.pid, signal.SIGKILL)
                    return
                continue
            child = running[r]
            chunk = os.read(r, 1 << 16)
            child.out += chunk
            if not chunk or len(child.out) > MAX_OUTPUT:
                del running[r]
                _finish(conn, child)
        now = time.monotonic()
        for fd, child in list(running.items()):
            if now >= child.deadline:
                child.timed_out = True
                del running[fd]
                _finish(conn, child)


def main() -> None:
    conn = processes.connection()
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    max_running = int(sys.argv[2])
    # warm the paths every attempt takes, so no child pays for first use
    x = torch.ones(4, 4)
    (x @ x).sum(0, keepdim=True).exp().log()
    torch.nn.functional.one_hot(torch.arange(3), num_classes=3)
    serve(conn, max_running)


if __name__ == "__main__":
    main()
