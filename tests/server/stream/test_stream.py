"""The WebSocket stream: every command, both frame formats, bad messages,
live training, seek, and the Origin check."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest
from starlette.websockets import WebSocketDisconnect

from backprop_ninja.server.schemas.common import MAX_WS_MESSAGE
from backprop_ninja.server.schemas.frames import FramePublic
from backprop_ninja.server.stream.frames import decode_binary, tensor_from_frame
from tests.server.conftest import make_client


def recv(ws):
    """The next message as (kind, payload): "reply"/"error"/"frame" (JSON) or "binary"."""
    msg = ws.receive()
    if msg.get("bytes") is not None:
        header, buf = decode_binary(msg["bytes"])
        FramePublic.model_validate(header)
        return "binary", (header, buf)
    d = json.loads(msg["text"])
    return d["type"], d


def command(ws, cmd: dict):
    """Send a command; expect a reply and then a frame; return both."""
    ws.send_text(json.dumps(cmd))
    kind, reply = recv(ws)
    assert kind == "reply", reply
    assert reply["cmd"] == cmd["cmd"]
    kind, frame = recv(ws)
    assert kind in ("binary", "frame")
    return reply["result"], frame


def error(ws, text: str) -> str:
    ws.send_text(text)
    kind, d = recv(ws)
    assert kind == "error", d
    return d["message"]


def test_every_command_binary_frames(client, sid):
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
        res, (h, buf) = command(ws, {"cmd": "subscribe", "nodes": ["W1", "h", "logits"]})
        assert res == {"nodes": ["W1", "h", "logits"], "format": "binary", "inspect": None}
        assert [(t["name"], t["field"]) for t in h["tensors"]] == [("W1", "value")]  # no forward yet
        res, (h, buf) = command(ws, {"cmd": "forward"})
        assert res["step"] == 0 and h["loss"] == res["loss"]
        served = client.get(f"/api/sessions/{sid}/tensors/h").json()["value"]
        assert np.array_equal(tensor_from_frame(h, buf, "h"), np.asarray(served, dtype=np.float32))
        res, (h, buf) = command(ws, {"cmd": "backward", "nodes": 10})
        assert len(res["computed"]) == 10 and h["next"] == res["remaining"][0]
        grad = client.get(f"/api/sessions/{sid}/tensors/logits").json()["grad"]
        assert np.array_equal(tensor_from_frame(h, buf, "logits", "grad"), np.asarray(grad, dtype=np.float32))
        res, _ = command(ws, {"cmd": "back"})
        assert len(res["computed"]) == 9
        command(ws, {"cmd": "backward", "mode": "atomic", "nodes": None})
        res, (h, _) = command(ws, {"cmd": "update"})
        assert res == {"step": 1} and h["step"] == 1
        res, (h, _) = command(ws, {"cmd": "train", "steps": 12})
        assert res["step"] == 13 and h["step"] == 13
        res, (h, _) = command(ws, {"cmd": "seek", "step": 4})
        assert res["step"] == 4 and h["step"] == 4 and h["remaining"] == []
        res, (h, _) = command(ws, {"cmd": "frame"})
        assert res == {} and h["step"] == 4


def test_json_frames(client, sid):
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
        command(ws, {"cmd": "forward"})
        res, f = command(ws, {"cmd": "subscribe", "nodes": ["probs"], "format": "json"})
        assert f["type"] == "frame"
        FramePublic.model_validate(f)
        (t,) = f["tensors"]
        assert t["name"] == "probs" and t["shape"] == [32, 27] and t["offset"] is None
        assert t["data"] == client.get(f"/api/sessions/{sid}/tensors/probs").json()["value"]


def test_malformed_messages_keep_the_connection(client, sid):
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
        assert "not JSON" in error(ws, "hello")
        assert "unknown command 'jump'" in error(ws, json.dumps({"cmd": "jump"}))
        assert "unknown command" in error(ws, json.dumps([1, 2]))
        assert "unknown command None" in error(ws, json.dumps({"steps": 3}))
        assert "steps" in error(ws, json.dumps({"cmd": "train", "steps": "ten"}))
        assert "steps" in error(ws, json.dumps({"cmd": "train", "steps": 0}))
        assert "fps" in error(ws, json.dumps({"cmd": "play", "fps": 1000}))
        assert "hurry" in error(ws, json.dumps({"cmd": "pause", "hurry": True}))
        assert "'dW1'" in error(ws, json.dumps({"cmd": "subscribe", "nodes": ["dW1"]}))
        assert "format" in error(ws, json.dumps({"cmd": "subscribe", "format": "xml"}))
        assert f"at most {MAX_WS_MESSAGE}" in error(ws, json.dumps({"cmd": "frame", "x": "a" * MAX_WS_MESSAGE}))
        assert "forward first" in error(ws, json.dumps({"cmd": "backward"}))
        assert "no longer kept" not in error(ws, json.dumps({"cmd": "seek", "step": 99}))
        ws.send_bytes(b"\x00\x01")
        assert recv(ws)[0] == "error"
        res, _ = command(ws, {"cmd": "forward"})  # still alive and well
        assert res["step"] == 0


def test_play_pause(client, sid):
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
        command(ws, {"cmd": "subscribe", "nodes": ["h"], "format": "json"})
        ws.send_text(json.dumps({"cmd": "play", "fps": 100, "steps_per_frame": 5, "val_every": 50}))
        kind, reply = recv(ws)
        assert kind == "reply" and reply["result"]["playing"] is True
        assert recv(ws)[1]["playing"]  # the command's frame: may show the state before the first step
        steps = []
        while len(steps) < 15:  # (pytest-timeout ends a hang)
            kind, f = recv(ws)
            assert kind == "frame"
            assert f["playing"] and f["mode"] == "fused"
            steps.append(f["step"])
        assert len(steps) == 15 and steps == sorted(steps) and steps[-1] > steps[0]
        assert all(b - a >= 5 for a, b in zip(steps[1:], steps[2:]))  # steps_per_frame apart
        assert f["tensors"][0]["name"] == "h" and f["tensors"][0]["field"] == "value"
        # HTTP mutations are refused while live training owns the model
        assert client.post(f"/api/sessions/{sid}/forward").status_code == 409
        assert client.get(f"/api/sessions/{sid}").json()["playing"] is True
        ws.send_text(json.dumps({"cmd": "pause"}))
        while True:  # frames sent before the pause may still arrive
            kind, d = recv(ws)
            if kind == "reply":
                break
        assert d["result"]["playing"] is False and d["result"]["step"] >= steps[-1]
        kind, f = recv(ws)
        assert kind == "frame" and f["playing"] is False
    h = client.get(f"/api/sessions/{sid}/history").json()
    assert [p["step"] for p in h["points"]] == list(range(1, d["result"]["step"] + 1))
    assert any(p["val_loss"] is not None for p in h["points"]) == (d["result"]["step"] >= 50)


def test_a_reply_comes_before_any_frame_its_command_causes(client, sid):
    """100 plays: the reply first, then its frame; and after each pause's
    reply, no frame of the training it stopped."""
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
        command(ws, {"cmd": "subscribe", "nodes": [], "format": "json"})
        for _ in range(100):
            ws.send_text(json.dumps({"cmd": "play", "fps": 240, "steps_per_frame": 1}))
            kind, d = recv(ws)
            assert (kind, d.get("cmd")) == ("reply", "play"), d
            kind, f = recv(ws)
            assert kind == "frame" and f["playing"], f
            ws.send_text(json.dumps({"cmd": "pause"}))
            while (got := recv(ws))[0] == "frame":  # live frames sent before the pause began
                assert got[1]["playing"]
            assert got[0] == "reply" and got[1]["cmd"] == "pause", got
            kind, f = recv(ws)
            assert kind == "frame" and not f["playing"] and f["step"] == got[1]["result"]["step"]
        command(ws, {"cmd": "frame"})  # and nothing else was queued after the last pause


def test_frame_after_pause_shows_the_last_step(client, sid):
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
        command(ws, {"cmd": "subscribe", "nodes": [], "format": "json"})
        ws.send_text(json.dumps({"cmd": "play", "fps": 100, "steps_per_frame": 5, "val_every": 0}))
        assert recv(ws)[0] == "reply"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # until training has made a few steps
            kind, f = recv(ws)
            if f["step"] >= 3:
                break
        ws.send_text(json.dumps({"cmd": "pause"}))
        while True:
            kind, d = recv(ws)
            if kind == "reply":
                break
        kind, f = recv(ws)
        assert kind == "frame" and not f["playing"] and f["step"] == d["result"]["step"] >= 3
        assert f["mode"] == "fused" and f["remaining"] == [] and f["tanh"] is not None
        assert f["nodes"]["h"]["grad"] is not None and f["nodes"]["logits"]["grad"] is not None
    last = client.get(f"/api/sessions/{sid}/history", params={"since": f["step"] - 1}).json()["points"]
    assert [p["step"] for p in last] == [f["step"]] and last[0]["loss"] == f["loss"]
    g = client.get(f"/api/sessions/{sid}/frame").json()  # the same over HTTP
    assert g["step"] == f["step"] and g["loss"] == f["loss"] and g["tanh"] == f["tanh"]

def test_showing_an_update_again_keeps_its_val_loss(client, sid):
    """The dashboard shows the newest update whole after a pause by seeking
    to the step before it and applying it again: that replays the same
    update, and the val loss measured at it must survive."""
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
        command(ws, {"cmd": "subscribe", "nodes": [], "format": "json"})
        ws.send_text(json.dumps({"cmd": "play", "fps": 100, "steps_per_frame": 5, "val_every": 5}))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            kind, f = recv(ws)
            if kind == "frame" and f["step"] >= 12:
                break
        ws.send_text(json.dumps({"cmd": "pause"}))
        while recv(ws)[0] != "reply":
            pass
    before = {p["step"]: p for p in client.get(f"/api/sessions/{sid}/history").json()["points"]}
    n = max(s for s, p in before.items() if p["val_loss"] is not None)
    assert n % 5 == 0 and n >= 10
    assert client.post(f"/api/sessions/{sid}/seek", json={"step": n - 1}).status_code == 200
    assert client.post(f"/api/sessions/{sid}/update").json()["step"] == n
    after = {p["step"]: p for p in client.get(f"/api/sessions/{sid}/history").json()["points"]}
    assert max(after) == n  # the steps after n are another future now
    assert after[n]["val_loss"] == before[n]["val_loss"] and after[n - 5]["val_loss"] == before[n - 5]["val_loss"]
    assert after[n]["loss"] == pytest.approx(before[n]["loss"], rel=1e-6)  # atomic forward, fused before
    # a new batch drawn after the seek is another update at n: its own point, no val loss yet
    assert client.post(f"/api/sessions/{sid}/seek", json={"step": n - 1}).status_code == 200
    assert client.post(f"/api/sessions/{sid}/forward").status_code == 200
    assert client.post(f"/api/sessions/{sid}/backward", json={"mode": "fused"}).status_code == 200
    assert client.post(f"/api/sessions/{sid}/update").json()["step"] == n
    last = client.get(f"/api/sessions/{sid}/history").json()["points"][-1]
    assert last["step"] == n and last["loss"] != before[n]["loss"] and last["val_loss"] is None


def test_disconnect_stops_training(client, sid):
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
        ws.send_text(json.dumps({"cmd": "play"}))
        assert recv(ws)[0] == "reply"
    time.sleep(0.3)
    a = client.get(f"/api/sessions/{sid}").json()
    time.sleep(0.3)
    b = client.get(f"/api/sessions/{sid}").json()
    assert not a["playing"] and a["step"] == b["step"]


def test_unknown_session_stream(client):
    with client.websocket_connect("/api/sessions/nope/stream") as ws:
        kind, d = recv(ws)
        assert kind == "error" and "no session" in d["message"]
        with pytest.raises(WebSocketDisconnect):
            ws.receive_text()


def test_origin_refused_unless_allowed(sid, client):
    with pytest.raises(WebSocketDisconnect) as err:
        with client.websocket_connect(f"/api/sessions/{sid}/stream", headers={"origin": "http://evil.example"}):
            pass
    assert err.value.code == 1008
    # same origin is fine
    with client.websocket_connect(f"/api/sessions/{sid}/stream", headers={"origin": "http://testserver"}) as ws:
        command(ws, {"cmd": "frame"})
    with make_client(allowed_origins="http://evil.example, http://other:9") as c:
        s = c.post("/api/sessions").json()["id"]
        with c.websocket_connect(f"/api/sessions/{s}/stream", headers={"origin": "http://evil.example"}) as ws:
            command(ws, {"cmd": "frame"})
        with pytest.raises(WebSocketDisconnect):
            with c.websocket_connect(f"/api/sessions/{s}/stream", headers={"origin": "http://third.example"}):
                pass


def test_a_frame_refused_for_a_busy_session_is_an_error_not_the_end_of_the_stream(client, sid, monkeypatch):
    # a command's frame is built after its reply, under the session's lock;
    # with MAX_WAITERS requests already waiting for the session (a slow one
    # holding it, the page's others behind) it is refused, and that refusal
    # escaped the command's handling: the stream closed on an internal error
    # (and, its last watcher gone, live training paused). The slow request is
    # held only to fix the order
    import threading

    from backprop_ninja.server.sessions.lock import MAX_WAITERS
    from backprop_ninja.server.sessions.session import Session
    s = client.app.state.sessions.get(sid)
    armed, slow_in, slow_go, first = threading.Event(), threading.Event(), threading.Event(), threading.Lock()
    state = Session._state

    def held_state(self):
        if armed.is_set() and first.acquire(blocking=False):
            slow_in.set()
            slow_go.wait(60)
        return state(self)

    monkeypatch.setattr(Session, "_state", held_state)
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
        command(ws, {"cmd": "subscribe", "nodes": [], "format": "json"})
        armed.set()
        slow = threading.Thread(target=client.get, args=(f"/api/sessions/{sid}",))
        slow.start()
        assert slow_in.wait(60)
        waiting = [threading.Thread(target=client.get, args=(f"/api/sessions/{sid}",)) for _ in range(MAX_WAITERS)]
        for t in waiting:
            t.start()
        deadline = time.monotonic() + 60
        while s.lock.waiting < MAX_WAITERS:
            assert time.monotonic() < deadline, "the requests did not queue"
            time.sleep(0.02)
        try:
            ws.send_text(json.dumps({"cmd": "frame"}))
            assert recv(ws)[0] == "reply"
            kind, d = recv(ws)
            assert kind == "error" and "busy" in d["message"] and d["cmd"] == "frame", d
        finally:
            slow_go.set()
            for t in (slow, *waiting):
                t.join(60)
        command(ws, {"cmd": "frame"})  # and the stream goes on
