"""Live frames built by the helper process (server/framebuilder.py): the
same bytes as the in-process build, through the real process and through a
live stream, and a stream that carries on when the helper dies."""
from __future__ import annotations

import json
import time

import pytest

from model import MLP, Config
from server import frames
from server.framebuilder import FrameBuilder, frame_stats, pack, unpack
from server.player import Player
from server.session import Session
from server.settings import Settings
from tests.server.conftest import make_client, ready
from tests.server.test_stream import command, recv

NODES = ["h", "logits", "Xb", "W1"]  # activations, a parameter, and the int64 batch


def live_source(dtype: str, steps: int = 3) -> frames.FrameSource:
    """The FrameSource the trainer hands over after `steps` fused steps."""
    s = Session("t" * 22, MLP(Config(dtype=dtype, n_hidden=16)), "default", Settings())
    for _ in range(steps):
        loss, cache, grads, lr = s.train_one()
    return Player(s).source((s.mlp.step, loss, lr, cache, grads))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("fmt", ["binary", "json"])
def test_packed_source_builds_the_same_frame(dtype, fmt):
    src = live_source(dtype)
    again, nodes, fmt2 = unpack(pack(src, NODES, fmt))
    assert (nodes, fmt2) == (NODES, fmt)
    assert frames.build(again, nodes, fmt2) == frames.build(src, NODES, fmt)
    # shared tensors stay shared: a parameter is one tensor in values and params
    assert again.values["W1"] is again.params["W1"]


def wait_for(cond, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_helper_process_answers_in_order_with_the_same_bytes():
    builder = FrameBuilder()
    try:
        assert builder.submit(live_source("float32"), [], "binary") is None  # starts it; not ready yet
        wait_for(lambda: builder.alive, what="the helper to start")
        sources = [live_source("float32", steps=k) for k in (1, 2)]
        jobs = [builder.submit(src, NODES, "binary") for src in sources]
        assert all(j is not None for j in jobs)
        for src, job in zip(sources, jobs):
            frame, stats = job.result(timeout=30)
            recorded = []
            assert frame == frames.build(src, NODES, "binary", lambda d: recorded.append(frame_stats(d)))
            assert stats == recorded[0]
        assert builder.built == 2
    finally:
        builder.close()
    assert builder._proc.returncode == 0  # it ends when its input closes


@pytest.mark.parametrize("train_process", [True, False], ids=["training process", "training thread"])
def test_live_stream_uses_the_helper_and_survives_its_death(train_process):
    with make_client(train_process=train_process) as c:
        client = ready(c)
        builder = client.app.state.sessions.builder
        sid = client.post("/api/sessions").json()["id"]
        with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
            command(ws, {"cmd": "subscribe", "nodes": ["h"], "format": "json"})
            ws.send_text(json.dumps({"cmd": "play", "fps": 60, "steps_per_frame": 1}))

            def frames_until(cond, what):
                steps, deadline = [], time.monotonic() + 60
                while not cond(steps):
                    assert time.monotonic() < deadline, f"timed out waiting for {what}"
                    kind, f = recv(ws)
                    if kind == "frame" and f["playing"]:
                        assert f["tensors"][0]["name"] == "h" and len(f["tensors"][0]["data"]) == 32
                        steps.append(f["step"])
                return steps

            before = frames_until(lambda _: builder.built >= 5, "frames from the helper")
            assert builder.alive and before == sorted(before)
            builder._proc.kill()  # a crash: frames must keep coming, built in-process
            wait_for(lambda: not builder.alive, what="the server to notice")
            after = frames_until(lambda s: len(s) >= 10, "frames after the helper died")
            assert after == sorted(after) and after[0] >= before[-1]
            assert "exited" in builder.error or "Broken pipe" in builder.error, builder.error
            ws.send_text(json.dumps({"cmd": "pause"}))
            while recv(ws)[0] != "reply":
                pass
        # the helper's statistics went into the history, not only every stats_every steps
        points = client.get(f"/api/sessions/{sid}/history").json()["points"]
        sampled = [p["step"] for p in points if p["saturated"] is not None]
        assert any(step % 100 for step in sampled), sampled
