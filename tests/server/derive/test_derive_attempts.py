"""POST /api/sessions/{sid}/attempts: the lecture's own lines are correct on
every node, and each classic mistake is named on a node where it is made."""
from __future__ import annotations

import pytest

from backprop_ninja.model import derive
from backprop_ninja.model.graph import BACKWARD_ORDER
from backprop_ninja.model.mlp import FUSED_ORDER
from backprop_ninja.server.schemas.derive import MAX_CODE

CONTRACT = {"verdict", "message", "diagnosis", "shape_ok", "exact", "approx", "maxdiff"}


def attempt(client, sid, node, code, mode="atomic"):
    r = client.post(f"/api/sessions/{sid}/attempts", json={"node": node, "code": code, "mode": mode})
    assert r.status_code == 200, r.text
    body = r.json()
    assert CONTRACT <= set(body)
    return body


@pytest.mark.parametrize("node", BACKWARD_ORDER)
def test_lecture_lines_atomic(client, batch, node):
    body = attempt(client, batch, node, derive.answer("atomic", node))
    assert body["verdict"] == "correct", body
    assert body["shape_ok"] and body["approx"] and body["second_batch"]
    assert body["maxdiff"] < 1e-6


def test_dC_double_loop(client, batch):
    body = attempt(client, batch, "C", derive.DC_LOOP)
    assert body["verdict"] == "correct", body


@pytest.mark.parametrize("node", FUSED_ORDER)
def test_lecture_lines_fused(client, batch, node):
    body = attempt(client, batch, node, derive.answer("fused", node), "fused")
    assert body["verdict"] == "correct", body


def test_fused_exercises_need_no_upstream_atomic_gradient(client, batch):
    # exercise 2 from logits and Yb alone; dnorm_logits is not in scope in fused mode
    body = attempt(client, batch, "logits", "dlogits = dnorm_logits.clone()", "fused")
    assert body["verdict"] == "error" and "dnorm_logits" in body["message"]
    body = attempt(client, batch, "logits", "dlogits = (F.softmax(logits, 1) - F.one_hot(Yb, 27)) / n", "fused")
    assert body["verdict"] == "correct", body


# one node for each classic mistake the lecture's viewers make, and its name
MISTAKES = [
    ("counts", "dcounts = counts_sum_inv * dprobs", "one_branch", "+="),
    ("counts_sum_inv", "dcounts_sum_inv = (counts * dprobs).sum(0, keepdim=True)", "wrong_axis", "axis"),
    ("counts_sum_inv", "dcounts_sum_inv = (counts * dprobs).sum(1)", "keepdim", "keepdim"),
    ("W2", "dW2 = dlogits.T @ h", "transposed", "ranspose"),
    ("bndiff2", "dbndiff2 = 1.0/n * torch.ones_like(bndiff2) * dbnvar", "bessel", "n-1"),
    ("hprebn", "dhprebn = dbndiff.clone()\ndhprebn += 1.0/(n-1) * torch.ones_like(hprebn) * dbnmeani",
     "bessel_reverse", "plain mean over n rows"),
    ("logprobs", "dlogprobs = torch.zeros_like(logprobs)\ndlogprobs[range(n), Yb] = -1.0", "missing_1n", "1/n"),
    ("hprebn", "dhprebn = dbndiff.clone()\ndhprebn += torch.ones_like(hprebn) * dbnmeani", "missing_1n", "1/n"),
    ("counts_sum", "dcounts_sum = counts_sum**-2 * dcounts_sum_inv", "sign", "sign"),
    ("hpreact", "dhpreact = dh", "no_local", "(1 - h**2)"),
    ("hpreact", "dhpreact = (1.0 - hpreact**2) * dh", "tanh_input", "output h"),
    ("probs", "dprobs = dlogprobs", "no_local", "local"),
    ("counts_sum", "dcounts_sum = -(counts.sum(1))**-2 * dcounts_sum_inv", "broadcast", "broadcast"),
    ("bndiff2", "dbndiff2 = 1.0/(n-1) * dbnvar", "summed", "broadcast in the backward"),
    ("bngain", "dbngain = bnraw * dhpreact", "not_summed", "sum in the backward"),
    ("hprebn", "dhprebn = bngain*bnvar_inv/n * (n*dhpreact - dhpreact.sum(0) - bnraw*(dhpreact*bnraw).sum(0))",
     "bessel", "n/(n-1)"),
    ("logits", "dlogits = F.softmax(logits, 1)\ndlogits[range(n), Yb] -= 1", "missing_1n", "1/n"),
]


@pytest.mark.parametrize("node,code,kind,words", MISTAKES, ids=[f"{m[0]}-{m[2]}" for m in MISTAKES])
def test_classic_mistake_named(client, batch, node, code, kind, words):
    mode = "fused" if node == "logits" or "n/(n-1)" in words else "atomic"
    body = attempt(client, batch, node, code, mode)
    assert body["verdict"] == "wrong", body
    assert body["mistake"] == kind, body
    assert words in body["diagnosis"], body


def test_shape_sentence_names_both_shapes_and_the_axis(client, batch):
    body = attempt(client, batch, "counts_sum_inv", "dcounts_sum_inv = (counts * dprobs).sum(0, keepdim=True)")
    assert body["shape_ok"] is False and body["exact"] is None
    assert "(1, 27)" in body["message"] and "(32, 1)" in body["message"] and "axis 0" in body["message"]


def test_broadcastable_shape_accepted_with_a_note(client, batch):
    body = attempt(client, batch, "bnmeani", "dbnmeani = -dbndiff.sum(0)")
    assert body["verdict"] == "correct" and body["shape"] == [64] and body["true_shape"] == [1, 64]
    assert "cmp accepts" in body["note"]


def test_heatmap_is_per_element(client, batch):
    body = attempt(client, batch, "probs", "dprobs = (1.0 / probs) * dlogprobs\ndprobs[0, 0] += 1")
    grid = body["absdiff"]
    assert len(grid) == 32 and len(grid[0]) == 27
    assert grid[0][0] == pytest.approx(1.0) and max(max(r) for r in grid[1:]) < 1e-6


def test_hard_coded_tensor_is_not_accepted(client, batch):
    ref = client.get(f"/api/sessions/{batch}/tensors/probs?reference=true").json()["reference"]
    body = attempt(client, batch, "probs", f"dprobs = torch.tensor({ref!r})")
    assert body["approx"] is True and body["second_batch"] is False
    assert body["verdict"] == "wrong" and body["mistake"] == "hard_coded"
    assert "right for this batch only" in body["message"].lower() and "hard-coded" in body["message"]


def test_attempts_do_not_move_the_session(client, batch):
    before = client.get(f"/api/sessions/{batch}").json()
    loss = client.get(f"/api/sessions/{batch}/frame").json()["loss"]
    attempt(client, batch, "logprobs", derive.answer("atomic", "logprobs"))
    assert client.get(f"/api/sessions/{batch}").json() == before
    assert client.get(f"/api/sessions/{batch}/frame").json()["loss"] == loss


def test_the_next_batch_is_the_one_it_would_have_been(client):
    sids = [client.post("/api/sessions").json()["id"] for _ in range(2)]
    for sid in sids:
        client.post(f"/api/sessions/{sid}/forward")
    attempt(client, sids[0], "logprobs", derive.answer("atomic", "logprobs"))
    xb = [client.post(f"/api/sessions/{sid}/forward") and
          client.get(f"/api/sessions/{sid}/tensors/Xb").json()["value"] for sid in sids]
    assert xb[0] == xb[1]


def test_errors_name_what_was_wrong(client, batch):
    assert attempt(client, batch, "probs", "dprobs = (")["error"] == "syntax"
    body = attempt(client, batch, "probs", "dprobs = probs @ probs")
    assert body["error"] == "error" and "line 1" in body["message"]
    body = attempt(client, batch, "probs", "x = 1")
    assert body["verdict"] == "error" and "dprobs" in body["message"]


def test_bad_requests(client, batch):
    url = f"/api/sessions/{batch}/attempts"
    r = client.post(url, json={"node": "nope", "code": "x=1"})
    assert r.status_code == 422 and "counts" in r.json()["detail"]
    r = client.post(url, json={"node": "Xb", "code": "x=1"})
    assert r.status_code == 422
    r = client.post(url, json={"node": "probs", "code": "x" * (MAX_CODE + 1)})
    assert r.status_code == 422 and str(MAX_CODE) in r.json()["detail"]
    r = client.post(url, json={"node": "probs", "code": "x" * 100_000})  # past the body cap
    assert r.status_code == 413
    r = client.post(url, json={"node": "probs", "code": "x=1", "mode": "loop"})
    assert r.status_code == 422
    fresh = client.post("/api/sessions").json()["id"]
    r = client.post(f"/api/sessions/{fresh}/attempts", json={"node": "probs", "code": "dprobs = 1"})
    assert r.status_code == 409 and "forward" in r.json()["detail"]
    assert client.post("/api/sessions/nope/attempts", json={"node": "probs", "code": "x"}).status_code == 404


def test_hints_and_answer(client, batch):
    texts = [client.get(f"/api/sessions/{batch}/derive/atomic/counts/hints/{k}").json()["text"] for k in (1, 2, 3)]
    assert "(32, 27)" in texts[0] and "n, vocab" in texts[0]
    assert "probs = counts * counts_sum_inv" in texts[1] and "twice" in texts[1]
    assert "add" in texts[2]
    assert client.get(f"/api/sessions/{batch}/derive/atomic/counts/hints/4").status_code == 422
    ans = client.get(f"/api/sessions/{batch}/derive/atomic/C/answer").json()
    assert "for k in range" in ans["code"] and "index_add_" in ans["alternative"]
    fused = client.get(f"/api/sessions/{batch}/derive/fused/hprebn/answer").json()["code"]
    assert fused == derive.FUSED_LINES["hprebn"]
    over = client.get(f"/api/sessions/{batch}/derive/fused").json()
    assert [n["node"] for n in over["nodes"]] == list(FUSED_ORDER)
    assert over["nodes"][0]["scope"] == [] and "dlogits" in over["nodes"][1]["scope"]


def fused_codes(**changes):
    return {n: changes.get(n, derive.answer("fused", n)) for n in FUSED_ORDER}


def test_exercise_4_trains_like_the_lecture(client, batch):
    r = client.post(f"/api/sessions/{batch}/derive/train", json={"steps": 60, "codes": fused_codes()})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["verdict"] == "trained" and len(body["losses"]) == len(body["reference"]) == 60
    assert body["maxdiff"] < 1e-3 and "as the lecture's does" in body["message"]
    assert sum(body["losses"][-10:]) < sum(body["losses"][:10])  # it learns


def test_exercise_4_with_a_wrong_expression_trains_otherwise(client, batch):
    # the dC loop, and a dlogits missing its 1/n: the steps are n times too big
    codes = fused_codes(C=derive.DC_LOOP, logits="dlogits = F.softmax(logits, 1)\ndlogits[range(n), Yb] -= 1")
    body = client.post(f"/api/sessions/{batch}/derive/train", json={"steps": 30, "codes": codes}).json()
    assert body["verdict"] == "trained" and body["maxdiff"] > 1e-2 and "not like" in body["message"]


def test_exercise_4_errors_name_the_node(client, batch):
    body = client.post(f"/api/sessions/{batch}/derive/train",
                       json={"steps": 5, "codes": fused_codes(W1="import os")}).json()
    assert body["verdict"] == "error" and body["error"] == "refused" and "dW1" in body["message"]
    body = client.post(f"/api/sessions/{batch}/derive/train",
                       json={"steps": 5, "codes": fused_codes(W1="dW1 = embcat @ dhprebn")}).json()
    assert body["error"] == "error" and "step 0, dW1" in body["message"]
    codes = fused_codes()
    del codes["C"]
    r = client.post(f"/api/sessions/{batch}/derive/train", json={"steps": 5, "codes": codes})
    assert r.status_code == 422 and "missing: C" in r.json()["detail"]


def test_big_sessions_are_refused_with_the_limit(client):
    sid = client.post("/api/sessions", json={"batch_size": 1024, "n_hidden": 256}).json()["id"]
    client.post(f"/api/sessions/{sid}/forward")
    r = client.post(f"/api/sessions/{sid}/attempts", json={"node": "probs", "code": "dprobs = 1"})
    assert r.status_code == 422 and "131,072" in r.json()["detail"] and "32 x 64" in r.json()["detail"]
    client.delete(f"/api/sessions/{sid}")


def test_nul_byte_is_a_syntax_error(client, batch):
    body = attempt(client, batch, "probs", "dprobs = 1\x00")
    assert body["verdict"] == "error" and body["error"] == "syntax"


def test_one_learners_burst_is_served_in_turn(client, batch):
    # eight attempts of one session at once all come back, one child at a time
    from concurrent.futures import ThreadPoolExecutor

    code = derive.answer("atomic", "probs")
    with ThreadPoolExecutor(8) as pool:
        verdicts = list(pool.map(lambda _: attempt(client, batch, "probs", code)["verdict"], range(8)))
    assert verdicts == ["correct"] * 8
