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

# eps: the largest gap between numeric and autograd, relative to max(1, |numeric|),
# was 4.4e-9 at eps 1e-6, against 4.2e-7 at 1e-5 and 6.8e-9 at 1e-7 (the
# truncation error grows as eps^2, the rounding error as 1/eps; dprobs, with
# its 1/probs, needs the small eps).
# Tolerance: |value - numeric| <= ATOL + RTOL * |numeric|. Measured at eps 1e-6
# on ~4,800 entries (20 of every node of BACKWARD_ORDER, non-zero ones first,
# two batches each) at the lecture's size, from a float32 model, at batch 4 /
# hidden 8, with another seed and at batch 64 / hidden 200: the largest gap used
# 3% of this tolerance (5.9e-10 where |numeric| was 4e-4). Most gradients here
# are far below 1, so the absolute part decides: 2e-8 is 2e-4 of an entry of
# 1e-4, and the check flags a slip of a few percent, such as 1/n where the
# lecture's n/(n-1) is due (tests/model/test_model_finite_differences.py).
EPS = 1e-6
ATOL = 2e-8
RTOL = 1e-6
TOLERANCE = RTOL  # the relative part, as FiniteDifferences.tolerance has always been
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
    tolerance: float  # relative: RTOL
    atol: float
    samples: list[Sample]
    agree: bool  # autograd within tolerance of the numeric derivative at every sample
    yours_agree: bool | None  # the learner's values, when given
    message: str


def agrees(value: float, numeric: float, atol: float = ATOL, rtol: float = RTOL) -> bool:
    """|value - numeric| <= atol + rtol * |numeric|, as torch.allclose puts it."""
    return abs(value - numeric) <= atol + rtol * abs(numeric)


def sample_seed(seed: int, step: int, node: str) -> int:
    """The same entries for the same session step and node, others for the next step."""
    return ((seed * 1_000_003 + step) * 131 + BACKWARD_ORDER.index(node)) % (1 << 62)


def sparse(grad: torch.Tensor) -> bool:
    """Most entries exactly 0 (dlogprobs, dprobs: one non-zero entry a row)."""
    return int((grad == 0).sum()) * 2 > grad.numel()


def entries(grad: torch.Tensor, k: int, seed: int) -> list[tuple[int, ...]]:
    """k distinct entries: the one where autograd's gradient is largest, then k-1
    drawn at random with `seed`. In a sparse gradient those are drawn among the
    non-zero entries, all but one (when k >= 3) that stays a zero: where the truth
    is 0, a wrong gradient can still be non-zero."""
    flat_grad = grad.reshape(-1)
    numel = flat_grad.numel()
    first = int(flat_grad.abs().argmax()) if numel else 0
    g = torch.Generator().manual_seed(seed)
    rest = [i for i in torch.randperm(numel, generator=g).tolist() if i != first]
    if sparse(grad):
        nonzero = [i for i in rest if flat_grad[i] != 0]
        zeros = [i for i in rest if flat_grad[i] == 0]
        keep = min(len(zeros), 1 if k >= 3 else 0)
        room = k - 1 - keep
        rest = nonzero[:room] + zeros[:keep + max(0, room - len(nonzero))]
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
    return FiniteDifferences(node, EPS, RTOL, ATOL, samples, agree, yours_agree,
                             _message(node, samples, agree, yours_agree, sparse(true)))


def _picked(samples: list[Sample], is_sparse: bool) -> str:
    k = len(samples)
    if k == 1 and not samples[0].index:
        return "its only entry"
    text = "the entry where autograd's gradient is largest"
    if k == 1:
        return text
    text += f" and {k - 1} more drawn at random (seeded by the session's step)"
    if is_sparse:
        zeros = sum(s.autograd == 0 for s in samples[1:])
        text += (f", mostly among its non-zero entries since most of the gradient is exactly 0 "
                 f"({k - 1 - zeros} non-zero, {zeros} zero)")
    return text


def _message(node: str, samples: list[Sample], agree: bool, yours_agree: bool | None, is_sparse: bool) -> str:
    k = len(samples)
    where = "from the start (a parameter feeds the whole forward)" if node in PARAMS else f"from {node} on"
    text = (f"Sampled {k} {'entry' if k == 1 else 'entries'} of d{node}: {_picked(samples, is_sparse)}. Each was "
            f"nudged by +{EPS:g} and -{EPS:g} in float64 and the loss recomputed through the lecture's forward "
            f"{where}: (loss(x+eps) - loss(x-eps)) / 2eps, no autograd involved. Agreement means "
            f"|value - numeric| <= {ATOL:g} + {RTOL:g} x |numeric|. ")
    bad = sum(not agrees(s.autograd, s.numeric) for s in samples)
    text += ("Autograd agrees at every sample." if agree else
             f"Autograd differs at {bad} of {k}: the numeric derivative may have crossed a kink (a max "
             "or a tie) there.")
    if yours_agree is not None:
        wrong = sum(not agrees(s.yours, s.numeric) for s in samples)
        text += (" Yours agrees at every sample too." if yours_agree else
                 f" Yours differs at {wrong} of {k}: your d{node} is not the derivative of the loss.")
    return text
