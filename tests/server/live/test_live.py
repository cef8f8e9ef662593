"""Against the real server (uvicorn subprocess on loopback): many clients at
once, the stream over a real socket, and the command line."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from backprop_ninja.server.__main__ import listen
from backprop_ninja.server.stream.frames import decode_binary
from tests.conftest import CLIENT, REPO, free_port, start_server, stop_server, wait_healthy

CLIENTS = 20
ROUNDS = 5


def one_client(base: str, k: int) -> list[int]:
    """Create a session, step it ROUNDS times; return the steps the server reported."""
    seen = []
    with httpx.Client(base_url=base, timeout=60, headers=CLIENT) as c:
        r = c.post("/api/sessions", json={"seed": k, "n_hidden": 32})
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        for i in range(ROUNDS):
            assert c.post(f"/api/sessions/{sid}/forward").json()["step"] == i
            assert c.post(f"/api/sessions/{sid}/backward", json={"mode": ["atomic", "fused"][k % 2]}).json()[
                "remaining"] == []
            seen.append(c.post(f"/api/sessions/{sid}/update").json()["step"])
        points = c.get(f"/api/sessions/{sid}/history").json()["points"]
        assert [p["step"] for p in points] == list(range(1, ROUNDS + 1))
        assert c.get(f"/api/sessions/{sid}").json()["config"]["seed"] == k
        assert c.delete(f"/api/sessions/{sid}").status_code == 204
    return seen


def test_twenty_concurrent_clients_lose_nothing(live_server):
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(lambda k: one_client(live_server, k), range(CLIENTS)))
    assert results == [list(range(1, ROUNDS + 1))] * CLIENTS


def test_concurrent_requests_to_one_session_are_serialised(live_server):
    sid = httpx.post(f"{live_server}/api/sessions", headers=CLIENT).json()["id"]

    def train(_):
        # more than MAX_WAITERS at once are told "busy" (429): a client retries
        while True:
            r = httpx.post(f"{live_server}/api/sessions/{sid}/train", json={"steps": 3}, timeout=60, headers=CLIENT)
            if r.status_code != 429:
                return r.json()["step"]
            assert "busy" in r.json()["detail"]
            time.sleep(0.05)

    with ThreadPoolExecutor(CLIENTS) as pool:
        steps = sorted(pool.map(train, range(CLIENTS)))
    assert steps == list(range(3, 3 * CLIENTS + 1, 3))  # every request saw a distinct state


def test_stream_over_real_socket(live_server):
    sid = httpx.post(f"{live_server}/api/sessions", headers=CLIENT).json()["id"]
    url = live_server.replace("http", "ws") + f"/api/sessions/{sid}/stream"
    with connect(url, max_size=None) as ws:
        ws.send(json.dumps({"cmd": "subscribe", "nodes": ["W2"]}))
        assert json.loads(ws.recv())["type"] == "reply"
        header, buf = decode_binary(ws.recv())
        assert header["tensors"][0]["length"] == 64 * 27 == buf.size
        ws.send(json.dumps({"cmd": "play", "fps": 120, "steps_per_frame": 1}))
        assert json.loads(ws.recv())["type"] == "reply"
        frames = []
        while len(frames) < 20:  # (pytest-timeout ends a hang; speed is benchmarks/stream_bench's)
            msg = ws.recv()
            if isinstance(msg, bytes):
                frames.append(decode_binary(msg)[0]["step"])
        assert frames == sorted(frames) and frames[-1] > frames[0]
        ws.send(json.dumps({"cmd": "pause"}))
        while True:
            msg = ws.recv()
            if isinstance(msg, str) and json.loads(msg)["type"] == "reply":
                break
    assert httpx.get(f"{live_server}/api/sessions/{sid}").json()["playing"] is False


def test_foreign_origin_refused_by_real_server(live_server):
    sid = httpx.post(f"{live_server}/api/sessions", headers=CLIENT).json()["id"]
    url = live_server.replace("http", "ws") + f"/api/sessions/{sid}/stream"
    with pytest.raises(InvalidStatus) as err:
        connect(url, origin="http://evil.example").close()
    assert err.value.response.status_code == 403
    with connect(url, origin=live_server) as ws:  # the page the server itself serves
        ws.send(json.dumps({"cmd": "frame"}))
        assert json.loads(ws.recv())["type"] == "reply"


def test_cli_bad_data_file(tmp_path):
    bad = tmp_path / "words.txt"
    bad.write_text("a.b\n" * 20)
    for path, says in ((bad, "reserved"), (tmp_path / "missing.txt", "not found")):
        r = subprocess.run([sys.executable, "-m", "backprop_ninja.server", "--data", str(path), "--no-open", "--port", "1"],
                           cwd=REPO, capture_output=True, text=True, timeout=60)
        assert r.returncode == 2
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and says in lines[0], r.stderr


def test_cli_data_file_is_the_default_dataset(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("\n".join(["zed", "zoe", "zack", "zara", "zane", "zia", "zeb", "zola", "zuri", "zen"]))
    port = free_port()
    proc, log = start_server(port, args=("--data", str(words)))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc, log)
        g = httpx.get(f"{base}/api/graph").json()
        assert {n["name"]: n["shape"] for n in g["nodes"]}["C"][0] == len(set("".join(
            words.read_text().split()))) + 1
    finally:
        stop_server(proc, log)


def test_a_stalled_client_does_not_hold_back_another(live_server):
    ws_url = live_server.replace("http", "ws")
    ids = [httpx.post(f"{live_server}/api/sessions", headers=CLIENT).json()["id"] for _ in range(2)]
    with connect(f"{ws_url}/api/sessions/{ids[0]}/stream", max_size=None, close_timeout=0.5) as stalled, \
            connect(f"{ws_url}/api/sessions/{ids[1]}/stream", max_size=None, close_timeout=0.5) as reader:
        # the stalled client asks for big frames as fast as allowed and never reads them
        stalled.send(json.dumps({"cmd": "subscribe", "nodes": ["hprebn", "bnraw", "h", "logits", "probs"]}))
        stalled.send(json.dumps({"cmd": "play", "fps": 240, "steps_per_frame": 1}))
        reader.send(json.dumps({"cmd": "play", "fps": 60, "steps_per_frame": 5}))
        steps = []
        while len(steps) < 40:  # the reader gets its frames while its neighbour reads none
            msg = reader.recv()
            if isinstance(msg, bytes):
                steps.append(decode_binary(msg)[0]["step"])
        assert steps == sorted(steps) and steps[-1] > steps[0]
        # the stalled session kept training: sends wait for the client, training does not
        a = httpx.get(f"{live_server}/api/sessions/{ids[0]}").json()["step"]
        while httpx.get(f"{live_server}/api/sessions/{ids[0]}").json()["step"] <= a:
            time.sleep(0.05)
        # (closing without draining: these clients' own queues are full, so
        # their close handshakes time out on their side, hence close_timeout)


def test_the_servers_connections_send_at_once():
    # Nagle's algorithm off on every connection the server accepts: with it
    # on, a response's body (written after its headers) or a stream frame
    # (after its reply) waited ~40 ms for the client's delayed ACK, on every
    # request of a reused connection (measured: 44 ms for GET /api/config, 2 ms without)
    with listen("127.0.0.1", 0) as server, socket.create_connection(server.getsockname()):
        accepted, _ = server.accept()
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)



@pytest.fixture(scope="module")
def one_worker():
    """A real server of its own with one training worker: every play of a
    session lands on the worker that trained it before."""
    port = free_port()
    proc, log = start_server(port, {"BPN_WORKERS": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc, log)
        yield base
    finally:
        stop_server(proc, log)


def ws_json(ws, timeout: float | None = None) -> tuple[str, dict]:
    """The next message: (type, payload) of a JSON one, ("binary", None) else."""
    msg = ws.recv(timeout)
    if isinstance(msg, bytes):
        return "binary", None
    d = json.loads(msg)
    return d["type"], d


def ws_command(ws, cmd: dict) -> dict:
    """Send a command; its reply (live frames may come before it) and its frame after."""
    ws.send(json.dumps(cmd))
    while True:
        kind, d = ws_json(ws)
        assert kind != "error", d
        if kind == "reply" and d["cmd"] == cmd["cmd"]:
            assert ws_json(ws)[0] in ("frame", "binary")
            return d["result"]


def ws_frames_until(ws, step: int, limit: float = 120) -> int:
    deadline = time.monotonic() + limit  # only stops a broken test
    while time.monotonic() < deadline:
        kind, d = ws_json(ws)
        assert kind != "error", d
        if kind == "frame" and d["playing"] and d["step"] >= step:
            return d["step"]
    raise AssertionError(f"no frame reached step {step}")


def test_steps_trained_between_two_plays_stay_in_the_history(one_worker):
    # a pause used to leave the worker training the paused run for one more
    # slice (its loop picked from the list of runs it made before reading the
    # pause); those steps' points went out with the next play's first batch
    # and, older than the steps trained meanwhile over HTTP, cut them away
    with httpx.Client(base_url=one_worker, timeout=60, headers=CLIENT) as c:
        sid = c.post("/api/sessions").json()["id"]
        with connect(f"{one_worker.replace('http', 'ws')}/api/sessions/{sid}/stream", max_size=None) as ws:
            ws_command(ws, {"cmd": "subscribe", "nodes": [], "format": "json"})
            ws_command(ws, {"cmd": "play", "fps": 30, "steps_per_frame": 10})
            ws_frames_until(ws, 30)
            paused = ws_command(ws, {"cmd": "pause"})["step"]
            assert c.post(f"/api/sessions/{sid}/train", json={"steps": 60}).json()["step"] == paused + 60
            before = c.get(f"/api/sessions/{sid}/history").json()["points"]
            assert [p["step"] for p in before] == list(range(1, paused + 61))
            ws_command(ws, {"cmd": "play", "fps": 30, "steps_per_frame": 10})
            ws_frames_until(ws, paused + 100)
            end = ws_command(ws, {"cmd": "pause"})["step"]
        after = c.get(f"/api/sessions/{sid}/history").json()["points"]
        assert [p["step"] for p in after] == list(range(1, end + 1))
        assert after[:paused + 60] == before


def test_a_crash_another_request_took_in_first_is_still_told_to_the_stream(one_worker):
    # the stream tells its client that training stopped when it finds the
    # session's player failed; a request that came first (the page polls the
    # history every second while training) took the failed player in and
    # left the session without one, and the stream then told of nothing
    with httpx.Client(base_url=one_worker, timeout=60, headers=CLIENT) as c:
        sid = c.post("/api/sessions").json()["id"]
        with connect(f"{one_worker.replace('http', 'ws')}/api/sessions/{sid}/stream", max_size=None) as ws:
            ws_command(ws, {"cmd": "subscribe", "nodes": [], "format": "json"})
            # one live frame, then ten seconds to the next: the crash comes between
            ws_command(ws, {"cmd": "play", "fps": 0.1, "steps_per_frame": 1})
            ws_frames_until(ws, 1)
            pid = c.get("/api/health").json()["workers"][0]["pid"]
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 60
            while c.get(f"/api/sessions/{sid}").json()["playing"]:  # this read takes the crash in
                assert time.monotonic() < deadline, "the session did not stop"
                time.sleep(0.05)
            while True:
                try:
                    kind, d = ws_json(ws, max(0.0, deadline - time.monotonic()))
                except TimeoutError:
                    raise AssertionError("the stream never said training stopped") from None
                if kind == "error":
                    assert "worker process died" in d["message"] and d["cmd"] == "play", d
                    break
        deadline = time.monotonic() + 60
        while not c.get("/api/health").json()["workers"][0]["alive"]:
            assert time.monotonic() < deadline, "the worker was not started again"
            time.sleep(0.05)
