"""The node registry (graph.py) and the node-by-node BackwardStepper."""
from __future__ import annotations

import pytest
import torch

from backprop_ninja.model.atomic import BackwardStepper, forward
from backprop_ninja.model.config import Config
from backprop_ninja.model.graph import BACKWARD_ORDER, BY_NAME, NODES, PARAMS, Dims, branches, consumers
from backprop_ninja.model.mlp import MLP
from backprop_ninja.model.reference import autograd_grads

ISSUE_NAMES = ("Xb, Yb, C, W1, b1, W2, b2, bngain, bnbias, emb, embcat, hprebn, bnmeani, bndiff, "
               "bndiff2, bnvar, bnvar_inv, bnraw, hpreact, h, logits, logit_maxes, norm_logits, "
               "counts, counts_sum, counts_sum_inv, probs, logprobs, loss").split(", ")
TWO_BRANCH = {"counts", "logits", "bndiff", "hprebn"}
WORDS = ["Anna", "bob", "zoë", "kai", "lena", "max", "nora", "omar", "pia", "quin", "rosa", "Émile"]


def test_names_are_the_issues_list_in_order():
    assert [n.name for n in NODES] == ISSUE_NAMES
    assert list(BY_NAME) == ISSUE_NAMES
    assert PARAMS == ("C", "W1", "b1", "W2", "b2", "bngain", "bnbias")


def test_every_node_has_lecture_code_and_grad_name():
    for node in NODES:
        assert node.forward and node.grad_name == "d" + node.name
        if node.name in BACKWARD_ORDER:
            assert node.backward and node.bwd is not None
    assert set(BACKWARD_ORDER) == set(ISSUE_NAMES) - {"Xb", "Yb"}


def test_two_branch_nodes():
    for name in BACKWARD_ORDER:
        assert branches(name) == (2 if name in TWO_BRANCH else 1), name
    assert consumers("counts") == ("counts_sum", "probs")
    assert consumers("hprebn") == ("bnmeani", "bndiff")


@pytest.fixture
def odd_model():
    """A non-default config on a custom word list: every dimension differs."""
    cfg = Config(n_hidden=17, batch_size=5, block_size=4, n_embd=6, seed=7)
    return MLP(cfg, WORDS)


def test_shapes_match_the_computed_tensors(odd_model):
    m = odd_model
    Xb, Yb = m.sample_batch()
    values = forward(m.params, Xb, Yb)
    dims = Dims(n=5, block=4, embd=6, hidden=17, vocab=m.vocab.size)
    assert m.vocab.size == len(set("".join(WORDS))) + 1
    for node in NODES:
        assert tuple(values[node.name].shape) == node.shape(dims), node.name
    stepper = BackwardStepper(values)
    stepper.run()
    for name in BACKWARD_ORDER:
        assert tuple(stepper.grads[name].shape) == BY_NAME[name].shape(dims), name


@pytest.fixture
def stepper(make_mlp):
    m = make_mlp(seed=3, dtype="float64")
    m.forward()
    return m, BackwardStepper(m.values)


def test_stepper_walks_the_lecture_order(stepper):
    _, s = stepper
    assert s.next_node == "loss" and s.computed == [] and s.remaining == list(BACKWARD_ORDER)
    seen = [s.step() for _ in range(len(BACKWARD_ORDER))]
    assert seen == list(BACKWARD_ORDER) and s.done and s.next_node is None
    assert list(s.grads) == list(BACKWARD_ORDER)
    with pytest.raises(StopIteration):
        s.step()


def test_stepper_back_undoes_one_node(stepper):
    _, s = stepper
    assert s.back() is None  # nothing to undo yet
    s.run(5)
    dcounts_sum = s.grads["counts_sum"].clone()
    assert s.back() == "counts_sum"
    assert "counts_sum" not in s.grads and "counts_sum" not in s.contributions
    assert s.next_node == "counts_sum" and len(s.computed) == 4
    assert s.step() == "counts_sum"
    assert torch.equal(s.grads["counts_sum"], dcounts_sum)
    assert s.run(2) == ["counts", "norm_logits"]


def test_two_branch_contributions_sum_to_the_gradient(stepper):
    m, s = stepper
    s.run()
    _, ref = autograd_grads(m.params, m.values["Xb"], m.values["Yb"])
    for name in BACKWARD_ORDER:
        parts = s.contributions[name]
        assert len(parts) == branches(name), name
        if name in TWO_BRANCH:
            assert set(parts) == set(consumers(name))
            total = sum(parts.values())
            assert torch.equal(total, s.grads[name])
            assert float((total - ref[name]).abs().max()) <= 1e-12
            # each branch alone is not the gradient (except at logits, where
            # the max's branch is ~0: subtracting the max changes no loss)
            for consumer, part in parts.items():
                assert torch.allclose(part, ref[name]) == (consumer == "norm_logits"), consumer


def test_mlp_backward_by_nodes_and_checks(make_mlp):
    m = make_mlp(seed=5)
    with pytest.raises(RuntimeError, match="forward"):
        m.backward()
    m.forward()
    assert m.backward(nodes=1) == ["loss"]
    assert m.backward(nodes=3) == ["logprobs", "probs", "counts_sum_inv"]
    assert m.grad("probs") is not None and m.grad("h") is None
    m.backward()
    checks = m.checks()
    assert list(checks) == list(BACKWARD_ORDER) and all(c.approx for c in checks.values())
    with pytest.raises(KeyError):
        m.grad("nope")
