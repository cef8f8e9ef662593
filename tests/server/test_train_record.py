"""POST /train and the stream's "replay" train many steps at once
(Session.train_steps, MLP.fused_steps); live training goes a step at a time
(stepping.train_step, worker.py). A shared link must end on the very bits
that training reached and list exactly what it did: the oracle here is the
step-at-a-time record (the session's old loop, the worker's), built beside
the server's from the same config and data."""
from __future__ import annotations

import json

import pytest
import torch

from model import MLP
from model.graph import PARAMS
from server import stepping
from server.history import History
from tests.server.test_stream_inspect import replay

# across the lr drop, with the stats (every 100) and snapshots (every 25)
# among the server's runs of steps, beyond the 200 steps kept whole
CONFIG = {"seed": 3, "lr_decay_step": 260}
STEPS = 530


def step_by_step(session, steps: int) -> tuple[MLP, History]:
    """A model and history like the session's at its start, trained a step at a time."""
    st = session.settings
    m = MLP(session.mlp.cfg, session.mlp.data)
    h = History(st.history_max_points, st.history_full_steps, st.history_max_bytes)
    h.add_snapshot(0, stepping.light_state(m))
    for _ in range(steps):
        h.add_point(*stepping.train_step(m, st.stats_every)[4])
        if m.step % st.snapshot_every == 0:
            h.add_snapshot(m.step, stepping.light_state(m))
    return m, h


def assert_same(session, m: MLP, h: History) -> None:
    got = session.history
    assert session.mlp.step == m.step
    for k in PARAMS:
        assert torch.equal(session.mlp.params[k], m.params[k]), k
    assert torch.equal(session.mlp.running_mean, m.running_mean)
    assert torch.equal(session.mlp.running_var, m.running_var)
    assert torch.equal(session.mlp.g.get_state(), m.g.get_state())
    assert (list(got.steps), list(got.loss), list(got.lr)) == (list(h.steps), list(h.loss), list(h.lr))
    assert got.extra == h.extra and got.lr_changes() == h.lr_changes()
    assert [s for s, _, _ in got.snapshots] == [s for s, _, _ in h.snapshots]
    for (_, a, _), (_, b, _) in zip(got.snapshots, h.snapshots):
        assert all(torch.equal(a["params"][k], b["params"][k]) for k in PARAMS)
        assert torch.equal(a["generator"], b["generator"])
        assert not a["params"]["W1"].is_inference()  # seek loads and steps on it outside inference mode
    assert got.full_steps_list() == h.full_steps_list()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_train_records_what_a_step_at_a_time_records(client, dtype):
    sid = client.post("/api/sessions", json={**CONFIG, "dtype": dtype}).json()["id"]
    try:
        session = client.app.state.sessions.get(sid)
        m, h = step_by_step(session, STEPS)
        r = client.post(f"/api/sessions/{sid}/train", json={"steps": STEPS})
        assert r.json() == {"step": STEPS, "loss": h.loss[-1]}
        assert_same(session, m, h)
        # and the paused frame is of the last step, as it was
        assert client.get(f"/api/sessions/{sid}/frame").json()["shows"] == "update"
    finally:
        client.delete(f"/api/sessions/{sid}")


def test_a_replay_in_slices_records_what_a_step_at_a_time_records(client, monkeypatch):
    monkeypatch.setattr("server.replay.SLICE", 0.0)  # a run of steps a slice: many slice ends
    sid = client.post("/api/sessions", json=CONFIG).json()["id"]
    try:
        session = client.app.state.sessions.get(sid)
        m, h = step_by_step(session, STEPS)
        with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
            seen, state, _ = replay(ws, {"cmd": "replay", "steps": STEPS, "pos": None})
        assert [d for d, _ in seen] == list(range(25, STEPS, 25))  # a run a slice
        assert state["step"] == STEPS and state["loss"] == h.loss[-1]
        assert_same(session, m, h)
        # a seek into the kept steps rebuilds from those snapshots
        sought = client.post(f"/api/sessions/{sid}/seek", json={"step": STEPS - 3})
        assert sought.status_code == 200 and sought.json()["step"] == STEPS - 3
    finally:
        client.delete(f"/api/sessions/{sid}")


def test_training_after_a_forward_snapshots_where_it_starts(client):
    # a forward moves the generator: the step it trains from is snapshotted
    # first (the replay could not rebuild it), then the chunks as before
    sid = client.post("/api/sessions", json=CONFIG).json()["id"]
    try:
        session = client.app.state.sessions.get(sid)
        client.post(f"/api/sessions/{sid}/forward")
        client.post(f"/api/sessions/{sid}/train", json={"steps": 30})
        assert [s for s, _, _ in session.history.snapshots] == [0, 25]
        client.post(f"/api/sessions/{sid}/forward")
        client.post(f"/api/sessions/{sid}/train", json={"steps": 30})
        assert [s for s, _, _ in session.history.snapshots] == [0, 25, 30, 50]
        assert json.loads(client.get(f"/api/sessions/{sid}/history").content)["full_steps"] == list(range(0, 61))
    finally:
        client.delete(f"/api/sessions/{sid}")
