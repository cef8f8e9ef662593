"""POST /api/sessions/{sid}/finite-differences: an oracle that is not
autograd. On every node autograd and the lecture's lines agree with central
differences in float64; a wrong line does not; what was sampled is said."""
from __future__ import annotations

import pytest

from backprop_ninja.model import derive
from backprop_ninja.model.graph import BACKWARD_ORDER, PARAMS
from backprop_ninja.model.mlp import FUSED_ORDER


def fd(client, sid, node, code=None, mode="atomic", samples=6):
    r = client.post(f"/api/sessions/{sid}/finite-differences",
                    json={"node": node, "code": code, "mode": mode, "samples": samples})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["node"] == node and body["dtype"] == "float64" and len(body["samples"]) >= 1
    return body


@pytest.mark.parametrize("node", BACKWARD_ORDER)
def test_autograd_and_the_lecture_agree_with_the_numbers(client, batch, node):
    body = fd(client, batch, node, derive.answer("atomic", node))
    assert body["agree"] is True and body["yours_agree"] is True, body["message"]
    for s in body["samples"]:
        assert abs(s["numeric"] - s["autograd"]) <= body["atol"] + body["tolerance"] * abs(s["numeric"])
    where = "from the start" if node in PARAMS else f"from {node} on"
    assert where in body["message"] and f"d{node}" in body["message"]


@pytest.mark.parametrize("node,code", [
    ("probs", "dprobs = 1.0 / probs"),
    ("counts", "dcounts = counts_sum_inv * dprobs"),
    ("bnvar", "dbnvar = (0.5*(bnvar + 1e-5)**-1.5) * dbnvar_inv"),
    ("hprebn", "dhprebn = dbndiff.clone()\ndhprebn += torch.ones_like(hprebn) * dbnmeani"),
    ("C", "dC = torch.zeros_like(C)\nfor k in range(n):\n    for j in range(block_size):\n"
          "        dC[Xb[k, j]] = demb[k, j]"),
])
def test_a_wrong_line_disagrees(client, batch, node, code):
    body = fd(client, batch, node, code, samples=10)
    assert body["agree"] is True and body["yours_agree"] is False, body["message"]
    assert "Yours differs" in body["message"]
    assert any(abs(s["yours"] - s["numeric"]) > body["tolerance"] for s in body["samples"])


def test_the_tolerance_catches_a_slip_of_a_few_percent(client, batch):
    # exercise 3 with 1/n where the lecture has n/(n-1): 3% off, and the gradients are ~1e-4
    slip = derive.answer("fused", "hprebn").replace("n/(n-1)*", "")
    body = fd(client, batch, "hprebn", slip, mode="fused", samples=20)
    assert body["agree"] is True and body["yours_agree"] is False, body["message"]
    off = [s for s in body["samples"] if abs(s["yours"] - s["numeric"]) > body["atol"] + body["tolerance"] * abs(s["numeric"])]
    assert len(off) >= 16, body["samples"]
    assert body["atol"] == 2e-8 and body["tolerance"] == 1e-6 and "2e-08 + 1e-06 x |numeric|" in body["message"]


def test_a_sparse_gradient_is_sampled_where_it_is_not_zero(client, batch):
    # dprobs is zero but for one entry a row: the random samples come from the non-zero entries, but one
    body = fd(client, batch, "probs", "dprobs = -1.0 / (n * probs)", samples=6)
    zeros = [s for s in body["samples"] if s["autograd"] == 0]
    assert len(zeros) == 1 and "(4 non-zero, 1 zero)" in body["message"], body["message"]
    assert body["agree"] is True and body["yours_agree"] is False  # the zero sample shows the one-hot missing


def test_what_was_sampled_is_said_and_kept_for_the_step(client, batch):
    body = fd(client, batch, "W1", samples=5)
    assert len(body["samples"]) == 5 and body["yours_agree"] is None
    assert len({tuple(s["index"]) for s in body["samples"]}) == 5
    assert all(0 <= i < 30 and 0 <= j < 64 for i, j in (s["index"] for s in body["samples"]))
    first = max(body["samples"], key=lambda s: abs(s["autograd"]))
    assert body["samples"][0] == first  # the largest entry first, then the random ones
    assert f"{body['eps']:g}" in body["message"] and "float64" in body["message"] and "5 entries" in body["message"]
    again = fd(client, batch, "W1", samples=5)
    assert again["samples"] == body["samples"]


def test_the_fused_nodes_and_a_failing_code(client, batch):
    body = fd(client, batch, "hprebn", derive.answer("fused", "hprebn"), mode="fused")
    assert body["agree"] and body["yours_agree"], body["message"]
    assert all(fd(client, batch, x, mode="fused", samples=2)["agree"] for x in FUSED_ORDER[:3])
    body = fd(client, batch, "h", "dh = dlogits @ W2")
    assert body["yours_agree"] is None and "Your code failed" in body["message"] and body["agree"]
    body = fd(client, batch, "W2", "dW2 = dlogits.T @ h")
    assert body["yours_agree"] is None and "(27, 64)" in body["message"]


def test_bad_requests(client, batch):
    url = f"/api/sessions/{batch}/finite-differences"
    r = client.post(url, json={"node": "nope"})
    assert r.status_code == 422 and "nodes are" in r.json()["detail"] and "W1" in r.json()["detail"]
    r = client.post(url, json={"node": "Xb"})
    assert r.status_code == 422
    r = client.post(url, json={"node": "counts", "mode": "fused"})
    assert r.status_code == 422 and "fused" in r.json()["detail"]
    for k in (0, 21):
        r = client.post(url, json={"node": "W1", "samples": k})
        assert r.status_code == 422 and "samples" in r.json()["detail"]
    fresh = client.post("/api/sessions").json()["id"]
    r = client.post(f"/api/sessions/{fresh}/finite-differences", json={"node": "W1"})
    assert r.status_code == 409 and "forward" in r.json()["detail"]
    client.delete(f"/api/sessions/{fresh}")
    assert client.post("/api/sessions/nope/finite-differences", json={"node": "W1"}).status_code == 404
