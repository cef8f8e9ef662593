"""An oracle that is not autograd: central finite differences in float64.

For a node (a parameter or an intermediate of the forward), a few of its
entries are nudged by +eps and -eps, and the loss is recomputed through the
lecture's forward (the registry's fwd functions) from that node on; for a
parameter, from the start. (loss(x+eps) - loss(x-eps)) / 2eps is the
derivative the lecture's cmp takes on trust from autograd, found without it.

Pure torch: the caller passes the batch and, when a learner's code ran, its
d<node>; nothing here knows about sessions or the sandbox."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .graph import BACKWARD_ORDER, BY_NAME, FORWARD_ORDER, PARAMS, Tensors
from .reference import autograd_grads

# eps and tolerance, measured on 20 entries of every node of BACKWARD_ORDER,
# three batches each, at the lecture's size, at batch 4 / hidden 8, and from a
# float32 model (tests/model/test_model_finite_differences.py keeps it so):
# the largest gap between numeric and autograd, relative to max(1, |numeric|),
# was 4.4e-9 at eps 1e-6, against 4.2e-7 at 1e-5 and 6.8e-9 at 1e-7 (the
# truncation error grows as eps^2, the rounding error as 1/eps; dprobs, with
# its 1/probs, needs the small eps). The tolerance leaves a margin of ~200 and
# still catches a gradient off by one part in a million.
EPS = 1e-6
TOLERANCE = 1e-6
MAX_SAMPLES = 20


@dataclass(frozen=True)
class Sample:
    index: tuple[int, ...]
    numeric: float
    autograd: float
    yours: float | None = None


@dataclass(frozen=True)
class FiniteDifferences:
    node: str
    eps: float
    tolerance: float
    samples: list[Sample]
    agree: bool  # autograd within tolerance of the numeric derivative at every sample
    yours_agree: bool | None  # the learner's values, when given
    message: str


def agrees(value: float, numeric: float, tolerance: float = TOLERANCE) -> bool:
    """|value - numeric| <= tolerance * max(1, |numeric|): absolute near 0, relative above 1."""
    return abs(value - numeric) <= tolerance * max(1.0, abs(numeric))


def sample_seed(seed: int, step: int, node: str) -> int:
    """The same entries for the same session step and node, others for the next step."""
    return ((seed * 1_000_003 + step) * 131 + BACKWARD_ORDER.index(node)) % (1 << 62)


def entries(grad: torch.Tensor, k: int, seed: int) -> list[tuple[int, ...]]:
    """k distinct entries: the one where autograd's gradient is largest (so a
    mostly-zero gradient like dlogprobs is not sampled only where it is 0),
    then k-1 drawn at random with `seed`."""
    numel = grad.numel()
    first = int(grad.abs().reshape(-1).argmax()) if numel else 0
    g = torch.Generator().manual_seed(seed)
    rest = [i for i in torch.randperm(numel, generator=g).tolist() if i != first]
    flat = [first, *rest][: min(k, numel)]
    return [_unravel(i, tuple(grad.shape)) for i in flat]


def _unravel(i: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    out = []
    for size in reversed(shape):
        out.append(i % size)
        i //= size
    return tuple(reversed(out))


def loss_from(values: Tensors, node: str, bn_eps: float) -> float:
    """The loss with `values[node]` as given, the forward rerun from the node on."""
    v = dict(values)
    v["bn_eps"] = bn_eps
    start = 0 if node in PARAMS else FORWARD_ORDER.index(node) + 1
    for name in FORWARD_ORDER[start:]:
        v[name] = BY_NAME[name].fwd(v)
    return float(v["loss"])


def numeric(values: Tensors, node: str, index: tuple[int, ...], bn_eps: float, eps: float = EPS) -> float:
    """(loss(x + eps) - loss(x - eps)) / 2eps at one entry of the node."""
    out = []
    for sign in (1.0, -1.0):
        nudged = values[node].clone()
        nudged[index] += sign * eps
        out.append(loss_from({**values, node: nudged}, node, bn_eps))
    return (out[0] - out[1]) / (2 * eps)


def float64(params: Tensors, Xb: torch.Tensor, Yb: torch.Tensor, bn_eps: float) -> tuple[Tensors, Tensors]:
    """The batch's forward values and autograd's gradients, in float64 whatever the session's dtype."""
    p64 = {name: params[name].detach().to(torch.float64) for name in PARAMS}
    return autograd_grads(p64, Xb, Yb, bn_eps)


def check(values: Tensors, grads: Tensors, bn_eps: float, node: str, k: int, seed: int,
          yours: torch.Tensor | None = None) -> FiniteDifferences:
    """Sample k entries of d<node>, compare autograd's (and yours) with the numeric derivative.
    `values` and `grads` in float64 (float64() above)."""
    if node not in BACKWARD_ORDER:
        raise ValueError(f"no gradient for {node!r}; nodes are: {', '.join(BACKWARD_ORDER)}")
    if not 1 <= k <= MAX_SAMPLES:
        raise ValueError(f"samples must be 1 to {MAX_SAMPLES}, got {k}")
    true = grads[node]
    if yours is not None:
        yours = yours.detach().to(torch.float64).reshape(true.shape)
    samples = []
    for index in entries(true, k, seed):
        num = numeric(values, node, index, bn_eps)
        samples.append(Sample(index, num, float(true[index]), None if yours is None else float(yours[index])))
    agree = all(agrees(s.autograd, s.numeric) for s in samples)
    yours_agree = None if yours is None else all(agrees(s.yours, s.numeric) for s in samples)
    return FiniteDifferences(node, EPS, TOLERANCE, samples, agree, yours_agree,
                             _message(node, samples, agree, yours_agree))


def _message(node: str, samples: list[Sample], agree: bool, yours_agree: bool | None) -> str:
    k = len(samples)
    where = "from the start (a parameter feeds the whole forward)" if node in PARAMS else f"from {node} on"
    picked = ("its only entry" if k == 1 and not samples[0].index else
              "the entry where autograd's gradient is largest" + (f" and {k - 1} more drawn at random "
                                                                  "(seeded by the session's step)" if k > 1 else ""))
    text = (f"Sampled {k} {'entry' if k == 1 else 'entries'} of d{node}: {picked}. Each was nudged by "
            f"+{EPS:g} and -{EPS:g} in float64 and the loss recomputed through the lecture's forward {where}: "
            f"(loss(x+eps) - loss(x-eps)) / 2eps, no autograd involved. Agreement means within "
            f"{TOLERANCE:g} x max(1, |numeric|). ")
    bad = sum(not agrees(s.autograd, s.numeric) for s in samples)
    text += ("Autograd agrees at every sample." if agree else
             f"Autograd differs at {bad} of {k}: the numeric derivative may have crossed a kink (a max "
             "or a tie) there.")
    if yours_agree is not None:
        wrong = sum(not agrees(s.yours, s.numeric) for s in samples)
        text += (" Yours agrees at every sample too." if yours_agree else
                 f" Yours differs at {wrong} of {k}: your d{node} is not the derivative of the loss.")
    return text
