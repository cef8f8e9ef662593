"""Parameter init, deliberately non-standard (lecture part 4).

Small random values everywhere, biases included, so that a wrong gradient
cannot hide behind a zero. One seeded generator `g` draws C, W1, b1, W2, b2
in the lecture's order and then goes on to draw every batch. The notebook
draws bngain and bnbias without `generator=g` (from torch's global, unseeded
generator), so its batches depend on `g` alone. We draw those two from a
second generator seeded with the same seed: the batches are the notebook's,
step for step, and everything stays deterministic. (The notebook's printed
3.3377 at init came from that unseeded draw and cannot be reproduced.)
"""
from __future__ import annotations

import torch

from .config import Config
from .graph import PARAMS, Tensors


def init_params(cfg: Config, vocab_size: int, g: torch.Generator) -> Tensors:
    """The seven parameters in the lecture's order of creation. `g` is left
    where the notebook's generator is after its init: ready for the batches."""
    e, h, b = cfg.n_embd, cfg.n_hidden, cfg.block_size
    fan_in = e * b
    bn_g = torch.Generator().manual_seed(cfg.seed)  # the notebook's unseeded draws, made repeatable

    def randn(*shape: int, gen: torch.Generator = g) -> torch.Tensor:
        # drawn in float32 and then cast, so float32 and float64 runs of one
        # seed start from the same numbers
        return torch.randn(shape, generator=gen)

    p = {
        "C": randn(vocab_size, e),
        "W1": randn(fan_in, h) * (5 / 3) / fan_in**0.5,  # tanh gain / sqrt(fan_in)
        "b1": randn(h) * 0.1,  # useless under BatchNorm, kept so db1 (~0) is checked
        "W2": randn(h, vocab_size) * 0.1,
        "b2": randn(vocab_size) * 0.1,
        "bngain": randn(1, h, gen=bn_g) * 0.1 + 1.0,
        "bnbias": randn(1, h, gen=bn_g) * 0.1,
    }
    assert tuple(p) == PARAMS
    return {k: t.to(cfg.torch_dtype).contiguous() for k, t in p.items()}


def count_params(params: Tensors) -> int:
    return sum(t.numel() for t in params.values())
