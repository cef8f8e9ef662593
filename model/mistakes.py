"""The classic wrong answers of Derive it, each computed from the true
gradients so that a learner's result can be recognised numerically: one
catalogue for the page, the class view and the notebook."""
from __future__ import annotations

from typing import Callable

import torch

from .derive import PROBE
from .graph import BY_NAME, Tensors, consumers

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
        if BY_NAME[c].shape(PROBE) == BY_NAME[node].shape(PROBE):
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
