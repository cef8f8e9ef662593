"""""Derive it yourself": what the lecture knows about each node's gradient
that a checker needs, beside the registry in graph.py: the order of each
mode, what is in scope for the learner, the lecture's own answer, and the
sentences for a result of the wrong shape. The hints are in hints.py, the
classic wrong answers in mistakes.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .graph import BACKWARD_ORDER, BY_NAME, Dims
from .mlp import FUSED_ORDER

MODES = ("atomic", "fused")
ORDER = {"atomic": BACKWARD_ORDER, "fused": FUSED_ORDER}

# Exercise 2 and 3 as the lecture writes them; every other fused node is the
# same line as in the atomic pass (dhpreact keeps (1.0 - h**2) * dh, dC its loop).
FUSED_LINES = {
    "logits": "dlogits = F.softmax(logits, 1)\n"
              "dlogits[range(n), Yb] -= 1\n"
              "dlogits /= n",
    "hprebn": "dhprebn = bngain*bnvar_inv/n * (n*dhpreact - dhpreact.sum(0) "
              "- n/(n-1)*bnraw*(dhpreact*bnraw).sum(0))",
}
# The lecture's double loop for dC (exercises 1 and 4): the registry's own line.
DC_LOOP = BY_NAME["C"].backward


@dataclass(frozen=True)
class Alternative:
    """An equivalent form of a lecture line that is not the lecture's own."""
    code: str
    label: str  # one sentence: whose form it is and why it is the same


ALTERNATIVES = {
    "C": Alternative(
        "dC = torch.zeros_like(C).index_add_(0, Xb.view(-1), demb.view(-1, n_embd))",
        "A vectorised form viewers of the lecture proposed in its comments, not the lecture's own: "
        "index_add_ adds every position's gradient into the row of C it read, repeated rows included, "
        "in one call. The training step uses it, since the loop runs one small Python addition per position."),
}

# Sizes no two of which coincide, so a shape can be read back as axis names.
PROBE = Dims(n=1009, block=1013, embd=1019, hidden=1021, vocab=1031)
_AXIS = {1009: "n", 1013: "block", 1019: "n_embd", 1021: "n_hidden", 1031: "vocab", 1013 * 1019: "block·n_embd", 1: "1"}


def check_mode(mode: str, node: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be 'atomic' or 'fused', got {mode!r}")
    if node not in ORDER[mode]:
        raise ValueError(f"no node {node!r} to derive in {mode} mode; nodes are: {', '.join(ORDER[mode])}")


def axes(node: str) -> tuple[str, ...]:
    """The node's shape as axis names: ('n', 'vocab') for logits."""
    return tuple(_AXIS[s] for s in BY_NAME[node].shape(PROBE))


def upstream(mode: str, node: str) -> tuple[str, ...]:
    """The nodes whose true gradients are in scope: those before `node` in the mode's order."""
    order = ORDER[mode]
    return order[: order.index(node)]


def answer(mode: str, node: str) -> str:
    """The lecture's lines for d<node> (for dC its double loop, in both modes)."""
    check_mode(mode, node)
    if mode == "fused" and node in FUSED_LINES:
        return FUSED_LINES[node]
    return BY_NAME[node].backward


def alternative(mode: str, node: str) -> Alternative | None:
    """An equivalent form someone else wrote, when there is one (dC's index_add_)."""
    check_mode(mode, node)
    return ALTERNATIVES.get(node)


# ---- shapes ------------------------------------------------------------------
def shape_message(node: str, yours: tuple[int, ...], true: tuple[int, ...]) -> tuple[str, str | None, str | None]:
    """(sentence naming both shapes and the axis, mistake kind or None, its hint)."""
    names = axes(node)
    base = f"Shape: yours is {yours}, but d{node} has the shape of {node}, {true} ({', '.join(names)})."
    if len(yours) == 2 and tuple(reversed(yours)) == true and yours != true:
        return base, "transposed", ("Transposed: your result is the true one's transpose. In a matrix "
                                    "product's backward, pick the order and .T so the shapes give "
                                    f"{true}.")
    if len(yours) == len(true) - 1:
        for a in range(len(true)):
            if true[a] == 1 and true[:a] + true[a + 1:] == yours:
                return base + f" Axis {a} ({names[a]}) is missing.", "keepdim", (
                    f"A sum without keepdim=True drops axis {a}; keep it so the gradient has {node}'s shape.")
    if len(yours) == len(true) == 2 and yours[0] == yours[1] and 1 in true and max(true) == yours[0]:
        m = yours[0]
        return base, "broadcast", ("Most likely a broadcast gave this shape: an elementwise operation met two "
                                   f"tensors holding their {m} numbers along different axes (say ({m}, 1) "
                                   f"and (1, {m}), or ({m}, 1) and ({m},)), and broadcasting stretched each "
                                   f"along the other's axis to {yours}. Keep the numbers on the axis where "
                                   f"{node} has them, {true} (keepdim=True, no .T).")
    if len(yours) == len(true):
        diff = [a for a in range(len(true)) if yours[a] != true[a]]
        where = ", ".join(f"axis {a} ({names[a]}): {yours[a]} where {true[a]} is due" for a in diff)
        base += f" They differ on {where}."
        ones_y = [a for a in diff if yours[a] == 1]
        ones_t = [a for a in diff if true[a] == 1]
        if ones_y and ones_t:
            return base, "wrong_axis", (f"A sum over the wrong axis: you summed over axis {ones_y[0]} "
                                        f"({names[ones_y[0]]}); the sum runs over axis {ones_t[0]}.")
        if ones_y:
            return base, "summed", (f"Axis {ones_y[0]} was summed away (or never broadcast): {node} has "
                                    f"{true[ones_y[0]]} there, so d{node} needs it too; a sum in the "
                                    "forward is a broadcast in the backward.")
        if ones_t:
            return base, "not_summed", (f"Axis {ones_t[0]} should be summed over: {node} was broadcast "
                                        "along it in the forward, and a broadcast in the forward is a "
                                        "sum in the backward.")
    return base, None, None


def fits(yours: tuple[int, ...], true: tuple[int, ...]) -> bool:
    """What the lecture's cmp accepts besides equal shapes: the same numbers
    laid out with extra or missing size-1 axes, e.g. (h,) against (1, h)."""
    squeeze = lambda s: tuple(x for x in s if x != 1)  # noqa: E731
    if squeeze(yours) != squeeze(true):
        return False
    try:
        return torch.broadcast_shapes(yours, true) == true or len(yours) > len(true)
    except RuntimeError:
        return False
