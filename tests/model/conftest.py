"""Shared fixtures of the model tests: one thread, the built-in data once."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

# `pytest` (not only `python -m pytest`) must find the repo's `model` package
REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from model.config import Config  # noqa: E402
from model.data import Dataset, load_words  # noqa: E402
from model.mlp import MLP  # noqa: E402

torch.set_num_threads(1)  # results and timings as on the 2-core CI machine


@pytest.fixture(scope="session")
def names_data() -> Dataset:
    """The built-in names, split 80/10/10 with the default seed and block size."""
    return Dataset.from_words(load_words(None))


@pytest.fixture
def make_mlp(names_data):
    """make_mlp(**config changes) -> MLP on the built-in data."""
    def make(**changes) -> MLP:
        return MLP(Config(**changes), names_data)
    return make
