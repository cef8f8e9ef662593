"""Text and code cannot drift: every forward and backward line the pages show
is executed here, in the lecture's names, and compared with the function
that runs (bit for bit where it is the same code, to rounding where the
fused pass computes the same value another way), and so is every `code`
span inside a paragraph. The sentences are checked for sizes taken from the
config, never written in."""
from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F

from backprop_ninja.model import derive
from backprop_ninja.model.atomic import BackwardStepper
from backprop_ninja.model.config import Config
from backprop_ninja.model.fused import fused_backward, fused_forward
from backprop_ninja.model.graph import BACKWARD_ORDER, BY_NAME, NODES, PARAM, Dims, branches, sources
from backprop_ninja.model.mlp import FUSED_ORDER, MLP
from backprop_ninja.model.texts import FUSED_GROUPS, MODES, float_note, node_text, used_lines

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


def same(got, want: torch.Tensor, tol: float = 0.0) -> bool:
    """Equal values, up to `tol`; shapes may differ only by size-1 axes, as the
    lecture's cmp accepts by broadcasting (derive.fits: dbnmeani's (h,) for (1, h))."""
    got = torch.as_tensor(got, dtype=want.dtype)  # dloss = 1.0 is a plain float
    if got.shape != want.shape:
        if not derive.fits(tuple(got.shape), tuple(want.shape)):
            return False
        got = got.reshape(want.shape)
    return float((got - want).abs().max()) <= tol * max(1.0, float(want.abs().max())) if want.numel() else True


def spans(text: str) -> list[str]:
    """The code set in `backticks` inside a paragraph."""
    return re.findall(r"`([^`]+)`", text)


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
        assert same(ns["d" + name], s.grads[name]), name  # bit for bit; dbnmeani without keepdim
    assert "keepdim" not in BY_NAME["bnmeani"].backward and "for k in range" in BY_NAME["C"].backward


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
            # the lines that use the node run and give their values; its own line gives it
            ns = _namespace(m, {})
            exec(t.used_by, ns)
            assert t.used_by.splitlines() == list(used_lines(mode, name)), (mode, name)
            for c in sources(name):
                if mode == "fused" and name in ("logits", "hprebn"):
                    continue  # the group's fused forward: checked below
                assert torch.equal(ns[c], m.values[c]), (mode, name, c)
            if BY_NAME[name].kind != PARAM:
                exec(t.made_by, ns)
                assert torch.equal(ns[name], m.values[name]), (mode, name)
            if mode == "fused" and name not in FUSED_ORDER:
                continue
            ns = _namespace(m, {k: v for k, v in (fused if mode == "fused" else s.grads).items() if k != name})
            exec(t.backward, ns)
            want = fused[name] if mode == "fused" else s.grads[name]
            assert same(ns["d" + name], want, tol), (mode, name)
            assert set(t.upstream) <= set(BY_NAME), name
    for grp in FUSED_GROUPS:
        ns = _namespace(m, {})
        exec(grp.forward, ns)
        last = grp.members[-1] if grp.name == "batchnorm" else "loss"
        assert float((ns[last] - m.values[last]).abs().max()) <= tol, grp.name


def test_code_inside_paragraphs_runs(run):
    """The one-hot product and the index_add_ form beside dC's loop, and any other
    `code` a paragraph shows: each runs, and what it computes is dC."""
    m, s = run
    dims = Dims(n=m.cfg.batch_size, block=m.cfg.block_size, embd=m.cfg.n_embd, hidden=m.cfg.n_hidden,
                vocab=m.vocab.size)
    seen = 0
    for mode in MODES:
        for name in BY_NAME:
            for code in spans(" ".join(node_text(name, mode, dims, m.cfg.dtype).explain)):
                ns = _namespace(m, {k: v for k, v in s.grads.items() if k != name})
                if code.startswith("d" + name + " ="):
                    exec(code, ns)
                    got = ns["d" + name]
                else:
                    got = eval(code, ns)
                assert same(got, s.grads[name], 1e-6), (mode, name, code)
                seen += 1
    assert seen == 4  # dC's one-hot product and index_add_, in both views
    alt = derive.alternative("atomic", "C")
    ns = _namespace(m, {k: v for k, v in s.grads.items() if k != "C"})
    exec(alt.code, ns)
    assert torch.equal(ns["dC"], s.grads["C"])


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
    assert "3.3377" in say("loss") and "other data give other numbers" in say("loss")
    assert "close to its 3.3377" not in say("loss")
    # fused: exercise 2 and 3's code at logits and hprebn, no panel that is not there
    assert "softmax" in node_text("logits", "fused", d, "float32").backward
    assert "panel below" not in say("logits", "fused")
    assert "n*dhpreact" in node_text("hprebn", "fused", d, "float32").backward
    assert "emb.view" in node_text("emb", "atomic", d, "float32").used_by  # the consumer's line
    assert "float64" in float_note("float64") and "Switch dtype" not in float_note("float64")
    assert node_text("logits", "fused", d, "float32").rounding
    assert not node_text("logits", "atomic", d, "float32").rounding


def test_the_texts_of_issue_29():
    d = Dims()
    say = lambda name, mode="atomic": " ".join(node_text(name, mode, d, "float32").explain)  # noqa: E731
    text = lambda name, mode="atomic": node_text(name, mode, d, "float32")  # noqa: E731
    # the line above the editor uses the node; the line below made it
    assert text("logprobs").used_by == BY_NAME["loss"].forward
    assert text("h").used_by == BY_NAME["logits"].forward
    assert text("probs").used_by == BY_NAME["logprobs"].forward
    assert text("counts").used_by == BY_NAME["probs"].forward + "\n" + BY_NAME["counts_sum"].forward
    assert text("logprobs").made_by == "logprobs = probs.log()" and text("loss").used_by == ""
    assert text("logits", "fused").used_by == "loss = F.cross_entropy(logits, Yb)"
    assert text("logits", "fused").made_by == BY_NAME["logits"].forward
    # the lecture's lines: dC's double loop and dhpreact with (1.0 - h**2) in every view
    for mode in MODES:
        assert text("C", mode).backward == derive.DC_LOOP and "index_add_" not in text("C", mode).backward
        assert text("hpreact", mode).backward == "dhpreact = (1.0 - h**2) * dh"
    assert "addcmul" in text("hpreact", "fused").rounding and "training step" in text("hpreact", "fused").rounding
    assert "viewers of the lecture proposed" in say("C") and "F.one_hot(Xb.view(-1)" in say("C")
    assert "without keepdim" in say("bnmeani") and "cmp accepts" in say("bnmeani")
    # the local factor in every rule
    assert "other factor, bnraw" in say("bngain") and "local derivative by bnbias is 1" in say("bnbias")
    assert "other factor, bndiff" in say("bnvar_inv") and "local derivative by b2 is 1" in say("b2")
    # the lecture's reasons where they belong
    assert "Bessel" in say("bnvar") and "a bug" in say("bnvar") and "1/(n − 1)" in say("bnvar")
    assert "rtol 1e-05" in say("logprobs") and "atol 1e-08" in say("logprobs") and "maxdiff" in say("logprobs")
    assert "rtol 1e-05" in say("logits", "fused")
    for name in ("C", "W1", "b1", "W2", "b2", "bngain", "bnbias"):
        assert "hide behind zeros" in say(name), name
