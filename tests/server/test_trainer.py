"""Live training in the training process (server/trainer.py, remote.py):
the same steps as training over HTTP, a model that reads up to date while
it trains, seek after a pause, and a stream that carries on when the
process dies."""
from __future__ import annotations

import json
import math
import mmap
import os
import pickle
import time

import pytest

from model.graph import PARAMS
from server.pipes import LEN
from server.remote import RemotePlayer
from server.trainer import Pipe
from tests.server.conftest import make_client, ready
from tests.server.test_stream import command, recv


def play(ws, **kw) -> None:
    ws.send_text(json.dumps({"cmd": "play", "fps": 30, "steps_per_frame": 10, **kw}))


def pause(ws) -> dict:
    ws.send_text(json.dumps({"cmd": "pause"}))
    while True:
        kind, d = recv(ws)
        if kind == "reply" and d["cmd"] == "pause":
            recv(ws)  # its frame
            return d["result"]


def frames_until(ws, steps: int) -> int:
    """Read frames until one shows at least `steps` steps; its step."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        kind, f = recv(ws)
        if kind == "frame" and f["playing"] and f["step"] >= steps:
            return f["step"]
        assert kind != "error", f
    raise AssertionError(f"no frame reached step {steps} in 60 s")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_training_in_the_process_equals_training_over_http(client, dtype):
    live = client.post("/api/sessions", json={"dtype": dtype, "seed": 7}).json()["id"]
    store = client.app.state.sessions
    with client.websocket_connect(f"/api/sessions/{live}/stream") as ws:
        command(ws, {"cmd": "subscribe", "nodes": [], "format": "json"})
        play(ws, val_every=50)
        frames_until(ws, 120)
        assert isinstance(store.get(live).player, RemotePlayer)
        step = pause(ws)["step"]
    assert step >= 120
    other = client.post("/api/sessions", json={"dtype": dtype, "seed": 7}).json()["id"]
    assert client.post(f"/api/sessions/{other}/train", json={"steps": step}).json()["step"] == step
    for name in PARAMS:
        a = client.get(f"/api/sessions/{live}/tensors/{name}").json()
        b = client.get(f"/api/sessions/{other}/tensors/{name}").json()
        assert a == b, name
    # the paused frame shows the last step whole: its batch's every node came back
    fa, fb = (client.get(f"/api/sessions/{s}/frame").json() for s in (live, other))
    assert fa["step"] == fb["step"] == step and fa["nodes"] == fb["nodes"]
    ha = client.get(f"/api/sessions/{live}/history").json()["points"]
    hb = client.get(f"/api/sessions/{other}/history").json()["points"]
    assert [p["loss"] for p in ha] == [p["loss"] for p in hb]
    assert [p["step"] for p in ha if p["val_loss"] is not None] == list(range(50, step + 1, 50))
    # the val losses, computed beside training (valloss.py) from a copy of the
    # parameters, are those of the model right after their step
    vals = {p["step"]: p["val_loss"] for p in ha if p["val_loss"] is not None}
    third = client.post("/api/sessions", json={"dtype": dtype, "seed": 7}).json()["id"]
    for n in (50, 100):
        client.post(f"/api/sessions/{third}/train", json={"steps": 50})
        assert vals[n] == pytest.approx(store.get(third).mlp.split_loss("val", "running"), rel=1e-6), n
    for sid in (live, other, third):
        client.delete(f"/api/sessions/{sid}")


def test_reads_while_training_are_up_to_date_and_seek_after_pause(client, sid):
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
        command(ws, {"cmd": "subscribe", "nodes": [], "format": "json"})
        play(ws)
        seen = frames_until(ws, 300)
        state = client.get(f"/api/sessions/{sid}").json()
        assert state["playing"] and state["step"] >= seen
        # the model as it is now, not as it was at play
        w1 = client.get(f"/api/sessions/{sid}/tensors/W1").json()["value"]
        assert client.get(f"/api/sessions/{sid}/history").json()["points"][-1]["step"] >= seen
        assert client.post(f"/api/sessions/{sid}/train", json={"steps": 1}).status_code == 409
        end = pause(ws)["step"]
    assert w1 != client.get(f"/api/sessions/{sid}/tensors/W1").json()["value"] or end == state["step"]
    hist = client.get(f"/api/sessions/{sid}/history").json()
    assert hist["points"][-1]["step"] == end and hist["full_steps"][-1] == end
    # the snapshots taken in the process came back: every kept step is a seek target
    target = hist["full_steps"][0] + 13
    assert client.post(f"/api/sessions/{sid}/seek", json={"step": target}).json()["step"] == target


def test_stream_carries_on_when_the_training_process_dies():
    with make_client() as c:
        client = ready(c)
        trainer = client.app.state.sessions.trainer
        sid = client.post("/api/sessions").json()["id"]
        bystander = client.post("/api/sessions").json()["id"]
        with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
            command(ws, {"cmd": "subscribe", "nodes": ["h"], "format": "json"})
            play(ws)
            frames_until(ws, 50)
            trainer._proc.kill()  # a crash
            deadline = time.monotonic() + 60
            while True:  # the clients hear of it, in words
                assert time.monotonic() < deadline, "no error frame after the training process died"
                kind, d = recv(ws)
                if kind == "error":
                    assert "training process died" in d["message"] and d["cmd"] == "play", d
                    break
            assert client.get("/api/health").json()["training"] == "thread"
            step = client.get(f"/api/sessions/{sid}").json()["step"]
            play(ws)  # training goes on, in a thread of the server
            assert frames_until(ws, step + 50) >= step + 50
            assert not isinstance(client.app.state.sessions.get(sid).player, RemotePlayer)
            pause(ws)
        assert client.post(f"/api/sessions/{bystander}/train", json={"steps": 3}).json()["step"] == 3


def test_training_in_a_thread_when_turned_off():
    with make_client(train_process=False) as client:
        assert client.get("/api/health").json()["training"] == "thread"
        sid = client.post("/api/sessions").json()["id"]
        with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
            command(ws, {"cmd": "subscribe", "nodes": [], "format": "json"})
            play(ws)
            frames_until(ws, 30)
            assert not isinstance(client.app.state.sessions.get(sid).player, RemotePlayer)
            assert pause(ws)["step"] >= 30


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="pinning needs two CPUs")
def test_the_training_process_stays_on_one_cpu(client):
    allowed = sorted(os.sched_getaffinity(0))
    pid = client.app.state.sessions.trainer._proc.pid
    assert os.sched_getaffinity(pid) == {allowed[-1]}  # the default, "last"
    # the val loss process it starts works on the other CPUs, at the server's priority
    sid = client.post("/api/sessions").json()["id"]
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
        command(ws, {"cmd": "subscribe", "nodes": [], "format": "json"})
        play(ws, val_every=20)
        frames_until(ws, 60)
        pause(ws)
    (helper,) = children(pid)
    assert "server.valloss" in open(f"/proc/{helper}/cmdline").read()
    assert os.sched_getaffinity(helper) == set(allowed[:-1])
    assert os.getpriority(os.PRIO_PROCESS, helper) == os.getpriority(os.PRIO_PROCESS, 0)
    with make_client(train_cpu="none") as c:
        assert sorted(os.sched_getaffinity(ready(c).app.state.sessions.trainer._proc.pid)) == allowed


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="pinning needs two CPUs")
def test_the_pinned_training_process_takes_priority_on_its_core(client):
    own = os.getpriority(os.PRIO_PROCESS, 0)
    pid = client.app.state.sessions.trainer._proc.pid
    # lowering a nice value needs root (or CAP_SYS_NICE); without, it stays and still trains
    assert os.getpriority(os.PRIO_PROCESS, pid) == (-10 if os.geteuid() == 0 else own)
    with make_client(train_nice=-3) as c:
        pid = ready(c).app.state.sessions.trainer._proc.pid
        assert os.getpriority(os.PRIO_PROCESS, pid) == (-3 if os.geteuid() == 0 else own)
    with make_client(train_cpu="none") as c:  # unpinned: it would compete with the page's drawing
        assert os.getpriority(os.PRIO_PROCESS, ready(c).app.state.sessions.trainer._proc.pid) == own
        sid = c.post("/api/sessions").json()["id"]
        with c.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
            command(ws, {"cmd": "subscribe", "nodes": [], "format": "json"})
            play(ws)
            frames_until(ws, 10)
            assert pause(ws)["step"] >= 10


def test_a_message_begun_while_the_trainer_looked_is_still_read():
    """The server counts a message before its first byte and after its last.
    The trainer looking in between, on an empty pipe, must look again: a
    message bigger than the pipe (a play's data set) otherwise blocks the
    server's write for good (seen in test_live's stalled-client test)."""
    wake_fd = os.memfd_create("test-wake")
    os.ftruncate(wake_fd, 8)
    r, w = os.pipe()
    out_r, out_w = os.pipe()
    pipe = Pipe(r, out_w, wake_fd)
    counter = memoryview(mmap.mmap(wake_fd, 8)).cast("Q")
    try:
        counter[0] += 1  # the server begins a message...
        assert pipe.pending()
        assert pipe.receive(block=False) == []  # ...looked at before its first byte
        assert pipe.pending()  # the trainer keeps looking
        body = pickle.dumps(("drop", "x"))
        os.write(w, LEN.pack(len(body)) + body)
        counter[0] += 1
        assert pipe.receive(block=False) == [("drop", "x")]
        assert not pipe.pending()
    finally:
        counter.release()
        for fd in (r, w, out_r, out_w, wake_fd):
            os.close(fd)


def children(pid: int) -> list[int]:
    return [int(c) for c in open(f"/proc/{pid}/task/{pid}/children").read().split()]


def test_val_losses_carry_on_when_their_process_dies(client, sid):
    trainer = client.app.state.sessions.trainer._proc.pid
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
        command(ws, {"cmd": "subscribe", "nodes": [], "format": "json"})
        play(ws, val_every=10)
        frames_until(ws, 40)
        helpers = children(trainer)
        assert helpers  # started with the first val loss
        for helper in helpers:
            os.kill(helper, 9)
        step = frames_until(ws, client.get(f"/api/sessions/{sid}").json()["step"] + 100)
        end = pause(ws)["step"]
    assert end >= step
    points = client.get(f"/api/sessions/{sid}/history").json()["points"]
    vals = [p["step"] for p in points if p["val_loss"] is not None]
    assert vals == list(range(10, end + 1, 10))  # none lost: the trainer computes them itself
    assert all(math.isfinite(p["val_loss"]) for p in points if p["val_loss"] is not None)
