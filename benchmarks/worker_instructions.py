"""Instructions a training step takes in a worker's loop, against a bare
MLP.train_step loop, counted by valgrind's callgrind (prints, never asserts).

    python -m benchmarks.worker_instructions [--steps 1000]

stream_bench's wall-clock ratio moves by +-20% from one 0.5 s window to the
next on this shared host, which hides a change of a few percent in the
worker's own cost. Callgrind counts the instructions the process runs (not
the kernel's): the same count for the same code and inputs whatever else the
machine does. Each side runs twice, for 200 and for 200 + --steps steps, and
the difference of the two counts over --steps is the cost a step (the import
of torch and the set-up cancel out).

The worker side runs server/live/worker.py's own loop (Worker.loop) on a
simulated clock: callgrind runs ~50x slower, so the real clock would make
every slice one step. Each look at the clock moves it on by STEP_S, a
lecture-size step here; every FRAME_EVERY steps the clock's host sends a
frame request of h and logits, as the server does for a 60 fps client at 10
steps a frame and ~3,000 steps/s, and reads what the worker sent. So the
count holds what a live step costs the worker at the lecture's size: the
step and its history point (stats every 100 steps, val loss every 500, seek
targets every 25), the look at the connection, slices (SLICE) each in one
inference-mode block, the frames packed and sent, the points flushed and
the checkpoints. Needs valgrind (Debian: valgrind); takes a few minutes.
"""
from __future__ import annotations

import argparse
import pickle
import re
import subprocess
import sys
import tempfile
import threading
import types
from pathlib import Path

from benchmarks import trees

REPO = Path(__file__).resolve().parents[1]
STEP_S, FRAME_EVERY = 250e-6, 50


class Host:
    """The server's end of the worker's pipe, and the worker's clock."""

    def __init__(self, conn, worker, steps: int):
        self.conn, self.worker, self.steps = conn, worker, steps
        self.t, self.start, self.next_frame, self.rid = 0.0, None, FRAME_EVERY, 0

    def read(self) -> None:
        """The server's reader thread: takes what the worker sends (frames,
        points, checkpoints), so that its sends never wait on a full pipe."""
        try:
            while True:
                self.conn.recv_bytes()
        except (EOFError, OSError):  # the program ended
            return

    def perf_counter(self) -> float:
        self.t += STEP_S
        run = self.worker.runs.get("s")
        if run is None:
            return self.t
        if self.start is None:
            self.start = run.m.step
        done = run.m.step - self.start
        if done >= self.steps:
            raise SystemExit  # not an Exception: out through the worker's loop, the end of this program
        if done >= self.next_frame:
            self.rid += 1
            self.conn.send_bytes(pickle.dumps(("frame", self.rid, "s", 0, ["h", "logits"], "binary")))
            self.next_frame += FRAME_EVERY
        return self.t


def run(side: str, steps: int, tree: Path) -> None:
    """The measured program: `steps` steps of `side` (`tree`'s code) after a warm-up."""
    import torch

    if not trees.packaged(tree):
        raise SystemExit(f"{tree}: a checkout from before backprop_ninja (issue 26); its worker is not comparable here")
    sys.path.insert(0, str(trees.import_root(tree)))
    from backprop_ninja.model import MLP, Config

    torch.set_num_threads(1)
    m = MLP(Config())
    for _ in range(30):  # first-call allocations
        m.train_step()
    if side == "headless":
        for _ in range(steps):
            m.train_step()
        return
    from multiprocessing import Pipe

    from backprop_ninja.server.live import stepping, worker

    here, server = Pipe()
    w = worker.Worker(here)
    host = Host(server, w, steps)
    worker.time = types.SimpleNamespace(perf_counter=host.perf_counter)
    threading.Thread(target=host.read, daemon=True).start()
    opts = {"val_every": 500, "stats_every": 100, "snapshot_every": 25, "full_steps": 200}
    w.runs["s"] = worker.Run("s", m)  # as a first play builds it (its data set is too big for the pipe's buffer here)
    server.send_bytes(pickle.dumps(("play", "s", None, stepping.light_state(m), opts)))
    w.loop()


def count(side: str, steps: int, tree: Path) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.out", sys.executable,
             "-m", "benchmarks.worker_instructions", "--run", side, "--steps", str(steps), "--tree", str(tree)],
            cwd=REPO, capture_output=True, text=True, check=True)
    return int(re.search(r"I\s+refs:\s+([\d,]+)", out.stderr).group(1).replace(",", ""))


def per_step(side: str, steps: int, tree: Path) -> float:
    return (count(side, 200 + steps, tree) - count(side, 200, tree)) / steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=3000, help="steps counted (3,000: about one checkpoint's worth)")
    p.add_argument("--baseline", type=Path, help="another checkout: its worker counted too")
    p.add_argument("--run", choices=["headless", "worker"], help=argparse.SUPPRESS)  # the measured child
    p.add_argument("--tree", type=Path, default=REPO, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.run:
        return run(args.run, args.steps, args.tree)
    headless = per_step("headless", args.steps, REPO)
    print(f"headless (this tree's MLP.train_step): {headless:,.0f} instructions a step", flush=True)
    for name, tree in (("this tree", REPO), ("baseline", args.baseline)):
        if tree is not None:
            got = per_step("worker", args.steps, tree.resolve())
            print(f"worker, {name}: {got:,.0f} a step, {got / headless:.3f} of headless", flush=True)
    print(f"(lecture size, one torch thread, {args.steps} steps counted)")


if __name__ == "__main__":
    main()
