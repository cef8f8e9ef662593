"""model/mistakes.py, the catalogue of classic wrong answers, without the
sandbox: every kind it can name has a label, every variant it lists is
named when a learner's result equals it, the truth never is, and the pure
functions on shapes and torch's error text say what works."""
from __future__ import annotations

import pytest
import torch

from backprop_ninja.model import MLP, Config, derive, mistakes
from backprop_ninja.model.derive_check import judge
from backprop_ninja.model.reference import autograd_grads


@pytest.fixture(scope="module", params=["float32", "float64"])
def truth(request):
    m = MLP(Config(dtype=request.param))
    m.forward()
    first = (dict(m.values), m.reference())
    Xb, Yb = m.sample_batch()
    return [first, autograd_grads(m.params, Xb, Yb)]


NODES = [(mode, node) for mode in derive.MODES for node in derive.ORDER[mode]]

# one wrong shape for each kind the shape check names (derive.shape_message, refined by mistakes.shape_mistake)
SHAPES = [("W2", (27, 64), "transposed"), ("counts_sum_inv", (32,), "keepdim"), ("counts_sum", (32, 32), "broadcast"),
          ("counts_sum_inv", (1, 27), "wrong_axis"), ("bndiff2", (1, 64), "summed"), ("bngain", (32, 64), "not_summed"),
          ("emb", (32, 10, 3), "wrong_order"), ("emb", (32, 30), "reshape"), ("emb", (32, 1, 10), "summed_view")]


def test_every_kind_has_a_label_and_every_label_a_kind(truth):
    kinds = {"hard_coded", "swapped_product", "max_dropped", "max_spread", "max_sign", "max_scaled",
             "in_place"}  # in_place: named by the whole-cell judges (model.cell_check, the notebook's check)
    for mode, node in NODES:
        kinds |= {k for k, _, _ in mistakes.variants(mode, node)}
        kinds |= {k for k, _, _ in mistakes.recognisers(mode, node)}
    for node, shape, kind in SHAPES:
        got = judge("atomic", node, [torch.zeros(shape)] * 2, truth)
        assert got.mistake == kind and got.mistake_label == mistakes.LABELS[kind], (node, shape, got)
        kinds.add(kind)
    assert kinds == set(mistakes.LABELS)
    assert all(mistakes.label(k) and mistakes.label(k) != k for k in kinds if "_" in k)
    assert mistakes.label("missing_1n") == "missing 1/n" and mistakes.label("overwrite") == "= where += is due"


@pytest.mark.parametrize("mode,node", NODES, ids=[f"{m}-{n}" for m, n in NODES])
def test_truth_is_correct_and_unnamed(truth, mode, node):
    (v, g), (v2, g2) = truth
    got = judge(mode, node, [g[node], g2[node]], truth)
    assert got.verdict == "correct" and got.mistake is None and got.note is None, got


@pytest.mark.parametrize("mode,node", NODES, ids=[f"{m}-{n}" for m, n in NODES])
def test_each_variant_is_named_and_none_equals_the_truth_named(truth, mode, node):
    (v, g), (v2, g2) = truth
    for kind, _, fn in mistakes.variants(mode, node):
        cand = fn(v, g).to(g[node].dtype)
        if cand.shape != g[node].shape or torch.allclose(cand, g[node]):
            continue  # equal to the truth (e.g. -db1, both ~0): the judge must call it correct, not name it
        got = judge(mode, node, [cand, fn(v2, g2)], truth)
        assert got.verdict == "wrong" and got.mistake is not None, (kind, got)


def test_dC_overwrite_is_recognised_whichever_write_wins(truth):
    (v, g), _ = truth
    ix, parts = v["Xb"].reshape(-1), g["emb"].reshape(v["Xb"].numel(), -1)
    for order in (range(len(ix)), reversed(range(len(ix)))):  # the last write, or the first
        dC = torch.zeros_like(g["C"])
        for p in order:
            dC[ix[p]] = parts[p]
        got = judge("atomic", "C", [dC, dC], truth)
        assert got.verdict == "wrong" and got.mistake == "overwrite", got


def test_demb_in_the_wrong_order(truth):
    (v, g), _ = truth
    n, block, embd = g["emb"].shape
    wrong = g["embcat"].view(n, embd, block).transpose(1, 2)
    assert judge("atomic", "emb", [wrong, wrong], truth).mistake == "wrong_order"


def test_dlogits_flagged_only_when_the_branch_is_missing(truth):
    (v, g), _ = truth
    assert mistakes.incomplete("atomic", "logits", g["logits"], v, g) is None
    kind, note = mistakes.incomplete("atomic", "logits", g["norm_logits"].clone(), v, g)
    assert kind == "max_dropped" and "logit_maxes" in note
    assert mistakes.incomplete("fused", "logits", g["norm_logits"].clone(), v, g) is None


def _at_max(v, g):
    at = torch.nn.functional.one_hot(v["logits"].max(1).indices, num_classes=g["logits"].shape[1])
    return at.to(g["logits"].dtype) * g["logit_maxes"]


@pytest.mark.parametrize("build,kind,words", [
    (lambda v, g: g["norm_logits"] - g["logit_maxes"], "max_spread", "subtracted from every column"),
    (lambda v, g: g["norm_logits"] - _at_max(v, g), "max_sign", "wrong sign"),
    (lambda v, g: g["norm_logits"] + 5 * _at_max(v, g), "max_scaled", "scaled by about 5"),
    (lambda v, g: g["norm_logits"] + 0.5 * _at_max(v, g), "max_scaled", "scaled by about 0.5"),
], ids=["spread-minus", "sign", "times-5", "times-half"])
def test_dlogits_with_its_branch_flipped_or_scaled_passes_with_a_note(truth, build, kind, words):
    (v, g), (v2, g2) = truth
    got = judge("atomic", "logits", [build(v, g), build(v2, g2)], truth)
    assert got.verdict == "correct" and got.mistake == kind and words in got.note, got
    assert "Correct to rounding" in got.note and got.mistake_label == mistakes.LABELS[kind]


def test_a_result_a_hair_off_everywhere_is_not_named(truth):
    # sorted, it has the truth's numbers to 1e-3: yet it is off in place, not in order
    (v, g), (v2, g2) = truth
    for node in ("probs", "hpreact", "logits", "bnvar", "W1", "emb"):
        for factor in (1 + 1e-4, 1.0005):
            got = judge("atomic", node, [g[node] * factor, g2[node] * factor], truth)
            assert got.verdict == "wrong" and got.mistake is None, (node, factor, got)


def test_epsilon_left_out_of_dbnvar_is_named_not_as_wrong_order(truth):
    (v, g), (v2, g2) = truth
    no_eps = [-0.5 * w["bnvar"] ** -1.5 * d["bnvar_inv"] for w, d in ((v, g), (v2, g2))]
    got = judge("atomic", "bnvar", no_eps, truth)
    assert got.verdict == "wrong" and got.mistake == "power_rule" and "1e-5 left out" in got.diagnosis, got


def test_the_mean_branch_over_n_minus_1_is_the_reverse_bessel(truth):
    (v, g), (v2, g2) = truth
    n = v["Xb"].shape[0]
    wrong = [d["bndiff"] + d["bnmeani"] / (n - 1) for d in (g, g2)]
    got = judge("atomic", "hprebn", wrong, truth)
    assert got.mistake == "bessel_reverse" and got.mistake_label == "n-1 where n is due", got


@pytest.mark.parametrize("node,why", [("b1", "BatchNorm subtracts the batch mean"),
                                      ("logit_maxes", "does not change its probabilities")])
def test_zeros_pass_where_the_truth_is_rounding_noise_and_it_is_said(truth, node, why):
    (v, g), (v2, g2) = truth
    got = judge("atomic", node, [torch.zeros_like(g[node]), torch.zeros_like(g2[node])], truth)
    assert got.verdict == "correct", got
    assert "rounding noise around 0" in got.message and why in got.message, got.message
    assert "cannot tell a right formula from zeros" in got.message and "round in another order" not in got.message
    # a gradient of a normal size keeps the usual message
    assert mistakes.rounding_noise("W1", g["W1"]) is None


@pytest.mark.parametrize("node,build,kind", [
    ("b2", lambda g: g["logits"].sum(1), "wrong_axis"),
    ("b1", lambda g: g["hprebn"].sum(1), "wrong_axis"),
    ("b2", lambda g: g["logits"], "not_summed"),
    ("b1", lambda g: g["hprebn"].clone(), "not_summed"),
    ("counts_sum_inv", lambda g: (g["probs"]).sum(0), "wrong_axis"),
], ids=["db2-sum1", "db1-sum1", "db2-unsummed", "db1-unsummed", "dcounts_sum_inv-sum0"])
def test_a_bias_summed_over_the_wrong_axis_or_not_at_all_is_named(truth, node, build, kind):
    (v, g), (v2, g2) = truth
    got = judge("atomic", node, [build(g), build(g2)], truth)
    assert got.verdict == "wrong" and got.shape_ok is False and got.mistake == kind, got
    assert "axis 0 (n)" in got.diagnosis or "axis 1 (vocab)" in got.diagnosis, got.diagnosis


PRODUCT_ERRORS = [
    # (node, torch's message, d<node>'s shape, the form with that shape)
    ("h", "line 1: RuntimeError: mat1 and mat2 shapes cannot be multiplied (32x27 and 64x27)", (32, 64), "A @ B.T"),
    ("W2", "mat1 and mat2 shapes cannot be multiplied (32x64 and 27x32)", (64, 27), "A.T @ B.T"),
    ("W2", "mat1 and mat2 shapes cannot be multiplied (32x27 and 32x64)", (64, 27), "B.T @ A"),
]


@pytest.mark.parametrize("node,message,shape,fit", PRODUCT_ERRORS)
def test_product_error_lists_what_works(node, message, shape, fit):
    kind, text = mistakes.product_error(node, message, shape)
    assert kind == "swapped_product" and "transposed or swapped" in text
    assert f"d{node} has shape {shape}: {fit}" in text


def test_product_error_without_a_fitting_form():
    kind, text = mistakes.product_error("h", "mat1 and mat2 shapes cannot be multiplied (32x27 and 30x64)", (32, 64))
    assert kind == "swapped_product" and "No product of these two fits" in text and "With these two" not in text
    kind, text = mistakes.product_error("h", "mat1 and mat2 shapes cannot be multiplied (32x27 and 32x64)", (32, 64))
    assert "None of them has dh's shape (32, 64)" in text and "A.T @ B -> (27, 64)" in text


def test_other_errors_are_not_products():
    assert mistakes.product_error("h", "The size of tensor a (27) must match the size of tensor b (64)", (32, 64)) \
        is None
