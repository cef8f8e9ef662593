"""The mistakes of Derive it that no single wrong tensor stands for (the
variants, one tensor each, are in mistakes.py, which also re-exports all of
this): tests on a learner's result, the dlogits that passes although its
logit_maxes branch is off, a true gradient that is only rounding noise, a
result of the wrong shape, and torch's error for a product whose shapes do
not fit. Every kind named here has its label in mistakes.LABELS."""
from __future__ import annotations

import math
import re
from typing import Callable

import torch
import torch.nn.functional as F

from .derive import axes
from .graph import BY_NAME, Tensors, consumers

# A recogniser is (kind, message, test of yours given the forward values v and the true gradients g).
Recogniser = tuple[str, str, Callable[[torch.Tensor, Tensors, Tensors], bool]]


def near(a: torch.Tensor, b: torch.Tensor, scale: float) -> bool:
    """Looser than allclose: the learner computes a mistake another way than we do."""
    return bool(torch.allclose(a, b, rtol=1e-3, atol=1e-5 * scale + 1e-12))


def nearer(yours: torch.Tensor, cand: torch.Tensor, true: torch.Tensor) -> bool:
    """Yours is much nearer the wrong candidate than the truth: a candidate only a hair
    from the truth (a missing 1e-5 in a bracket) names nothing a result a hair off anyway is."""
    return float((yours - cand).abs().max()) * 4 < float((yours - true).abs().max())


# ---- recognisers: tests on yours --------------------------------------------------
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
            if not near(y[r], torch.zeros_like(y[r]), scale):
                return False
        elif not any(near(y[r], p, scale) for p in mine):
            return False
    return True


def _same_numbers(y: torch.Tensor, v: Tensors, g: Tensors, node: str) -> bool:
    """The truth's numbers, sorted, are yours, sorted; yet some position is off."""
    t = g[node]
    if y.shape != t.shape or t.numel() < 2:
        return False
    scale = float(t.abs().max())
    # a result a hair off everywhere is sorted-equal too: it must be off somewhere, in place
    if near(y, t, scale):
        return False
    return near(y.reshape(-1).sort().values, t.reshape(-1).sort().values, scale)


SUMMED_VIEW = ("Summed where the gradient is copied: embcat is emb viewed as (n, block·n_embd), and a view "
               "moves every number to exactly one place, nothing is added. So demb is dembcat viewed back "
               "to emb's shape, no sum.")

_OVERWRITE = ("Each row of your dC holds the gradient of one position that reads it, where the sum over all "
              "of them is due: a row of C read several times in the batch (the same character in several "
              "contexts) gets a part from each use, and the parts add up. In the loop, `dC[ix] = demb[k, j]` "
              "overwrites the row, so `+=` is due. `dC[Xb] += demb` does the same in one line: it reads the "
              "rows dC[Xb] (a copy), adds demb, and writes them back, so a repeated row is written several "
              "times and only one of the writes is kept (which one is not defined); advanced indexing does "
              "not accumulate. Write the loop with +=, or dC.index_add_(0, Xb.view(-1), "
              "demb.view(-1, n_embd)), which does accumulate.")


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
            "dlogit_maxes at each row's argmax, once: F.one_hot(logits.max(1).indices, "
            "num_classes=logits.shape[1]) * dlogit_maxes.")


def _branch_scale(yours: torch.Tensor, base: torch.Tensor, branch: torch.Tensor) -> float | None:
    """c such that yours ~ base + c * branch, fitted by least squares, or None."""
    b = branch.double()
    norm = float((b * b).sum())
    if norm == 0.0:
        return None
    return float(((yours.double() - base.double()) * b).sum()) / norm


def incomplete(mode: str, node: str, yours: torch.Tensor, v: Tensors, g: Tensors) -> tuple[str, str] | None:
    """(kind, note) when a result that passes is the lecture's dlogits with its
    logit_maxes branch left out, spread over the whole row, of the wrong sign or scaled."""
    if mode != "atomic" or node != "logits" or yours.shape != g["logits"].shape:
        return None
    true, dlm, base = g["logits"], g["logit_maxes"], g["norm_logits"]
    at_max = F.one_hot(v["logits"].max(1).indices, num_classes=true.shape[1]).to(true.dtype) * dlm
    cands = [("max_dropped", "the branch through logit_maxes is missing", base),
             ("max_spread", "dlogit_maxes is added to every column of its row, where it belongs only at "
              "the position of the row's max (the max reads that one entry)", base + dlm),
             ("max_spread", "dlogit_maxes is subtracted from every column of its row, where it is added, "
              "and only at the position of the row's max (the max reads that one entry)", base - dlm),
             ("max_sign", "the branch through logit_maxes has the wrong sign: logit_maxes is subtracted in "
              "the forward (norm_logits = logits - logit_maxes), and that minus is already in "
              "dlogit_maxes, so its part is added at the argmax", base - at_max)]
    c = _branch_scale(yours, base, at_max)
    if c is not None and min(abs(c), abs(c - 1), abs(c + 1)) > 0.25:  # 0, 1 and -1 are named above
        cands.append(("max_scaled", f"the branch through logit_maxes is scaled by about {c:.2g}: each row's "
                      "max reads one entry of logits, so dlogit_maxes goes to that entry once, unscaled",
                      base + c * at_max))
    off = float((yours - true).abs().max())
    for kind, what, cand in cands:
        # near the incomplete line, and much nearer to it than to the truth
        if off > 0 and nearer(yours, cand.to(true.dtype), true):
            return kind, _max_note(what, float(dlm.abs().max()))
    return None


# ---- a true gradient that is rounding noise ------------------------------------------
_NOISE_WHY = {
    "b1": "BatchNorm subtracts the batch mean right after hprebn = embcat @ W1 + b1, and b1 shifts every "
          "row of a column alike, so the mean takes it away again: b1 cannot change the loss",
    "logit_maxes": "subtracting a row's max does not change its probabilities, so the max cannot change "
                   "the loss",
}


def rounding_noise(node: str, true: torch.Tensor) -> str | None:
    """The message for a result that passes where the true d<node> is so small that
    zeros pass allclose too: the check cannot tell a right formula from zeros there."""
    if true.numel() == 0 or not bool(torch.allclose(torch.zeros_like(true), true)):
        return None
    why = _NOISE_WHY.get(node, f"the loss hardly depends on {node} here")
    return (f"Passes the check, which says little here: d{node} is rounding noise around 0 (at most "
            f"{float(true.abs().max()):.1g} here), because {why}; only floating point leaves a trace. "
            "allclose's absolute tolerance, 1e-08, is larger than that, so the check cannot tell a right "
            "formula from zeros, nor from a slip of that size (a wrong sign included). Compare your line "
            "with the rule in the hints.")


# ---- shapes and torch's errors ------------------------------------------------------
def _broadcast_axes(true: tuple[int, ...], up: tuple[int, ...]) -> list[int]:
    """The axes of `up` along which a tensor of shape `true` was broadcast to make it."""
    padded = (1,) * (len(up) - len(true)) + true
    return [a for a in range(len(up)) if padded[a] == 1 and up[a] != 1]


def summed_wrong(node: str, yours: tuple[int, ...], true: tuple[int, ...],
                 v: Tensors) -> tuple[str, str] | None:
    """(kind, hint) when yours is the gradient of the line that broadcast the node
    (e.g. dlogits for db2), summed over another axis than the broadcast one, or not at all."""
    for c in consumers(node):
        if c not in v or not isinstance(v[c], torch.Tensor):
            continue
        up, names = tuple(v[c].shape), axes(c)
        along = _broadcast_axes(true, up)
        if not along or len(up) != len(names):
            continue
        right = " and ".join(f"axis {a} ({names[a]})" for a in along)
        line = f"`{BY_NAME[c].forward}`"
        if yours == up:
            return "not_summed", (f"Nothing was summed: yours has d{c}'s shape {up}. In {line}, {node} "
                                  f"{true} is broadcast along {right}, and a broadcast in the forward is a "
                                  f"sum in the backward: sum d{c} over {right}.")
        for a in range(len(up)):
            if a in along or up[a] == 1:
                continue
            if yours in (up[:a] + up[a + 1:], up[:a] + (1,) + up[a + 1:]):
                return "wrong_axis", (f"A sum over the wrong axis: yours has d{c}'s shape summed over axis {a} "
                                      f"({names[a]}). In {line}, {node} {true} is broadcast along {right}, so "
                                      f"the sum runs over {right}.")
    return None


def shape_mistake(node: str, yours: tuple[int, ...], true: tuple[int, ...],
                  kind: str | None, hint: str | None, v: Tensors | None = None) -> tuple[str | None, str | None]:
    """Refine derive.shape_message's (kind, hint) where the node tells more; with the
    forward values `v`, a sum over the wrong axis of the upstream gradient is named too."""
    if node == "emb" and kind == "summed":
        return "summed_view", SUMMED_VIEW
    if kind is not None or len(yours) == 0 or len(true) == 0:
        return kind, hint
    if sorted(yours) == sorted(true):
        if node == "emb":
            return "wrong_order", ("Viewed in the wrong order: demb has emb's shape (n, block_size, n_embd); "
                                   "view dembcat back with dembcat.view(emb.shape). A row of embcat holds "
                                   "emb[k, 0]'s n_embd numbers, then emb[k, 1]'s, then emb[k, 2]'s.")
        return "wrong_order", (f"The axes are in another order: d{node} has {node}'s axes "
                               f"({', '.join(axes(node))}); transpose or permute back.")
    summed = summed_wrong(node, yours, true, v) if v is not None else None
    if summed is not None:
        return summed
    if math.prod(yours) == math.prod(true):
        return "reshape", (f"The right number of elements in another shape: view it as {node}'s shape "
                           f"{true}" + (" (dembcat.view(emb.shape))." if node == "emb" else "."))
    return kind, hint


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
