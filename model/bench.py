"""Training steps per second of four backward passes, single-threaded.

    python -m backprop_ninja.model.bench                      # ~1 minute
    python -m backprop_ninja.model.bench --seconds 0.2 --rounds 1 --json bench.json

autograd  MLP.train_step(backward="autograd"): loss.backward() on the same fused forward (params only)
atomic    the hand-written chain of exercise 1, one node at a time
fused     exercise 4: fused forward and backward, dC with one index_add_
literal   the lecture's loop: fused, but dC accumulated by a Python double loop

Each (batch, hidden) pair is measured in several rounds, the variants
interleaved in a rotating order, and the best round of each is kept: on a
shared machine, noise only ever slows a run down.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from .config import Config
from .data import Dataset, load_words
from .mlp import MLP

VARIANTS = ("autograd", "atomic", "fused", "literal")
SHAPES = ((32, 64), (32, 200), (1024, 200))  # (batch, hidden)


def steps_per_sec(m: MLP, backward: str, seconds: float) -> float:
    """Train steps done in about `seconds` (at least 3), per second."""
    m.train_step(backward)  # warm up: first-call allocations
    steps, start = 0, time.perf_counter()
    while True:
        m.train_step(backward)
        steps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and steps >= 3:
            return steps / elapsed


def bench_shape(data: Dataset, batch: int, hidden: int, seconds: float, rounds: int) -> dict[str, float]:
    """Best steps/s of every variant over `rounds` interleaved rounds."""
    cfg = Config(batch_size=batch, n_hidden=hidden)
    models = {v: MLP(cfg, data) for v in VARIANTS}
    best = dict.fromkeys(VARIANTS, 0.0)
    for r in range(rounds):
        for v in VARIANTS[r % len(VARIANTS):] + VARIANTS[: r % len(VARIANTS)]:
            best[v] = max(best[v], steps_per_sec(models[v], v, seconds))
    return best


def targets(rows: list[dict]) -> list[dict]:
    """The goals of the issue, as (measured value, threshold, pass)."""
    at = {(r["batch"], r["hidden"]): r for r in rows}
    out = []

    def add(name, shape, value, ok):
        out.append({"name": name, "shape": list(shape), "value": value, "pass": ok})

    if (32, 64) in at:
        value = at[(32, 64)]["ratio"]["fused"]
        add("fused >= 1.6x autograd at (32,64)", (32, 64), value, value >= 1.6)
    if (1024, 200) in at:
        value = at[(1024, 200)]["ratio"]["fused"]
        add("fused >= 1.0x autograd at (1024,200)", (1024, 200), value, value >= 1.0)
    if (32, 200) in at:
        sps = at[(32, 200)]["steps_per_sec"]
        value = sps["literal"] / sps["fused"]  # time per step, fused over literal
        add("fused full run per-step time <= 0.35x literal loop at (32,200)", (32, 200), value, value <= 0.35)
    return out


def print_table(rows: list[dict], seconds: float, rounds: int) -> None:
    print(f"train steps/s, 1 thread, best of {rounds} round(s) of {seconds:g} s; (x) = ratio to autograd")
    print(f"{'batch':>5} {'hidden':>6} " + " ".join(f"{v:>17}" for v in VARIANTS))
    for r in rows:
        cells = [f"{r['steps_per_sec'][v]:9.0f} ({r['ratio'][v]:5.2f}x)" for v in VARIANTS]
        print(f"{r['batch']:>5} {r['hidden']:>6} " + " ".join(cells))


def print_targets(goals: list[dict]) -> None:
    print("targets:")
    for t in goals:
        print(f"  {'PASS' if t['pass'] else 'FAIL'}  {t['name']}: measured {t['value']:.2f}x")


def run(seconds: float, rounds: int, shapes=SHAPES) -> dict:
    data = Dataset.from_words(load_words(None), Config().block_size, Config().split_seed)
    rows = []
    for batch, hidden in shapes:
        sps = bench_shape(data, batch, hidden, seconds, rounds)
        ratio = {v: sps[v] / sps["autograd"] for v in VARIANTS}
        rows.append({"batch": batch, "hidden": hidden, "steps_per_sec": sps, "ratio": ratio})
    return {"seconds": seconds, "rounds": rounds, "threads": torch.get_num_threads(),
            "torch": torch.__version__, "rows": rows, "targets": targets(rows)}


def main(argv: list[str] | None = None) -> int:
    torch.set_num_threads(1)
    p = argparse.ArgumentParser(prog="python -m backprop_ninja.model.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=1.5, help="time of one measurement (default: %(default)s)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds, best kept (default: %(default)s)")
    p.add_argument("--json", type=Path, help="also write the table here as JSON")
    args = p.parse_args(argv)
    if args.seconds <= 0 or args.rounds < 1:
        p.error("--seconds must be > 0 and --rounds >= 1")
    result = run(args.seconds, args.rounds)
    print_table(result["rows"], args.seconds, args.rounds)
    print_targets(result["targets"])
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
