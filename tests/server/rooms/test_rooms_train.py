"""A training-page room through the API: the teacher's live training fanned
out to followers (frames whose step climbs, the play state), a late joiner
gets the run so far at once, and a follower's play or pause is refused."""
from __future__ import annotations

import json
import threading

import pytest

from backprop_ninja.server.routes.rooms import TRAIN_REFUSAL
from backprop_ninja.server.stream.frames import decode_binary, tensor_from_frame
from tests.server.conftest import make_client, ready
from tests.server.rooms.test_rooms import hello, new_session


@pytest.fixture(scope="module")
def client():
    with make_client(max_sessions=20) as c:
        yield ready(c)


def until(ws, kind: str, pred=lambda m: True) -> dict:
    """Read the room's messages until one of `kind` satisfies pred; a binary
    stream frame is read as its header (with the float32 buffer as "_buf")."""
    while True:
        msg = ws.receive()
        assert msg["type"] == "websocket.send", f"the socket closed: {msg}"
        data = msg.get("bytes")
        if data is not None and data[3] == 0:  # a binary frame: a 4-byte header length first
            m, buf = decode_binary(data)
            m["_buf"] = buf
        else:
            m = json.loads(msg["text"] if data is None else data)
        if m["type"] == kind and pred(m):
            return m


def stream_cmd(ws, msg: dict) -> dict:
    """Send a stream command; return its reply (its frame follows and is read off)."""
    ws.send_text(json.dumps(msg))
    while True:
        m = ws.receive()
        if m.get("text") is None:
            continue  # a binary frame
        obj = json.loads(m["text"])
        if obj["type"] == "reply" and obj["cmd"] == msg["cmd"]:
            ws.receive()  # the reply's frame
            return obj["result"]
        assert obj["type"] != "error", obj


def view(sid: str, playing: bool) -> str:
    return json.dumps({"cmd": "view", "view": {"session": sid, "playing": playing}})


def test_followers_watch_the_teachers_live_training_and_cannot_drive_it(client):
    sid = new_session(client)
    r = client.post("/api/rooms", json={"session": sid, "page": "train"})
    assert r.status_code == 201, r.text
    room = r.json()
    code = room["code"]
    assert f"/static/train.html?follow={code}" in room["join_url"]
    assert client.post("/api/rooms", json={"session": sid, "page": "slides"}).status_code == 422

    with client.websocket_connect(f"/api/sessions/{sid}/stream") as stream, \
            client.websocket_connect(f"/api/rooms/{code}/teach") as teacher, \
            client.websocket_connect(f"/api/rooms/{code}/follow") as follower:
        hello(teacher, room["secret"])
        assert until(follower, "status", lambda m: m["teacher_connected"] and m["followers"] == 1)
        stream_cmd(stream, {"cmd": "subscribe", "nodes": [], "format": "binary"})
        stream_cmd(stream, {"cmd": "play", "steps_per_frame": 5, "fps": 20, "val_every": 0})
        teacher.send_text(view(sid, True))
        assert until(follower, "graph")["graph"]["backward_order"]
        run = until(follower, "train", lambda m: m["playing"])
        assert run["config"] == client.get(f"/api/sessions/{sid}").json()["config"] and "session" not in json.dumps(run) and sid not in json.dumps(run)
        steps = [until(follower, "frame", lambda m: m["playing"])["step"] for _ in range(4)]
        assert steps == sorted(steps) and steps[-1] > steps[0], steps
        live = until(follower, "frame", lambda m: m["playing"])
        assert {t["name"] for t in live["tensors"]} == {"h", "bnvar_inv", "bngain", "bnbias"}
        h = tensor_from_frame(live, live["_buf"], "h")  # the dashboard's tensors, as its own stream sends them
        assert h.shape == (32, run["config"]["n_hidden"]) and abs(h).max() <= 1.0

        # a late joiner: the run so far (its loss curve), then live frames
        with client.websocket_connect(f"/api/rooms/{code}/follow") as late:
            first = until(late, "train")
            assert first["playing"] and first["history"]["points"]
            assert until(late, "frame", lambda m: m["playing"])["step"] >= first["history"]["points"][-1]["step"] - 5

        # the follower's play and pause are refused, in a sentence; the teacher trains on
        for cmd in ({"cmd": "pause"}, {"cmd": "play"}, {"cmd": "seek", "step": 0}):
            follower.send_text(json.dumps(cmd))
            err = until(follower, "error")
            assert err["message"] == TRAIN_REFUSAL and err["cmd"] == cmd["cmd"]
        assert client.get(f"/api/sessions/{sid}").status_code == 200
        after = until(follower, "frame", lambda m: m["playing"])["step"]
        assert after > steps[-1]

        # the teacher pauses: the follower sees playing false, and the paused frame
        paused = stream_cmd(stream, {"cmd": "pause"})
        teacher.send_text(view(sid, False))
        stopped = until(follower, "train", lambda m: not m["playing"])
        assert stopped["history"]["points"][-1]["step"] == paused["step"]
        assert until(follower, "frame", lambda m: not m["playing"])["step"] == paused["step"]


def test_a_run_message_made_while_training_is_not_sent_after_the_pause(client, monkeypatch):
    # while live, the room also sends the run (history, play state) now and
    # then; one made just before the teacher paused went out after the
    # pause's own messages, and followers saw the run playing again, at an
    # older step, for good. That message is held only to fix the order
    from backprop_ninja.server.rooms import train as roomtrain

    armed, held, go, first = threading.Event(), threading.Event(), threading.Event(), threading.Lock()
    made = roomtrain.train_state

    def held_state(s, v, version):
        text = made(s, v, version)
        if armed.is_set() and json.loads(text)["playing"] and first.acquire(blocking=False):
            held.set()
            go.wait(60)
        return text

    monkeypatch.setattr(roomtrain, "HISTORY_EVERY", 0.0)  # a run message beside every live frame
    monkeypatch.setattr(roomtrain, "train_state", held_state)
    sid = new_session(client)
    room = client.post("/api/rooms", json={"session": sid, "page": "train"}).json()
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as stream, \
            client.websocket_connect(f"/api/rooms/{room['code']}/teach") as teacher, \
            client.websocket_connect(f"/api/rooms/{room['code']}/follow") as follower:
        hello(teacher, room["secret"])
        stream_cmd(stream, {"cmd": "subscribe", "nodes": [], "format": "binary"})
        stream_cmd(stream, {"cmd": "play", "steps_per_frame": 5, "fps": 20, "val_every": 0})
        teacher.send_text(view(sid, True))
        until(follower, "frame", lambda m: m["playing"])
        armed.set()
        assert held.wait(60), "no run message was made while training"
        paused = stream_cmd(stream, {"cmd": "pause"})
        teacher.send_text(view(sid, False))
        assert until(follower, "train", lambda m: not m["playing"])["history"]["points"][-1]["step"] == paused["step"]
        go.set()
        # a later view's run message: nothing but it (and its frame) may come before it
        teacher.send_text(json.dumps({"cmd": "view", "view": {"session": sid, "playing": False, "present": True}}))
        last = until(follower, "train", lambda m: m["present"] or m["playing"])
        assert not last["playing"], "a run message made before the pause came after it"
