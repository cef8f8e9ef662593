"""Shared fixtures of the model tests: the built-in data, loaded once.
(One torch thread is set for every test in tests/conftest.py.)"""
from __future__ import annotations

import pytest

from backprop_ninja.model.config import Config
from backprop_ninja.model.data import Dataset, load_words
from backprop_ninja.model.mlp import MLP


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
