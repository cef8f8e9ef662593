"""The lecture's MLP with every gradient written by hand (torch only, no web code).

Start with `MLP` (see its docstring), the registry `NODES` in graph.py, and
`Config`. Node names are the lecture's: `hprebn`, `bnvar_inv`, `dlogits`...
"""
import torch

from .check import Check, check_all, cmp
from .config import Config
from .data import DataError, Dataset, Vocab, load_words, parse_words
from .graph import BACKWARD_ORDER, BY_NAME, NODES, PARAMS, Dims, Node
from .mlp import BACKWARDS, FUSED_ORDER, MLP
from .result import TrainResult

__all__ = ["MLP", "Config", "NODES", "BY_NAME", "BACKWARD_ORDER", "FUSED_ORDER", "PARAMS", "Node",
           "Dims", "Dataset", "Vocab", "DataError", "load_words", "parse_words", "Check", "cmp",
           "check_all", "BACKWARDS", "TrainResult", "torch"]
