"""Cheap per-step statistics (lecture part 3's diagnostics), as plain data.

Everything returns dicts of Python floats and lists so that a server, a
notebook or a test can use them without knowing torch."""
from __future__ import annotations

import math

import torch

from .graph import PARAMS, Tensors

HIST_BINS = 40
FLOAT32_MAX = torch.finfo(torch.float32).max
SATURATION = 0.97  # |h| above this passes less than 6% of its gradient


def summary(t: torch.Tensor, bins: int = HIST_BINS) -> dict:
    """mean, std, min, max and a histogram over the actual finite range.

    NaN and Inf are counted apart and never dropped silently."""
    t = t.detach()
    if not t.is_floating_point():
        t = t.double()
    flat = t.reshape(-1)
    finite_mask = torch.isfinite(flat)
    n_finite = int(finite_mask.sum())
    nan = int(torch.isnan(flat).sum()) if n_finite < flat.numel() else 0
    inf = flat.numel() - n_finite - nan
    x = flat if n_finite == flat.numel() else flat[finite_mask]
    if n_finite == 0:
        return {"numel": flat.numel(), "mean": None, "std": None, "min": None, "max": None,
                "norm": None, "nan": nan, "inf": inf, "hist": {"counts": [], "edges": []}}
    lo, hi = float(x.min()), float(x.max())
    if lo == hi:  # histc needs a range: one bin around the single value
        edges = [lo - 0.5, lo + 0.5] if lo == 0 else [lo - abs(lo) * 0.5, lo + abs(lo) * 0.5]
        counts = [n_finite]
    elif max(-lo, hi) <= FLOAT32_MAX and (hi - lo) * bins <= FLOAT32_MAX:
        counts = torch.histc(x.float() if x.dtype == torch.float64 else x, bins, lo, hi).long().tolist()
        step = (hi - lo) / bins
        edges = [lo + i * step for i in range(bins)] + [hi]
    else:  # binned in float64: histc bins in float32, where (x - lo) * bins overflows
        x64, width = x.double(), hi - lo
        if math.isfinite(width):  # as server/stream/summaries.py bins a batch
            b, edges = (x64 - lo) * (bins / width), [lo + i * (width / bins) for i in range(bins)]
        else:  # past ~9e307 (a diverging float64 run) hi - lo overflows: by halves
            step = hi / bins - lo / bins
            b, edges = (x64 / bins - lo / bins) / step * bins, [2 * (lo / 2 + i * (step / 2)) for i in range(bins)]
        counts = torch.bincount(b.floor_().clamp_(0, bins - 1).long(), minlength=bins).tolist()
        edges.append(hi)
    return {
        "numel": flat.numel(),
        "mean": float(x.mean()),
        "std": float(x.std()) if n_finite > 1 else 0.0,
        "min": lo,
        "max": hi,
        "norm": float(x.norm()),
        "nan": nan,
        "inf": inf,
        "hist": {"counts": counts, "edges": edges},
    }


def node_summaries(values: Tensors, grads: Tensors) -> dict[str, dict]:
    """{name: {"value": summary, "grad": summary or None}} for every node given."""
    out = {}
    for name, v in values.items():
        g = grads.get(name)
        out[name] = {"value": summary(v), "grad": None if g is None else summary(g)}
    return out


def tanh_stats(h: torch.Tensor) -> dict:
    """Forward health of the tanh layer: mean, std, saturated share."""
    h = h.detach()
    return {"mean": float(h.mean()), "std": float(h.std()),
            "saturated": float((h.abs() > SATURATION).float().mean())}


def bn_stats(values: Tensors, running_mean: torch.Tensor | None, running_var: torch.Tensor | None) -> dict:
    """Per neuron: this batch's mean and (unbiased) variance beside the running ones."""
    def row(t):
        return None if t is None else t.detach().reshape(-1).tolist()
    return {"batch_mean": row(values.get("bnmeani")), "batch_var": row(values.get("bnvar")),
            "running_mean": row(running_mean), "running_var": row(running_var)}


def param_stats(params: Tensors, grads: Tensors, lr: float) -> dict[str, dict]:
    """Per parameter: grad std, grad:data ratio, log10 update:data ratio (~-3 is healthy)."""
    out = {}
    for name in PARAMS:
        p, g = params[name].detach(), grads.get(name)
        data_std = float(p.std())
        if g is None:
            out[name] = {"data_std": data_std, "grad_std": None, "grad_data": None, "update_data_log10": None}
            continue
        grad_std = float(g.std())
        ratio = grad_std / data_std if data_std > 0 else math.inf
        upd = lr * grad_std / data_std if data_std > 0 else math.inf
        out[name] = {
            "data_std": data_std,
            "grad_std": grad_std,
            "grad_data": ratio,
            "update_data_log10": math.log10(upd) if 0 < upd < math.inf else None,
        }
    return out
