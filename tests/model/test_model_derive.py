"""model/derive.py and derive_check.py without the sandbox: the lecture's
knowledge per node, and the judge on tensors computed here."""
from __future__ import annotations

import pytest
import torch

from backprop_ninja.model import MLP, Config, derive, hints, mistakes
from backprop_ninja.model.derive_check import judge
from backprop_ninja.model.graph import BY_NAME, Dims
from backprop_ninja.model.reference import autograd_grads


@pytest.fixture(scope="module")
def truth():
    m = MLP(Config(dtype="float64"))
    m.forward()
    first = (dict(m.values), m.reference())
    Xb, Yb = m.sample_batch()
    return [first, autograd_grads(m.params, Xb, Yb)]


def test_axes_read_back_every_shape():
    dims = Dims()
    for mode in derive.MODES:
        for node in derive.ORDER[mode]:
            assert len(derive.axes(node)) == len(BY_NAME[node].shape(dims))
            assert len(hints.hints(mode, node, dims)) == 3 and all(hints.hints(mode, node, dims))
    assert derive.axes("logits") == ("n", "vocab") and derive.axes("embcat") == ("n", "block·n_embd")


def test_the_answer_is_the_lecture_s_own_line():
    for mode in derive.MODES:
        assert derive.answer(mode, "C") == derive.DC_LOOP and "for k in range(Xb.shape[0])" in derive.DC_LOOP
        assert derive.answer(mode, "hpreact") == "dhpreact = (1.0 - h**2) * dh"
        alt = derive.alternative(mode, "C")
        assert "index_add_" in alt.code and "viewers of the lecture proposed" in alt.label
        assert derive.alternative(mode, "h") is None
    assert derive.answer("atomic", "bnmeani") == "dbnmeani = (-dbndiff).sum(0)"
    assert derive.fits((64,), BY_NAME["bnmeani"].shape(Dims()))  # the shape cmp accepts


def test_upstream_is_what_comes_before():
    assert derive.upstream("atomic", "probs") == ("loss", "logprobs")
    assert derive.upstream("fused", "logits") == ()
    with pytest.raises(ValueError, match="nodes are"):
        derive.check_mode("fused", "probs")


def test_fits_is_the_lecture_cmp_broadcast():
    assert derive.fits((64,), (1, 64)) and derive.fits((1, 64), (64,))
    assert not derive.fits((32,), (32, 1))  # (32,) against (32, 1) broadcasts to (32, 32)
    assert not derive.fits((27, 64), (64, 27))


@pytest.mark.parametrize("node", ["probs", "counts", "hprebn", "C", "bngain"])
def test_judge_truth_is_correct_and_each_variant_is_named(truth, node):
    (v, g), (v2, g2) = truth
    assert judge("atomic", node, [g[node], g2[node]], truth).verdict == "correct"
    for kind, _, fn in mistakes.variants("atomic", node):
        cand = fn(v, g)
        if cand.shape != g[node].shape or torch.allclose(cand, g[node]):
            continue
        got = judge("atomic", node, [cand, fn(v2, g2)], truth)
        assert got.verdict == "wrong" and got.mistake is not None, kind


def test_this_batch_only(truth):
    (v, g), (v2, g2) = truth
    got = judge("atomic", "probs", [g["probs"], g["probs"]], truth)
    assert got.verdict == "wrong" and got.mistake == "hard_coded" and got.approx is True
