"""Summaries of many tensors at once, as `model.diagnostics.summary` defines
them (same fields, same 40-bin histogram over the finite range, NaN and Inf
counted apart), computed in ~20 torch ops for the whole frame instead of
~12 per tensor, and written straight to JSON text.

Why: a live frame summarises ~35-65 tensors; one `summary()` call each took
~5 ms a frame, which at 60 frames/s cost a third of the training speed.
tests/server/stream/test_summaries.py checks this against model.diagnostics."""
from __future__ import annotations

import json
import math
import weakref
from dataclasses import dataclass
from functools import lru_cache

import torch

from backprop_ninja.model.diagnostics import HIST_BINS, summary


def finite(x):
    """x with every NaN and infinity, in nested dicts and lists, made None (null in JSON, as pydantic writes them)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [finite(v) for v in x]
    return x


BIG = 1 << 20  # elements: a larger tensor is summarised on its own
CHUNK = 1 << 21  # elements batched together at most: a 16 MB float64 copy


@lru_cache(maxsize=32)
def _layout(lengths: tuple[int, ...], bins: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(lengths, segment id of each element, segment id * bins): the same every frame."""
    L = torch.tensor(lengths, dtype=torch.long)
    seg = torch.repeat_interleave(torch.arange(len(lengths)), L)
    return L, seg, seg * bins


class Summaries:
    """Statistics of tensors ts[0..k-1]; `json(i)` / `dict(i)` give the i-th.

    All tensors are concatenated and reduced per segment, ~15 ops in all (on
    this 2-core box a torch op costs ~5 us, whatever its size). The variance
    is taken in one pass in float64: fine for display, where a per-tensor
    two-pass would cost more than the rest of the frame."""

    def __init__(self, ts: list[torch.Tensor], bins: int = HIST_BINS):
        self.bins, k = bins, len(ts)
        self.numel = [t.numel() for t in ts]
        self.slow: dict[int, dict] = {}  # empty, huge, NaN or Inf: model.diagnostics.summary
        self.mean, self.std, self.lo, self.hi, self.norm = ([0.0] * k for _ in range(5))
        self.counts: list[list[int]] = [[]] * k
        self.edges: list[list[float]] = [[]] * k
        batch, size = [], 0
        for i, t in enumerate(ts):
            n = t.numel()
            if n == 0 or n > BIG:  # per-op cost is nothing next to its size: alone
                self.slow[i] = summary(t, bins)
                continue
            if batch and size + n > CHUNK:  # bounds the float64 copy
                self._batch(batch, ts)
                batch, size = [], 0
            batch.append(i)
            size += n
        if batch:
            self._batch(batch, ts)

    def _batch(self, idx: list[int], ts: list[torch.Tensor]) -> None:
        bins = self.bins
        x = torch.cat([ts[i].detach().reshape(-1) for i in idx]).to(torch.float64)
        # rare: a diverged run (NaN, Inf, or values past ~1e154, where x * x and
        # hi - lo below overflow): those tensors go the slow way
        if not math.isfinite(float((x * x).sum())):
            for i in idx:
                t = ts[i].detach().double()
                if not math.isfinite(float((t * t).sum())):
                    self.slow[i] = summary(ts[i], bins)
            idx = [i for i in idx if i not in self.slow]
            if not idx:
                return
            x = torch.cat([ts[i].detach().reshape(-1) for i in idx]).to(torch.float64)
        k = len(idx)
        L, seg, seg_bins = _layout(tuple(self.numel[i] for i in idx), bins)
        n = L.to(torch.float64)
        s1 = torch.segment_reduce(x, "sum", lengths=L)
        s2 = torch.segment_reduce(x * x, "sum", lengths=L)
        mean = s1 / n
        var = ((s2 - s1 * mean) / (n - 1).clamp(min=1)).clamp(min=0)
        lo = torch.full((k,), math.inf, dtype=torch.float64).scatter_reduce(0, seg, x, "amin")
        hi = torch.full((k,), -math.inf, dtype=torch.float64).scatter_reduce(0, seg, x, "amax")
        width = hi - lo
        scale = torch.where(width > 0, bins / width, torch.zeros_like(width))
        b = ((x - lo.index_select(0, seg)) * scale.index_select(0, seg)).floor_().clamp_(0, bins - 1).long()
        counts = torch.bincount(b + seg_bins, minlength=k * bins).view(k, bins).tolist()
        # lo + j*step in float64, as diagnostics.summary computes it in Python
        j = torch.arange(bins, dtype=torch.float64)
        edges = (lo[:, None] + j[None, :] * (width / bins)[:, None]).tolist()
        rows = torch.stack([mean, var.sqrt(), lo, hi, s2.sqrt()]).tolist()
        for r, i in enumerate(idx):
            self.mean[i], self.std[i], self.lo[i], self.hi[i], self.norm[i] = (row[r] for row in rows)
            self.counts[i], self.edges[i] = counts[r], edges[r]

    def dict(self, i: int) -> dict:
        if i in self.slow:
            return self.slow[i]
        n = self.numel[i]
        lo, hi = self.lo[i], self.hi[i]
        if lo == hi:  # as diagnostics.summary: one bin around the single value
            edges = [lo - 0.5, lo + 0.5] if lo == 0 else [lo - abs(lo) * 0.5, lo + abs(lo) * 0.5]
            counts = [n]
        else:
            edges, counts = self.edges[i] + [hi], self.counts[i]
        return {"numel": n, "mean": self.mean[i], "std": self.std[i], "min": lo, "max": hi,
                "norm": self.norm[i], "nan": 0, "inf": 0, "hist": {"counts": counts, "edges": edges}}

    def json(self, i: int) -> str:
        """The i-th summary as JSON text, the common case in three format calls."""
        lo, hi = self.lo[i], self.hi[i]
        stats = (self.mean[i], self.std[i], lo, hi, self.norm[i])
        if i not in self.slow and lo != hi and math.isfinite(sum(stats)):
            fmt = _formats(self.bins)
            return fmt[0] % (self.numel[i], *stats, fmt[1] % tuple(self.counts[i]), fmt[2] % (*self.edges[i], hi))
        return json.dumps(finite(self.dict(i)), separators=(",", ":"))


@lru_cache(maxsize=4)
def _formats(bins: int) -> tuple[str, str, str]:
    # statistics with 17 significant digits (every double exactly) and edges
    # with 9 (every float32 exactly): both ~4x faster than repr
    return ('{"numel":%d,"mean":%.17g,"std":%.17g,"min":%.17g,"max":%.17g,"norm":%.17g,"nan":0,"inf":0,'
            '"hist":{"counts":[%s],"edges":[%s]}}', ",".join(["%d"] * bins), ",".join(["%.9g"] * (bins + 1)))


@dataclass(frozen=True)
class Summary:
    """One tensor's summary as a frame uses it."""
    json: str
    norm: float | None
    mean: float | None
    std: float | None
    slow: bool  # empty, huge, NaN or Inf: summarised by model.diagnostics.summary

    @classmethod
    def of(cls, s: Summaries, i: int) -> "Summary":
        if i in s.slow:
            d = s.slow[i]
            return cls(s.json(i), d["norm"], d["mean"], d["std"], True)
        return cls(s.json(i), s.norm[i], s.mean[i], s.std[i], False)


class SummaryCache:
    """The summaries of the last frame's tensors, kept for the next frame.

    A key press of the stepper adds one gradient; summarising the ~55 tensors
    that did not change again took ~15 ms of a 20 ms frame at batch 256 /
    n_hidden 200. A tensor counts as unchanged while it is the same object at
    the same version (every in-place write, an update's add_ too, bumps it);
    inference tensors keep no version, so they are never kept. Only the last
    frame's tensors are held, weakly: the cache never keeps a tensor alive."""

    def __init__(self):
        self._kept: dict[int, tuple[weakref.ref, int, Summary]] = {}

    def get(self, t: torch.Tensor) -> Summary | None:
        got = self._kept.get(id(t))
        if got is None or got[0]() is not t or t.is_inference() or t._version != got[1]:
            return None
        return got[2]

    def keep(self, pairs: list[tuple[torch.Tensor, Summary]]) -> None:
        self._kept = {id(t): (weakref.ref(t), t._version, r) for t, r in pairs if not t.is_inference()}
