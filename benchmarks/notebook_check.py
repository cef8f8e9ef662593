"""bpn.check in the learner's notebook: report time for the whole of exercise 1
at lecture size (prints p50 / p95, never asserts; target p95 <= 0.5 s).

    python -m benchmarks.notebook_check [--runs 50] [--dtype float32]

The namespace is the lecture's notebook after its cells ran, in this process:
the starter code on the built-in names, the forward cell (with retain_grad and
loss.backward(), as the lecture's), and exercise 1's cell with every node
written (the registry's lines, in the notebook's order). Timed: `check` as
Jupyter runs it: finding the tensors, the true gradients, the verdicts and,
for a wrong node, its named mistake, then the text and the HTML table (printed
to a buffer here). Three cases: all correct, one mistake early (dprobs: the
nodes after it affected), one late (dC). The first call of the process, which
pays for torch's lazy set-up, is shown apart.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from backprop_ninja.model.graph import BY_NAME, FORWARD_ORDER  # noqa: E402
from backprop_ninja.notebook import check  # noqa: E402
from benchmarks.derive_bench import PLANTED, lecture_cell  # noqa: E402

STARTER = """
import torch
import torch.nn.functional as F
from backprop_ninja.model.data import Dataset, load_words
block_size, n_embd, n_hidden, batch_size = 3, 10, 64, 32
Xtr, Ytr = Dataset.from_words(load_words(None), block_size).splits["train"]
vocab_size = 27
g = torch.Generator().manual_seed(2147483647)
C = torch.randn((vocab_size, n_embd), generator=g)
W1 = torch.randn((n_embd * block_size, n_hidden), generator=g) * (5/3) / ((n_embd * block_size)**0.5)
b1 = torch.randn(n_hidden, generator=g) * 0.1
W2 = torch.randn((n_hidden, vocab_size), generator=g) * 0.1
b2 = torch.randn(vocab_size, generator=g) * 0.1
bngain = torch.randn((1, n_hidden)) * 0.1 + 1.0
bnbias = torch.randn((1, n_hidden)) * 0.1
parameters = [C, W1, b1, W2, b2, bngain, bnbias]
if DTYPE == "float64":
    parameters = [p.double() for p in parameters]
    C, W1, b1, W2, b2, bngain, bnbias = parameters
for p in parameters:
    p.requires_grad = True
n = batch_size
ix = torch.randint(0, Xtr.shape[0], (batch_size,), generator=g)
Xb, Yb = Xtr[ix], Ytr[ix]
"""
FORWARD = "\n".join(BY_NAME[k].forward for k in FORWARD_ORDER) + """
for t in [logprobs, probs, counts, counts_sum, counts_sum_inv, norm_logits, logit_maxes, logits, h, hpreact,
          bnraw, bnvar_inv, bnvar, bndiff2, bndiff, hprebn, bnmeani, embcat, emb]:
    t.retain_grad()
loss.backward()
"""


def notebook(dtype: str, planted: str | None) -> dict:
    ns: dict = {"DTYPE": dtype}
    exec(STARTER, ns)
    exec(FORWARD, ns)
    cell = lecture_cell(planted).split("\ncmp(")[0]  # the d-lines; the cmp lines print only
    exec(cell, ns)
    return ns


def timed_check(ns: dict) -> tuple[float, object]:
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # outside IPython check prints the text
        r = check(ns)
    r.html()  # and Jupyter draws the HTML table too
    return time.perf_counter() - t0, r


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    args = ap.parse_args()
    print(f"bpn.check on exercise 1, lecture size, {args.dtype}, {args.runs} runs each, "
          f"{torch.get_num_threads()} torch threads")
    first = None
    for label, planted in (("all correct", None), ("dprobs wrong", "probs"), ("dC wrong", "C")):
        assert planted is None or planted in PLANTED
        ns = notebook(args.dtype, planted)
        cold, r = timed_check(ns)
        first = cold if first is None else first
        times = [timed_check(ns)[0] for _ in range(args.runs)]
        print(f"  {label:12s}: p50 {1000 * statistics.median(times):7.1f} ms   p95 {1000 * pct(times, 0.95):7.1f} ms"
              f"   ({r.count('correct')} correct, {r.count('wrong')} wrong, {r.count('affected')} affected)"
              "   target p95 <= 500 ms")
    print(f"  first call of the process: {1000 * first:.0f} ms")

if __name__ == "__main__":
    main()
