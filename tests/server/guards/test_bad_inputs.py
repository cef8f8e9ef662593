"""Every bad input gets a 4xx whose detail names the problem and the rule."""
from __future__ import annotations

import pytest

from backprop_ninja.server.schemas.common import MAX_DATASET_BYTES
from tests.server.conftest import make_client


def detail(r, status: int) -> str:
    assert r.status_code == status, r.text
    d = r.json()["detail"]
    assert isinstance(d, str) and d
    return d


@pytest.mark.parametrize("body, field, rule", [
    ({"n_hidden": 1025}, "n_hidden", "1024"),
    ({"n_hidden": 0}, "n_hidden", "1"),
    ({"n_embd": 65}, "n_embd", "64"),
    ({"block_size": 17}, "block_size", "16"),
    ({"batch_size": 4097}, "batch_size", "4096"),
    ({"batch_size": 1}, "batch_size", "2"),
    ({"lr": 0}, "lr", "0"),
    ({"lr": 11}, "lr", "10"),
    ({"seed": -1}, "seed", "0"),
    ({"dtype": "float16"}, "dtype", "float32"),
    ({"n_hidden": "many"}, "n_hidden", "integer"),
    ({"n_hidden": 1.5}, "n_hidden", "integer"),
    ({"colour": "red"}, "colour", "Extra inputs"),
])
def test_session_limits(client, body, field, rule):
    d = detail(client.post("/api/sessions", json=body), 422)
    assert field in d and rule in d


def test_the_config_bounds_are_the_ones_checked(client):
    # a script that reads the bounds from GET /api/config and sends them: each
    # inclusive bound is taken, one past it refused. They went out as floats
    # (64.0), which the integer fields refuse, and the seed's 2**63 - 1 as
    # 9.223372036854776e18, which is 2**63: one past it even as an integer
    fields = client.get("/api/config").json()["fields"]
    for name, f in fields.items():
        for bound, past in ((f["minimum"], -1), (f["maximum"], 1)):
            if bound is None or name == "lr":  # lr is a float: its bounds are checked above
                continue
            r = client.post("/api/sessions", json={"n_hidden": 4, "batch_size": 2, name: bound})
            assert r.status_code == 201, (name, bound, r.text)
            client.delete(f"/api/sessions/{r.json()['id']}")
            assert name in detail(client.post("/api/sessions", json={name: bound + past}), 422)


def test_session_not_json_and_unknown_dataset(client):
    assert "JSON" in detail(client.post("/api/sessions", content=b"{nope",
                                        headers={"content-type": "application/json"}), 422)
    assert "POST /api/datasets" in detail(client.post("/api/sessions", json={"dataset": "zzz"}), 404)
    assert "default" in detail(client.get("/api/graph", params={"dataset": "zzz"}), 404)
    assert "n_hidden" in detail(client.get("/api/graph", params={"n_hidden": 5000}), 422)


@pytest.mark.parametrize("data, status, says", [
    (b"", 422, "no usable words"),
    (b"\n\n  \n", 422, "no usable words"),
    (b".\n", 422, "reserved"),
    (b"ab.c\n" * 20, 422, "reserved"),
    (b"\xff\xfe\xfa\n" * 20, 422, "UTF-8"),
    (b"one two\n" * 20, 422, "white space"),
    (b"x\x07y\n" * 20, 422, "control"),
    ((b"a" * 65 + b"\n") * 20, 422, "at most 64"),
    (b"anna\nbob\n", 422, "at least 10"),
])
def test_bad_word_lists(client, data, status, says):
    assert says in detail(client.post("/api/datasets", content=data), status)


def test_word_list_too_large(client):
    big = (b"abcdefghij\n" * (MAX_DATASET_BYTES // 11 + 2))
    assert "5 MB" in detail(client.post("/api/datasets", content=big), 413)


def test_unknown_session_and_node(client, sid):
    for method, path in [("get", ""), ("delete", ""), ("post", "/forward"), ("post", "/backward"),
                         ("post", "/back"), ("post", "/update"), ("get", "/frame"), ("get", "/history"),
                         ("get", "/losses"), ("post", "/samples"), ("get", "/snapshot"),
                         ("get", "/tensors/W1")]:
        r = getattr(client, method)(f"/api/sessions/nope{path}")
        assert "no session" in detail(r, 404), path
    assert "no session" in detail(client.post("/api/sessions/nope/train", json={"steps": 1}), 404)
    d = detail(client.get(f"/api/sessions/{sid}/tensors/dW1"), 404)
    assert "dW1" in d and "hprebn" in d  # lists the valid names


def test_order_of_operations(client, sid):
    assert "forward first" in detail(client.post(f"/api/sessions/{sid}/backward"), 409)
    assert "forward first" in detail(client.post(f"/api/sessions/{sid}/back"), 409)
    assert "forward first" in detail(client.post(f"/api/sessions/{sid}/update"), 409)
    assert "forward first" in detail(client.get(f"/api/sessions/{sid}/tensors/h"), 409)
    assert "forward first" in detail(client.get(f"/api/sessions/{sid}/tensors/Xb"), 409)
    client.post(f"/api/sessions/{sid}/forward")
    client.post(f"/api/sessions/{sid}/backward", json={"nodes": 5})
    d = detail(client.post(f"/api/sessions/{sid}/update"), 409)
    assert "not complete" in d and "W1" in d


@pytest.mark.parametrize("path, body, field", [
    ("backward", {"mode": "sideways"}, "mode"),
    ("backward", {"nodes": -1}, "nodes"),
    ("backward", {"nodes": "all"}, "nodes"),
    ("backward", {"nodes": 3, "x": 1}, "x"),
    ("train", {"steps": 0}, "steps"),
    ("train", {"steps": 20_001}, "steps"),
    ("train", {}, "steps"),
    ("train", {"steps": True, "fast": 1}, "fast"),
    ("seek", {"step": -1}, "step"),
    ("samples", {"k": 201}, "k"),
    ("samples", {"k": 0}, "k"),
])
def test_command_bodies(client, sid, path, body, field):
    assert field in detail(client.post(f"/api/sessions/{sid}/{path}", json=body), 422)


def test_seek_outside_history(sid):
    with make_client(history_full_steps=5) as c:
        s = c.post("/api/sessions").json()["id"]
        c.post(f"/api/sessions/{s}/train", json={"steps": 20})
        d = detail(c.post(f"/api/sessions/{s}/seek", json={"step": 3}), 409)
        assert "16..20" in d
        assert "has not happened" in detail(c.post(f"/api/sessions/{s}/seek", json={"step": 21}), 404)
        assert c.post(f"/api/sessions/{s}/seek", json={"step": 16}).status_code == 200


def test_train_work_bounded_by_config(client):
    big = client.post("/api/sessions", json={"batch_size": 4096, "n_hidden": 1024}).json()["id"]
    d = detail(client.post(f"/api/sessions/{big}/train", json={"steps": 31}), 422)
    assert "at most 30" in d and "4096" in d and "1024" in d


def test_losses_stats_value(client, sid):
    assert "stats" in detail(client.get(f"/api/sessions/{sid}/losses", params={"stats": "best"}), 422)


def test_session_cap_and_expiry():
    with make_client(max_sessions=2, idle_ttl=0.2) as c:
        a = c.post("/api/sessions").json()["id"]
        c.post("/api/sessions")
        assert "limit" in detail(c.post("/api/sessions"), 429)
        import time
        time.sleep(0.3)
        assert c.post("/api/sessions").status_code == 201  # the idle ones expired
        assert "expired" in detail(c.get(f"/api/sessions/{a}"), 404)


def test_bad_snapshots(client, sid):
    snap = client.get(f"/api/sessions/{sid}/snapshot").json()
    bad_shape = {**snap, "params": {**snap["params"], "W1": [[1.0, 2.0]]}}
    assert "W1" in detail(client.post("/api/sessions/import", json=bad_shape), 422)
    bad_gen = {**snap, "generator": "bm90IGEgc3RhdGU="}
    assert detail(client.post("/api/sessions/import", json=bad_gen), 422)
    bad_cfg = {**snap, "config": {**snap["config"], "n_hidden": 5000}}
    assert "n_hidden" in detail(client.post("/api/sessions/import", json=bad_cfg), 422)
    bad_vocab = {**snap, "vocab": ["."]}
    assert "vocabulary" in detail(client.post("/api/sessions/import", json=bad_vocab), 422)
    bad_words = {**snap, "dataset_words": ["a.b"] * 20}
    assert "reserved" in detail(client.post("/api/sessions/import", json=bad_words), 422)
    assert "format" in detail(client.post("/api/sessions/import", json={**snap, "format": "x"}), 422)
