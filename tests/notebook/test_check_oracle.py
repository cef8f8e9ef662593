"""The true gradients check computes, from the learner's own forward tensors,
against autograd's: bit-equal at every node of exercise 1 (so its exact /
approximate / maxdiff columns are the ones the lecture's cmp prints), in
float32 and float64, at the lecture's sizes and others; never read from .grad;
and exercise 4's, from the fused forward, equal to autograd's to rounding."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from backprop_ninja.model.graph import BACKWARD_ORDER, PARAMS
from backprop_ninja.model.mlp import FUSED_ORDER
from backprop_ninja.model.result import torch_threads
from backprop_ninja.notebook import report

from nbkit import FORWARD, FUSED_FORWARD, starter

SIZES = [dict(), dict(block=4, embd=5, hidden=16, batch=8), dict(block=2, embd=7, hidden=200, batch=100),
         dict(hidden=33, batch=7)]


def lecture_namespace(dtype: str, **sizes) -> dict:
    """The lecture's cells run in a namespace (as a notebook would), autograd's .grad on every tensor."""
    ns: dict = {}
    exec(starter(dtype=dtype, **sizes), ns)
    exec(FORWARD, ns)
    return ns


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sizes", SIZES, ids=["lecture", "small", "wide", "odd"])
def test_true_gradients_are_autograds_bit_for_bit(dtype, sizes, threads):
    # the learner's session on 1 or 2 torch threads (a matrix product may round differently on each: at the
    # "odd" sizes it does), its autograd and its check alike
    with torch_threads(threads):
        ns = lecture_namespace(dtype, **sizes)
        r = report(ns)  # nothing written yet: every node to do, the truth computed all the same
    assert r.exercise == 1 and r.dtype == dtype and r.count("todo") == 26
    for node in BACKWARD_ORDER:
        if node == "loss":
            assert float(r.true["loss"]) == 1.0
            continue
        autograd = ns[node].grad
        assert autograd is not None, node
        assert r.true[node].dtype == autograd.dtype and torch.equal(r.true[node], autograd), (
            node, float((r.true[node] - autograd).abs().max()))


def test_the_truth_never_reads_grad():
    ns = lecture_namespace("float32")
    before = report(ns).true
    for node in BACKWARD_ORDER[1:]:
        ns[node].grad = torch.full_like(ns[node], 7.0)  # a stale or tampered .grad
    after = report(ns).true
    assert all(torch.equal(before[k], after[k]) for k in BACKWARD_ORDER)


EXERCISE4_FORWARD = FUSED_FORWARD + """
for t in [emb, embcat, hprebn, hpreact, h, logits]:
    t.retain_grad()
loss.backward()
"""


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sizes", SIZES[:2], ids=["lecture", "small"])
def test_exercise_4_truth_is_autograds_on_the_fused_forward(dtype, sizes):
    ns: dict = {"F": F}
    exec(starter(dtype=dtype, **sizes), ns)
    exec(EXERCISE4_FORWARD, ns)
    r = report(ns, exercise=4)
    rtol, atol = {"float32": (1e-6, 1e-8), "float64": (1e-14, 1e-16)}[dtype]
    for node in FUSED_ORDER:  # rounding only: the truth runs the atomic rules on the fused forward's tensors
        autograd = ns[node].grad
        scale = float(autograd.abs().max())
        assert float((r.true[node] - autograd).abs().max()) <= atol + rtol * scale, node
    assert set(PARAMS) <= set(FUSED_ORDER)
