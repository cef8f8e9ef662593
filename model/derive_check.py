"""Judge a learner's d<node>: shape first, then the lecture's cmp, then the
second batch, then which classic mistake it is (the catalogue in mistakes.py).

Pure torch: the caller ran the learner's code (in the sandbox) and passes
its results for both batches with the true values and gradients of each."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from . import derive, mistakes
from .graph import Tensors


@dataclass
class Verdict:
    verdict: str  # "correct" | "wrong"
    message: str
    diagnosis: str | None = None
    mistake: str | None = None  # the kind of classic mistake recognised, e.g. "one_branch"
    shape_ok: bool | None = None
    exact: bool | None = None
    approx: bool | None = None
    maxdiff: float | None = None
    note: str | None = None
    second_batch: bool | None = None  # the same code right on a batch the learner has not seen
    absdiff: list[list[float]] | None = None  # |yours - true| per element, as a 2-d picture

    @property
    def mistake_label(self) -> str | None:
        """The mistake's short human label (mistakes.LABELS), e.g. "missing 1/n"."""
        return mistakes.label(self.mistake) if self.mistake else None


def as_grid(t: torch.Tensor) -> list[list[float]]:
    """Any tensor as rows for a heatmap: () -> 1x1, (k,) -> 1xk, (n,3,10) -> n x 30."""
    if t.dim() == 0:
        return [[float(t)]]
    if t.dim() == 1:
        return [t.tolist()]
    return t.reshape(t.shape[0], -1).tolist()


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    # looser than allclose: the learner's variant is computed another way than ours
    scale = float(b.abs().max()) if b.numel() else 0.0
    return bool(torch.allclose(a, b, rtol=1e-3, atol=1e-5 * scale + 1e-12))


def name_mistake(mode: str, node: str, yours: torch.Tensor, v: Tensors, g: Tensors) -> tuple[str, str] | None:
    """(kind, hint) of the first classic mistake `yours` matches, or None.
    Called for a wrong `yours` only: the recognisers rely on that."""
    true = g[node]
    for kind, hint, fn in mistakes.variants(mode, node):
        try:
            cand = fn(v, g).to(true.dtype)
        except (KeyError, RuntimeError):
            continue
        # a variant equal to the truth (db1 is ~0, so is -db1) names nothing
        if cand.shape != true.shape or torch.allclose(cand, true):
            continue
        if _close(yours, cand) and mistakes.nearer(yours, cand, true):  # not a result a hair off anyway
            return kind, hint
    for kind, hint, test in mistakes.recognisers(mode, node):
        try:
            if test(yours, v, g):
                return kind, hint
        except (KeyError, RuntimeError):
            continue
    return None


def judge(mode: str, node: str, yours: list[torch.Tensor], truth: list[tuple[Tensors, Tensors]]) -> Verdict:
    """`yours[i]` is the learner's result on batch i; `truth[i]` its (values, true grads).
    With one batch only (the learner's notebook has no second run of the cell) the
    second-batch check is skipped: `second_batch` stays None, "hard_coded" is never said."""
    v, g = truth[0]
    y, true = yours[0], g[node]
    ys, ts = tuple(y.shape), tuple(true.shape)
    note = None
    if ys != ts:
        if not derive.fits(ys, ts):
            sentence, kind, hint = derive.shape_message(node, ys, ts)
            kind, hint = mistakes.shape_mistake(node, ys, ts, kind, hint, v)
            return Verdict("wrong", sentence, diagnosis=hint, mistake=kind, shape_ok=False)
        note = (f"Your d{node} has shape {ys} and the true one {ts}: the same numbers with a size-1 axis "
                f"{'more' if len(ys) > len(ts) else 'less'}. The lecture's cmp accepts this (it broadcasts); "
                f"an update needs exactly {ts}: reshape, or sum with keepdim={len(ts) > len(ys)}.")
        y = y.reshape(ts)
    if not bool(torch.isfinite(y).all()):
        return Verdict("wrong", f"Your d{node} has NaN or infinite entries: a division by zero or an "
                       "overflow?", shape_ok=True, exact=False, approx=False, maxdiff=float("nan"), note=note)
    diff = (y - true).abs()
    exact, approx = bool(torch.equal(y, true)), bool(torch.allclose(y, true))
    maxdiff = float(diff.max()) if diff.numel() else 0.0
    out = Verdict("wrong", "", shape_ok=True, exact=exact, approx=approx, maxdiff=maxdiff, note=note,
                  absdiff=as_grid(diff))
    if approx and len(truth) > 1:
        y2, g2 = yours[1], truth[1][1]
        ok2 = tuple(y2.shape) in (ys,) and bool(torch.allclose(y2.reshape(ts), g2[node]))
        out.second_batch = ok2
        if not ok2:
            out.message = (f"Right for this batch only: on a second batch the same code gives a wrong d{node}. "
                           "Is something hard-coded (pasted numbers, a fixed index)?")
            out.mistake, out.diagnosis = "hard_coded", ("Write d{0} from the tensors in scope, so it holds "
                                                        "for any batch.".format(node))
            return out
    if approx:
        out.verdict = "correct"
        out.message = (f"Correct: d{node} is bit-equal to autograd's." if exact else
                       mistakes.rounding_noise(node, true) or  # true ~0: zeros would pass as well
                       f"Correct: d{node} agrees with autograd's to {maxdiff:.2g} (torch.allclose), not bit "
                       "for bit: your operations round in another order than autograd's (in float64 the "
                       "difference falls to ~1e-17).")
        gap = mistakes.incomplete(mode, node, y, v, g)  # right to rounding, yet a branch is missing
        if gap is not None:
            out.mistake, gap_note = gap
            out.note = gap_note if note is None else f"{note} {gap_note}"
        return out
    out.message = f"Not yet: your d{node} differs from the true one by up to {maxdiff:.3g}."
    found = name_mistake(mode, node, y, v, g)
    if found is not None:
        out.mistake, out.diagnosis = found
    return out
