"""Parameter init, deliberately non-standard (lecture part 4).

Small random values everywhere, biases included, so that a wrong gradient
cannot hide behind a zero. One seeded generator draws them in a fixed order.
"""
from __future__ import annotations

import torch

from .config import Config
from .graph import PARAMS, Tensors


def init_params(cfg: Config, vocab_size: int, g: torch.Generator) -> Tensors:
    """The seven parameters in the lecture's order of creation."""
    e, h, b = cfg.n_embd, cfg.n_hidden, cfg.block_size
    fan_in = e * b

    def randn(*shape: int) -> torch.Tensor:
        # drawn in float32 and then cast, so float32 and float64 runs of one
        # seed start from the same numbers
        return torch.randn(shape, generator=g)

    p = {
        "C": randn(vocab_size, e),
        "W1": randn(fan_in, h) * (5 / 3) / fan_in**0.5,  # tanh gain / sqrt(fan_in)
        "b1": randn(h) * 0.1,  # useless under BatchNorm, kept so db1 (~0) is checked
        "W2": randn(h, vocab_size) * 0.1,
        "b2": randn(vocab_size) * 0.1,
        "bngain": randn(1, h) * 0.1 + 1.0,
        "bnbias": randn(1, h) * 0.1,
    }
    assert tuple(p) == PARAMS
    return {k: t.to(cfg.torch_dtype).contiguous() for k, t in p.items()}


def count_params(params: Tensors) -> int:
    return sum(t.numel() for t in params.values())
