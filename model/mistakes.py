"""The classic wrong answers of Derive it, each computed from the true
gradients so that a learner's result can be recognised numerically: one
catalogue for the page, the class view and the notebook.

Three kinds of entries:
- a variant (here): the wrong tensor itself, computed from the forward
  values and the true gradients (yours is compared with it);
- a recogniser (recognisers.py): a test on yours, for a mistake no single
  tensor stands for (dC with `=` keeps one of several contributions per row);
- pure functions on what is not a tensor (recognisers.py): a wrong shape,
  torch's error text.
Every kind has a short label in LABELS, for the page, the class view and the
notebook. This module re-exports recognisers.py's public names, so
`mistakes.incomplete`, `mistakes.shape_mistake` and the rest keep working."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from .derive import PROBE
from .graph import BY_NAME, DATA, Tensors, consumers
from .recognisers import (SUMMED_VIEW, Recogniser, incomplete, near, nearer, product_error,  # noqa: F401
                          recognisers, rounding_noise, shape_mistake, summed_wrong)

# A variant is (kind, message, function of the forward values v and the true
# gradients g, both by node name). Each recognises one wrong answer.
Variant = tuple[str, str, Callable[[Tensors, Tensors], torch.Tensor]]

LABELS: dict[str, str] = {
    "one_branch": "one branch only (+= missing)",
    "overwrite": "= where += is due",
    "no_local": "local derivative missing",
    "no_upstream": "upstream gradient missing",
    "own_line": "derivative of the line that made it",
    "tanh_input": "tanh' taken at the input",
    "missing_1n": "missing 1/n",
    "extra_1n": "extra 1/n",
    "bessel": "n and n-1 mixed up",
    "bessel_reverse": "n-1 where n is due",
    "sign": "wrong sign",
    "power_rule": "power-rule slip",
    "missing_factor": "a factor missing",
    "softmax_axis": "softmax over the wrong dim",
    "wrong_order": "right numbers, wrong places",
    "summed_view": "summed where a view copies",
    "reshape": "same numbers, another shape",
    "transposed": "transposed",
    "swapped_product": "transposed or swapped product",
    "keepdim": "keepdim missing",
    "broadcast": "silent broadcast",
    "wrong_axis": "sum over the wrong axis",
    "summed": "summed away",
    "not_summed": "sum missing",
    "hard_coded": "right for this batch only",
    "max_dropped": "logit_maxes branch missing",
    "max_spread": "logit_maxes branch on every column",
    "max_sign": "logit_maxes branch with the wrong sign",
    "max_scaled": "logit_maxes branch scaled",
    "in_place": "changed in place later (.clone() missing)",
}


def in_place(node: str, other: str | None = None) -> str:
    """Why d<node> is wrong although its own lines are right: a later in-place line changed it, through
    `other` (a d-variable holding the same tensor) when that is known (the notebook sees the tensors), through
    some name bound to it when not (the web page's cell sees only that d<node> changed after its line)."""
    if other is None:
        return (f"A later line of the cell changed d{node} in place afterwards: a name bound to d{node} without "
                f".clone() (x = d{node}; x += ...) changes d{node} too.")
    return (f"d{node} and d{other} are the same tensor: d{other} = d{node} without .clone() (or the other way "
            f"round), so a later in-place line on one, such as d{other} += ..., changed the other too. Write "
            f"d{other} = d{node}.clone() before adding to it.")


def label(kind: str) -> str:
    """The short human label of a mistake kind ("missing_1n" -> "missing 1/n")."""
    return LABELS.get(kind, kind.replace("_", " "))


def _n(v: Tensors) -> int:
    return v["Xb"].shape[0]


def _eps(v: Tensors) -> Tensors:
    return {**v, "bn_eps": 1e-5}


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
                    lambda v, g, c=c: BY_NAME[node].bwd(_eps(v), g)[c]))
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


def _ones_upstream(node: str, g: Tensors) -> Tensors:
    # each backward rule is linear in the upstream gradient: with ones there, it gives the local derivative
    return {**g, **{c: torch.ones_like(g[c]) for c in consumers(node) if c in g}}


def _no_upstream(node: str) -> list[Variant]:
    uses = consumers(node)
    if not uses or BY_NAME[node].bwd is None:
        return []
    ups = " and ".join("d" + c for c in uses)
    return [("no_upstream",
             f"This is the local derivative alone. The chain rule multiplies it by the gradient that "
             f"arrives from above, {ups} (in scope), and that factor is missing.",
             lambda v, g: sum(BY_NAME[node].bwd(_eps(v), _ones_upstream(node, g)).values()))]


def _own_line(node: str) -> list[Variant]:
    # d<node> written as the derivative of the line that MADE node (its forward),
    # e.g. dlogprobs = 1/probs: that one belongs to the input's gradient
    out = []
    for i in BY_NAME[node].inputs:
        if BY_NAME[i].kind == DATA or BY_NAME[i].shape(PROBE) != BY_NAME[node].shape(PROBE):
            continue
        out.append(("own_line",
                    f"This is the derivative of the line that made {node} ({BY_NAME[node].forward}) with "
                    f"respect to {i}: it belongs to d{i}, one step further back. d{node} comes from the line "
                    f"that uses {node}: how the loss changes when {node} changes.",
                    lambda v, g, i=i: BY_NAME[i].bwd(_eps(v), {**g, node: torch.ones_like(v[node])})[node]))
    return out


# product nodes: d<node> = (the other factor) * upstream, the factor forgotten
_FACTOR: dict[str, tuple[str, Callable[[Tensors, Tensors], torch.Tensor]]] = {
    "bngain": ("bnraw", lambda v, g: g["hpreact"].sum(0, keepdim=True)),
    "bnraw": ("bngain", lambda v, g: g["hpreact"]),
    "bnvar_inv": ("bndiff", lambda v, g: g["bnraw"].sum(0, keepdim=True)),
    "counts_sum_inv": ("counts", lambda v, g: g["probs"].sum(1, keepdim=True)),
    "bndiff": ("bnvar_inv", lambda v, g: g["bnraw"] + 2 * v["bndiff"] * g["bndiff2"]),
    "counts": ("counts_sum_inv", lambda v, g: g["probs"] + g["counts_sum"]),
}


def _missing_factor(mode: str, node: str) -> list[Variant]:
    if mode == "fused" and node == "hprebn":  # exercise 3's one line without a factor
        return [("missing_factor", f"A factor is missing: {f}, in front of the whole bracket. Every path "
                 "from hprebn to the loss passes through bnraw = bndiff*bnvar_inv (scaled by bnvar_inv) and "
                 "then hpreact = bngain*bnraw + bnbias (scaled by bngain), so both multiply all three terms.",
                 lambda v, g, f=f: g["hprebn"] / v[f]) for f in ("bngain", "bnvar_inv")]
    if node not in _FACTOR:  # (of these, only bngain is in the fused order: the same line there)
        return []
    factor, fn = _FACTOR[node]
    return [("missing_factor", f"The factor {factor} is missing: {node} is multiplied by {factor} in the "
             f"forward, so the local derivative of that product with respect to {node} is {factor}.", fn)]


def _power_rule(node: str) -> list[Variant]:
    if node == "counts_sum":
        return [("power_rule", "A power-rule slip: counts_sum_inv = counts_sum**-1, and the derivative of "
                 "x**-1 is -1 * x**-2 (the exponent drops by one, to -2, and comes down as the factor -1).",
                 lambda v, g: -v["counts_sum"] ** -1 * g["counts_sum_inv"])]
    if node == "bnvar":
        why = ("bnvar_inv = (bnvar + 1e-5)**-0.5; the derivative of x**-0.5 is -0.5 * x**-1.5: the old "
               "exponent -0.5 comes down as the factor and the new exponent is one lower, -1.5.")
        slips = ((-0.5, -0.5, "the exponent was not lowered"), (1.0, -1.5, "the factor -0.5 is missing"),
                 (-1.0, -1.5, "the factor is -0.5, not -1"), (0.5, -0.5, "the exponent was not lowered and "
                 "the sign is off"), (-1.5, -2.5, "the new exponent -1.5 came down as the factor, where the old "
                 "one, -0.5, is due, and the exponent dropped once more, to -2.5"))
        return [("power_rule", f"A power-rule slip ({what}): {why}",
                 lambda v, g, a=a, p=p: a * (v["bnvar"] + 1e-5) ** p * g["bnvar_inv"]) for a, p, what in slips] + [
            ("power_rule", "ε = 1e-5 left out of the bracket: bnvar_inv = (bnvar + 1e-5)**-0.5, so the power rule "
             "gives -0.5 * (bnvar + 1e-5)**-1.5, with the same 1e-5 inside. Without it every number is off, if "
             "only by a hair where bnvar is large next to 1e-5.",
             lambda v, g: -0.5 * v["bnvar"] ** -1.5 * g["bnvar_inv"])]
    if node == "bndiff":
        return [("power_rule", "A power-rule slip in the second branch: bndiff2 = bndiff**2, whose "
                 "derivative is 2 * bndiff; the factor 2 is missing.",
                 lambda v, g: v["bnvar_inv"] * g["bnraw"] + v["bndiff"] * g["bndiff2"])]
    return []


def _onehot(v: Tensors) -> torch.Tensor:
    return F.one_hot(v["Yb"], v["logits"].shape[1]).to(v["logits"].dtype)


def _special(mode: str, node: str) -> list[Variant]:
    if node == "hpreact":
        return [("no_local", "This is dh passed straight through: tanh's local derivative is missing; "
                 "(1 - h**2) * dh is due.", lambda v, g: g["h"]),
                ("tanh_input", "tanh's derivative is written with its output h (1 - h**2), not its input "
                 "hpreact.", lambda v, g: (1.0 - v["hpreact"] ** 2) * g["h"])]
    if node == "hprebn" and mode == "atomic":
        return [("missing_1n", "The mean's branch needs 1/n: bnmeani averages n rows, so each row gets "
                 "1/n of dbnmeani.", lambda v, g: g["bndiff"] + g["bnmeani"]),
                ("bessel_reverse", "The mean's branch divides by n-1, but bnmeani is a plain mean over n rows "
                 "(only the variance uses Bessel's n-1).", lambda v, g: g["bndiff"] + g["bnmeani"] / (_n(v) - 1))]
    if node == "hprebn" and mode == "fused":
        return [("bessel", "The last term needs n/(n-1): bnvar uses Bessel's correction, so the variance "
                 "path is scaled by 1/(n-1), not 1/n.", lambda v, g: v["bngain"] * v["bnvar_inv"] / _n(v) * (
                     _n(v) * g["hpreact"] - g["hpreact"].sum(0)
                     - v["bnraw"] * (g["hpreact"] * v["bnraw"]).sum(0)))]
    if node == "logprobs":
        return [("missing_1n", "Missing 1/n: the loss is a mean over the batch, so each picked entry "
                 "gets -1/n, not -1.", lambda v, g: g["logprobs"] * _n(v))]
    if node == "logits" and mode == "fused":
        return [("softmax_axis", "The softmax runs over the wrong dim: dim 0 normalises each column over "
                 "the batch. Each row (one example) has its own distribution over the characters: "
                 "F.softmax(logits, 1).", lambda v, g: (F.softmax(v["logits"], 0) - _onehot(v)) / _n(v))]
    if node == "emb":  # the sum over an axis, broadcast back so the shape fits
        return [("summed_view", SUMMED_VIEW, lambda v, g, a=a: g["emb"].sum(a, keepdim=True).expand_as(g["emb"]))
                for a in (1, 2)]
    return []


def variants(mode: str, node: str) -> list[Variant]:
    """Every wrong answer we can name for this node, most specific first."""
    out = _special(mode, node) + _missing_factor(mode, node) + _power_rule(node)
    if mode == "atomic":
        out += _one_branch(node) + _passthrough(node)
    if not (mode == "fused" and node in ("logits", "hprebn")):  # their fused lines start from the loss
        out += _no_upstream(node) + _own_line(node)
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
