"""model.finite_differences: central differences through the lecture's
forward agree with autograd on every node within the stated tolerance, and a
deliberately wrong gradient does not; the sampled entries are seeded."""
from __future__ import annotations

import pytest
import torch

from backprop_ninja.model import finite_differences as fd
from backprop_ninja.model.config import Config
from backprop_ninja.model.graph import BACKWARD_ORDER
from backprop_ninja.model.mlp import MLP


@pytest.fixture(scope="module", params=[{}, {"dtype": "float32", "seed": 7}, {"batch_size": 4, "n_hidden": 8}],
                ids=["lecture", "float32", "small"])
def batch(names_data, request):
    m = MLP(Config(**request.param), names_data)
    m.forward()
    values, grads = fd.float64(m.params, m.values["Xb"], m.values["Yb"], m.cfg.bn_eps)
    return m, values, grads


@pytest.mark.parametrize("node", BACKWARD_ORDER)
def test_autograd_agrees_and_a_wrong_gradient_does_not(batch, node):
    m, values, grads = batch
    out = fd.check(values, grads, m.cfg.bn_eps, node, fd.MAX_SAMPLES, seed=1)
    assert out.agree, [(s.index, s.numeric, s.autograd) for s in out.samples]
    assert len(out.samples) == min(fd.MAX_SAMPLES, grads[node].numel())
    wrong = grads[node] * 1.1 + 1e-3
    out = fd.check(values, grads, m.cfg.bn_eps, node, 3, seed=1, yours=wrong)
    assert out.agree and out.yours_agree is False
    assert "Yours differs" in out.message


def test_the_numbers_do_not_come_from_autograd(batch):
    # the loss through the registry's fwd functions, nudged by hand: no graph is kept
    m, values, grads = batch
    assert not any(t.requires_grad for t in values.values() if isinstance(t, torch.Tensor))
    assert fd.loss_from(values, "probs", m.cfg.bn_eps) == pytest.approx(float(values["loss"]), abs=1e-12)
    assert fd.loss_from(values, "W1", m.cfg.bn_eps) == pytest.approx(float(values["loss"]), abs=1e-12)
    assert fd.numeric(values, "loss", (), m.cfg.bn_eps) == pytest.approx(1.0, abs=1e-6)


def test_the_entries_are_seeded_and_the_largest_comes_first(batch):
    m, values, grads = batch
    g = grads["logprobs"]  # zero but for one entry a row: the largest is one of those
    picked = fd.entries(g, 6, seed=3)
    assert picked == fd.entries(g, 6, seed=3) and len(set(picked)) == 6
    assert g[picked[0]] == g.abs().max() * torch.sign(g[picked[0]]) and g[picked[0]] != 0
    assert fd.entries(g, 6, seed=4)[1:] != picked[1:]
    assert fd.sample_seed(2147483647, 0, "W1") != fd.sample_seed(2147483647, 1, "W1")
    assert fd.sample_seed(2147483647, 0, "W1") != fd.sample_seed(2147483647, 0, "W2")
    assert fd.entries(grads["loss"], 6, seed=3) == [()]


def test_the_message_says_what_was_sampled_and_how(batch):
    m, values, grads = batch
    out = fd.check(values, grads, m.cfg.bn_eps, "C", 4, seed=0)
    assert "4 entries of dC" in out.message and "largest" in out.message and "from the start" in out.message
    assert f"{fd.EPS:g}" in out.message and f"{fd.ATOL:g} + {fd.RTOL:g} x |numeric|" in out.message
    assert "float64" in out.message
    out = fd.check(values, grads, m.cfg.bn_eps, "bnvar", 1, seed=0)
    assert "1 entry of dbnvar" in out.message and "from bnvar on" in out.message


def test_bad_arguments(batch):
    m, values, grads = batch
    with pytest.raises(ValueError, match="nodes are"):
        fd.check(values, grads, m.cfg.bn_eps, "Xb", 3, seed=0)
    with pytest.raises(ValueError, match="1 to 20"):
        fd.check(values, grads, m.cfg.bn_eps, "W1", 21, seed=0)


def test_agreement_is_absolute_near_zero_and_relative_above_it():
    assert fd.agrees(1e-8, 0.0) and not fd.agrees(1e-7, 0.0)
    assert fd.agrees(1e-4 + 2e-8, 1e-4) and not fd.agrees(1e-4 * 1.001, 1e-4)  # gradients here are ~1e-4
    assert fd.agrees(1000.0005, 1000.0) and not fd.agrees(1000.01, 1000.0)


def test_a_slip_of_a_few_percent_disagrees_at_most_samples(batch):
    # exercise 3 with 1/n where n/(n-1) is due: 3% off at the lecture's batch of 32 (25% at batch 4)
    m, values, grads = batch
    v, g, n = values, grads, values["Xb"].shape[0]
    slip = v["bngain"] * v["bnvar_inv"] / n * (n * g["hpreact"] - g["hpreact"].sum(0)
                                               - v["bnraw"] * (g["hpreact"] * v["bnraw"]).sum(0))
    out = fd.check(values, grads, m.cfg.bn_eps, "hprebn", fd.MAX_SAMPLES, seed=1, yours=slip)
    assert out.agree and out.yours_agree is False
    off = sum(not fd.agrees(s.yours, s.numeric) for s in out.samples)
    assert off >= 0.8 * len(out.samples), [(s.numeric, s.yours) for s in out.samples]


def test_a_sparse_gradient_is_sampled_where_it_is_not_zero(batch):
    m, values, grads = batch
    for node in ("logprobs", "probs"):
        g = grads[node]
        k = min(6, int((g != 0).sum()) + 1)
        out = fd.check(values, grads, m.cfg.bn_eps, node, k, seed=5)
        zeros = sum(s.autograd == 0 for s in out.samples)
        assert zeros == 1 and out.samples[0].autograd != 0, [s.autograd for s in out.samples]
        assert "mostly among its non-zero entries" in out.message and f"({k - 2} non-zero, 1 zero)" in out.message
        assert fd.entries(g, k, seed=5) == [s.index for s in out.samples]  # seeded
    # a dense gradient is drawn from all its entries, and the message does not claim otherwise
    out = fd.check(values, grads, m.cfg.bn_eps, "W1", 6, seed=5)
    assert "non-zero" not in out.message
