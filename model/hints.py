"""The three hints of Derive it, each giving a little more away than the one
before: the shape, where the node is used, the local rule."""
from __future__ import annotations

from .derive import axes, check_mode
from .graph import BY_NAME, Dims, consumers

FUSED_RULES = {
    "logits": "Softmax and cross-entropy together: in each row the probabilities, minus 1 at the "
              "correct character, all divided by n (the loss is a mean).",
    "hprebn": "BatchNorm in one line, per column over the batch: "
              "γ·bnvar_inv/n · (n·dy − Σdy − n/(n−1)·x̂·Σ(dy·x̂)), with dy = dhpreact and x̂ = bnraw.",
}


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
