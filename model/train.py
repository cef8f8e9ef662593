"""Exercise 4 from the command line: train with the hand-written backward only.

    python -m backprop_ninja.model.train                            # built-in names, 200,000 steps
    python -m backprop_ninja.model.train --data words.txt --steps 5000 --n-hidden 64
    python -m backprop_ninja.model.train --steps 300 --report run.json

The learning rate drops to lr/10 after half the steps. After training,
BatchNorm is calibrated on the whole training set, the split losses are
printed, and a few words are sampled. Bad data or arguments print one line
to stderr and exit with status 2.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from .config import DTYPES, Config
from .data import DataError
from .mlp import BACKWARDS, MLP

EXIT_USAGE = 2
SMOOTHING = 0.99  # weight of the old value in the displayed running loss
POSTFIX_EVERY = 200  # steps between progress-bar loss updates (they cost a redraw)


class UsageError(Exception):
    """A bad argument: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's default prints the usage too
        raise UsageError(message)


def _whole(lo: int, hi: int | None = None):
    """An argparse type: a whole number in [lo, hi]."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < lo or (hi is not None and value > hi):
            bound = f">= {lo}" if hi is None else f"between {lo} and {hi}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value
    return parse


_positive = _whole(1)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m backprop_ninja.model.train", description=__doc__.split("\n\n")[0])
    d = " (default: %(default)s)"
    p.add_argument("--data", help="word list, one word a line (default: built-in names)")
    p.add_argument("--steps", type=_positive, default=200_000, help="SGD steps" + d)
    p.add_argument("--n-embd", type=_positive, default=10, help="embedding size" + d)
    p.add_argument("--n-hidden", type=_positive, default=200, help="hidden units" + d)
    p.add_argument("--block-size", type=_positive, default=3, help="characters of context" + d)
    p.add_argument("--batch-size", type=_positive, default=32, help="examples a batch" + d)
    p.add_argument("--lr", type=float, default=0.1, help="lr of the first half; lr/10 after" + d)
    p.add_argument("--seed", type=_whole(0, 2**63 - 1), default=2147483647, help="init and batches" + d)
    p.add_argument("--dtype", choices=sorted(DTYPES), default="float32", help="parameter dtype" + d)
    p.add_argument("--backward", choices=BACKWARDS, default="fused",
                   help="fused: exercise 4; atomic: exercise 1; autograd: the oracle" + d)
    p.add_argument("--report", type=Path, help="write a JSON report here")
    p.add_argument("--samples", type=_whole(0), default=10, help="words to sample after training" + d)
    return p


def make_config(args: argparse.Namespace) -> Config:
    if not (args.lr > 0 and math.isfinite(args.lr)):
        raise UsageError(f"--lr must be a number > 0, got {args.lr}")
    if args.report is not None and not args.report.parent.is_dir():
        raise UsageError(f"--report: folder {args.report.parent} does not exist")
    try:
        return Config(n_embd=args.n_embd, n_hidden=args.n_hidden, block_size=args.block_size,
                      batch_size=args.batch_size, lr=args.lr, lr_decay_step=args.steps // 2,
                      seed=args.seed, dtype=args.dtype)
    except ValueError as err:
        raise UsageError(str(err)) from None


def train(m: MLP, steps: int, backward: str) -> tuple[list[float], float]:
    """`steps` SGD steps under a progress bar; returns (batch losses, seconds)."""
    losses: list[float] = []
    smooth = None
    start = time.perf_counter()
    with tqdm(total=steps, unit="step", disable=None, dynamic_ncols=True) as bar:
        for i in range(steps):
            loss, _, _ = m.train_step(backward)
            losses.append(loss)
            smooth = loss if smooth is None else SMOOTHING * smooth + (1 - SMOOTHING) * loss
            if i % POSTFIX_EVERY == 0 or i == steps - 1:
                bar.set_postfix(loss=f"{smooth:.4f}", lr=m.lr_at(m.step), refresh=False)
            bar.update(1)
    return losses, time.perf_counter() - start


def evaluate(m: MLP, samples: int) -> dict:
    """Split losses with calibrated BatchNorm, and sampled words."""
    m.calibrate()
    losses = {split: m.split_loss(split) for split in ("train", "val", "test")}
    if not m.is_finite():
        print("warning: training diverged (parameters are NaN or Inf); try a smaller --lr", file=sys.stderr)
        return {**losses, "samples": []}
    return {**losses, "samples": m.sample_names(samples)}


def _finite(x: float) -> float | None:
    """JSON has no NaN or Infinity: a diverged loss is reported as null."""
    return x if math.isfinite(x) else None


def make_report(m: MLP, args, losses: list[float], seconds: float, result: dict) -> dict:
    return {
        **{k: _finite(result[k]) for k in ("train", "val", "test")},
        "steps": len(losses),
        "seconds": round(seconds, 3),
        "steps_per_sec": len(losses) / seconds if seconds > 0 else None,
        "final_batch_loss": _finite(losses[-1]),
        "initial_batch_loss": _finite(losses[0]),
        "params": m.n_params,
        "samples": result["samples"],
        "backward": args.backward,
        "data": args.data or "built-in names",
        "words": len(m.data.words),
        "vocab": "".join(m.vocab.chars),
        "config": m.cfg.to_dict(),
    }


def _loss(x: float | None) -> str:
    return "nan" if x is None else f"{x:.4f}"


def print_summary(report: dict) -> None:
    print(f"{report['steps']} steps in {report['seconds']:.1f} s ({report['steps_per_sec']:.0f} steps/s); "
          f"final batch loss {_loss(report['final_batch_loss'])}")
    print("BatchNorm calibrated on the training set; split losses:")
    print("  " + "  ".join(f"{k} {_loss(report[k])}" for k in ("train", "val", "test")))
    if report["samples"]:
        print("samples:")
        for word in report["samples"]:
            print("  " + word)


def run(args: argparse.Namespace) -> dict:
    cfg = make_config(args)
    m = MLP(cfg, args.data)
    print(f"data: {args.data or 'built-in names'} ({len(m.data.words)} words, vocab {m.vocab.size}); "
          f"{m.n_params} params; backward {args.backward}; {cfg.dtype}", flush=True)
    losses, seconds = train(m, args.steps, args.backward)
    report = make_report(m, args, losses, seconds, evaluate(m, args.samples))
    print_summary(report)
    if args.report is not None:
        args.report.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return report


def main(argv: list[str] | None = None) -> int:
    torch.set_num_threads(1)
    try:
        run(build_parser().parse_args(argv))
    except (UsageError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as err:  # e.g. the report cannot be written
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
