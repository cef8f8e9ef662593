"""Every HTTP endpoint on its happy path, through the real app in-process."""
from __future__ import annotations

import torch

from backprop_ninja.model.graph import BACKWARD_ORDER, BY_NAME
from backprop_ninja.model.mlp import FUSED_ORDER
from backprop_ninja.server.schemas.frames import FramePublic
from backprop_ninja.server.schemas.graph import GraphPublic
from backprop_ninja.server.schemas.sessions import (BackwardResult, HistoryPublic, SamplesPublic, SessionPublic,
                                                    SessionState, SnapshotPublic, SplitLossesPublic, TensorPublic)

WORDS = "\n".join(["anna", "bob", "carla", "dave", "eve", "fred", "gina", "hal", "ian", "joe", "kim", "lou"])


def post(client, sid, what, json=None, status=200):
    r = client.post(f"/api/sessions/{sid}/{what}", json=json)
    assert r.status_code == status, r.text
    return r.json()


def test_health(client):
    h = client.get("/api/health").json()
    assert h["status"] == "ok" and h["workers"] and all(w["alive"] and w["restarts"] == 0 for w in h["workers"])


def test_graph_default_and_other_config(client):
    g = GraphPublic.model_validate(client.get("/api/graph").json())
    assert g.backward_order == list(BACKWARD_ORDER) and g.fused_order == list(FUSED_ORDER)
    nodes = {n.name: n for n in g.nodes}
    assert set(nodes) == set(BY_NAME)
    assert nodes["hprebn"].shape == [32, 64] and nodes["C"].shape == [27, 10] and nodes["loss"].shape == []
    assert {n for n, x in nodes.items() if x.branches == 2} == {"counts", "logits", "bndiff", "hprebn"}
    assert nodes["W1"].consumers == ["hprebn"] and nodes["emb"].inputs == ["C", "Xb"]
    g2 = client.get("/api/graph", params={"n_hidden": 7, "batch_size": 5, "block_size": 4, "n_embd": 2}).json()
    shapes = {n["name"]: n["shape"] for n in g2["nodes"]}
    assert shapes["W1"] == [8, 7] and shapes["logits"] == [5, 27] and shapes["emb"] == [5, 4, 2]


def test_dataset_upload_and_graph_vocab(client):
    r = client.post("/api/datasets", content=WORDS.encode(), headers={"content-type": "text/plain"})
    assert r.status_code == 201, r.text
    d = r.json()
    assert d["words"] == 12 and d["vocab"][0] == "." and d["vocab"] == ["."] + sorted(set(WORDS) - {"\n"})
    g = client.get("/api/graph", params={"dataset": d["id"]}).json()
    assert {n["name"]: n["shape"] for n in g["nodes"]}["C"] == [len(d["vocab"]), 10]
    s = client.post("/api/sessions", json={"dataset": d["id"], "n_hidden": 8}).json()
    assert s["config"]["dataset"] == d["id"] and s["config"]["vocab_size"] == len(d["vocab"])


def test_create_defaults_state_delete(client):
    r = client.post("/api/sessions")
    assert r.status_code == 201
    s = SessionPublic.model_validate(r.json())
    assert (s.config.n_embd, s.config.n_hidden, s.config.block_size, s.config.batch_size) == (10, 64, 3, 32)
    assert (s.config.lr, s.config.seed, s.config.dtype, s.config.vocab_size) == (0.1, 2147483647, "float32", 27)
    st = SessionState.model_validate(client.get(f"/api/sessions/{s.id}").json())
    assert st.step == 0 and st.loss is None and st.next == "loss" and st.n_params == 4137 and not st.playing
    assert client.delete(f"/api/sessions/{s.id}").status_code == 204
    assert client.get(f"/api/sessions/{s.id}").status_code == 404
    assert len(s.id) >= 20  # unguessable: 16 random bytes


def test_forward_backward_back_update(client, sid):
    f = post(client, sid, "forward")
    assert f["step"] == 0 and 3.0 < f["loss"] < 4.0  # about -log(1/27) = 3.3 at init
    b = BackwardResult.model_validate(post(client, sid, "backward", {"nodes": 3}))
    assert b.computed == list(BACKWARD_ORDER[:3]) and b.remaining == list(BACKWARD_ORDER[3:])
    assert set(b.checks) == set(b.computed) and b.checks["logprobs"].exact
    b = post(client, sid, "back")
    assert b["computed"] == list(BACKWARD_ORDER[:2])
    assert post(client, sid, "backward")["remaining"] == []  # no body: all, atomic
    assert all(c["approx"] for c in post(client, sid, "backward", {"nodes": 0})["checks"].values())
    assert post(client, sid, "update") == {"step": 1}
    st = client.get(f"/api/sessions/{sid}").json()
    assert st["step"] == 1 and st["computed"] == []


def test_fused_backward(client, sid):
    post(client, sid, "forward")
    b = post(client, sid, "backward", {"mode": "fused", "nodes": None})
    assert b["mode"] == "fused" and b["computed"] == list(FUSED_ORDER) and b["remaining"] == []
    assert all(c["approx"] for c in b["checks"].values())
    assert post(client, sid, "update") == {"step": 1}


def test_train_history_seek(client, sid):
    post(client, sid, "forward")
    post(client, sid, "backward")
    post(client, sid, "update")  # a manual step records every statistic
    t = post(client, sid, "train", {"steps": 100})
    assert t["step"] == 101 and t["loss"] > 0
    h = HistoryPublic.model_validate(client.get(f"/api/sessions/{sid}/history").json())
    assert [p.step for p in h.points] == list(range(1, 102)) and h.full_steps == list(range(0, 102))
    with_stats = [p.step for p in h.points if p.saturated is not None]
    assert with_stats == [1, 100]  # training samples them every stats_every (100) steps
    assert h.points[0].update_data_log10["W1"] is not None and h.points[1].update_data_log10["W1"] is None
    assert client.get(f"/api/sessions/{sid}/history", params={"since": 20}).json()["points"][0]["step"] == 21
    thin = client.get(f"/api/sessions/{sid}/history", params={"max_points": 10}).json()["points"]
    assert len(thin) <= 10 and thin[-1]["step"] == 101
    st = SessionState.model_validate(post(client, sid, "seek", {"step": 7}))
    assert st.step == 7 and st.remaining == [] and st.loss is not None  # forward + full backward shown
    assert client.get(f"/api/sessions/{sid}/tensors/h").status_code == 200


def test_seek_reproduces_the_run_exactly(client):
    a = client.post("/api/sessions").json()["id"]
    b = client.post("/api/sessions").json()["id"]
    post(client, a, "train", {"steps": 23})
    post(client, b, "train", {"steps": 17})
    post(client, a, "seek", {"step": 17})
    post(client, b, "forward")
    for name in ("C", "W1", "bngain", "Xb"):
        va = client.get(f"/api/sessions/{a}/tensors/{name}").json()["value"]
        assert va == client.get(f"/api/sessions/{b}/tensors/{name}").json()["value"], name


def test_tensors_every_node(client, sid):
    params = client.get(f"/api/sessions/{sid}/tensors/W1").json()
    assert params["shape"] == [30, 64] and params["grad"] is None
    post(client, sid, "forward")
    post(client, sid, "backward", {"nodes": 9})  # up to logits: counts and logits got both branches
    for name, node in BY_NAME.items():
        t = TensorPublic.model_validate(client.get(f"/api/sessions/{sid}/tensors/{name}",
                                                   params={"reference": True}).json())
        assert list(torch.tensor(t.value).shape) == t.shape, name
        if name in BACKWARD_ORDER[:9]:
            assert t.grad is not None and t.reference is not None
            assert torch.allclose(torch.tensor(t.grad), torch.tensor(t.reference), atol=1e-6), name
        else:
            assert t.grad is None, name
    c = client.get(f"/api/sessions/{sid}/tensors/counts").json()["contributions"]
    assert set(c) == {"probs", "counts_sum"}
    total = torch.tensor(c["probs"]) + torch.tensor(c["counts_sum"])
    assert torch.equal(total, torch.tensor(client.get(f"/api/sessions/{sid}/tensors/counts").json()["grad"]))
    assert client.get(f"/api/sessions/{sid}/tensors/Yb").json()["shape"] == [32]


def test_frame(client, sid):
    f = FramePublic.model_validate(client.get(f"/api/sessions/{sid}/frame").json())
    assert f.step == 0 and f.nodes["W1"].value is not None and f.nodes["h"].value is None and f.tanh is None
    post(client, sid, "forward")
    post(client, sid, "backward", {"nodes": 12})
    f = FramePublic.model_validate(client.get(f"/api/sessions/{sid}/frame").json())
    assert len(f.computed) == 12 and f.next == BACKWARD_ORDER[12] and set(f.checks) == set(f.computed)
    assert f.nodes["h"].grad is not None and f.nodes["hpreact"].grad is None and f.tanh is not None
    assert {(e.src, e.dst) for e in f.edges} >= {("counts", "probs"), ("counts", "counts_sum"), ("W2", "logits")}
    assert f.params["W2"].grad_std is not None and f.params["W1"].grad_std is None
    assert len(f.batchnorm.batch_mean) == 64 and f.tensors == []



def test_frame_after_train_shows_the_last_step(client, sid):
    t = post(client, sid, "train", {"steps": 5})
    f = FramePublic.model_validate(client.get(f"/api/sessions/{sid}/frame").json())
    assert f.step == t["step"] == 5 and f.loss == t["loss"] and not f.playing
    assert f.mode == "fused" and f.computed == list(FUSED_ORDER) and f.remaining == []
    assert f.tanh is not None and f.nodes["h"].value is not None
    assert f.nodes["h"].grad is not None and f.nodes["logits"].grad is not None
    h = client.get(f"/api/sessions/{sid}/history", params={"since": 4}).json()["points"]
    assert [p["step"] for p in h] == [5] and h[0]["loss"] == f.loss and h[0]["lr"] == f.lr
    # anything else that moves the model drops the trained step
    post(client, sid, "forward")
    f = FramePublic.model_validate(client.get(f"/api/sessions/{sid}/frame").json())
    assert f.mode == "atomic" and f.computed == [] and f.nodes["h"].grad is None and f.tanh is not None
    post(client, sid, "seek", {"step": 3})
    f = FramePublic.model_validate(client.get(f"/api/sessions/{sid}/frame").json())
    assert f.step == 3 and f.mode == "atomic" and f.remaining == []


def test_history_since_until_max_points(client, sid):
    post(client, sid, "train", {"steps": 60})
    url = f"/api/sessions/{sid}/history"

    def steps(**params):
        return [p["step"] for p in client.get(url, params=params).json()["points"]]

    assert steps() == list(range(1, 61))
    assert steps(since=10, until=20) == list(range(11, 21))
    assert steps(until=5) == [1, 2, 3, 4, 5] and steps(until=0) == [] and steps(since=60) == []
    assert steps(since=30, until=10) == [] and steps(since=55, until=1000) == list(range(56, 61))
    assert steps(since=10, until=40, max_points=10) == list(range(13, 41, 3))  # thinned, newest kept
    assert steps(max_points=7) == list(range(6, 61, 9))
    assert client.get(url, params={"until": -1}).status_code == 422
    # thinning keeps the sparse points that carry statistics (here every 100th step)
    post(client, sid, "train", {"steps": 190})
    thin = client.get(url, params={"max_points": 20}).json()["points"]
    assert len(thin) <= 20 and thin[-1]["step"] == 250
    assert [p["step"] for p in thin if p["saturated"] is not None] == [100, 200]
    assert steps(max_points=1) == [250] and len(steps(max_points=3)) == 3


def test_lr_changes_across_the_decay(client):
    sid = client.post("/api/sessions", json={"n_hidden": 16, "lr_decay_step": 20}).json()["id"]
    url = f"/api/sessions/{sid}/history"
    post(client, sid, "train", {"steps": 15})
    assert client.get(url).json()["lr_changes"] == []
    post(client, sid, "train", {"steps": 15})  # across the decay: update 21 is the first at lr/10
    h = HistoryPublic.model_validate(client.get(url).json())
    assert h.lr_changes == [21]
    lrs = {p.step: p.lr for p in h.points}
    assert lrs[20] == 0.1 and abs(lrs[21] - 0.01) < 1e-12 and abs(lrs[30] - 0.01) < 1e-12
    assert client.get(url, params={"since": 25}).json()["lr_changes"] == [21]  # not limited by since
    post(client, sid, "seek", {"step": 10})
    post(client, sid, "train", {"steps": 5})  # a new timeline before the decay forgets it
    assert client.get(url).json()["lr_changes"] == []
    post(client, sid, "train", {"steps": 10})
    assert client.get(url).json()["lr_changes"] == [21]
    client.delete(f"/api/sessions/{sid}")

def test_losses_samples(client, sid):
    post(client, sid, "train", {"steps": 30})
    for stats in ("calibrated", "running"):
        s = SplitLossesPublic.model_validate(client.get(f"/api/sessions/{sid}/losses",
                                                        params={"stats": stats}).json())
        assert s.step == 30 and s.stats == stats and 2.0 < s.val < 4.0
    s = SamplesPublic.model_validate(post(client, sid, "samples", {"k": 7, "seed": 3}))
    assert len(s.samples) == 7
    again = post(client, sid, "samples", {"k": 7, "seed": 3})
    assert [x.word for x in s.samples] == [x["word"] for x in again["samples"]]
    assert len(post(client, sid, "samples")["samples"]) == 10


def test_snapshot_roundtrip_bit_identical(client):
    ds = client.post("/api/datasets", content=WORDS.encode()).json()["id"]
    a = client.post("/api/sessions", json={"dataset": ds, "n_hidden": 16, "dtype": "float64"}).json()["id"]
    post(client, a, "train", {"steps": 12})
    snap = SnapshotPublic.model_validate(client.get(f"/api/sessions/{a}/snapshot").json())
    assert snap.step == 12 and snap.dataset_words == WORDS.split("\n")
    r = client.post("/api/sessions/import", json=snap.model_dump(mode="json"))
    assert r.status_code == 201, r.text
    b = r.json()["id"]
    assert r.json()["config"]["dataset"] == ds  # the same words: the same id (stored by content)
    for name in ("C", "W1", "b1", "W2", "b2", "bngain", "bnbias"):
        assert client.get(f"/api/sessions/{b}/tensors/{name}").json()["value"] == snap.params[name]
    # same generator: both continue on the same batches to the same parameters
    assert post(client, a, "train", {"steps": 3}) == post(client, b, "train", {"steps": 3})
    default = client.get(f"/api/sessions/{b}/snapshot").json()
    assert default["step"] == 15


def test_static_and_docs(client):
    assert client.get("/").status_code == 200
    js = client.get("/vendor/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000 and "javascript" in js.headers["content-type"]
    assert client.get("/static/does-not-exist.js").status_code == 404
    assert client.get("/static/../server/app.py").status_code == 404
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/api/health", "/api/graph", "/api/datasets", "/api/sessions", "/api/sessions/import",
              "/api/sessions/{sid}/tensors/{name}", "/api/sessions/{sid}/frame", "/api/sessions/{sid}/seek"):
        assert p in paths, p
