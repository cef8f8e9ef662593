"""The notebook's order of lines as a tape, and switching views keeping the place."""
from __future__ import annotations

import pytest
import torch

from backprop_ninja.model.atomic import LECTURE_ORDER, BackwardStepper
from backprop_ninja.model.check import cmp
from backprop_ninja.model.graph import BACKWARD_ORDER
from backprop_ninja.model.mlp import FUSED_ORDER


@pytest.fixture
def batch(make_mlp):
    m = make_mlp(seed=4)
    m.forward()
    return m


def test_lecture_tape_checks_a_half_finished_gradient_as_wrong(batch):
    m = batch
    ref = m.reference()
    s = BackwardStepper(m.values, tape="lecture")
    half_seen = set()
    while not s.done:
        name = s.step()
        for node, waiting in s.partial.items():
            # half finished: the check flags it (at logits the max's part is ~0, so not there)
            half_seen.add(node)
            assert waiting and not cmp(s.grads[node], ref[node]).approx or node == "logits", node
    assert half_seen == {"counts", "logits", "bndiff", "hprebn"}
    atomic = BackwardStepper(m.values)
    atomic.run()
    for name in BACKWARD_ORDER:  # the same numbers as the registry's order, bit for bit
        assert torch.equal(s.grads[name], atomic.grads[name]), name
    assert len(LECTURE_ORDER) == len(BACKWARD_ORDER) + 4


def test_lecture_tape_back_restores_the_first_part(batch):
    s = BackwardStepper(batch.values, tape="lecture")
    s.run(5)  # ... dcounts = counts_sum_inv * dprobs
    first = s.grads["counts"].clone()
    assert s.partial == {"counts": ["counts_sum"]}
    s.run(2)
    assert s.partial == {} and not torch.equal(s.grads["counts"], first)
    assert s.back() == "counts"
    assert torch.equal(s.grads["counts"], first) and s.partial == {"counts": ["counts_sum"]}
    assert s.back() == "counts_sum" and s.back() == "counts" and "counts" not in s.grads


def test_mlp_lecture_mode_reports_half_finished_nodes(batch):
    m = batch
    m.backward(nodes=5, mode="lecture")
    assert m.computed[-1] == "counts" and m.partial == {"counts": ["counts_sum"]}
    assert "counts" in m.remaining and m.remaining[0] == "counts_sum"
    assert not m.checks()["counts"].approx
    m.backward(nodes=2, mode="lecture")
    assert m.partial == {} and m.checks()["counts"].approx


def test_switching_views_keeps_the_place(batch):
    m = batch
    m.backward(nodes=12)  # loss .. b2 in the atomic view
    m.backward(nodes=0, mode="fused")
    assert m.computed == ["logits", "h", "W2", "b2"]
    m.backward(nodes=0, mode="atomic")  # straight back: the same place
    assert len(m.computed) == 12
    m.backward(nodes=5)  # 17: ... hpreact, bngain, bnbias, bnraw, bnvar_inv
    m.backward(nodes=0, mode="fused")
    assert m.computed == list(FUSED_ORDER[:7])  # up to bnbias; hprebn needs the whole BatchNorm
    m.backward(nodes=1, mode="fused")  # dhprebn
    m.backward(nodes=0, mode="lecture")
    assert set(m.computed) == set(BACKWARD_ORDER[:22]) and m.partial == {}
    m.back()  # undo dhprebn's second part: half finished
    assert m.partial == {"hprebn": ["bnmeani"]}
    m.backward(nodes=0, mode="fused")  # a half-finished node is not finished
    assert m.computed == list(FUSED_ORDER[:7])


def test_a_new_batch_keeps_the_view(batch):
    m = batch
    m.backward(mode="lecture")
    m.update()
    m.forward()
    assert m.mode == "lecture" and m.backward(nodes=5, mode="lecture")[-1] == "counts"
