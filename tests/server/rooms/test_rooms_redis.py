"""Rooms across server processes: a real redis-server, two real servers
sharing it; the teacher on the first, a follower on the second follows,
forks and is told when the room ends; and a training-page room's live
frames reach a follower on the second."""
from __future__ import annotations

import json
import shutil
import subprocess
import time

import httpx
import pytest
from websockets.sync.client import connect

from backprop_ninja.server.stream.frames import decode_binary
from tests.conftest import CLIENT, free_port, start_server, stop_server, wait_healthy


@pytest.fixture(scope="module")
def redis_url():
    if shutil.which("redis-server") is None:  # a failure, not a skip: CI must run this test
        pytest.fail("redis-server is not installed: scripts/setup.sh --test installs it")
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:  # ready when it answers PING
            try:
                with connect_redis(port) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def connect_redis(port: int):
    import socket
    return socket.create_connection(("127.0.0.1", port), timeout=1.0)


@pytest.fixture(scope="module")
def two_servers(redis_url):
    started = []
    try:
        for _ in range(2):
            port = free_port()
            proc, log = start_server(port, {"BPN_REDIS_URL": redis_url, "BPN_WORKERS": "1"})
            started.append((proc, log))
            wait_healthy(f"http://127.0.0.1:{port}", proc, log)
            started[-1] = (proc, log, port)
        yield [f"127.0.0.1:{p}" for _, _, p in started]
    finally:
        for item in started:
            stop_server(item[0], item[1])


def until(ws, kind: str, pred=lambda m: True) -> dict:
    while True:
        data = ws.recv(timeout=30)
        if isinstance(data, bytes) and data[3] == 0:
            continue  # a training room's binary stream frame (live_frame reads those)
        m = json.loads(data)
        if m["type"] == kind and pred(m):
            return m


def test_a_follower_on_another_process_follows_the_teacher(two_servers):
    a, b = two_servers
    http_a = httpx.Client(base_url=f"http://{a}", headers=CLIENT, timeout=30)
    http_b = httpx.Client(base_url=f"http://{b}", headers=CLIENT, timeout=30)
    sid = http_a.post("/api/sessions").json()["id"]
    http_a.post(f"/api/sessions/{sid}/forward")
    room = http_a.post("/api/rooms", json={"session": sid}).json()
    code = room["code"]
    assert http_b.get(f"/api/rooms/{code}").status_code == 200  # the second process knows the room
    with connect(f"ws://{a}/api/rooms/{code}/teach") as teacher, connect(f"ws://{b}/api/rooms/{code}/follow") as fol:
        teacher.send(json.dumps({"cmd": "hello", "secret": room["secret"]}))
        assert until(teacher, "status", lambda m: m["followers"] == 1 and m["teacher_connected"])
        until(fol, "status", lambda m: m["teacher_connected"])
        for pos in range(1, 4):
            http_a.post(f"/api/sessions/{sid}/backward", json={"mode": "atomic", "nodes": 1})
            teacher.send(json.dumps({"cmd": "view", "view": {"session": sid, "inspect": "probs", "row": pos}}))
            st = until(fol, "state", lambda m, pos=pos: len(m["frame"]["computed"]) == pos)
            assert st["view"]["row"] == pos and st["tensor"]["name"] == "probs"
        # a fork asked of the second process: the teacher's session is in the first
        r = http_b.post(f"/api/rooms/{code}/fork")
        assert r.status_code == 201, r.text
        mine = r.json()["session"]["id"]
        theirs, copy = http_a.get(f"/api/sessions/{sid}").json(), http_b.get(f"/api/sessions/{mine}").json()
        assert copy["computed"] == theirs["computed"] and copy["loss"] == theirs["loss"]
        # a late joiner on the second process gets the room at once
        with connect(f"ws://{b}/api/rooms/{code}/follow") as late:
            first = json.loads(late.recv(timeout=30))
            assert first["type"] == "graph" and {n["name"] for n in first["graph"]["nodes"]} >= {"probs", "W1"}
            assert len(until(late, "state")["frame"]["computed"]) == 3
        teacher.send(json.dumps({"cmd": "end"}))
        assert until(fol, "status", lambda m: m["ended"])["reason"] == "the teacher ended the room"
    assert http_b.get(f"/api/rooms/{code}").status_code == 404


def live_frame(ws, pred) -> dict:
    """The header of the next binary stream frame satisfying pred (through Redis, byte for byte)."""
    while True:
        m = ws.recv(timeout=30)
        if isinstance(m, bytes) and m[3] == 0:
            header, buf = decode_binary(m)
            assert len(buf) == sum(t["length"] for t in header["tensors"])
            if pred(header):
                return header


def test_a_follower_on_another_process_watches_the_teachers_live_training(two_servers):
    a, b = two_servers
    http_a = httpx.Client(base_url=f"http://{a}", headers=CLIENT, timeout=30)
    sid = http_a.post("/api/sessions", json={"n_hidden": 32}).json()["id"]
    room = http_a.post("/api/rooms", json={"session": sid, "page": "train"}).json()
    code = room["code"]

    def command(ws, msg: dict) -> dict:
        ws.send(json.dumps(msg))
        while True:
            m = ws.recv(timeout=30)
            if isinstance(m, str) and json.loads(m)["type"] == "reply":
                ws.recv(timeout=30)  # its frame
                return json.loads(m)["result"]

    with connect(f"ws://{a}/api/sessions/{sid}/stream", additional_headers=CLIENT) as stream, \
            connect(f"ws://{a}/api/rooms/{code}/teach") as teacher, connect(f"ws://{b}/api/rooms/{code}/follow") as fol:
        teacher.send(json.dumps({"cmd": "hello", "secret": room["secret"]}))
        until(fol, "status", lambda m: m["teacher_connected"])
        command(stream, {"cmd": "play", "steps_per_frame": 5, "fps": 20, "val_every": 0})
        teacher.send(json.dumps({"cmd": "view", "view": {"session": sid, "playing": True}}))
        assert until(fol, "train", lambda m: m["playing"])["config"]["n_hidden"] == 32
        steps = [live_frame(fol, lambda m: m["playing"])["step"] for _ in range(3)]
        assert steps == sorted(steps) and steps[-1] > steps[0], steps
        paused = command(stream, {"cmd": "pause"})
        teacher.send(json.dumps({"cmd": "view", "view": {"session": sid, "playing": False}}))
        until(fol, "train", lambda m: not m["playing"])
        assert live_frame(fol, lambda m: not m["playing"])["step"] == paused["step"]
        teacher.send(json.dumps({"cmd": "end"}))
