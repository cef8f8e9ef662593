"""Exercise 1: the forward pass one tensor a line, and the backward pass
written by hand one node at a time, driven by the registry in graph.py."""
from __future__ import annotations

import torch

from .graph import BACKWARD_ORDER, BY_NAME, FORWARD_ORDER, Tensors, branches, consumers, sources

# One item of a tape: (node, consumer) adds the part of d<node> that comes
# from that consumer; (node, None) computes all of d<node> at once.
Item = tuple[str, "str | None"]

# The notebook's order of lines: the first branch of a `+=` node is assigned
# as soon as its consumer's gradient is known, and the second added later.
# In between, d<node> is half finished and the checker says so, as cmp did in
# the video ("dbndiff is wrong for now").
LECTURE_ORDER: tuple[Item, ...] = (
    ("loss", None), ("logprobs", None), ("probs", None), ("counts_sum_inv", None),
    ("counts", "probs"), ("counts_sum", None), ("counts", "counts_sum"),
    ("norm_logits", None), ("logits", "norm_logits"), ("logit_maxes", None), ("logits", "logit_maxes"),
    ("h", None), ("W2", None), ("b2", None), ("hpreact", None),
    ("bngain", None), ("bnraw", None), ("bnbias", None),
    ("bndiff", "bnraw"), ("bnvar_inv", None), ("bnvar", None), ("bndiff2", None), ("bndiff", "bndiff2"),
    ("hprebn", "bndiff"), ("bnmeani", None), ("hprebn", "bnmeani"),
    ("embcat", None), ("W1", None), ("b1", None), ("emb", None), ("C", None),
)
TAPES: dict[str, tuple[Item, ...]] = {
    "atomic": tuple((name, None) for name in BACKWARD_ORDER),
    "lecture": LECTURE_ORDER,
}


def _validate_tape(tape: tuple[Item, ...]) -> None:
    # every part is added once, and only once the gradient it reads is complete
    added: dict[str, set[str]] = {}
    complete = lambda name: len(added.get(name, ())) == branches(name)  # noqa: E731
    for name, branch in tape:
        parts = set(sources(name)) if branch is None else {branch}
        assert not parts & added.get(name, set()), f"{name} gets the part from {parts} twice"
        for c in parts:
            assert c == "" or complete(c), f"d{name}'s part from {c} needs d{c} complete first"
        added.setdefault(name, set()).update(parts or {""})
    assert all(complete(n) or not consumers(n) for n in BACKWARD_ORDER), "a gradient is left unfinished"
    assert {n for n, _ in tape} == set(BACKWARD_ORDER)


for _tape in TAPES.values():
    _validate_tape(_tape)


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
    """The manual backward, one tape item per `step()`: in the registry's order
    (tape "atomic": one whole node's gradient a step) or the notebook's
    (tape "lecture": a `+=` node's two parts at two steps).

    After each step `grads[name]` holds d<name> (the parts known so far) and
    `contributions[name]` those parts, keyed by the consumer each came through.

        stepper = BackwardStepper(values)
        stepper.step()          # -> "loss": dloss = 1
        stepper.step()          # -> "logprobs"
        stepper.run()           # the rest; stepper.done is True
        stepper.grads["C"]      # the lecture's dC
    """

    def __init__(self, values: Tensors, bn_eps: float = 1e-5, tape: str = "atomic"):
        if tape not in TAPES:
            raise ValueError(f"tape must be one of {', '.join(TAPES)}, got {tape!r}")
        self.values = dict(values)
        self.values["bn_eps"] = bn_eps
        self.tape = TAPES[tape]
        self.grads: Tensors = {}
        self.contributions: dict[str, Tensors] = {}
        self.position = 0  # index into the tape of the next item

    @property
    def order(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.tape)

    @property
    def done(self) -> bool:
        return self.position >= len(self.tape)

    @property
    def computed(self) -> list[str]:
        """Nodes with a gradient (whole or half), ordered by the last step that
        touched them: the last one is the node the latest step worked on."""
        latest: dict[str, None] = {}
        for name, _ in self.tape[: self.position]:
            latest.pop(name, None)
            latest[name] = None
        return list(latest)

    @property
    def remaining(self) -> list[str]:
        """The node of every item still to run (a half-finished node is in both lists)."""
        return [name for name, _ in self.tape[self.position:]]

    @property
    def partial(self) -> dict[str, list[str]]:
        """{node: the consumers whose part it still waits for}, for half-finished nodes."""
        return {n: [c for c in sources(n) if c not in self.contributions[n]]
                for n in self.grads if len(self.contributions[n]) < branches(n)}

    @property
    def next_node(self) -> str | None:
        return None if self.done else self.tape[self.position][0]

    def step(self) -> str:
        """Run the next item; returns its node's name."""
        if self.done:
            raise StopIteration("the backward pass is complete")
        name, branch = self.tape[self.position]
        bwd = BY_NAME[name].bwd
        parts = bwd(self.values, self.grads) if branch is None else bwd(self.values, self.grads, only=branch)
        have = self.contributions.setdefault(name, {})
        for consumer, part in parts.items():  # in the lecture's order: `=` then `+=`
            have[consumer] = part
            self.grads[name] = part if name not in self.grads else self.grads[name] + part
        self.position += 1
        return name

    def back(self) -> str | None:
        """Undo the last step (the UI's 'back one node'); returns its name."""
        if self.position == 0:
            return None
        self.position -= 1
        name, branch = self.tape[self.position]
        if branch is None or len(self.contributions.get(name, {})) <= 1:
            self.grads.pop(name, None)
            self.contributions.pop(name, None)
        else:  # drop the second part: back to the first alone, exactly as it was
            self.contributions[name].pop(branch)
            (first,) = self.contributions[name].values()
            self.grads[name] = first
        return name

    def run(self, nodes: int | None = None) -> list[str]:
        """Run the next `nodes` items (all that remain for None)."""
        out = []
        while not self.done and (nodes is None or len(out) < nodes):
            out.append(self.step())
        return out


def manual_backward(values: Tensors, bn_eps: float = 1e-5) -> Tensors:
    """All of exercise 1 in one call: d<name> for every node with a gradient."""
    stepper = BackwardStepper(values, bn_eps)
    stepper.run()
    return stepper.grads
