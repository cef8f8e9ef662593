"""The one typed configuration of the lecture's MLP (makemore part 4)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch

DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class Config:
    # 10-dim character embeddings: small enough to read as a heatmap.
    n_embd: int = 10
    # 64 hidden units for stepping through backprop (the lecture uses 200 for
    # the long training run of exercise 4; pass n_hidden=200 for that).
    n_hidden: int = 64
    # three characters of context predict the fourth.
    block_size: int = 3
    # 32 examples a batch: dlogits is then a 32x27 picture, as in the lecture.
    batch_size: int = 32
    # SGD learning rate of the first half of training; lr/10 after (lr_decay_at).
    lr: float = 0.1
    # Step at which lr drops to lr/10 (the lecture: half of 200,000); None = never.
    lr_decay_step: int | None = None
    # The lecture's torch generator seed; it drives init and batch sampling.
    seed: int = 2147483647
    # float64 makes the manual and autograd gradients agree to ~1e-17.
    dtype: str = "float32"
    # The word shuffle before the 80/10/10 split uses its own seed (42 in the
    # lecture), so changing the model seed does not change the data split.
    split_seed: int = 42
    # Momentum of the BatchNorm running statistics (lecture part 3).
    bn_momentum: float = 0.001
    # BatchNorm epsilon, added to the variance before the inverse sqrt.
    bn_eps: float = 1e-5

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {self.dtype!r}")
        for name in ("n_embd", "n_hidden", "block_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        # Bessel's correction divides by n-1: a batch of one has no variance.
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (BatchNorm divides by n-1), got {self.batch_size}")

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    def replace(self, **changes) -> "Config":
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)
