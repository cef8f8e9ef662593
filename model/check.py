"""The lecture's `cmp`: compare a hand-written gradient with autograd's."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch


@dataclass(frozen=True)
class Check:
    exact: bool  # every element bit-equal
    approx: bool  # torch.allclose with its default tolerances
    maxdiff: float  # max |manual - autograd|

    def to_dict(self) -> dict:
        return asdict(self)


def cmp(manual: torch.Tensor, reference: torch.Tensor) -> Check:
    if manual.shape != reference.shape:
        raise ValueError(f"shape {tuple(manual.shape)} != autograd's {tuple(reference.shape)}")
    diff = (manual - reference).abs()
    return Check(
        exact=bool(torch.equal(manual, reference)),
        approx=bool(torch.allclose(manual, reference)),
        maxdiff=float(diff.max()) if diff.numel() else 0.0,
    )


def check_all(manual: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]) -> dict[str, Check]:
    """A Check for every node both sides have, in the order of `manual`."""
    return {k: cmp(t, reference[k]) for k, t in manual.items() if k in reference}
