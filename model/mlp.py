"""`MLP`: the lecture's network with its data, generator and training state.

Made for a notebook as much as for the server:

    from backprop_ninja.model import MLP, Config
    m = MLP(Config(n_hidden=64, dtype="float64"))   # built-in names data
    m.forward()               # sample a batch, run the atomic forward
    m.backward(nodes=1)       # dloss
    m.backward(nodes=3)       # dlogprobs, dprobs, dcounts_sum_inv
    m.grad("probs")           # the lecture's dprobs, by name
    m.backward()              # the rest of exercise 1
    m.checks()["hpreact"]     # Check(exact=False, approx=True, maxdiff=4.7e-10)
    m.update()                # SGD with the hand-written gradients
    m.train(1000)             # exercise 4: fused manual backward, no autograd
    m.calibrate(); m.split_loss("val"); m.sample_names(10)
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from .atomic import BackwardStepper, forward as atomic_forward
from .check import Check, check_all
from .config import Config
from .data import MARKER, Dataset, load_words
from .fused import fused_backward, fused_forward
from .graph import BACKWARD_ORDER, BY_NAME, PARAMS, Tensors
from .params import count_params, init_params
from .reference import autograd_grads
from .result import TrainResult, torch_threads
from .views import FUSED_ORDER, MODES, BatchBackward

BACKWARDS = ("fused", "atomic", "autograd")
# For benchmarks: the lecture's literal loop, the fused backward with dC
# accumulated by its Python double loop instead of one index_add_.
BENCH_BACKWARDS = BACKWARDS + ("literal",)
def _autograd_step(params: Tensors, Xb: torch.Tensor, Yb: torch.Tensor,
                   eps: float) -> tuple[Tensors, Tensors]:
    """The baseline a student would write: the same fused forward, then
    loss.backward(); only the parameters keep .grad (no retain_grad)."""
    leaves = {k: t.detach().requires_grad_(True) for k, t in params.items()}
    with torch.enable_grad():
        cache = fused_forward(leaves, Xb, Yb, eps)
        cache["loss"].backward()
    cache = {k: t.detach() for k, t in cache.items()}
    return cache, {k: leaves[k].grad for k in PARAMS}


class MLP:
    """The 2-layer character MLP with BatchNorm of makemore part 4."""

    def __init__(self, cfg: Config | None = None, data: Dataset | list[str] | str | Path | None = None):
        self.cfg = cfg or Config()
        if not isinstance(data, Dataset):
            words = data if isinstance(data, list) else load_words(data)
            data = Dataset.from_words(words, self.cfg.block_size, self.cfg.split_seed)
        if data.block_size != self.cfg.block_size:
            raise ValueError(f"dataset has block_size {data.block_size}, config {self.cfg.block_size}")
        self.data = data
        # One generator drives init and then batch sampling: same seed, same run.
        self.g = torch.Generator().manual_seed(self.cfg.seed)
        self.params: Tensors = init_params(self.cfg, data.vocab.size, self.g)
        h = self.cfg.n_hidden
        self.running_mean = torch.zeros(1, h, dtype=self.cfg.torch_dtype)
        self.running_var = torch.ones(1, h, dtype=self.cfg.torch_dtype)
        self.calibration: tuple[torch.Tensor, torch.Tensor] | None = None
        self.step = 0  # parameter updates done so far
        self.mode = "atomic"
        self._clear_batch()

    def _clear_batch(self) -> None:
        """Forget the current batch and everything computed on it."""
        self.values: Tensors = {}
        self._pass: BatchBackward | None = None  # this batch's backward, in the current view
        self._reference: Tensors | None = None

    # ---- stepping through one batch (exercise 1) -------------------------
    @property
    def n_params(self) -> int:
        return count_params(self.params)

    @property
    def vocab(self):
        return self.data.vocab

    def batch_indices(self, split: str = "train", steps: int | None = None) -> torch.Tensor:
        """The next batch's example indices, drawn from `g` as the notebook
        draws them; with `steps`, the next `steps` batches', a row each (one
        draw of steps x batch numbers gives the numbers `steps` draws give, in
        their order, and leaves `g` where they leave it)."""
        shape = (self.cfg.batch_size,) if steps is None else (steps, self.cfg.batch_size)
        return torch.randint(0, self.data.splits[split][0].shape[0], shape, generator=self.g)

    def sample_batch(self, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        X, Y = self.data.splits[split]
        ix = self.batch_indices(split)
        return X[ix], Y[ix]

    def forward(self, Xb: torch.Tensor | None = None, Yb: torch.Tensor | None = None) -> float:
        """Sample the next batch (unless given) and run the atomic forward."""
        if Xb is None or Yb is None:
            Xb, Yb = self.sample_batch()
        self._clear_batch()
        self.values = atomic_forward(self.params, Xb, Yb, self.cfg.bn_eps)
        self._pass = BatchBackward(self.params, self.values, self.cfg.bn_eps, self.mode)
        return float(self.values["loss"])

    def _need_forward(self) -> BatchBackward:
        if self._pass is None:
            raise RuntimeError("run forward() first: there is no batch to backprop through")
        return self._pass

    @property
    def stepper(self) -> BackwardStepper | None:
        """The atomic stepper of this batch (its grads and per-branch contributions)."""
        return self._pass.stepper if self._pass else None

    @property
    def order(self) -> tuple[str, ...]:
        return self._need_forward().order

    @property
    def computed(self) -> list[str]:
        return self._pass.computed if self._pass else []

    @property
    def remaining(self) -> list[str]:
        if self._pass:
            return self._pass.remaining
        return list(FUSED_ORDER if self.mode == "fused" else BACKWARD_ORDER)

    @property
    def partial(self) -> dict[str, list[str]]:
        """Half-finished gradients (mode "lecture" only): {node: consumers still to come}."""
        return self._pass.partial if self._pass else {}

    @property
    def grads(self) -> Tensors:
        return self._pass.grads if self._pass else {}

    def backward(self, nodes: int | None = None, mode: str = "atomic") -> list[str]:
        """Compute the next `nodes` hand-written gradients (all for None).

        mode "atomic" is exercise 1, one node at a time; "lecture" the same in
        the notebook's line order (a `+=` node's first part early); "fused" is
        exercises 2 and 3 (dlogits and dhprebn in one expression each).
        Switching mode keeps the place as far as the new view can show it."""
        p = self._need_forward()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if nodes is not None and nodes < 0:
            raise ValueError(f"nodes must be >= 0 or None, got {nodes}")
        p.switch(mode)
        self.mode = mode
        return p.run(nodes)

    def back(self) -> str | None:
        """Undo the last backward step; returns its node's name."""
        return self._need_forward().back()

    def reference(self) -> Tensors:
        """Autograd's gradient of every node for the current batch (cached)."""
        self._need_forward()
        if self._reference is None:
            _, self._reference = autograd_grads(self.params, self.values["Xb"], self.values["Yb"],
                                                self.cfg.bn_eps)
        return self._reference

    def checks(self) -> dict[str, Check]:
        """The lecture's cmp for every gradient computed so far."""
        return check_all(self.grads, self.reference())

    def value(self, name: str) -> torch.Tensor:
        """A node's value by its lecture name (parameters, Xb and Yb too)."""
        if name in self.params:
            return self.params[name]
        if name not in BY_NAME:
            raise KeyError(f"no node {name!r}; nodes are {', '.join(BY_NAME)}")
        if name not in self.values:
            raise RuntimeError(f"{name} has no value yet: run forward() first")
        return self.values[name]

    def grad(self, name: str) -> torch.Tensor | None:
        """d<name> if the backward has reached it, else None."""
        if name not in BY_NAME:
            raise KeyError(f"no node {name!r}; nodes are {', '.join(BY_NAME)}")
        return self.grads.get(name)

    def update(self, lr: float | None = None) -> int:
        """SGD with the hand-written gradients of the current batch."""
        self._need_forward()
        missing = [p for p in PARAMS if p not in self.grads]
        if missing:
            raise RuntimeError(f"backward is not complete: no gradient yet for {', '.join(missing)}")
        lr = self.lr_at(self.step) if lr is None else lr
        with torch.no_grad():
            for name in PARAMS:
                self.params[name].add_(self.grads[name], alpha=-lr)
        self._update_running(self.values["bnmeani"], self.values["bnvar"])
        self.step += 1
        self._clear_batch()  # the values no longer match the parameters
        return self.step

    # ---- training (exercise 4) ------------------------------------------
    def lr_at(self, step: int) -> float:
        decay = self.cfg.lr_decay_step
        # lr / 10, not lr * 0.1: the lecture's 0.01 exactly (0.1 * 0.1 is 0.010000000000000002)
        return self.cfg.lr if decay is None or step < decay else self.cfg.lr / 10

    def _update_running(self, mean: torch.Tensor, var: torch.Tensor) -> None:
        m = self.cfg.bn_momentum
        self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
        self.running_var.mul_(1 - m).add_(var.detach(), alpha=m)

    @torch.no_grad()
    def train_step(self, backward: str = "fused", lr: float | None = None) -> tuple[float, Tensors, Tensors]:
        """One pure SGD step on a fresh batch; returns (loss, cache, grads).

        backward: "fused" (exercise 4), "atomic" (exercise 1's chain),
        "autograd" (the oracle) or "literal" (fused, dC by the lecture's loop)."""
        if backward not in BENCH_BACKWARDS:  # before the batch draw moves the generator
            raise ValueError(f"backward must be one of {', '.join(BENCH_BACKWARDS)}, got {backward!r}")
        if backward == "autograd":  # it builds a graph (inside, with grad enabled)
            return self._train_step(backward, lr)
        # the hand-written backwards in inference mode: no version counters or
        # view tracking for ~20 small ops a step, measured 12-20% faster at the
        # lecture's size; the cache and grads returned are only read afterwards
        with torch.inference_mode():
            return self._train_step(backward, lr)

    def _train_step(self, backward: str, lr: float | None,
                    batch: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[float, Tensors, Tensors]:
        lr = self.lr_at(self.step) if lr is None else lr
        Xb, Yb = self.sample_batch() if batch is None else batch
        eps = self.cfg.bn_eps
        if backward in ("fused", "literal"):
            cache = fused_forward(self.params, Xb, Yb, eps)
            grads = fused_backward(self.params, cache, loop_dC=backward == "literal")
        elif backward == "atomic":
            cache = atomic_forward(self.params, Xb, Yb, eps)
            stepper = BackwardStepper(cache, eps)
            stepper.run()
            grads = stepper.grads
        else:
            cache, grads = _autograd_step(self.params, Xb, Yb, eps)
        torch._foreach_add_([self.params[k] for k in PARAMS], [grads[k] for k in PARAMS], alpha=-lr)
        self._update_running(cache["bnmeani"], cache["bnvar"])
        self.step += 1
        self._clear_batch()
        return float(cache["loss"]), cache, grads

    def fused_step(self, lr: float | None = None) -> tuple[float, Tensors, Tensors]:
        """train_step("fused"), bit for bit, without entering inference mode:
        for a caller that takes many steps, one at a time, inside one
        torch.inference_mode() block of its own (a training worker's slice:
        a block for ~8 steps, not one a step, took ~3% off the worker's
        instructions a step at the lecture's size)."""
        if not torch.is_inference_mode_enabled():
            raise RuntimeError("fused_step runs inside torch.inference_mode(); train_step enters it itself")
        return self._train_step("fused", lr)

    def fused_steps(self, steps: int, each: Callable[[float, Tensors, Tensors, float], None]) -> None:
        """`steps` fused SGD steps, bit for bit as that many train_step("fused")
        calls take them, calling each(loss, cache, grads, lr) after every one
        (its statistics, its record). Their batches are drawn in one call
        (batch_indices) and one inference-mode block holds them all: measured
        ~15% less time a step at the lecture's size, most of it the block's
        entry and exit. each() runs inside that block, and must not raise: the
        batches of the steps it would skip are drawn already."""
        X, Y = self.data.splits["train"]
        with torch.inference_mode():
            ix = self.batch_indices("train", steps)
            for Xb, Yb in zip(X[ix].unbind(0), Y[ix].unbind(0)):
                lr = self.lr_at(self.step)
                each(*self._train_step("fused", lr, (Xb, Yb)), lr)

    def train(self, steps: int, backward: str = "fused",
              callback: Callable[[int, float], None] | None = None, threads: int | None = 1) -> TrainResult:
        """`steps` SGD steps; returns their batch losses (a list with a one-line repr).

        threads: torch threads for these steps, 1 by default: this model's ops
        take microseconds, so torch's thread pool costs more than it gains
        (the issue measured 10,000 steps: 38.5 s on the default threads, ~3 s
        on one). The count in place before is restored afterwards; None keeps
        whatever torch is set to."""
        losses = []
        start = time.perf_counter()
        with torch_threads(threads) as used:
            for _ in range(steps):
                loss, _, _ = self.train_step(backward)
                losses.append(loss)
                if callback is not None:
                    callback(self.step, loss)
        return TrainResult(losses, self.step, time.perf_counter() - start, used)

    # ---- evaluation and sampling ----------------------------------------
    def is_finite(self) -> bool:
        """False once a too-large lr has made any parameter NaN or Inf."""
        return all(bool(torch.isfinite(t).all()) for t in self.params.values())

    @torch.no_grad()
    def calibrate(self) -> None:
        """BatchNorm's mean and unbiased variance over the whole training set."""
        X, _ = self.data.splits["train"]
        hprebn = self._hprebn(X)
        self.calibration = (hprebn.mean(0, keepdim=True), hprebn.var(0, keepdim=True, unbiased=True))

    def _hprebn(self, X: torch.Tensor) -> torch.Tensor:
        p = self.params
        return p["C"][X].view(X.shape[0], -1) @ p["W1"] + p["b1"]

    def _bn_stats(self, stats: str) -> tuple[torch.Tensor, torch.Tensor]:
        if stats == "calibrated":
            if self.calibration is None:
                self.calibrate()
            return self.calibration
        if stats == "running":
            return self.running_mean, self.running_var
        raise ValueError(f"stats must be 'calibrated' or 'running', got {stats!r}")

    @torch.no_grad()
    def _eval_logits(self, X: torch.Tensor, stats: str) -> torch.Tensor:
        mean, var = self._bn_stats(stats)
        p = self.params
        hpreact = p["bngain"] * (self._hprebn(X) - mean) * (var + self.cfg.bn_eps).rsqrt() + p["bnbias"]
        return torch.tanh(hpreact) @ p["W2"] + p["b2"]

    @torch.no_grad()
    def split_loss(self, split: str, stats: str = "calibrated") -> float:
        """Mean cross-entropy over a whole split, BatchNorm in inference mode."""
        X, Y = self.data.splits[split]
        if X.shape[0] == 0:
            return float("nan")
        total = 0.0
        for i in range(0, X.shape[0], 65536):
            total += float(F.cross_entropy(self._eval_logits(X[i:i + 65536], stats), Y[i:i + 65536],
                                           reduction="sum"))
        return total / X.shape[0]

    @torch.no_grad()
    def sample_names(self, k: int = 10, seed: int | None = None, max_len: int = 50,
                     stats: str = "calibrated") -> list[str]:
        """Draw k words: start from all-'.' context, sample until '.'."""
        if not self.is_finite():
            raise RuntimeError("cannot sample: the parameters are not finite (training diverged)")
        g = torch.Generator().manual_seed(self.cfg.seed + 10 if seed is None else seed)
        out = []
        for _ in range(k):
            context, ix_out = [0] * self.cfg.block_size, []
            for _ in range(max_len):
                logits = self._eval_logits(torch.tensor([context]), stats)
                ix = int(torch.multinomial(F.softmax(logits, 1).float(), 1, generator=g))
                if ix == 0:
                    break
                ix_out.append(ix)
                context = context[1:] + [ix]
            out.append(self.vocab.decode(ix_out))
        return out

    # ---- snapshots -------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to resume bit-identically (words excluded)."""
        return {
            "config": self.cfg.to_dict(),
            "step": self.step,
            "params": {k: t.clone() for k, t in self.params.items()},
            "running_mean": self.running_mean.clone(),
            "running_var": self.running_var.clone(),
            "calibration": None if self.calibration is None else [t.clone() for t in self.calibration],
            "generator": self.g.get_state(),
            "vocab": "".join(self.vocab.chars),
        }

    def load_state_dict(self, state: dict) -> None:
        if state["vocab"] != "".join(self.vocab.chars):
            raise ValueError("snapshot was taken on a data set with another vocabulary")
        for k in PARAMS:
            want = tuple(self.params[k].shape)
            got = tuple(state["params"][k].shape)
            if got != want:
                raise ValueError(f"snapshot parameter {k} has shape {got}, this model needs {want}")
        self.params = {k: state["params"][k].to(self.cfg.torch_dtype).clone() for k in PARAMS}
        self.running_mean = state["running_mean"].to(self.cfg.torch_dtype).clone()
        self.running_var = state["running_var"].to(self.cfg.torch_dtype).clone()
        cal = state.get("calibration")
        self.calibration = None if cal is None else tuple(t.to(self.cfg.torch_dtype).clone() for t in cal)
        self.g.set_state(state["generator"])
        self.step = int(state["step"])
        self._clear_batch()


__all__ = ["MLP", "BACKWARDS", "BENCH_BACKWARDS", "FUSED_ORDER", "MODES", "MARKER"]
