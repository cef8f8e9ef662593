"""The stepper's stream carries what the inspector needs (one round trip a
key), and "replay" rebuilds a shared view with progress (issue 14, items 3-4).
GET /tensors is the oracle for the inspector's tensors; HTTP /train and the
HTTP stepping calls are the oracle for the replay."""
from __future__ import annotations

import json
import time

import httpx
import numpy as np
import pytest
from websockets.sync.client import connect

from backprop_ninja.server.stream.frames import tensor_from_frame
from tests.conftest import CLIENT
from tests.server.stream.test_stream import command, recv


def subscribe(ws, **inspect):
    res, _ = command(ws, {"cmd": "subscribe", "nodes": ["Xb", "Yb", "probs", "logits"], "inspect": inspect})
    return res


def f32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def test_a_key_press_brings_the_followed_node_with_its_tensors(client, sid):
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
        assert subscribe(ws)["inspect"] == {"node": None, "diff": False}
        command(ws, {"cmd": "forward"})
        name, k = None, 0
        while name != "counts":  # down to counts, whose gradient has two parts
            k += 1
            res, (h, buf) = command(ws, {"cmd": "backward", "nodes": 1})
            name = res["computed"][-1]
            assert h["inspected"] == name and len(res["computed"]) == k
            served = client.get(f"/api/sessions/{sid}/tensors/{name}").json()
            assert np.array_equal(tensor_from_frame(h, buf, name, "value"), f32(served["value"]))
            assert np.array_equal(tensor_from_frame(h, buf, name, "grad"), f32(served["grad"]))
            # the dlogits panel's tensors come along in the same frame
            assert np.array_equal(tensor_from_frame(h, buf, "Yb"), f32(client.get(f"/api/sessions/{sid}/tensors/Yb").json()["value"]))
        parts = client.get(f"/api/sessions/{sid}/tensors/counts").json()["contributions"]
        assert sorted(parts) == ["counts_sum", "probs"]
        for branch, part in parts.items():
            assert np.array_equal(tensor_from_frame(h, buf, "counts", "contribution", branch), f32(part))
        assert tensor_from_frame(h, buf, "counts", "absdiff") is None  # not asked for
        # back: the inspector follows to the node before
        res, (h, buf) = command(ws, {"cmd": "back"})
        assert h["inspected"] == res["computed"][-1] == "counts_sum"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_pinned_node_with_the_autograd_gap(client, dtype):
    sid = client.post("/api/sessions", json={"dtype": dtype}).json()["id"]
    try:
        with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
            subscribe(ws, node="bnvar_inv", diff=True)
            res, (h, buf) = command(ws, {"cmd": "forward"})
            assert h["inspected"] == "bnvar_inv"
            assert [t["field"] for t in h["tensors"] if t["name"] == "bnvar_inv"] == ["value"]  # no grad yet
            command(ws, {"cmd": "backward", "nodes": None})
            _, (h, buf) = command(ws, {"cmd": "frame"})
            t = client.get(f"/api/sessions/{sid}/tensors/bnvar_inv?reference=true").json()
            gap = np.abs(np.asarray(t["grad"]) - np.asarray(t["reference"]))  # in the session's dtype
            assert np.array_equal(tensor_from_frame(h, buf, "bnvar_inv", "absdiff"), gap.astype(np.float32))
            if dtype == "float64":
                assert gap.max() < 1e-12  # a float64 gap: lost if the page subtracted float32 copies
    finally:
        client.delete(f"/api/sessions/{sid}")


def test_a_parameter_is_inspected_before_any_forward_and_bad_nodes_are_refused(client, sid):
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
        subscribe(ws, node="W1")
        _, (h, buf) = command(ws, {"cmd": "frame"})
        assert h["inspected"] == "W1" and tensor_from_frame(h, buf, "W1").shape == (30, 64)
        ws.send_text(json.dumps({"cmd": "subscribe", "inspect": {"node": "dW9"}}))
        kind, err = recv(ws)
        assert kind == "error" and "unknown nodes 'dW9'" in err["message"] and "bnvar_inv" in err["message"]
        ws.send_text(json.dumps({"cmd": "subscribe", "inspect": {"node": "h", "extra": 1}}))
        kind, err = recv(ws)
        assert kind == "error" and "extra" in err["message"]


def replay(ws, cmd: dict):
    """Send a replay; (progress messages, reply, frame)."""
    ws.send_text(json.dumps(cmd))
    seen = []
    while True:
        kind, d = recv(ws)
        if kind != "progress":
            break
        seen.append((d["done"], d["total"]))
    assert kind == "reply", d
    _, frame = recv(ws)
    return seen, d["result"], frame


def test_a_long_replay_reports_progress_and_ends_where_train_does(client, sid):
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
        subscribe(ws)
        seen, state, (h, buf) = replay(ws, {"cmd": "replay", "steps": 3000, "mode": "atomic", "pos": 3})
    # slices of ~0.1 s: 3000 steps take several here
    assert len(seen) >= 2 and all(t == 3000 for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and seen[-1][0] < 3000
    assert state["step"] == 3000 and len(state["computed"]) == 3 and h["inspected"] == state["computed"][-1]
    other = client.post("/api/sessions").json()["id"]
    try:
        assert client.post(f"/api/sessions/{other}/train", json={"steps": 3000}).json()["step"] == 3000
        loss = client.post(f"/api/sessions/{other}/forward").json()["loss"]
        client.post(f"/api/sessions/{other}/backward", json={"nodes": 3})
        assert state["loss"] == loss
        for p in ("C", "W1", "bngain"):
            assert (client.get(f"/api/sessions/{sid}/tensors/{p}").json()["value"]
                    == client.get(f"/api/sessions/{other}/tensors/{p}").json()["value"])
        mine, theirs = (client.get(f"/api/sessions/{x}/history?since=2990").json() for x in (sid, other))
        assert mine["points"] == theirs["points"] and mine["full_steps"] == theirs["full_steps"]
    finally:
        client.delete(f"/api/sessions/{other}")


def test_a_short_replay_steps_as_the_stepper_did(client, sid):
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
        _, state, _ = replay(ws, {"cmd": "replay", "steps": 4, "mode": "lecture", "pos": None})
    assert state["step"] == 4 and state["computed"] == [] and state["mode"] == "lecture"
    other = client.post("/api/sessions").json()["id"]
    try:
        for _ in range(4):
            client.post(f"/api/sessions/{other}/forward")
            client.post(f"/api/sessions/{other}/backward", json={"mode": "lecture", "nodes": None})
            client.post(f"/api/sessions/{other}/update")
        for p in ("C", "W1", "W2"):  # bit-equal: the same backward, not the fused one
            assert (client.get(f"/api/sessions/{sid}/tensors/{p}").json()["value"]
                    == client.get(f"/api/sessions/{other}/tensors/{p}").json()["value"])
    finally:
        client.delete(f"/api/sessions/{other}")


def test_replay_bounds_are_a_sentence(client, sid):
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
        ws.send_text(json.dumps({"cmd": "replay", "steps": 10**7}))
        kind, err = recv(ws)
        assert kind == "error" and err["cmd"] == "replay" and "steps" in err["message"] and "1000000" in err["message"]
        ws.send_text(json.dumps({"cmd": "replay", "steps": -1}))
        assert recv(ws)[0] == "error"
        _, state, _ = replay(ws, {"cmd": "replay", "steps": 0, "pos": 0})
        assert state["step"] == 0 and state["computed"] == [] and state["loss"] is not None


def test_closing_the_stream_stops_a_replay(live_server):
    http = httpx.Client(base_url=live_server, headers=CLIENT, timeout=30)
    sid = http.post("/api/sessions").json()["id"]
    try:
        with connect(f"ws{live_server[4:]}/api/sessions/{sid}/stream") as ws:
            ws.send(json.dumps({"cmd": "replay", "steps": 1_000_000}))
            first = json.loads(ws.recv(timeout=30))
            assert first["type"] == "progress" and 0 < first["done"] < 1_000_000
        # the replay notices at its next progress message, within a slice
        deadline = time.monotonic() + 20
        while True:
            a = http.get(f"/api/sessions/{sid}").json()["step"]
            time.sleep(0.5)
            b = http.get(f"/api/sessions/{sid}").json()["step"]
            if a == b:
                break
            assert time.monotonic() < deadline, "the replay went on after the stream closed"
        assert b < 100_000
    finally:
        http.delete(f"/api/sessions/{sid}")
