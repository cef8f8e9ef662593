"""POST /api/sessions/{sid}/attempts: the lecture's own lines are correct on
every node, and each classic mistake is named on a node where it is made."""
from __future__ import annotations

import pytest

from model import derive
from model.graph import BACKWARD_ORDER
from model.mlp import FUSED_ORDER

CONTRACT = {"verdict", "message", "diagnosis", "shape_ok", "exact", "approx", "maxdiff"}


@pytest.fixture(scope="module", params=["float32", "float64"])
def batch(client, request):
    """A session with a batch forwarded, shared by the tests of one dtype."""
    r = client.post("/api/sessions", json={"dtype": request.param})
    sid = r.json()["id"]
    assert client.post(f"/api/sessions/{sid}/forward").status_code == 200
    yield sid
    client.delete(f"/api/sessions/{sid}")


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
