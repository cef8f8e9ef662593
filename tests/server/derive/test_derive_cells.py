"""POST /api/sessions/{sid}/cells: a whole pasted cell, judged node by node
in lecture order. The lecture's own cell is all correct; with one mistake
planted at any node, that node is the first wrong one, its mistake is named,
and the nodes after it that use it are "affected", not "wrong"."""
from __future__ import annotations

import textwrap

import pytest

from backprop_ninja.model import derive
from backprop_ninja.model.graph import BACKWARD_ORDER, consumers
from backprop_ninja.model.mlp import FUSED_ORDER
from backprop_ninja.server.schemas.derive import MAX_CODE
from benchmarks.derive_bench import PLANTED, lecture_cell

STATUSES = {"correct", "wrong", "affected", "missing", "error"}


def post(client, sid, code, mode="atomic"):
    r = client.post(f"/api/sessions/{sid}/cells", json={"mode": mode, "code": code})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [n["node"] for n in body["nodes"]] == list(derive.ORDER[mode])
    assert all(n["status"] in STATUSES for n in body["nodes"])
    return body, {n["node"]: n for n in body["nodes"]}


def answers_cell(mode="atomic", **changes):
    """Every node's lecture answer in order, a cmp line after each (the brief's positive cell)."""
    lines = []
    for x in derive.ORDER[mode]:
        lines += [changes.get(x, derive.answer(mode, x)), f"cmp('{x}', d{x}, {x})"]
    return "\n".join(lines)


def dependents(node):
    """The nodes whose gradient is computed from d<node>, directly or not."""
    out = set()
    for x in BACKWARD_ORDER:
        if any(c == node or c in out for c in consumers(x)):
            out.add(x)
    return out


def test_the_lecture_answers_in_order_are_all_correct(client, batch):
    body, nodes = post(client, batch, answers_cell())
    assert body["first_wrong"] is None and body["solved"] == body["total"] == 27, body["message"]
    assert body["error"] is None and "All 27" in body["message"]
    assert nodes["probs"]["line"] < nodes["counts"]["line"] < nodes["C"]["line"]
    assert all(n["approx"] for n in body["nodes"])


def test_the_notebook_cell_without_dloss_is_all_correct(client, batch):
    body, nodes = post(client, batch, lecture_cell())
    assert body["first_wrong"] is None and body["solved"] == 27, body["message"]
    assert nodes["loss"]["status"] == "correct" and "given" in nodes["loss"]["message"]
    assert nodes["loss"]["line"] is None and nodes["logprobs"]["line"] == 1


def test_every_node_has_a_planted_mistake():
    assert list(PLANTED) == list(BACKWARD_ORDER)


@pytest.mark.parametrize("node", BACKWARD_ORDER)
def test_a_mistake_planted_at_any_node_is_the_first_wrong(client, batch, node):
    body, nodes = post(client, batch, lecture_cell(node))
    assert body["first_wrong"] == node, (node, body["message"])
    assert nodes[node]["status"] in ("wrong", "error") and nodes[node]["message"]
    after = BACKWARD_ORDER[BACKWARD_ORDER.index(node) + 1:]
    for x in after:  # later nodes are never blamed: right, or affected by the planted one
        assert nodes[x]["status"] in ("correct", "affected"), (x, nodes[x])
        if nodes[x]["status"] == "affected":
            assert x in dependents(node) and nodes[x]["affected_by"], (x, nodes[x])
    readers = [x for x in after if node in consumers(x) and nodes[x]["status"] == "affected"]
    assert all(node in nodes[x]["affected_by"] for x in readers)
    assert f"first wrong node is d{node}" in body["message"]


# the brief's five, with the mistake each must be named by
NAMED = [
    ("probs", "dprobs = 1.0 / probs", "no_upstream"),
    ("counts", "dcounts = counts_sum_inv * dprobs\ndcounts = torch.ones_like(counts) * dcounts_sum", "one_branch"),
    ("bnvar", "dbnvar = (0.5*(bnvar + 1e-5)**-1.5) * dbnvar_inv", "sign"),
    ("hpreact", "dhpreact = (1.0 - hpreact**2) * dh", "tanh_input"),
    ("W1", "dW1 = dhprebn.T @ embcat", "transposed"),
]


@pytest.mark.parametrize("node,code,kind", NAMED, ids=[n for n, _, _ in NAMED])
def test_the_first_wrong_node_has_its_mistake_named(client, batch, node, code, kind):
    body, nodes = post(client, batch, answers_cell(**{node: code}))
    assert body["first_wrong"] == node, body["message"]
    first = nodes[node]
    assert first["status"] == "wrong" and first["mistake"] == kind and first["mistake_label"], first
    assert first["diagnosis"] and f"({first['mistake_label']})" in body["message"]
    after = BACKWARD_ORDER[BACKWARD_ORDER.index(node) + 1:]
    assert not [x for x in after if nodes[x]["status"] == "wrong"]
    for x in after:
        if node in consumers(x):  # a direct user of the wrong gradient
            assert nodes[x]["status"] == "affected" and node in nodes[x]["affected_by"], nodes[x]
            assert f"uses d{node}" in nodes[x]["message"]


def test_affected_nodes_name_what_they_used(client, batch):
    body, nodes = post(client, batch, answers_cell(probs="dprobs = 1.0 / probs"))
    assert nodes["counts_sum_inv"]["affected_by"] == ["probs"]
    assert nodes["counts"]["status"] == "affected" and "probs" in nodes["counts"]["affected_by"]
    assert nodes["h"]["affected_by"] == ["logits"]  # the gradient it read, itself affected
    assert nodes["counts_sum_inv"]["maxdiff"] > 0 and nodes["counts_sum_inv"]["approx"] is False
    assert "affected" in body["message"]


def test_a_line_that_raises_is_reported_and_the_rest_judged(client, batch):
    body, nodes = post(client, batch, answers_cell(h="dh = dlogits @ W2"))
    h = nodes["h"]
    assert h["status"] == "error" and body["first_wrong"] == "h"
    assert f"line {h['line']}" in h["message"] and "mat1 and mat2" in h["message"]
    assert h["mistake"] == "swapped_product"
    assert nodes["W2"]["status"] == "correct" and nodes["b2"]["status"] == "correct"
    assert nodes["hpreact"]["status"] == "affected" and nodes["hpreact"]["affected_by"] == ["h"]
    assert nodes["C"]["status"] == "affected"


def test_a_gradient_changed_later_in_place_is_caught(client, batch):
    # dhprebn = dbndiff without .clone(): the += that follows changes dbndiff too
    code = lecture_cell().replace("dhprebn = dbndiff.clone()", "dhprebn = dbndiff")
    body, nodes = post(client, batch, code)
    assert body["first_wrong"] == "bndiff", body["message"]
    assert "in place" in nodes["bndiff"]["message"] and ".clone()" in nodes["bndiff"]["message"]
    assert nodes["hprebn"]["status"] == "correct" and nodes["bnmeani"]["status"] == "correct"


def test_nodes_not_in_the_cell_are_missing(client, batch):
    top = "\n".join(derive.answer("atomic", x) for x in BACKWARD_ORDER[:5])
    body, nodes = post(client, batch, top)
    assert [nodes[x]["status"] for x in BACKWARD_ORDER[:5]] == ["correct"] * 5
    assert all(nodes[x]["status"] == "missing" for x in BACKWARD_ORDER[5:])
    assert body["first_wrong"] is None and body["solved"] == 5 and "22 are not in this cell" in body["message"]


def test_a_cell_cannot_copy_the_true_gradient_of_a_later_node(client, batch):
    # dh recovered from the true dhpreact, a node after it: only the nodes upstream of a line's node are given
    body, nodes = post(client, batch, "dh = dhpreact / (1 - h**2)")
    assert nodes["h"]["status"] == "error" and "dhpreact" in nodes["h"]["message"], nodes["h"]
    assert "the true gradients of the nodes upstream of this line's node" in nodes["h"]["message"]
    # ... also when the cell writes a later node too
    body, nodes = post(client, batch, "dh = dhpreact / (1 - h**2)\n" + derive.answer("atomic", "C"))
    assert nodes["h"]["status"] == "error" and "dhpreact" in nodes["h"]["message"], nodes["h"]
    top = BACKWARD_ORDER[:BACKWARD_ORDER.index("h")]
    cell = "\n".join(derive.answer("atomic", x) for x in top) + "\ndh = dhpreact / (1 - h**2)"
    body, nodes = post(client, batch, cell)
    assert body["first_wrong"] == "h" and nodes["h"]["status"] == "error", body["message"]
    assert all(nodes[x]["status"] == "correct" for x in top)
    # what comes before a node is in scope, as the notebook's earlier cells made it, also in a cell
    # that skips nodes in the middle
    body, nodes = post(client, batch, derive.answer("atomic", "h"))
    assert nodes["h"]["status"] == "correct", nodes["h"]
    body, nodes = post(client, batch, derive.answer("atomic", "h") + "\n" + derive.answer("atomic", "embcat"))
    assert nodes["h"]["status"] == nodes["embcat"]["status"] == "correct", body["message"]


def test_fused_nodes_outside_the_cell_are_not_part_of_it(client, batch):
    body, nodes = post(client, batch, derive.answer("fused", "hprebn"), "fused")
    assert nodes["hprebn"]["status"] == "correct"
    assert nodes["h"]["status"] == "missing" and nodes["h"]["message"] == "dh is not part of this cell."
    assert not [n for n in body["nodes"] if "still to do" in n["message"]]


def test_fused_cells_of_exercises_2_3_and_4(client, batch):
    body, nodes = post(client, batch, derive.answer("fused", "logits") + "\ncmp('logits', dlogits, logits)", "fused")
    assert nodes["logits"]["status"] == "correct" and body["solved"] == 1 and body["first_wrong"] is None
    # exercise 3 reads dhpreact, which exercise 1 made: the true one is in scope
    body, nodes = post(client, batch, derive.answer("fused", "hprebn"), "fused")
    assert nodes["hprebn"]["status"] == "correct", nodes["hprebn"]
    # exercise 4's backward lines, copied from inside its loop: indented, with the grads list
    lines = answers_cell("fused") + "\ngrads = [dC, dW1, db1, dW2, db2, dbngain, dbnbias]"
    body, nodes = post(client, batch, textwrap.indent(lines, "  "), "fused")
    assert body["solved"] == len(FUSED_ORDER) and body["first_wrong"] is None, body["message"]
    planted = answers_cell("fused", logits="dlogits = F.softmax(logits, 1)\ndlogits[range(n), Yb] -= 1")
    body, nodes = post(client, batch, planted, "fused")
    assert body["first_wrong"] == "logits" and nodes["logits"]["mistake"] == "missing_1n"
    assert all(nodes[x]["status"] == "affected" for x in ("h", "W2", "b2", "hprebn", "C"))


def test_the_whole_training_loop_is_refused_with_what_to_paste(client, batch):
    loop = ("with torch.no_grad():\n  for i in range(10):\n" +
            textwrap.indent(answers_cell("fused"), "    ") + "\n    for p, grad in zip(parameters, grads):\n"
            "      p.data += -0.1 * grad")
    body, nodes = post(client, batch, loop, "fused")
    assert body["error"] == "refused" and body["solved"] == 0
    assert "Paste only the backward lines" in body["message"] and "p.data += -lr * grad" in body["message"]
    body, _ = post(client, batch, "import torch\n" + lecture_cell())
    assert body["error"] == "refused" and "imports" in body["message"] and "dlogprobs" in body["message"]


def test_errors_of_the_whole_cell(client, batch):
    body, nodes = post(client, batch, "dprobs = (")
    assert body["error"] == "syntax" and "line 1" in body["error_message"]
    assert all(n["status"] == "missing" for n in body["nodes"])
    body, _ = post(client, batch, "dprobs = probs.numpy()")
    assert body["error"] == "refused" and ".numpy" in body["error_message"]
    body, _ = post(client, batch, "for i in range(10**12):\n    pass")
    assert body["error"] == "timeout"
    body, nodes = post(client, batch, "dlogprobs = None")
    assert nodes["logprobs"]["status"] == "error" and "tensor" in nodes["logprobs"]["message"]


def test_cells_do_not_move_the_session(client, batch):
    before = client.get(f"/api/sessions/{batch}").json()
    post(client, batch, lecture_cell("probs"))
    assert client.get(f"/api/sessions/{batch}").json() == before


def test_bad_requests(client, batch):
    url = f"/api/sessions/{batch}/cells"
    r = client.post(url, json={"mode": "loop", "code": "x = 1"})
    assert r.status_code == 422 and "mode" in r.json()["detail"]
    r = client.post(url, json={"code": "x" * (MAX_CODE + 1)})
    assert r.status_code == 422 and str(MAX_CODE) in r.json()["detail"]
    r = client.post(url, json={"code": "x = 1", "node": "probs"})
    assert r.status_code == 422 and "node" in r.json()["detail"]
    fresh = client.post("/api/sessions").json()["id"]
    r = client.post(f"/api/sessions/{fresh}/cells", json={"code": "x = 1"})
    assert r.status_code == 409 and "forward" in r.json()["detail"]
    assert client.post("/api/sessions/nope/cells", json={"code": "x = 1"}).status_code == 404
    big = client.post("/api/sessions", json={"batch_size": 1024, "n_hidden": 256}).json()["id"]
    client.post(f"/api/sessions/{big}/forward")
    r = client.post(f"/api/sessions/{big}/cells", json={"code": "x = 1"})
    assert r.status_code == 422 and "131,072" in r.json()["detail"]
    for sid in (fresh, big):
        client.delete(f"/api/sessions/{sid}")
