"""Text and code cannot drift: every forward and backward line the pages show
is executed here, in the lecture's names, and compared with the function
that runs (bit for bit where it is the same code, to rounding where the
fused pass computes the same value another way). The sentences are checked
for sizes taken from the config, never written in."""
from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F

from backprop_ninja.model.atomic import BackwardStepper
from backprop_ninja.model.config import Config
from backprop_ninja.model.fused import fused_backward, fused_forward
from backprop_ninja.model.graph import BACKWARD_ORDER, BY_NAME, NODES, PARAM, Dims, branches, sources
from backprop_ninja.model.mlp import FUSED_ORDER, MLP
from backprop_ninja.model.texts import FUSED_GROUPS, MODES, float_note, node_text

WORDS = ["anna", "bob", "zoe", "kai", "lena", "max", "nora", "omar", "pia", "quin", "rosa", "ugo"]


@pytest.fixture(scope="module", params=["float32", "float64"])
def run(request):
    # odd sizes everywhere, and a vocabulary that is not 27
    m = MLP(Config(n_hidden=11, batch_size=9, n_embd=5, block_size=4, seed=3, dtype=request.param), WORDS)
    m.forward()
    stepper = BackwardStepper(m.values)
    stepper.run()
    return m, stepper


def _namespace(m: MLP, grads: dict) -> dict:
    ns = {"torch": torch, "F": F, "n": m.cfg.batch_size, "n_embd": m.cfg.n_embd, "n_hidden": m.cfg.n_hidden,
          "block_size": m.cfg.block_size, "vocab_size": m.vocab.size}
    ns.update(m.values)
    ns.update({"d" + k: v.clone() for k, v in grads.items()})
    return ns


def test_every_forward_line_computes_its_node(run):
    m, _ = run
    split = m.data.splits["train"]
    for node in NODES:
        ns = _namespace(m, {})
        ns.update({"Xtr": split[0], "Ytr": split[1], "ix": torch.arange(m.cfg.batch_size)})
        exec(node.forward, ns)
        got = ns[node.name]
        if node.kind == PARAM:  # init lines: the shape is what the line decides
            assert tuple(got.shape) == tuple(m.params[node.name].shape), node.name
        elif node.kind == "data":
            assert got.shape == m.values[node.name].shape, node.name
        else:
            assert torch.equal(got, m.values[node.name]), node.name


def test_every_atomic_backward_line_is_the_code_that_runs(run):
    m, s = run
    for name in BACKWARD_ORDER:
        lines = BY_NAME[name].backward.splitlines()
        ns = _namespace(m, {k: v for k, v in s.grads.items() if k != name})
        if branches(name) == 2:
            # the `=` line alone is the first part, in the order the code adds them
            assert len(lines) == 2 and "+=" in lines[1] and "+=" not in lines[0], name
            exec(lines[0], ns)
            first = sources(name)[0]
            assert torch.equal(ns["d" + name], s.contributions[name][first]), (name, first)
        exec("\n".join(lines), ns)
        got = torch.as_tensor(ns["d" + name], dtype=s.grads[name].dtype)  # dloss = 1.0 is a plain float
        assert torch.equal(got, s.grads[name]), name


def test_every_view_text_runs_and_matches(run):
    m, s = run
    dims = Dims(n=m.cfg.batch_size, block=m.cfg.block_size, embd=m.cfg.n_embd, hidden=m.cfg.n_hidden,
                vocab=m.vocab.size)
    cache = fused_forward(m.params, m.values["Xb"], m.values["Yb"])
    fused = fused_backward(m.params, cache)
    tol = 1e-5 if m.cfg.dtype == "float32" else 1e-12
    for mode in MODES:
        for name in BACKWARD_ORDER:
            t = node_text(name, mode, dims, m.cfg.dtype)
            # the consumer's forward lines run and give the consumer's value
            ns = _namespace(m, {})
            exec(t.used_by, ns)
            for c in (sources(name) if name != "loss" else ("loss",)):
                if mode == "fused" and name in ("logits", "hprebn"):
                    continue  # the group's fused forward: checked below
                assert torch.equal(ns[c], m.values[c]), (mode, name, c)
            if mode == "fused" and name not in FUSED_ORDER:
                continue
            ns = _namespace(m, {k: v for k, v in (fused if mode == "fused" else s.grads).items() if k != name})
            exec(t.backward, ns)
            want = fused[name] if mode == "fused" else s.grads[name]
            got = torch.as_tensor(ns["d" + name], dtype=want.dtype)
            assert got.shape == want.shape and float((got - want).abs().max()) <= tol * max(1.0, float(want.abs().max())), (mode, name)
            assert set(t.upstream) <= set(BY_NAME), name
    for grp in FUSED_GROUPS:
        ns = _namespace(m, {})
        exec(grp.forward, ns)
        last = grp.members[-1] if grp.name == "batchnorm" else "loss"
        assert float((ns[last] - m.values[last]).abs().max()) <= tol, grp.name


def _numbers(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w.\-])\d+(?![\w.])", text.replace("float32", "").replace("float64", "")))


def test_no_size_is_written_into_a_text():
    odd = Dims(n=9, block=4, embd=5, hidden=11, vocab=13)
    lecture = Dims()
    for mode in MODES:
        for name in BY_NAME:
            for dims, other in ((odd, {"27", "26", "32", "31", "64", "30", "10"}), (lecture, {"13", "12", "9", "8", "11", "20"})):
                t = node_text(name, mode, dims, "float32")
                prose = " ".join(t.explain) + t.rounding
                assert not _numbers(prose) & other, (mode, name, _numbers(prose) & other, prose)
            t = node_text(name, mode, odd, "float64")
            assert "{" not in " ".join(t.explain), name


def test_the_texts_fixed_by_issue_15():
    d = Dims()
    say = lambda name, mode="atomic": " ".join(node_text(name, mode, d, "float32").explain)  # noqa: E731
    # the `+=` nodes name their parts in the order the code adds them
    assert "assigns the part from probs with = and adds the part from counts_sum with +=" in say("counts")
    assert "assigns the part from bndiff with = and adds the part from bnmeani with +=" in say("hprebn")
    assert "without keepdim" in say("b1") and "without keepdim" in say("b2")
    assert "same upstream gradient" not in say("logprobs") and "get 0" in say("logprobs")
    assert "pass no gradient" not in say("hpreact") and "0.06" in say("hpreact")
    assert "exactly" in say("hpreact")
    assert "3.3377" in say("loss")
    # fused: exercise 2 and 3's code at logits and hprebn, no panel that is not there
    assert "softmax" in node_text("logits", "fused", d, "float32").backward
    assert "panel below" not in say("logits", "fused")
    assert "n*dhpreact" in node_text("hprebn", "fused", d, "float32").backward
    assert "emb.view" in node_text("emb", "atomic", d, "float32").used_by  # the consumer's line
    assert "float64" in float_note("float64") and "Switch dtype" not in float_note("float64")
    assert node_text("logits", "fused", d, "float32").rounding
    assert not node_text("logits", "atomic", d, "float32").rounding
