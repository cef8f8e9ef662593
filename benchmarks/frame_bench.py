"""The stepper's frame build with and without the session's SummaryCache
(server/stream/summaries.py) (prints, never asserts).

    python -m benchmarks.frame_bench [--rounds 5]

A student's key press in the stepper builds one frame: the summaries (mean,
std, norm, histogram) of every node's value and gradient. One press changes
one gradient, so the cache keeps the summaries of the tensors that did not
change. Per size (the lecture's, and batch 256 / n_hidden 200), one session
steps through a whole atomic backward one node a press, building the frame
of each press twice in alternation: from scratch and with the cache. Printed:
the median build per press, and the ratio cached / from scratch.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from backprop_ninja.model import MLP, Config  # noqa: E402
from backprop_ninja.model.data import Dataset, default_words  # noqa: E402
from backprop_ninja.server.sessions.session import Session  # noqa: E402
from backprop_ninja.server.settings import Settings  # noqa: E402
from backprop_ninja.server.stream import frames  # noqa: E402


def presses(s: Session, rounds: int) -> tuple[list[float], list[float]]:
    """(from scratch, cached) build times of every press of `rounds` backward passes."""
    fresh, cached = [], []
    s.frame((), "binary")  # the cache holds the first frame's summaries
    for _ in range(rounds):
        s.forward()
        s.frame((), "binary")
        while True:
            before = len(s._source().computed)
            s.backward("atomic", 1)
            if len(s._source().computed) == before:
                break
            t = time.perf_counter()
            frames.build(s._source(), (), "binary")
            fresh.append(time.perf_counter() - t)
            t = time.perf_counter()
            s.frame((), "binary")
            cached.append(time.perf_counter() - t)
        s.update()
    return fresh, cached


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5, help="backward passes per size")
    args = p.parse_args()
    torch.set_num_threads(1)
    data = Dataset.from_words(default_words())
    print(f"{'size':28}{'presses':>8}{'scratch ms':>12}{'cached ms':>11}{'ratio':>8}")
    for label, cfg in (("lecture (32 / 64)", Config()),
                       ("batch 256 / n_hidden 200", Config(batch_size=256, n_hidden=200))):
        s = Session("bench", MLP(cfg, data), "default", Settings(), None)
        fresh, cached = presses(s, args.rounds)
        f, c = statistics.median(fresh) * 1e3, statistics.median(cached) * 1e3
        print(f"{label:28}{len(fresh):8}{f:12.2f}{c:11.2f}{c / f:8.2f}")
    print(f"load average {open('/proc/loadavg').read().split()[0]}")


if __name__ == "__main__":
    main()
