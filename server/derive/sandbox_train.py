"""Exercise 4 inside the sandbox: train the network with the learner's own
fused backward. Runs in a shut-in child (see sandbox_child.py): each step is
the lecture's forward (our code), then the learner's expression for every
node of the fused backward in order, each seeing the gradients their earlier
expressions gave, then SGD with the learner's parameter gradients."""
from __future__ import annotations

import math

import torch

from backprop_ninja.model.atomic import forward
from backprop_ninja.model.graph import PARAMS
from backprop_ninja.model.mlp import FUSED_ORDER

from . import restrict
from .sandbox_child import Failed, compile_code, environment, execute, tensors


def _shaped(value, want: torch.Tensor, node: str, step: int) -> torch.Tensor:
    """The learner's d<node> with its node's shape (the size-1 axes the checker accepts reshaped)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = torch.full_like(want, float(value))
    if not isinstance(value, torch.Tensor):
        raise Failed("error", f"step {step}, d{node}: it is a {type(value).__name__}, not a tensor")
    if tuple(value.shape) != tuple(want.shape):
        if value.numel() != want.numel():
            raise Failed("error", f"step {step}, d{node}: shape {tuple(value.shape)}, but {node} has "
                         f"{tuple(want.shape)}")
        value = value.reshape(want.shape)
    return value.to(want.dtype)


def run(job: dict) -> dict:
    """{"status": "ok", "losses": [...]} or a failure naming the node and step."""
    params = tensors(job["params"])
    X, Y = torch.from_numpy(job["X"]), torch.from_numpy(job["Y"])  # (steps, n, block), (steps, n)
    sizes, eps, lrs = job["sizes"], job["bn_eps"], job["lrs"]
    losses: list[float] = []
    try:
        programs = {}
        for node in FUSED_ORDER:
            names = frozenset(job["names"]) | {"d" + u for u in FUSED_ORDER[: FUSED_ORDER.index(node)]} \
                | {"torch", "F"} | set(restrict.BUILTINS)
            try:
                programs[node] = compile_code(job["codes"][node], names, f"<your d{node}>")
            except Failed as err:
                raise Failed(err.answer["status"], f"d{node}: {err.answer['message']}") from None
        with torch.no_grad():
            for step in range(X.shape[0]):
                v = forward(params, X[step], Y[step], eps)
                loss = float(v["loss"])
                if not math.isfinite(loss):
                    raise Failed("error", f"step {step}: the loss is {loss}: the training diverged")
                losses.append(loss)
                grads: dict[str, torch.Tensor] = {}
                for node in FUSED_ORDER:
                    env = environment({**v, **sizes, **{"d" + k: t for k, t in grads.items()}})
                    try:
                        value = execute(programs[node], env, "d" + node)
                    except Failed as err:
                        raise Failed(err.answer["status"], f"step {step}, d{node}: {err.answer['message']}") from None
                    grads[node] = _shaped(value, v[node], node, step)
                for p in PARAMS:
                    params[p] = params[p] - lrs[step] * grads[p]
    except Failed as err:
        return {**err.answer, "losses": losses}
    return {"status": "ok", "losses": losses}
