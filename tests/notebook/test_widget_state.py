"""bpn.show's widget without a browser: for a learner's namespace (the
lecture's forward, exercise 1's backward with one planted mistake) its synced
traits are what the pages' figure code reads (graph.js's state, Derive it's
rings and |yours − true|, the dlogits inspector's batch), and the assets it
refers to are the pages' own modules, whole, and the installed plotly.js.

FORWARD and BACKWARD are the learner's cells; test_widget_lab.py runs them in
a real JupyterLab."""
from __future__ import annotations

import re
from importlib import resources

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from backprop_ninja.model.graph import BACKWARD_ORDER, BY_NAME, Dims
from backprop_ninja.model.graphdata import graph_data
from backprop_ninja.notebook import CheckError
from backprop_ninja.notebook.widget import GraphWidget, assets, show

# the lecture's batch and forward pass, one tensor a line (the notebook's forward cell, on random data)
FORWARD = """
g = torch.Generator().manual_seed(2147483647)
C = torch.randn((vocab_size, n_embd), generator=g, dtype=dtype)
W1 = torch.randn((n_embd * block_size, n_hidden), generator=g, dtype=dtype) * (5 / 3) / (n_embd * block_size) ** 0.5
b1 = torch.randn(n_hidden, generator=g, dtype=dtype) * 0.1
W2 = torch.randn((n_hidden, vocab_size), generator=g, dtype=dtype) * 0.1
b2 = torch.randn(vocab_size, generator=g, dtype=dtype) * 0.1
bngain = torch.randn((1, n_hidden), generator=g, dtype=dtype) * 0.1 + 1.0
bnbias = torch.randn((1, n_hidden), generator=g, dtype=dtype) * 0.1
Xb = torch.randint(0, vocab_size, (n, block_size), generator=g)
Yb = torch.randint(0, vocab_size, (n,), generator=g)
emb = C[Xb]
embcat = emb.view(emb.shape[0], -1)
hprebn = embcat @ W1 + b1
bnmeani = 1 / n * hprebn.sum(0, keepdim=True)
bndiff = hprebn - bnmeani
bndiff2 = bndiff**2
bnvar = 1 / (n - 1) * bndiff2.sum(0, keepdim=True)
bnvar_inv = (bnvar + 1e-5) ** -0.5
bnraw = bndiff * bnvar_inv
hpreact = bngain * bnraw + bnbias
h = torch.tanh(hpreact)
logits = h @ W2 + b2
logit_maxes = logits.max(1, keepdim=True).values
norm_logits = logits - logit_maxes
counts = norm_logits.exp()
counts_sum = counts.sum(1, keepdim=True)
counts_sum_inv = counts_sum**-1
probs = counts * counts_sum_inv
logprobs = probs.log()
loss = -logprobs[range(n), Yb].mean()
"""

# exercise 1, every line right (written for these tests from the lecture's rules)
BACKWARD = """
dlogprobs = torch.zeros_like(logprobs)
dlogprobs[range(n), Yb] = -1.0 / n
dprobs = (1.0 / probs) * dlogprobs
dcounts_sum_inv = (counts * dprobs).sum(1, keepdim=True)
dcounts = counts_sum_inv * dprobs
dcounts_sum = (-counts_sum**-2) * dcounts_sum_inv
dcounts += torch.ones_like(counts) * dcounts_sum
dnorm_logits = counts * dcounts
dlogits = dnorm_logits.clone()
dlogit_maxes = (-dnorm_logits).sum(1, keepdim=True)
dlogits += F.one_hot(logits.max(1).indices, num_classes=logits.shape[1]) * dlogit_maxes
dh = dlogits @ W2.T
dW2 = h.T @ dlogits
db2 = dlogits.sum(0)
dhpreact = (1.0 - h**2) * dh
dbngain = (bnraw * dhpreact).sum(0, keepdim=True)
dbnraw = bngain * dhpreact
dbnbias = dhpreact.sum(0, keepdim=True)
dbndiff = bnvar_inv * dbnraw
dbnvar_inv = (bndiff * dbnraw).sum(0, keepdim=True)
dbnvar = (-0.5 * (bnvar + 1e-5) ** -1.5) * dbnvar_inv
dbndiff2 = (1.0 / (n - 1)) * torch.ones_like(bndiff2) * dbnvar
dbndiff += 2 * bndiff * dbndiff2
dhprebn = dbndiff.clone()
dbnmeani = (-dbndiff).sum(0)
dhprebn += 1.0 / n * torch.ones_like(hprebn) * dbnmeani
dembcat = dhprebn @ W1.T
dW1 = embcat.T @ dhprebn
db1 = dhprebn.sum(0)
demb = dembcat.view(emb.shape)
dC = torch.zeros_like(C)
for k in range(Xb.shape[0]):
    for j in range(Xb.shape[1]):
        dC[Xb[k, j]] += demb[k, j]
"""
# the planted mistake: 1/n where the lecture's variance has 1/(n - 1) (Bessel's correction)
RIGHT = "dbndiff2 = (1.0 / (n - 1))"
PLANTED = "dbndiff2 = (1.0 / n)"
# wrong only because they use dbndiff2, directly or further down
AFFECTED = ("bndiff", "hprebn", "embcat", "W1", "emb", "C")


def learner(dtype=torch.float32, backward=BACKWARD, **sizes) -> dict:
    """A notebook's globals after the forward cell and a backward cell."""
    ns = {"torch": torch, "F": F, "dtype": dtype, "vocab_size": 27, "n_embd": 10, "n_hidden": 64, "block_size": 3,
          "n": 32, **sizes}
    exec(FORWARD, ns)
    exec(backward, ns)
    return ns


def js_imports(src: str) -> list[str]:
    return re.findall(r"""(?:from|import)\s*\(?\s*['"]\./([\w.-]+\.js)['"]""", src)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_planted_mistake_is_drawn_as_the_first_wrong_node(dtype):
    ns = learner(dtype, BACKWARD.replace(RIGHT, PLANTED))
    w = show(ns)
    assert isinstance(w, GraphWidget)
    view = w.view
    assert view["mode"] == "atomic"
    # every node of exercise 1 is written: all computed, in the lecture's order (dloss = 1 given)
    assert view["computed"] == list(BACKWARD_ORDER)
    ring = view["derive"]["status"]
    assert view["derive"]["firstWrong"] == "bndiff2" and ring["bndiff2"] == "failing"
    assert {n for n, s in ring.items() if s == "revealed"} == set(AFFECTED)  # affected: orange
    assert all(ring[n] == "solved" for n in BACKWARD_ORDER[1:] if n not in AFFECTED and n != "bndiff2")
    assert "loss" not in ring  # dloss = 1 is given, not the learner's
    rows = {r["node"]: r for r in w.rows}
    assert rows["bndiff2"]["status"] == "wrong" and rows["bndiff2"]["mistake"] == "bessel"
    assert "n-1" in rows["bndiff2"]["verdict"] and rows["bndiff2"]["diagnosis"]
    assert rows["hprebn"]["status"] == "affected" and rows["hprebn"]["affected_by"] == ["bndiff"]
    assert w.info["first_wrong"] == "bndiff2" and "dbndiff2" in w.info["first_wrong_lines"][0]
    assert w.info["dtype"] == str(dtype).removeprefix("torch.")

    # the node colours and sizes: the learner's own gradients (graph.js reads frame.nodes[name].grad)
    nodes = view["frame"]["nodes"]
    assert set(nodes) == set(BY_NAME)
    dbndiff2 = ns["dbndiff2"]
    assert nodes["bndiff2"]["grad"]["norm"] == pytest.approx(float(dbndiff2.norm()), rel=1e-6)
    assert nodes["bndiff2"]["grad"]["mean"] == pytest.approx(float(dbndiff2.mean()), rel=1e-5, abs=1e-30)
    assert nodes["Xb"]["grad"] is None and nodes["Xb"]["value"]["numel"] == 32 * 3
    assert nodes["loss"]["grad"]["norm"] == 1.0  # dloss = 1
    # the two-branch nodes' edges: each consumer's part, by the node's rule from the learner's gradients
    edges = {(e["src"], e["dst"]): e for e in view["frame"]["edges"]}
    assert set(edges) == {("counts", "probs"), ("counts", "counts_sum"), ("logits", "norm_logits"),
                          ("logits", "logit_maxes"), ("bndiff", "bnraw"), ("bndiff", "bndiff2"),
                          ("hprebn", "bndiff"), ("hprebn", "bnmeani")}
    part = 2 * ns["bndiff"] * ns["dbndiff2"]  # what the learner's wrong dbndiff2 sends into dbndiff
    assert edges[("bndiff", "bndiff2")]["norm"] == pytest.approx(float(part.norm()), rel=1e-5)
    assert view["checks"]["bndiff2"]["approx"] is False and view["checks"]["logprobs"]["exact"] is True

    # |yours − true| per node, float32 rows as derive's heatmap takes them
    rep = w.report
    at = w.diff_index["bndiff2"]
    assert (at["rows"], at["cols"]) == (32, 64)
    block = np.frombuffer(w.diffs, dtype=np.float32)[at["offset"]:at["offset"] + 32 * 64].reshape(32, 64)
    want = (ns["dbndiff2"] - rep.true["bndiff2"]).abs().to(torch.float32).numpy()
    np.testing.assert_array_equal(block, want)
    assert at["maxdiff"] == pytest.approx(rows["bndiff2"]["maxdiff"])
    assert rows["bndiff2"]["maxdiff"] == pytest.approx(float(want.max()), rel=1e-6)
    emb = w.diff_index["emb"]
    assert (emb["rows"], emb["cols"]) == (32, 30)  # (n, 3, 10) as n x 30, as derive's as_grid
    b1 = w.diff_index["b1"]
    assert (b1["rows"], b1["cols"]) == (1, 64)
    assert "loss" not in w.diff_index

    # the dlogits inspector's batch and the graph as the server builds it
    assert w.batch["Yb"] == ns["Yb"].tolist() and len(w.batch["probs"]) == 32
    assert w.batch["vocab"] == list(".abcdefghijklmnopqrstuvwxyz")
    assert w.graph == graph_data(Dims(n=32, block=3, embd=10, hidden=64, vocab=27))


def test_nodes_not_written_yet_are_to_do_and_other_sizes_draw_their_shapes():
    cut = BACKWARD.split("dh = dlogits @ W2.T")[0]  # up to dlogits: the rest still to do
    ns = learner(torch.float32, cut, n=7, n_hidden=9, n_embd=4, block_size=5)
    w = show(ns, node="dlogits")
    assert w.selected == "logits"  # a node to open at once, by its name or its gradient's
    assert w.view["computed"] == list(BACKWARD_ORDER[:9])  # loss ... logits
    assert w.view["derive"]["firstWrong"] is None
    assert set(w.view["derive"]["status"]) == set(BACKWARD_ORDER[1:9])
    todo = [r["node"] for r in w.rows if r["status"] == "todo"]
    assert todo == list(BACKWARD_ORDER[9:])
    assert w.view["frame"]["remaining"] == todo
    assert all(w.view["frame"]["nodes"][n]["grad"] is None for n in todo)
    assert set(w.diff_index) == set(BACKWARD_ORDER[1:9])
    shapes = {n["name"]: n["shape"] for n in w.graph["nodes"]}
    assert shapes["emb"] == [7, 5, 4] and shapes["hprebn"] == [7, 9]
    assert w.info["dims"] == {"n": 7, "block": 5, "embd": 4, "hidden": 9, "vocab": 27}


def test_the_learners_itos_names_the_characters():
    ns = learner()
    ns["itos"] = {i: c for i, c in enumerate("#ABCDEFGHIJKLMNOPQRSTUVWXYZ")}
    assert show(ns).batch["vocab"][:3] == ["#", "A", "B"]


def test_exercise_2_draws_the_fused_graph():
    ns = learner(torch.float64, BACKWARD.replace(RIGHT, PLANTED))
    ns["loss_fast"] = F.cross_entropy(ns["logits"], ns["Yb"])
    ns["dlogits"] = (F.softmax(ns["logits"], 1) - F.one_hot(ns["Yb"], 27)) / 32
    w = show(ns)
    assert w.view["mode"] == "fused" and w.info["exercise"] == 2
    assert w.view["computed"] == ["logits"] and w.view["derive"]["status"] == {"logits": "solved"}
    assert w.view["frame"]["edges"] == []  # the fused view draws one consumer a node


def test_bad_input_is_a_sentence():
    with pytest.raises(CheckError, match="No forward pass"):
        show({"torch": torch})
    with pytest.raises(CheckError, match="not a node"):
        show(learner(), node="dnope")


def test_the_assets_are_the_pages_modules_and_plotly_once_per_kernel():
    a = assets()
    assert assets() is a  # one per kernel: every graph refers to it
    mods = a.modules
    assert {"graph.js", "deriveresult.js", "dlogits.js", "theme.js", "tensorplot.js"} <= set(mods)
    pages = resources.files("backprop_ninja.frontend")
    for name, src in mods.items():
        assert src == (pages / name).read_text(encoding="utf-8")  # the page's own text, not a copy
        assert set(js_imports(src)) <= set(mods), f"{name} imports a module the widget does not send"
    assert a.plotly == (resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()
    assert "window.Plotly = Plotly" in a.plotly[-2000:].decode()  # the bundle names itself on window
    w1, w2 = show(learner()), show(learner())
    assert w1._assets is a and w2._assets is a
    a.close()  # closed (Widget.close_all, a cleared kernel): the next graph makes it again
    assert show(learner())._assets is not a
