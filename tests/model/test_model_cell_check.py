"""model.cell_check: a whole cell judged in lecture order from its chained
and isolated runs (made here from the true gradients, as the sandbox would
report them): the first wrong node, the nodes affected by it, errors, nodes
changed in place later, and the nodes the cell does not assign."""
from __future__ import annotations

import pytest
import torch

from backprop_ninja.model import cell_check, derive, mistakes
from backprop_ninja.model.config import Config
from backprop_ninja.model.graph import BACKWARD_ORDER, consumers
from backprop_ninja.model.mlp import FUSED_ORDER, MLP
from backprop_ninja.model.reference import autograd_grads


@pytest.fixture(scope="module", params=["float32", "float64"])
def truth(names_data, request):
    m = MLP(Config(dtype=request.param), names_data)
    m.forward()
    second = m.sample_batch()
    return [autograd_grads(m.params, m.values["Xb"], m.values["Yb"]),
            autograd_grads(m.params, *second)]


def right(truth, node):
    return [g[node].clone() for _, g in truth]


def reads(node):
    return tuple(c for c in consumers(node) if c in BACKWARD_ORDER)


def runs(truth, mode="atomic", **changed):
    """Every node right in both runs, but for `changed`: {node: Run}."""
    out = {x: cell_check.Run(right(truth, x), right(truth, x), line=k + 1, reads=reads(x))
           for k, x in enumerate(derive.ORDER[mode])}
    out.update(changed)
    return out


def statuses(checked):
    return {c.node: c.status for c in checked.nodes}


def test_all_right(truth):
    checked = cell_check.check_cell("atomic", runs(truth), truth)
    assert checked.first_wrong is None and checked.solved == checked.total == 27
    assert checked.message == "All 27 nodes are correct."
    assert [c.node for c in checked.nodes] == list(BACKWARD_ORDER)


def test_the_first_wrong_node_and_the_nodes_it_affects(truth):
    # dprobs without dlogprobs: wrong on its own; dcounts_sum_inv and dcounts used it
    wrong = [(1.0 / v["probs"]) for v, _ in truth]
    bent = lambda x: [t * 1.5 for t in right(truth, x)]  # noqa: E731  (wrong in the chained run only)
    changed = {"probs": cell_check.Run(wrong, wrong, line=3, reads=("logprobs",))}
    for x in ("counts_sum_inv", "counts"):
        changed[x] = cell_check.Run(bent(x), right(truth, x), line=4, reads=reads(x))
    checked = cell_check.check_cell("atomic", runs(truth, **changed), truth)
    by = {c.node: c for c in checked.nodes}
    assert checked.first_wrong == "probs" and by["probs"].status == "wrong"
    assert by["probs"].mistake == "no_upstream" and by["probs"].mistake_label and by["probs"].diagnosis
    assert by["counts_sum_inv"].status == "affected" and by["counts_sum_inv"].affected_by == ["probs"]
    assert by["counts"].status == "affected" and by["counts"].affected_by == ["probs"]
    assert by["counts_sum_inv"].approx is False and by["counts_sum_inv"].maxdiff > 0
    assert "uses dprobs" in by["counts"].message
    assert checked.solved == 24 and "first wrong node is dprobs" in checked.message
    assert "2 after it are wrong only because they use" in checked.message


def test_a_second_mistake_of_its_own_stays_wrong(truth):
    bad = [t.T.contiguous() for t in right(truth, "W2")]
    checked = cell_check.check_cell("atomic", runs(truth, W2=cell_check.Run(bad, bad, reads=("logits",))), truth)
    assert checked.first_wrong == "W2" and statuses(checked)["W2"] == "wrong"
    assert next(c for c in checked.nodes if c.node == "W2").mistake == "transposed"


def test_errors_are_judged_on_the_isolated_run(truth):
    error = "line 12: RuntimeError: mat1 and mat2 shapes cannot be multiplied (32x27 and 64x27)"
    changed = {"h": cell_check.Run(error, error, line=12, reads=("logits",)),
               "hpreact": cell_check.Run("line 15: NameError: name 'dh' is not defined", right(truth, "hpreact"),
                                         line=15, reads=("h",))}
    checked = cell_check.check_cell("atomic", runs(truth, **changed), truth)
    by = {c.node: c for c in checked.nodes}
    assert checked.first_wrong == "h" and by["h"].status == "error" and by["h"].mistake == "swapped_product"
    assert error in by["h"].message and by["h"].line == 12
    assert by["hpreact"].status == "affected" and by["hpreact"].affected_by == ["h"]
    assert "dh (transposed or swapped product)" in checked.message and "1 after it is wrong" in checked.message


def test_a_node_that_reads_no_wrong_gradient_is_not_blamed_on_one(truth):
    # dprobs is wrong; dW2 reads only dlogits (right), yet its chained result is off:
    # it is not "affected by dprobs" (it never read it), it is judged on its own
    wrong = [(1.0 / v["probs"]) for v, _ in truth]
    bent = [t * 1.5 for t in right(truth, "W2")]
    checked = cell_check.check_cell("atomic", runs(truth, probs=cell_check.Run(wrong, wrong, reads=("logprobs",)),
                                                   W2=cell_check.Run(bent, right(truth, "W2"), reads=("logits",))),
                                    truth)
    w2 = next(c for c in checked.nodes if c.node == "W2")
    assert checked.first_wrong == "probs"
    assert w2.status == "wrong" and w2.affected_by == [] and "dprobs" not in w2.message, w2
    assert "right with the true gradients upstream" in w2.message


def test_a_node_changed_later_is_wrong_with_the_reason(truth):
    bent = [t + 1.0 for t in right(truth, "bndiff")]
    checked = cell_check.check_cell("atomic", runs(truth, bndiff=cell_check.Run(
        bent, right(truth, "bndiff"), reads=reads("bndiff"), changed=True)), truth)
    bndiff = next(c for c in checked.nodes if c.node == "bndiff")
    assert checked.first_wrong == "bndiff" and bndiff.status == "wrong" and "in place" in bndiff.message


def test_nodes_not_assigned(truth):
    cell = runs(truth)
    del cell["loss"], cell["C"]
    checked = cell_check.check_cell("atomic", cell, truth)
    by = {c.node: c for c in checked.nodes}
    assert by["loss"].status == "correct" and "given" in by["loss"].message  # the lecture does not write dloss
    assert by["C"].status == "missing" and checked.solved == 26
    assert checked.message == "26 of 27 nodes are correct, none is wrong; 1 is not in this cell yet."
    fused = {"logits": cell_check.Run(right(truth, "logits"), right(truth, "logits"), line=1)}
    checked = cell_check.check_cell("fused", fused, truth)
    assert statuses(checked)["logits"] == "correct" and checked.solved == 1 and checked.total == len(FUSED_ORDER)
    assert all(s == "missing" for x, s in statuses(checked).items() if x != "logits")
    # exercise 2's cell is one node: the others are not part of it, not "still to do"
    h = next(c for c in checked.nodes if c.node == "h")
    assert h.message == "dh is not part of this cell." and "still to do" not in h.message


def test_a_size_one_axis_less_is_correct_as_cmp_says(truth):
    squeezed = [t.reshape(-1) for t in right(truth, "bnmeani")]
    checked = cell_check.check_cell("atomic", runs(truth, bnmeani=cell_check.Run(squeezed, squeezed)), truth)
    bnmeani = next(c for c in checked.nodes if c.node == "bnmeani")
    assert bnmeani.status == "correct" and "cmp accepts" in bnmeani.message


def test_nan_is_wrong(truth):
    nan = [torch.full_like(t, float("nan")) for t in right(truth, "probs")]
    checked = cell_check.check_cell("atomic", runs(truth, probs=cell_check.Run(nan, nan)), truth)
    assert checked.first_wrong == "probs" and "NaN" in next(c for c in checked.nodes if c.node == "probs").message


def test_a_cell_with_no_gradient(truth):
    checked = cell_check.check_cell("fused", {}, truth)
    assert checked.solved == 0 and "assigns none of the gradients" in checked.message and "dlogits to dC" in checked.message


def test_a_node_changed_later_is_named_in_place_as_in_the_notebook(truth):
    """The web page's cell and the notebook's check name the same mistake, from the one catalogue."""
    bent = [t + 1.0 for t in right(truth, "bndiff")]
    checked = cell_check.check_cell("atomic", runs(truth, bndiff=cell_check.Run(
        bent, right(truth, "bndiff"), reads=reads("bndiff"), changed=True)), truth)
    bndiff = next(c for c in checked.nodes if c.node == "bndiff")
    assert bndiff.mistake == "in_place" and bndiff.mistake_label == mistakes.LABELS["in_place"]
    assert bndiff.diagnosis == mistakes.in_place("bndiff") and ".clone()" in bndiff.diagnosis
    assert "in place" in checked.message or "changed in place later" in checked.message


def test_cmp_numbers_are_the_lectures_cmp(truth):
    t = truth[0][1]["bnmeani"]
    assert cell_check.cmp_numbers(t.clone(), t) == (True, True, 0.0)
    assert cell_check.cmp_numbers(t.reshape(-1), t) == (True, True, 0.0)  # cmp broadcasts a size-1 axis
    exact, approx, maxdiff = cell_check.cmp_numbers(t + 1e-3, t)
    assert not exact and not approx and maxdiff == pytest.approx(1e-3, rel=1e-2)
    assert cell_check.cmp_numbers(t.T @ t, t) is None
