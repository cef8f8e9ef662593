"""An independent check of what the API serves: for a float64 session, every
node's value and gradient fetched over HTTP equals PyTorch autograd on the
lecture's forward, written out here again (not imported from model/) and run
on the parameters and batch fetched from the same session."""
from __future__ import annotations

import pytest
import torch

PARAMS = ("C", "W1", "b1", "W2", "b2", "bngain", "bnbias")
TOL = 1e-12


def lecture_forward(p: dict, Xb: torch.Tensor, Yb: torch.Tensor) -> dict:
    n = Xb.shape[0]
    t = {}
    t["emb"] = p["C"][Xb]
    t["embcat"] = t["emb"].view(n, -1)
    t["hprebn"] = t["embcat"] @ p["W1"] + p["b1"]
    t["bnmeani"] = 1 / n * t["hprebn"].sum(0, keepdim=True)
    t["bndiff"] = t["hprebn"] - t["bnmeani"]
    t["bndiff2"] = t["bndiff"] ** 2
    t["bnvar"] = 1 / (n - 1) * t["bndiff2"].sum(0, keepdim=True)
    t["bnvar_inv"] = (t["bnvar"] + 1e-5) ** -0.5
    t["bnraw"] = t["bndiff"] * t["bnvar_inv"]
    t["hpreact"] = p["bngain"] * t["bnraw"] + p["bnbias"]
    t["h"] = torch.tanh(t["hpreact"])
    t["logits"] = t["h"] @ p["W2"] + p["b2"]
    t["logit_maxes"] = t["logits"].max(1, keepdim=True).values
    t["norm_logits"] = t["logits"] - t["logit_maxes"]
    t["counts"] = t["norm_logits"].exp()
    t["counts_sum"] = t["counts"].sum(1, keepdim=True)
    t["counts_sum_inv"] = t["counts_sum"] ** -1
    t["probs"] = t["counts"] * t["counts_sum_inv"]
    t["logprobs"] = t["probs"].log()
    t["loss"] = -t["logprobs"][torch.arange(n), Yb].mean()
    return t


@pytest.mark.parametrize("mode", ["atomic", "fused"])
def test_values_and_grads_equal_autograd(client, mode):
    sid = client.post("/api/sessions", json={"dtype": "float64", "seed": 1234}).json()["id"]
    client.post(f"/api/sessions/{sid}/train", json={"steps": 5})  # not just the init
    client.post(f"/api/sessions/{sid}/forward")
    r = client.post(f"/api/sessions/{sid}/backward", json={"mode": mode})
    assert r.status_code == 200 and r.json()["remaining"] == []

    def fetch(name):
        return client.get(f"/api/sessions/{sid}/tensors/{name}").json()

    got = {name: fetch(name) for name in client.get("/api/graph").json()["backward_order"] + ["Xb", "Yb"]}
    params = {k: torch.tensor(got[k]["value"], dtype=torch.float64, requires_grad=True) for k in PARAMS}
    Xb, Yb = torch.tensor(got["Xb"]["value"]), torch.tensor(got["Yb"]["value"])
    assert Xb.dtype == torch.int64 and Yb.shape == (32,)
    t = lecture_forward(params, Xb, Yb)
    for v in t.values():
        v.retain_grad()
    t["loss"].backward()
    grads = {**{k: v.grad for k, v in t.items()}, **{k: v.grad for k, v in params.items()}}
    values = {**t, **params}

    checked = 0
    for name, served in got.items():
        if name in ("Xb", "Yb"):
            assert served["grad"] is None
            continue
        value = torch.tensor(served["value"], dtype=torch.float64)
        assert list(value.shape) == served["shape"] == list(values[name].shape), name
        assert (value - values[name].detach()).abs().max() <= TOL, name
        if served["grad"] is None:  # fused mode computes only some activations' gradients
            assert mode == "fused" and name not in PARAMS, name
            continue
        diff = (torch.tensor(served["grad"], dtype=torch.float64) - grads[name]).abs().max()
        assert diff <= TOL, f"d{name}: max diff {float(diff):.3g}"
        checked += 1
    assert checked == (27 if mode == "atomic" else 13)
