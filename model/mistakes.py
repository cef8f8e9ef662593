"""The classic wrong answers of Derive it, each computed from the true
gradients so that a learner's result can be recognised numerically: one
catalogue for the page, the class view and the notebook.

Three kinds of entries:
- a variant: the wrong tensor itself, computed from the forward values and
  the true gradients (yours is compared with it);
- a recogniser: a test on yours, for a mistake no single tensor stands for
  (dC with `=` keeps one of several contributions per row, which one depends
  on the order of the writes);
- pure functions on what is not a tensor: a wrong shape, torch's error text.
Every kind has a short label in LABELS, for the page, the class view and the
notebook."""
from __future__ import annotations

import re
from typing import Callable

import torch
import torch.nn.functional as F

from .derive import PROBE, axes
from .graph import BY_NAME, DATA, Tensors, consumers

# A variant is (kind, message, function of the forward values v and the true
# gradients g, both by node name). Each recognises one wrong answer.
Variant = tuple[str, str, Callable[[Tensors, Tensors], torch.Tensor]]
# A recogniser is (kind, message, test of yours given v and g).
Recogniser = tuple[str, str, Callable[[torch.Tensor, Tensors, Tensors], bool]]

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
}


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
                 "the sign is off"), (-1.5, -2.5, "the exponent was lowered twice"))
        return [("power_rule", f"A power-rule slip ({what}): {why}",
                 lambda v, g, a=a, p=p: a * (v["bnvar"] + 1e-5) ** p * g["bnvar_inv"]) for a, p, what in slips]
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
    if node == "logits" and mode == "fused":
        return [("softmax_axis", "The softmax runs over the wrong dim: dim 0 normalises each column over "
                 "the batch. Each row (one example) has its own distribution over the characters: "
                 "F.softmax(logits, 1).", lambda v, g: (F.softmax(v["logits"], 0) - _onehot(v)) / _n(v))]
    if node == "emb":  # the sum over an axis, broadcast back so the shape fits
        return [("summed_view", _SUMMED_VIEW, lambda v, g, a=a: g["emb"].sum(a, keepdim=True).expand_as(g["emb"]))
                for a in (1, 2)]
    return []


_SUMMED_VIEW = ("Summed where the gradient is copied: embcat is emb viewed as (n, block·n_embd), and a view "
                "moves every number to exactly one place, nothing is added. So demb is dembcat viewed back "
                "to emb's shape, no sum.")


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


# ---- recognisers: tests on yours --------------------------------------------------
def _near(a: torch.Tensor, b: torch.Tensor, scale: float) -> bool:
    return bool(torch.allclose(a, b, rtol=1e-3, atol=1e-5 * scale + 1e-12))


def _one_per_row(y: torch.Tensor, v: Tensors, g: Tensors) -> bool:
    """Every row of yours holds one of the rows of demb routed to it (or 0
    if none is): what a `=` leaves where the sum of all of them is due."""
    if y.shape != g["C"].shape:
        return False
    ix = v["Xb"].reshape(-1)
    parts = g["emb"].reshape(ix.numel(), -1)
    scale = float(parts.abs().max()) if parts.numel() else 0.0
    for r in range(y.shape[0]):
        mine = parts[ix == r]
        if len(mine) == 0:
            if not _near(y[r], torch.zeros_like(y[r]), scale):
                return False
        elif not any(_near(y[r], p, scale) for p in mine):
            return False
    return True


def _same_numbers(y: torch.Tensor, v: Tensors, g: Tensors, node: str) -> bool:
    t = g[node]
    if y.shape != t.shape or t.numel() < 2:
        return False
    scale = float(t.abs().max())
    return _near(y.reshape(-1).sort().values, t.reshape(-1).sort().values, scale)


_OVERWRITE = ("Each row of your dC holds the gradient of one position that reads it, where the sum over all "
              "of them is due: a row of C read several times in the batch (the same character in several "
              "contexts) gets a part from each use, and the parts add up. In the loop, `dC[ix] = demb[k, j]` "
              "overwrites the row, so `+=` is due. `dC[Xb] += demb` does the same in one line: it reads the "
              "rows dC[Xb] (a copy), adds demb, and writes them back, so a repeated row is written several "
              "times and the last write wins; advanced indexing does not accumulate. Write the loop with +=, "
              "or dC.index_add_(0, Xb.view(-1), demb.view(-1, n_embd)), which does accumulate.")


def recognisers(mode: str, node: str) -> list[Recogniser]:
    """Tests on the learner's result for this node, most specific first."""
    out: list[Recogniser] = []
    if node == "C":
        out.append(("overwrite", _OVERWRITE, _one_per_row))
    if node == "emb":
        out.append(("wrong_order", "The right numbers in the wrong places: demb was viewed (or permuted) in "
                    "another order. A row of embcat holds emb[k, 0]'s n_embd numbers, then emb[k, 1]'s, then "
                    "emb[k, 2]'s; dembcat.view(emb.shape), that is (n, block_size, n_embd), puts each back "
                    "where it came from, with no transpose or permute.",
                    lambda y, v, g: _same_numbers(y, v, g, "emb")))
    else:
        out.append(("wrong_order", f"The right numbers in the wrong places: every value of d{node} is there, "
                    "at another position. An index or an axis order is off (a transpose, a permute, a view "
                    "in another order, the wrong index).", lambda y, v, g: _same_numbers(y, v, g, node)))
    return out


# ---- correct to rounding, but incomplete (dlogits) --------------------------------
def _max_note(what: str, size: float) -> str:
    return (f"Correct to rounding, but {what}. That branch is near zero (dlogit_maxes is at most {size:.1g} "
            "here) because subtracting a row's max does not change its probabilities: the loss does not "
            "depend on logit_maxes, and only floating point leaves a trace. The complete line adds "
            "dlogit_maxes at each row's argmax: F.one_hot(logits.max(1).indices, num_classes=logits.shape[1])"
            " * dlogit_maxes.")


def incomplete(mode: str, node: str, yours: torch.Tensor, v: Tensors, g: Tensors) -> tuple[str, str] | None:
    """(kind, note) when a result that passes is the lecture's dlogits without
    its logit_maxes branch, or with it spread over the whole row."""
    if mode != "atomic" or node != "logits" or yours.shape != g["logits"].shape:
        return None
    true, size = g["logits"], float(g["logit_maxes"].abs().max())
    cands = (("max_dropped", "the branch through logit_maxes is missing", g["norm_logits"]),
             ("max_spread", "dlogit_maxes is added to every column of its row, where it belongs only at "
              "the position of the row's max (the max reads that one entry)", g["norm_logits"] + g["logit_maxes"]))
    off = float((yours - true).abs().max())
    for kind, what, cand in cands:
        # near the incomplete line, and much nearer to it than to the truth
        if off > 0 and float((yours - cand).abs().max()) * 4 < off:
            return kind, _max_note(what, size)
    return None


# ---- shapes and torch's errors ------------------------------------------------------
def shape_mistake(node: str, yours: tuple[int, ...], true: tuple[int, ...],
                  kind: str | None, hint: str | None) -> tuple[str | None, str | None]:
    """Refine derive.shape_message's (kind, hint) where the node tells more."""
    if node == "emb" and kind == "summed":
        return "summed_view", _SUMMED_VIEW
    if kind is not None or len(yours) == 0 or len(true) == 0:
        return kind, hint
    if sorted(yours) == sorted(true):
        if node == "emb":
            return "wrong_order", ("Viewed in the wrong order: demb has emb's shape (n, block_size, n_embd); "
                                   "view dembcat back with dembcat.view(emb.shape). A row of embcat holds "
                                   "emb[k, 0]'s n_embd numbers, then emb[k, 1]'s, then emb[k, 2]'s.")
        return "wrong_order", (f"The axes are in another order: d{node} has {node}'s axes "
                               f"({', '.join(axes(node))}); transpose or permute back.")
    if _numel(yours) == _numel(true):
        return "reshape", (f"The right number of elements in another shape: view it as {node}'s shape "
                           f"{true}" + (" (dembcat.view(emb.shape))." if node == "emb" else "."))
    return kind, hint


def _numel(shape: tuple[int, ...]) -> int:
    out = 1
    for s in shape:
        out *= s
    return out


_MATMUL = re.compile(r"mat1 and mat2 shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x(\d+)\)")


def product_error(node: str, message: str, true_shape: tuple[int, ...] | list[int]) -> tuple[str, str] | None:
    """(kind, hint) for torch's shape error of a matrix product, or None:
    which products of those two shapes work, and which gives d<node>'s shape."""
    m = _MATMUL.search(message)
    if m is None:
        return None
    a, b = (int(m[1]), int(m[2])), (int(m[3]), int(m[4]))
    A, B = f"A ({a[0]}x{a[1]})", f"B ({b[0]}x{b[1]})"
    forms = {"A @ B": (a, b), "A @ B.T": (a, b[::-1]), "A.T @ B": (a[::-1], b), "A.T @ B.T": (a[::-1], b[::-1]),
             "B @ A": (b, a), "B @ A.T": (b, a[::-1]), "B.T @ A": (b[::-1], a), "B.T @ A.T": (b[::-1], a[::-1])}
    works = {f: (x[0], y[1]) for f, (x, y) in forms.items() if x[1] == y[0]}
    true = tuple(true_shape)
    text = (f"A transposed or swapped product: torch cannot multiply {A} by {B}, as the inner sizes "
            f"{a[1]} and {b[0]} differ. Let the shapes decide. ")
    if not works:
        return "swapped_product", text + ("No product of these two fits, transposed or swapped: one of them is "
                                          f"not the tensor d{node} needs.")
    text += "With these two, what works is " + ", ".join(f"{f} -> {s}" for f, s in works.items()) + ". "
    fit = [f for f, s in works.items() if s == true]
    if fit:
        return "swapped_product", text + f"d{node} has shape {true}: {' or '.join(fit)}."
    return "swapped_product", text + (f"None of them has d{node}'s shape {true}: one of the two is not the "
                                      "tensor this gradient needs.")
