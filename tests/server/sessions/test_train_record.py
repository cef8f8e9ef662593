"""POST /train and the stream's "replay" train many steps at once
(Session.train_steps, MLP.fused_steps); live training goes a step at a time
(stepping.train_step, worker.py). A shared link must end on the very bits
that training reached and list exactly what it did: the oracle here is the
step-at-a-time record (the session's old loop, the worker's), built beside
the server's from the same config and data."""
from __future__ import annotations

import json

import httpx
import pytest
import torch
from websockets.sync.client import connect

from backprop_ninja.model import MLP, Config
from backprop_ninja.model.graph import PARAMS
from backprop_ninja.server.guards.budget import session_cost
from backprop_ninja.server.live import stepping
from backprop_ninja.server.sessions.history import History
from tests.conftest import CLIENT
from tests.server.conftest import make_client
from tests.server.stream.test_stream_inspect import replay

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
    with torch.inference_mode():  # as a worker's slice holds it
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
    monkeypatch.setattr("backprop_ninja.server.sessions.replay.SLICE", 0.0)  # a run of steps a slice: many slice ends
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


# ---- one link's training, shared by its replays (server/sessions/trajectories.py) -------------
def replayed(client, config: dict, steps: int) -> tuple[str, list[tuple[int, bool]]]:
    """A new session of `config` replayed `steps` updates: (its id, its progress as (done, shared))."""
    sid = client.post("/api/sessions", json=config).json()["id"]
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
        ws.send_text(json.dumps({"cmd": "replay", "steps": steps}))
        seen = []
        while (d := json.loads(ws.receive_text()))["type"] == "progress":
            seen.append((d["done"], d["shared"]))
        assert d["type"] == "reply" and d["result"]["step"] == steps, d
    return sid, seen


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_links_next_replays_start_from_the_training_the_first_kept(client, dtype):
    config = {"seed": 5, "lr_decay_step": 1500, "dtype": dtype}
    first, cold = replayed(client, config, 2600)
    # the same link again: from the first one's last snapshot before its end,
    # with its seek targets (the update after it trained, for its frame)
    again, same = replayed(client, config, 2600)
    # a link further on: from the state kept every 1000 updates; the last 225
    # (the 200 kept whole and a snapshot interval) trained, for the seek targets
    further, seen = replayed(client, config, 2700)
    try:
        assert cold and not any(shared for _, shared in cold)
        assert same == [(2575, True)]
        assert seen[0] == (2000, True) and all(d > 2000 and not shared for d, shared in seen[1:]), seen
        # and each ends on the bits, points and seek targets of training the whole way
        for sid, steps in ((again, 2600), (further, 2700)):
            session = client.app.state.sessions.get(sid)
            assert_same(session, *step_by_step(session, steps))
            # a paused frame shows the last update, as after any replay
            assert client.get(f"/api/sessions/{sid}/frame").json()["shows"] == "update"
            assert client.post(f"/api/sessions/{sid}/seek", json={"step": steps - 150}).status_code == 200
    finally:
        for sid in (first, again, further):
            client.delete(f"/api/sessions/{sid}")


def test_a_session_that_moved_or_another_config_trains_its_own(client):
    config = {"seed": 6}
    first, _ = replayed(client, config, 1300)  # kept up to 1000
    other, seen = replayed(client, {"seed": 7}, 1300)
    moved = client.post("/api/sessions", json=config).json()["id"]
    same = client.post("/api/sessions", json=config).json()["id"]
    try:
        assert not any(shared for _, shared in seen)
        # a forward moved the generator: that session's training is not the link's
        client.post(f"/api/sessions/{moved}/forward")
        with client.websocket_connect(f"/api/sessions/{moved}/stream") as ws:
            ws.send_text(json.dumps({"cmd": "replay", "steps": 1300}))
            while (d := json.loads(ws.receive_text()))["type"] == "progress":
                assert not d["shared"], d
        client.post(f"/api/sessions/{same}/forward")
        client.post(f"/api/sessions/{same}/train", json={"steps": 1300})
        a, b = (client.get(f"/api/sessions/{x}/history?since=1290").json() for x in (moved, same))
        assert a["points"] == b["points"]
    finally:
        for sid in (first, other, moved, same):
            client.delete(f"/api/sessions/{sid}")


def test_with_no_room_kept_every_replay_trains_its_own():
    with make_client(replay_cache_mb=0) as c:
        replayed(c, {"seed": 8}, 1300)
        _, seen = replayed(c, {"seed": 8}, 1300)
        assert seen and not any(shared for _, shared in seen)


def test_replays_of_one_link_at_once_train_it_once(live_server):
    """A class opens a teacher's link together: the second replay follows the
    first one's progress (shared) and trains only the last few updates itself."""
    http = httpx.Client(base_url=live_server, headers=CLIENT, timeout=60)
    config = {"seed": 9}
    a, b = (http.post("/api/sessions", json=config).json()["id"] for _ in range(2))
    url = f"ws{live_server[4:]}/api/sessions/{{}}/stream"
    try:
        with connect(url.format(a)) as wa, connect(url.format(b)) as wb:
            wa.send(json.dumps({"cmd": "replay", "steps": 3600}))
            assert json.loads(wa.recv(timeout=60))["type"] == "progress"  # a is under way, and leads
            wb.send(json.dumps({"cmd": "replay", "steps": 3600}))
            seen = []
            while (d := json.loads(wb.recv(timeout=120)))["type"] == "progress":
                seen.append((d["done"], d["shared"]))
            assert d["type"] == "reply", d
            while json.loads(wa.recv(timeout=120))["type"] == "progress":
                pass
        # it waited for the first one's end, then trained the update after its last snapshot
        assert seen[-1] == (3575, True) and all(shared for _, shared in seen), seen
        ha, hb = (http.get(f"/api/sessions/{x}/history?since=0").json() for x in (a, b))
        assert ha["points"] == hb["points"] and ha["full_steps"] == hb["full_steps"]
        assert (http.get(f"/api/sessions/{a}/tensors/W1").json()["value"]
                == http.get(f"/api/sessions/{b}/tensors/W1").json()["value"])
    finally:
        for sid in (a, b):
            http.delete(f"/api/sessions/{sid}")


def test_nothing_else_moves_a_session_while_its_link_is_rebuilt(live_server):
    """A forward, a /train or a play slipped in between two slices of a
    replay would make the link's kept training wrong for everyone after:
    each is refused with a sentence, and the replay ends as a whole one does."""
    http = httpx.Client(base_url=live_server, headers=CLIENT, timeout=60)
    sid = http.post("/api/sessions", json={"seed": 12}).json()["id"]
    try:
        with connect(f"ws{live_server[4:]}/api/sessions/{sid}/stream") as ws:
            ws.send(json.dumps({"cmd": "replay", "steps": 8000}))
            assert json.loads(ws.recv(timeout=60))["type"] == "progress"
            for path, body in (("forward", None), ("train", {"steps": 10}), ("seek", {"step": 1})):
                r = http.post(f"/api/sessions/{sid}/{path}", json=body)
                assert r.status_code == 409 and "rebuilding a shared link" in r.json()["detail"], r.text
            with connect(f"ws{live_server[4:]}/api/sessions/{sid}/stream") as other:
                other.send(json.dumps({"cmd": "play"}))
                err = json.loads(other.recv(timeout=60))
                assert err["type"] == "error" and "rebuilding a shared link" in err["message"], err
            while (d := json.loads(ws.recv(timeout=120)))["type"] == "progress":
                pass
            assert d["type"] == "reply" and d["result"]["step"] == 8000, d
        # and once it is over, the session is the user's again
        assert http.post(f"/api/sessions/{sid}/forward").status_code == 200
    finally:
        http.delete(f"/api/sessions/{sid}")


def test_an_imported_start_neither_feeds_nor_takes_a_links_training(client):
    config = {"seed": 13}
    made = client.post("/api/sessions", json=config).json()["id"]
    snap = client.get(f"/api/sessions/{made}/snapshot").json()
    snap["params"]["b2"] = [x + 1.0 for x in snap["params"]["b2"]]  # step 0, other numbers
    imported = client.post("/api/sessions/import", json=snap).json()["id"]
    try:
        with client.websocket_connect(f"/api/sessions/{imported}/stream") as ws:
            ws.send_text(json.dumps({"cmd": "replay", "steps": 1300}))
            while (d := json.loads(ws.receive_text()))["type"] == "progress":
                assert not d["shared"], d
        victim, seen = replayed(client, config, 1300)
        assert not any(shared for _, shared in seen)
        session = client.app.state.sessions.get(victim)
        assert_same(session, *step_by_step(session, 1300))
    finally:
        for sid in (made, imported):
            client.delete(f"/api/sessions/{sid}")


def test_kept_training_with_few_points_and_one_seek_target():
    """The history drops its oldest points past history_max_points, and
    keeps one snapshot with history_full_steps 1: a replay from the kept
    training still ends as a whole one does."""
    with make_client(history_max_points=500, history_full_steps=1) as c:
        config = {"seed": 14}
        for steps in (2300, 2300, 2500, 2000, 2000):
            sid, _ = replayed(c, config, steps)
            session = c.app.state.sessions.get(sid)
            assert_same(session, *step_by_step(session, steps))
            c.delete(f"/api/sessions/{sid}")


def test_kept_training_gives_way_to_a_new_session():
    """The kept training is counted in the memory budget, and given back
    when a session would not fit otherwise: sessions come first."""
    with make_client() as c:
        replayed(c, {"seed": 15}, 3000)
        budget = c.app.state.budget
        kept = budget.used - sum(cost for key, (cost, _) in budget._held.items() if key != "replays")
        assert kept > 100_000  # states every 1000 updates, 3000 points, how it ended
        cost = session_cost(Config(), 27, c.app.state.settings)
        budget.charge("the rest of the server", budget.limit - budget.used - cost + kept // 2, "a filler")
        r = c.post("/api/sessions")
        assert r.status_code == 201, r.text  # it fits only with the kept training gone
        budget.release("the rest of the server")
        _, seen = replayed(c, {"seed": 15}, 3000)
        assert seen and not any(shared for _, shared in seen)
