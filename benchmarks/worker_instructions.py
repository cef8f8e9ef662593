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

The worker side drives server/worker.py's own pieces as its loop does at
the lecture's size: Run.step (history point, stats every 100 steps, val loss
every 500, seek targets every 25), a look at the connection and the clock
after every step, slices of 8 steps (SLICE, 2 ms, at ~250 us a step) each
in one inference-mode block, a frame of h and logits asked every 50 steps
(a 60 fps client at 10 steps a frame and ~3,000 steps/s), packed and sent,
and the points flushed every 150 steps. Needs valgrind (Debian: valgrind);
takes a few minutes: callgrind runs ~50x slower.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SLICE_STEPS, FRAME_EVERY, FLUSH_EVERY = 8, 50, 150


def run(side: str, steps: int) -> None:
    """The measured program: `steps` steps of `side` after a warm-up."""
    import torch

    sys.path.insert(0, str(REPO))
    from model import MLP, Config

    torch.set_num_threads(1)
    m = MLP(Config())
    for _ in range(30):  # first-call allocations
        m.train_step()
    if side == "headless":
        for _ in range(steps):
            m.train_step()
        return
    from multiprocessing import Pipe

    from server.worker import Run, Worker

    here, server = Pipe()
    w = Worker(here)
    r = Run("s", m)
    r.opts = {"stats_every": 100, "val_every": 500, "snapshot_every": 25, "full_steps": 200}
    r.playing, r.speed = True, 3000.0

    def drain() -> None:  # the server's reader thread, here in line
        while server.poll():
            server.recv_bytes()

    for i in range(1, steps + 1):
        if i % SLICE_STEPS == 1:
            block = torch.inference_mode()
            block.__enter__()
        r.step()
        if r.requests:
            w.serve(r)
            drain()
        time.perf_counter()
        w.waiting()
        if i % FRAME_EVERY == 0:
            r.requests.append((i, 0, ["h", "logits"], "binary"))
        if i % SLICE_STEPS == 0 or i == steps:
            block.__exit__(None, None, None)
            if i % FLUSH_EVERY < SLICE_STEPS:  # between slices, as Worker.loop flushes
                w.flush(r)
                drain()


def count(side: str, steps: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.out", sys.executable,
             "-m", "benchmarks.worker_instructions", "--run", side, "--steps", str(steps)],
            cwd=REPO, capture_output=True, text=True, check=True)
    return int(re.search(r"I\s+refs:\s+([\d,]+)", out.stderr).group(1).replace(",", ""))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--run", choices=["headless", "worker"], help=argparse.SUPPRESS)  # the measured child
    args = p.parse_args()
    if args.run:
        return run(args.run, args.steps)
    per = {}
    for side in ("headless", "worker"):
        per[side] = (count(side, 200 + args.steps) - count(side, 200)) / args.steps
        print(f"{side}: {per[side]:,.0f} instructions a step", flush=True)
    print(f"worker / headless: {per['worker'] / per['headless']:.3f} (lecture size, one torch thread, "
          f"{args.steps} steps counted)")


if __name__ == "__main__":
    main()
