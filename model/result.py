"""What `MLP.train` returns: the batch losses, shown in one line."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


class TrainResult(list):
    """The batch losses of one `train()` call, in order: a list (index it,
    plot it, compare it), whose repr is one line, so a notebook cell that
    ends in `m.train(10_000)` does not print 10,000 numbers."""

    def __init__(self, losses: list[float], step: int, seconds: float, threads: int):
        super().__init__(losses)
        self.step = step  # the model's step after the call
        self.seconds = seconds
        self.threads = threads  # torch threads the steps ran on

    @property
    def losses(self) -> list[float]:
        return list(self)

    def __repr__(self) -> str:
        if not self:
            return f"TrainResult(0 steps, at step {self.step:,})"
        tail = self[-100:]
        return (f"TrainResult({len(self):,} steps to step {self.step:,} in {self.seconds:.1f} s: "
                f"loss {self[0]:.4f} -> {self[-1]:.4f}, mean of the last {len(tail)} {sum(tail) / len(tail):.4f})")

    __str__ = __repr__


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[int]:
    """Run the block on n torch threads (None: as torch is set), then give back
    the count it had: the caller's own setting for their other work stays."""
    before = torch.get_num_threads()
    if n is not None and n != before:
        torch.set_num_threads(n)
    try:
        yield torch.get_num_threads()
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
