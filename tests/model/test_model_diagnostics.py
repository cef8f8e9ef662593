"""Lecture part 3's diagnostics as plain data."""
from __future__ import annotations

import math

import pytest
import torch

from backprop_ninja.model.diagnostics import SATURATION, bn_stats, node_summaries, param_stats, summary, tanh_stats
from backprop_ninja.model.graph import PARAMS


def test_summary_counts_nan_and_inf_apart():
    t = torch.tensor([1.0, 2.0, float("nan"), float("inf"), -float("inf"), 3.0, float("nan"), 4.0])
    s = summary(t, bins=4)
    assert (s["nan"], s["inf"], s["numel"]) == (2, 2, 8)
    assert sum(s["hist"]["counts"]) == 4  # the finite elements, none dropped
    assert len(s["hist"]["edges"]) == len(s["hist"]["counts"]) + 1
    assert (s["min"], s["max"], s["mean"]) == (1.0, 4.0, 2.5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_summary_histogram_covers_every_finite_element(dtype):
    t = torch.randn(50, 7, generator=torch.Generator().manual_seed(0), dtype=dtype)
    s = summary(t)
    assert sum(s["hist"]["counts"]) == t.numel() and s["nan"] == s["inf"] == 0
    assert s["std"] == pytest.approx(float(t.std()), rel=1e-6)
    assert s["hist"]["edges"][0] == s["min"] and s["hist"]["edges"][-1] == s["max"]


def test_summary_edge_cases():
    assert summary(torch.full((3,), 5.0))["hist"]["counts"] == [3]
    assert summary(torch.zeros(4))["hist"]["counts"] == [4]
    empty = summary(torch.tensor([float("nan")]))
    assert empty["mean"] is None and empty["nan"] == 1 and empty["hist"]["counts"] == []
    assert summary(torch.arange(6))["mean"] == 2.5  # integer tensors too


def test_tanh_saturation_share():
    h = torch.tensor([0.0, 0.5, -0.98, 0.99, 1.0, -0.5, 0.1, SATURATION])
    stats = tanh_stats(h)
    assert stats["saturated"] == pytest.approx(3 / 8)  # strictly above 0.97
    assert stats["mean"] == pytest.approx(float(h.mean()))


def test_param_stats_keys_and_ratios(make_mlp):
    m = make_mlp()
    _, _, grads = m.train_step()
    stats = param_stats(m.params, grads, lr=0.1)
    assert list(stats) == list(PARAMS)
    for name, s in stats.items():
        assert set(s) == {"data_std", "grad_std", "grad_data", "update_data_log10"}
        assert s["grad_data"] == pytest.approx(s["grad_std"] / s["data_std"])
        assert math.isclose(10 ** s["update_data_log10"], 0.1 * s["grad_data"], rel_tol=1e-9)
    missing = param_stats(m.params, {}, lr=0.1)["W1"]
    assert missing["grad_std"] is None and missing["data_std"] > 0


def test_node_and_bn_summaries(make_mlp):
    m = make_mlp(n_hidden=8)
    m.forward()
    m.backward()
    out = node_summaries(m.values, m.grads)
    assert out["Xb"]["grad"] is None and out["h"]["grad"]["numel"] == 32 * 8
    bn = bn_stats(m.values, m.running_mean, m.running_var)
    assert len(bn["batch_mean"]) == len(bn["running_var"]) == 8
