"""The oracle: PyTorch autograd on the same atomic forward, keeping .grad of
every intermediate (retain_grad), so every hand-written gradient is checked."""
from __future__ import annotations

import torch

from .atomic import forward
from .graph import BY_NAME, DATA, Tensors


def autograd_grads(params: Tensors, Xb: torch.Tensor, Yb: torch.Tensor,
                   bn_eps: float = 1e-5) -> tuple[Tensors, Tensors]:
    """(values, grads) where grads[name] is autograd's d<name> for every node."""
    leaves = {k: t.detach().clone().requires_grad_(True) for k, t in params.items()}
    with torch.enable_grad():
        v = forward(leaves, Xb, Yb, bn_eps)
        for name, t in v.items():
            if BY_NAME[name].kind != DATA and not t.is_leaf:
                t.retain_grad()
        v["loss"].backward()
    grads = {name: t.grad.detach() for name, t in v.items()
             if BY_NAME[name].kind != DATA and t.grad is not None}
    values = {name: t.detach() for name, t in v.items()}
    return values, grads
