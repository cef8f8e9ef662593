""""Derive it yourself": what the lecture knows about each node's gradient
that a checker needs, beside the registry in graph.py.

For every node and mode: what is in scope for the learner, the lecture's
own answer, three progressive hints (the shape; the tensors involved; the
local rule in words), and the classic wrong answers, each computed from the
true gradients so a learner's result can be recognised numerically.
"""
from __future__ import annotations

from typing import Callable

import torch

from .graph import BACKWARD_ORDER, BY_NAME, Dims, Tensors, consumers
from .mlp import FUSED_ORDER

MODES = ("atomic", "fused")
ORDER = {"atomic": BACKWARD_ORDER, "fused": FUSED_ORDER}

# Exercise 2 and 3 as the lecture writes them; every other fused node is the
# same line as in the atomic pass.
FUSED_LINES = {
    "logits": "dlogits = F.softmax(logits, 1)\n"
              "dlogits[range(n), Yb] -= 1\n"
              "dlogits /= n",
    "hprebn": "dhprebn = bngain*bnvar_inv/n * (n*dhpreact - dhpreact.sum(0) "
              "- n/(n-1)*bnraw*(dhpreact*bnraw).sum(0))",
}
FUSED_RULES = {
    "logits": "Softmax and cross-entropy together: in each row the probabilities, minus 1 at the "
              "correct character, all divided by n (the loss is a mean).",
    "hprebn": "BatchNorm in one line, per column over the batch: "
              "γ·bnvar_inv/n · (n·dy − Σdy − n/(n−1)·x̂·Σ(dy·x̂)), with dy = dhpreact and x̂ = bnraw.",
}
# The atomic loop for dC that the lecture writes first: the idea behind index_add_.
DC_LOOP = ("dC = torch.zeros_like(C)\n"
           "for k in range(Xb.shape[0]):\n"
           "    for j in range(Xb.shape[1]):\n"
           "        ix = Xb[k, j]\n"
           "        dC[ix] += demb[k, j]")

# Sizes no two of which coincide, so a shape can be read back as axis names.
_PROBE = Dims(n=1009, block=1013, embd=1019, hidden=1021, vocab=1031)
_AXIS = {1009: "n", 1013: "block", 1019: "n_embd", 1021: "n_hidden", 1031: "vocab", 1013 * 1019: "block·n_embd", 1: "1"}


def check_mode(mode: str, node: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be 'atomic' or 'fused', got {mode!r}")
    if node not in ORDER[mode]:
        raise ValueError(f"no node {node!r} to derive in {mode} mode; nodes are: {', '.join(ORDER[mode])}")


def axes(node: str) -> tuple[str, ...]:
    """The node's shape as axis names: ('n', 'vocab') for logits."""
    return tuple(_AXIS[s] for s in BY_NAME[node].shape(_PROBE))


def upstream(mode: str, node: str) -> tuple[str, ...]:
    """The nodes whose true gradients are in scope: those before `node` in the mode's order."""
    order = ORDER[mode]
    return order[: order.index(node)]


def answer(mode: str, node: str) -> str:
    """The lecture's lines for d<node>."""
    check_mode(mode, node)
    if mode == "fused" and node in FUSED_LINES:
        return FUSED_LINES[node]
    return BY_NAME[node].backward


def rule(mode: str, node: str) -> str:
    if mode == "fused" and node in FUSED_RULES:
        return FUSED_RULES[node]
    return BY_NAME[node].explain


def involved(mode: str, node: str) -> str:
    """Hint 2: the forward lines that use the node, hence the tensors its gradient needs."""
    if mode == "fused" and node == "logits":
        return "You need logits (or probs), Yb and n: nothing upstream of the loss but the loss itself."
    if mode == "fused" and node == "hprebn":
        return "You need dhpreact, bnraw, bngain, bnvar_inv and n; no gradient below hpreact."
    uses = consumers(node)
    if not uses:
        return "This is where backprop starts."
    lines = "; ".join(BY_NAME[c].forward for c in uses)
    grads = ", ".join("d" + c for c in uses)
    twice = " It is used twice, so its gradient has two parts that add." if len(uses) == 2 else ""
    return f"{node} is used in: {lines}. So you need {grads} and the other tensors in those lines.{twice}"


def hints(mode: str, node: str, dims: Dims) -> list[str]:
    """Three hints, each giving a little more away than the one before."""
    check_mode(mode, node)
    shape = BY_NAME[node].shape(dims)
    first = (f"d{node} has the shape of {node}: {tuple(shape)}, axes ({', '.join(axes(node))})."
             if shape else f"d{node} is a single number, like {node}.")
    return [first, involved(mode, node), rule(mode, node)]


# ---- the classic mistakes, as tensors ---------------------------------------
# A variant is (kind, message, function of the forward values v and the true
# gradients g, both by node name). Each recognises one wrong answer.
Variant = tuple[str, str, Callable[[Tensors, Tensors], torch.Tensor]]


def _n(v: Tensors) -> int:
    return v["Xb"].shape[0]


def _one_branch(node: str) -> list[Variant]:
    uses = consumers(node)
    if len(uses) != 2:
        return []
    out = []
    for c in uses:
        other = next(u for u in uses if u != c)
        out.append(("one_branch",
                    f"This is only the part of d{node} that comes through {c}. {node} is also used in "
                    f"{other}, so its gradient is the sum of both parts: add the second with `+=`.",
                    lambda v, g, c=c: BY_NAME[node].bwd({**v, "bn_eps": 1e-5}, g)[c]))
    return out


def _passthrough(node: str) -> list[Variant]:
    out = []
    for c in consumers(node):
        if BY_NAME[c].shape(_PROBE) == BY_NAME[node].shape(_PROBE):
            out.append(("no_local",
                        f"This is d{c} passed straight through: the chain rule multiplies it by the local "
                        f"derivative of {c} with respect to {node}, which is missing.",
                        lambda v, g, c=c: g[c]))
    return out


def _special(mode: str, node: str) -> list[Variant]:
    if node == "hpreact":
        return [("no_local", "This is dh passed straight through: tanh's local derivative is missing; "
                 "(1 - h**2) * dh is due.", lambda v, g: g["h"]),
                ("tanh_input", "tanh's derivative is written with its output h (1 - h**2), not its input "
                 "hpreact.", lambda v, g: (1.0 - v["hpreact"] ** 2) * g["h"])]
    if node == "hprebn" and mode == "atomic":
        return [("missing_1n", "The mean's branch needs 1/n: bnmeani averages n rows, so each row gets "
                 "1/n of dbnmeani.", lambda v, g: g["bndiff"] + g["bnmeani"]),
                ("bessel", "The mean's branch divides by n-1, but bnmeani is a plain mean over n rows "
                 "(only the variance uses Bessel's n-1).", lambda v, g: g["bndiff"] + g["bnmeani"] / (_n(v) - 1))]
    if node == "hprebn" and mode == "fused":
        return [("bessel", "The last term needs n/(n-1): bnvar uses Bessel's correction, so the variance "
                 "path is scaled by 1/(n-1), not 1/n.", lambda v, g: v["bngain"] * v["bnvar_inv"] / _n(v) * (
                     _n(v) * g["hpreact"] - g["hpreact"].sum(0)
                     - v["bnraw"] * (g["hpreact"] * v["bnraw"]).sum(0)))]
    if node == "logprobs":
        return [("missing_1n", "Missing 1/n: the loss is a mean over the batch, so each picked entry "
                 "gets -1/n, not -1.", lambda v, g: g["logprobs"] * _n(v))]
    return []


def variants(mode: str, node: str) -> list[Variant]:
    """Every wrong answer we can name for this node, most specific first."""
    out = _special(mode, node)
    if mode == "atomic":
        out += _one_branch(node) + _passthrough(node)
    out += [
        ("sign", "Right size, wrong sign: check the minus signs (a subtraction or a power with a "
         "negative exponent).", lambda v, g: -g[node]),
        ("missing_1n", "Off by a factor of n: a 1/n (from a mean over the batch) is missing.",
         lambda v, g: g[node] * _n(v)),
        ("extra_1n", "Off by a factor of 1/n: there is a 1/n too many.", lambda v, g: g[node] / _n(v)),
        ("bessel", "Off by (n-1)/n: you divided by n where the lecture uses n-1 (Bessel's correction "
         "in bnvar).", lambda v, g: g[node] * (_n(v) - 1) / _n(v)),
        ("bessel_reverse", "Off by n/(n-1): you divided by n-1 where a plain mean over n is due.",
         lambda v, g: g[node] * _n(v) / (_n(v) - 1)),
    ]
    return out


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
        return base, "broadcast", ("A broadcast gave a wrong shape: a tensor of shape "
                                   f"({yours[0]},) met one of shape {true} and Python broadcast them "
                                   f"to {yours}. Keep the axis (keepdim=True) so they line up.")
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
