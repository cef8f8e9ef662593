"""One batch's hand-written backward in the stepper's three views:
"atomic" (exercise 1, the registry's order), "lecture" (exercise 1 in the
notebook's line order: a `+=` node's first part early) and "fused"
(exercises 2 and 3: dlogits and dhprebn in one expression each). Switching
view keeps the place: the new view has what the old one had finished."""
from __future__ import annotations

from .atomic import BackwardStepper
from .fused import fused_backward, fused_forward
from .graph import BACKWARD_ORDER, Tensors

# What the fused backward computes, in the order the stepper reveals it.
FUSED_ORDER = ("logits", "h", "W2", "b2", "hpreact", "bngain", "bnbias",
               "hprebn", "embcat", "W1", "b1", "emb", "C")
MODES = ("atomic", "lecture", "fused")


def _prefix(order: tuple[str, ...], done: set[str]) -> int:
    k = 0
    while k < len(order) and order[k] in done:
        k += 1
    return k


class BatchBackward:
    """The backward pass of the batch in `values`, as far as it has gone, in one view."""

    def __init__(self, params: Tensors, values: Tensors, bn_eps: float, mode: str = "atomic"):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.params, self.values, self.bn_eps = params, values, bn_eps
        self.mode = mode
        self.stepper = BackwardStepper(values, bn_eps, tape="atomic" if mode == "fused" else mode)
        self.fused: Tensors = {}  # the fused gradients revealed so far
        self._fused_all: Tensors | None = None  # the whole fused pass, computed once a batch
        self._left = None  # the view left by the last switch, to return to it unchanged

    @property
    def order(self) -> tuple[str, ...]:
        return FUSED_ORDER if self.mode == "fused" else self.stepper.order

    @property
    def computed(self) -> list[str]:
        return list(self.fused) if self.mode == "fused" else self.stepper.computed

    @property
    def remaining(self) -> list[str]:
        if self.mode == "fused":
            return [n for n in FUSED_ORDER if n not in self.fused]
        return self.stepper.remaining

    @property
    def partial(self) -> dict[str, list[str]]:
        """Half-finished gradients (view "lecture" only): {node: consumers still to come}."""
        return {} if self.mode == "fused" else self.stepper.partial

    @property
    def grads(self) -> Tensors:
        return self.fused if self.mode == "fused" else self.stepper.grads

    def complete(self) -> set[str]:
        """The gradients this view has finished (half-finished ones excluded).
        The fused view has, in effect, every atomic node up to its latest."""
        if self.mode == "fused":
            return set(BACKWARD_ORDER[: BACKWARD_ORDER.index(self.computed[-1]) + 1]) if self.fused else set()
        return set(self.computed) - set(self.partial)

    def switch(self, mode: str) -> None:
        """Change view and keep the place, as far as the new view's steps allow
        (fused cannot stop inside the cross-entropy chain). Switching straight
        back returns to exactly the place left."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if mode == self.mode:
            return
        left = (self.mode, self.stepper, self.fused)
        back = self._left is not None and self._left[0] == mode and self._left[3] == tuple(self.computed)
        done = self.complete()
        self.mode = mode
        if back:
            _, self.stepper, self.fused, _ = self._left
        else:
            self.fused = {}
            if mode == "fused":
                self._reveal(list(FUSED_ORDER[: _prefix(FUSED_ORDER, done)]))
            else:
                self.stepper = BackwardStepper(self.values, self.bn_eps, tape=mode)
                while not self.stepper.done and self.stepper.next_node in done:
                    self.stepper.step()
        self._left = (*left, tuple(self.computed))

    def _reveal(self, names: list[str]) -> None:
        if names and self._fused_all is None:  # stepping one node at a time: one pass, not one a node
            cache = fused_forward(self.params, self.values["Xb"], self.values["Yb"], self.bn_eps)
            self._fused_all = fused_backward(self.params, cache)
        for name in names:
            self.fused[name] = self._fused_all[name]

    def run(self, nodes: int | None = None) -> list[str]:
        """The next `nodes` steps of this view (all that remain for None)."""
        if self.mode != "fused":
            return self.stepper.run(nodes)
        todo = self.remaining[: len(FUSED_ORDER) if nodes is None else nodes]
        self._reveal(todo)
        return todo

    def back(self) -> str | None:
        """Undo the last step; returns its node's name."""
        self._left = None
        if self.mode == "fused":
            return self.fused.popitem()[0] if self.fused else None
        return self.stepper.back()
