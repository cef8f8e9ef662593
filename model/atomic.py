"""Exercise 1: the forward pass one tensor a line, and the backward pass
written by hand one node at a time, driven by the registry in graph.py."""
from __future__ import annotations

import torch

from .graph import BACKWARD_ORDER, BY_NAME, FORWARD_ORDER, Tensors


def forward(params: Tensors, Xb: torch.Tensor, Yb: torch.Tensor, bn_eps: float = 1e-5) -> Tensors:
    """Every intermediate of the lecture's forward, by name (loss included)."""
    v: Tensors = dict(params)
    v["Xb"], v["Yb"] = Xb, Yb
    v["bn_eps"] = bn_eps  # a plain float: exact 1e-5 in float64 too
    for name in FORWARD_ORDER:
        v[name] = BY_NAME[name].fwd(v)
    del v["bn_eps"]
    return v


class BackwardStepper:
    """The manual backward, one node's gradient per `step()`, in lecture order.

    After each step `grads[name]` holds d<name> and `contributions[name]` the
    parts it is the sum of, keyed by the consumer each came through.

        stepper = BackwardStepper(values)
        stepper.step()          # -> "loss": dloss = 1
        stepper.step()          # -> "logprobs"
        stepper.run()           # the rest; stepper.done is True
        stepper.grads["C"]      # the lecture's dC
    """

    def __init__(self, values: Tensors, bn_eps: float = 1e-5):
        self.values = dict(values)
        self.values["bn_eps"] = bn_eps
        self.grads: Tensors = {}
        self.contributions: dict[str, Tensors] = {}
        self.position = 0  # index into BACKWARD_ORDER of the next node

    @property
    def order(self) -> tuple[str, ...]:
        return BACKWARD_ORDER

    @property
    def done(self) -> bool:
        return self.position >= len(BACKWARD_ORDER)

    @property
    def computed(self) -> list[str]:
        return list(BACKWARD_ORDER[: self.position])

    @property
    def remaining(self) -> list[str]:
        return list(BACKWARD_ORDER[self.position:])

    @property
    def next_node(self) -> str | None:
        return None if self.done else BACKWARD_ORDER[self.position]

    def step(self) -> str:
        """Compute the next node's gradient; returns its name."""
        if self.done:
            raise StopIteration("the backward pass is complete")
        name = BACKWARD_ORDER[self.position]
        parts = BY_NAME[name].bwd(self.values, self.grads)
        total = None
        for part in parts.values():  # in the lecture's order: `=` then `+=`
            total = part if total is None else total + part
        self.contributions[name] = parts
        self.grads[name] = total
        self.position += 1
        return name

    def back(self) -> str | None:
        """Undo the last step (the UI's 'back one node'); returns its name."""
        if self.position == 0:
            return None
        self.position -= 1
        name = BACKWARD_ORDER[self.position]
        self.grads.pop(name, None)
        self.contributions.pop(name, None)
        return name

    def run(self, nodes: int | None = None) -> list[str]:
        """Compute the next `nodes` gradients (all that remain for None)."""
        out = []
        while not self.done and (nodes is None or len(out) < nodes):
            out.append(self.step())
        return out


def manual_backward(values: Tensors, bn_eps: float = 1e-5) -> Tensors:
    """All of exercise 1 in one call: d<name> for every node with a gradient."""
    stepper = BackwardStepper(values, bn_eps)
    stepper.run()
    return stepper.grads
