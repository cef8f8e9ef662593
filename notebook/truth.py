"""The true gradients of the learner's own forward tensors, for `check`.

They come from the model's hand-written backward (the registry in
model/graph.py, run by model/atomic.py's BackwardStepper), never from the
learner's .grad. Two rules are evaluated the way autograd rounds them (tanh's
by the kernel autograd calls, log's as a division; see AUTOGRAD_ROUNDING), so
every true gradient is bit-equal to what autograd gives for those tensors
(tests/notebook/test_check_oracle.py), and the exact / approximate / maxdiff
columns are the ones the lecture's `cmp` prints in the same notebook.

`own_rule` is one node's line alone, fed the gradients it reads: check.py uses
it with the learner's upstream gradients to tell "affected" from "wrong".
"""
from __future__ import annotations

import torch

from backprop_ninja.model.atomic import BackwardStepper
from backprop_ninja.model.fused import dhprebn_fused, dlogits_fused
from backprop_ninja.model.graph import BY_NAME, Tensors, sources

# Two rules of the registry, evaluated the way autograd rounds them (the same derivative, other rounding):
# tanh's (1 - h**2) * dh by the kernel autograd calls, which rounds 1 - h² once; and log's (1/probs) * dlogprobs
# as a division, which differs from the product unless 1/n is a power of two (batch 32 hides it; 100 shows it).
AUTOGRAD_ROUNDING = {
    "hpreact": lambda v, g: torch.ops.aten.tanh_backward(g["h"], v["h"]),
    "probs": lambda v, g: g["logprobs"] / v["probs"],
}


def true_grads(values: Tensors) -> Tensors:
    """d<node> for every node, by the hand-written backward on these forward values: bit-equal to
    autograd's for them (tests/notebook/test_check_oracle.py), so `exact` means what it means in cmp."""
    stepper = BackwardStepper(values)
    while not stepper.done:
        name = stepper.step()
        if name in AUTOGRAD_ROUNDING:
            stepper.grads[name] = AUTOGRAD_ROUNDING[name](values, stepper.grads)
    return stepper.grads


def upstream(mode: str, node: str) -> tuple[str, ...]:
    """The gradients d<node>'s own line reads."""
    if mode == "fused" and node == "logits":
        return ()  # exercise 2 starts from the loss itself
    if mode == "fused" and node == "hprebn":
        return ("hpreact",)
    return tuple(s for s in sources(node) if s)


def own_rule(mode: str, node: str, v: Tensors, g: Tensors) -> torch.Tensor:
    """d<node> by its own line, from the gradients in `g` (the learner's, where they wrote them)."""
    if mode == "fused" and node == "logits":
        return dlogits_fused(v["logits"], v["Yb"])
    if mode == "fused" and node == "hprebn":
        return dhprebn_fused(g["hpreact"], v["bnraw"], v["bngain"], v["bnvar_inv"])
    parts = list(BY_NAME[node].bwd(v, g).values())  # in code order: `=` then `+=`
    return parts[0] if len(parts) == 1 else parts[0] + parts[1]
