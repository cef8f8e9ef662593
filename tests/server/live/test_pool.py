"""Live training in the pool of worker processes (server/live/pool.py, worker.py):
the same steps as training over HTTP, reads up to date while training, seek
after a pause, a worker killed mid-play, sessions spread over workers, a
fair share of one worker, and play / pause racing from two connections."""
from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time

import pytest

from backprop_ninja.model.graph import PARAMS
from backprop_ninja.server.live.pool import WorkerProcess
from backprop_ninja.server.sessions.history import History
from backprop_ninja.server.sessions.lock import MAX_WAITERS
from backprop_ninja.server.sessions.session import Session
from backprop_ninja.server.stream import frames
from tests.server.conftest import make_client, ready
from tests.server.stream.test_stream import command, recv

BIG = {"n_hidden": 512, "batch_size": 1024, "n_embd": 32, "block_size": 8}  # ~0.1 s a step here


def play(ws, **kw) -> dict:
    """Play; the reply comes first, before any live frame."""
    ws.send_text(json.dumps({"cmd": "play", "fps": 30, "steps_per_frame": 10, **kw}))
    kind, d = recv(ws)
    assert kind == "reply" and d["cmd"] == "play", d
    return d["result"]


def pause(ws) -> dict:
    ws.send_text(json.dumps({"cmd": "pause"}))
    while True:
        kind, d = recv(ws)
        assert kind != "error", d
        if kind == "reply" and d["cmd"] == "pause":
            recv(ws)  # its frame
            return d["result"]


def frames_until(ws, steps: int, limit: float = 120, frame: bool = False):
    """Read frames until one shows at least `steps` steps; its step (or the
    frame). The limit only stops a broken test; nothing here depends on speed."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        kind, f = recv(ws)
        assert kind != "error", f
        if kind == "frame" and f["playing"] and f["step"] >= steps:
            return f if frame else f["step"]
    raise AssertionError(f"no frame reached step {steps}")


def wait_for(check, what: str, limit: float = 60):
    deadline = time.monotonic() + limit
    while not (got := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.02)
    return got


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_live_training_equals_training_over_http(client, dtype):
    live = client.post("/api/sessions", json={"dtype": dtype, "seed": 7}).json()["id"]
    with client.websocket_connect(f"/api/sessions/{live}/stream") as ws:
        command(ws, {"cmd": "subscribe", "nodes": [], "format": "json"})
        play(ws, val_every=50)
        frames_until(ws, 120)
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
    assert fa["shows"] == fb["shows"] == "update"
    ha = client.get(f"/api/sessions/{live}/history").json()["points"]
    hb = client.get(f"/api/sessions/{other}/history").json()["points"]
    assert [p["loss"] for p in ha] == [p["loss"] for p in hb]
    assert [p["step"] for p in ha if p["val_loss"] is not None] == list(range(50, step + 1, 50))
    # the val losses are those of the model right after their step
    vals = {p["step"]: p["val_loss"] for p in ha if p["val_loss"] is not None}
    third = client.post("/api/sessions", json={"dtype": dtype, "seed": 7}).json()["id"]
    store = client.app.state.sessions
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
    # the snapshots taken in the worker came back: every kept step is a seek target
    target = hist["full_steps"][0] + 13
    assert client.post(f"/api/sessions/{sid}/seek", json={"step": target}).json()["step"] == target


def test_a_worker_killed_mid_play_is_restarted_and_nothing_shown_is_lost():
    with make_client(workers=1) as c:
        client = ready(c)
        pool = client.app.state.sessions.pool
        sid = client.post("/api/sessions").json()["id"]
        bystander = client.post("/api/sessions").json()["id"]
        with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
            command(ws, {"cmd": "subscribe", "nodes": ["h"], "format": "json"})
            play(ws)
            seen = frames_until(ws, 50)
            old = pool.workers[0].pid
            os.kill(old, signal.SIGKILL)  # a crash
            deadline = time.monotonic() + 60
            while True:  # every frame before the error counts as shown
                assert time.monotonic() < deadline, "no error frame after the worker died"
                kind, d = recv(ws)
                if kind == "frame":
                    seen = d["step"]
                if kind == "error":
                    assert "worker process died" in d["message"] and d["cmd"] == "play", d
                    break
            state = client.get(f"/api/sessions/{sid}").json()
            assert not state["playing"] and state["step"] >= seen  # no step a client was shown is lost
            hist = client.get(f"/api/sessions/{sid}/history").json()
            assert hist["points"][-1]["step"] == state["step"] == hist["full_steps"][-1]
            assert f"step {state['step']}" in d["message"]
            # the history lists only steps the session can show
            assert client.post(f"/api/sessions/{sid}/seek", json={"step": state["step"]}).status_code == 200
            health = wait_for(lambda: (h := client.get("/api/health").json())["workers"][0]["alive"] and h,
                              "the worker was not started again")
            assert health["workers"][0]["restarts"] == 1 and health["workers"][0]["pid"] != old
            play(ws)  # and training goes on, on the new worker
            assert frames_until(ws, state["step"] + 50) >= state["step"] + 50
            pause(ws)
        assert client.post(f"/api/sessions/{bystander}/train", json={"steps": 3}).json()["step"] == 3


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_two_sessions_train_in_parallel_on_two_workers():
    with make_client(workers=2) as c:
        client = ready(c)
        ids = [client.post("/api/sessions", json={"seed": k}).json()["id"] for k in range(2)]
        with client.websocket_connect(f"/api/sessions/{ids[0]}/stream") as a, \
                client.websocket_connect(f"/api/sessions/{ids[1]}/stream") as b:
            for ws in (a, b):
                command(ws, {"cmd": "subscribe", "nodes": [], "format": "json"})
                play(ws)
            workers = client.get("/api/health").json()["workers"]
            assert [w["sessions"] for w in workers] == [1, 1]  # placed on the least-loaded worker
            pids = [w["pid"] for w in workers]
            before = [cpu_seconds(p) for p in pids]
            frames_until(a, 200)
            frames_until(b, 200)
            after = [cpu_seconds(p) for p in pids]
            assert all(y > x for x, y in zip(before, after))  # both processes trained
            for ws in (a, b):
                pause(ws)
        assert [w["sessions"] for w in client.get("/api/health").json()["workers"]] == [0, 0]


def test_a_small_session_beside_a_big_one_gets_its_share_of_the_worker():
    """One worker, time-shared: a step of the big model takes ~100x the
    small one's, yet each gets a fair part of the worker's time."""
    with make_client(workers=1) as c:
        client = ready(c)
        store = client.app.state.sessions
        big = client.post("/api/sessions", json=BIG).json()["id"]
        small = client.post("/api/sessions").json()["id"]
        with client.websocket_connect(f"/api/sessions/{big}/stream") as wb, \
                client.websocket_connect(f"/api/sessions/{small}/stream") as ws:
            command(wb, {"cmd": "subscribe", "nodes": [], "format": "json"})
            command(ws, {"cmd": "subscribe", "nodes": [], "format": "json"})
            play(wb, fps=2)
            play(ws, fps=2)
            players = [store.get(s).player for s in (big, small)]
            wait_for(lambda: players[1].steps_per_sec, "the small session did not report its speed")
            # from here on (a newcomer starts level with the others' time, so count from now)
            used0 = [p.used for p in players]
            steps0 = [client.get(f"/api/sessions/{s}").json()["step"] for s in (big, small)]
            wait_for(lambda: min(p.used - u for p, u in zip(players, used0)) > 1.0,
                     "both did not train for another second")
            used = [p.used - u for p, u in zip(players, used0)]
            steps = [client.get(f"/api/sessions/{s}").json()["step"] - n for s, n in zip((big, small), steps0)]
            shares = [u / sum(used) for u in used]
            # the big model's frames are built in its worker (worker.SHIP_BYTES): whole frames still
            big_frame = frames_until(wb, 1, frame=True)
            assert big_frame["shows"] == "update" and big_frame["nodes"]["hprebn"]["grad"]["numel"] == 1024 * 512
            for w in (wb, ws):
                pause(w)
        assert min(shares) > 0.3, shares
        assert steps[1] > 20 * steps[0], (steps, used)  # not held to the big one's steps


def test_play_and_pause_racing_from_two_connections_never_leave_a_player_running(client, sid):
    store = client.app.state.sessions
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as a, \
            client.websocket_connect(f"/api/sessions/{sid}/stream") as b:
        for _ in range(20):
            go = threading.Barrier(2)

            def one(ws, cmd):
                go.wait()
                ws.send_text(json.dumps({"cmd": cmd}))

            threads = [threading.Thread(target=one, args=(a, "play")), threading.Thread(target=one, args=(b, "pause"))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for ws, cmd in ((a, "play"), (b, "pause")):
                while True:  # this command's reply (live frames may come before it)
                    kind, d = recv(ws)
                    assert kind != "error", d
                    if kind == "reply" and d["cmd"] == cmd:
                        break
            pause(a)
            assert store.get(sid).player is None
            assert not any(sid in w.players for w in store.pool.workers)
            assert client.get(f"/api/sessions/{sid}").json()["playing"] is False
        a.send_text(json.dumps({"cmd": "frame"}))
        b.send_text(json.dumps({"cmd": "frame"}))
    step = client.get(f"/api/sessions/{sid}").json()["step"]
    time.sleep(0.3)  # a stray trainer would move it meanwhile
    assert client.get(f"/api/sessions/{sid}").json()["step"] == step


def test_a_frame_its_asker_gave_up_on_is_answered_quietly(client, sid, caplog):
    # a stream that closes while its frame is on the way cancels the request;
    # the worker's answer must then find it gone, not raise in the reader thread
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
        command(ws, {"cmd": "subscribe", "nodes": [], "format": "json"})
        play(ws)
        player = client.app.state.sessions.get(sid).player
        asked = player.request_frame(10**9, [], "json")  # not due while it plays
        assert asked.cancel()
        with caplog.at_level(logging.ERROR):
            pause(ws)  # the worker answers the request it still holds: no frame
    assert asked.cancelled()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_a_frame_still_being_built_when_its_worker_dies_is_not_shown_past_the_resumed_step(monkeypatch):
    # a live frame is summarised here, in the frames thread, after its
    # worker packed it; a worker that dies meanwhile leaves the session to
    # resume from its last checkpoint once a request takes the crash in (the
    # page polls the history every second); the frame finished after that
    # went out all the same: a step shown, then lost. The frames thread is
    # held here only to make that order certain
    with make_client(workers=1) as c:
        client = ready(c)
        store = client.app.state.sessions
        sid = client.post("/api/sessions").json()["id"]
        entered, release = threading.Event(), threading.Event()
        build = frames.build

        def held(*args, **kwargs):
            if threading.current_thread().name.startswith("frames") and not entered.is_set():
                entered.set()
                release.wait(60)
            return build(*args, **kwargs)

        with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
            command(ws, {"cmd": "subscribe", "nodes": [], "format": "json"})
            play(ws)
            frames_until(ws, 20)
            player = store.get(sid).player
            monkeypatch.setattr(frames, "build", held)
            assert entered.wait(60), "no live frame was built"
            os.kill(store.pool.workers[0].pid, signal.SIGKILL)
            wait_for(lambda: player.error, "the player did not hear of the crash")
            resumed = client.get(f"/api/sessions/{sid}").json()  # takes the crash in
            assert not resumed["playing"]
            release.set()
            shown = []
            while True:
                kind, d = recv(ws)
                if kind == "frame":
                    shown.append(d["step"])
                if kind == "error":
                    assert "worker process died" in d["message"], d
                    break
            assert all(step <= resumed["step"] for step in shown), (shown, resumed["step"])
            assert client.get(f"/api/sessions/{sid}").json()["step"] == resumed["step"]
            wait_for(lambda: client.get("/api/health").json()["workers"][0]["alive"], "no new worker")


def test_a_play_waiting_for_a_restarting_worker_does_not_start_under_a_replay(monkeypatch):
    # play checks that no shared link's replay owns the model, then waits,
    # unlocked, for a worker to be running; a replay begun from another
    # connection meanwhile was then trained under by live training: the
    # replay failed, and so did its end (refused while training live), which
    # left the session "rebuilding" for good, every change and play refused
    with make_client(workers=1) as c:
        client = ready(c)
        store = client.app.state.sessions
        pool = store.pool
        sid = client.post("/api/sessions").json()["id"]
        s = store.get(sid)
        gate = threading.Event()  # the new worker starts when the test says
        start = WorkerProcess.start

        def held(self):
            gate.wait(60)
            start(self)

        monkeypatch.setattr(WorkerProcess, "start", held)
        os.kill(pool.workers[0].pid, signal.SIGKILL)
        wait_for(lambda: not pool.workers[0].alive, "the worker did not die")
        with client.websocket_connect(f"/api/sessions/{sid}/stream") as a, \
                client.websocket_connect(f"/api/sessions/{sid}/stream") as b:
            for ws in (a, b):
                command(ws, {"cmd": "subscribe", "nodes": [], "format": "json"})
            a.send_text(json.dumps({"cmd": "play", "fps": 30, "steps_per_frame": 10}))
            wait_for(s.control.locked, "the play did not begin")  # it waits for the worker
            b.send_text(json.dumps({"cmd": "replay", "steps": 10_000, "mode": "fused"}))
            wait_for(lambda: s.rebuilding, "the replay did not begin")
            gate.set()
            kind, d = recv(a)
            played = kind == "reply"
            assert played or (kind == "error" and "rebuilding" in d["message"]), d
            if played:
                pause(a)
            while True:  # the replay's end: its reply (after its progress) or its error
                kind, d = recv(b)
                if kind in ("reply", "error"):
                    break
            wait_for(lambda: not s.rebuilding, "the session stayed rebuilding", limit=10)
        assert s.player is None
        assert client.post(f"/api/sessions/{sid}/train", json={"steps": 1}).status_code == 200


def test_a_replay_ends_even_when_its_session_is_busy(client, sid, monkeypatch):
    # a replay's end (in its `finally`) went through the
    # request cap: with MAX_WAITERS requests waiting for the session (a slow
    # one holding it, the page's others behind it) it was turned away, and
    # the session stayed "rebuilding" for good, every change and play refused.
    # The replay's end and the slow request are held only to fix the order
    store = client.app.state.sessions
    s = store.get(sid)
    ending_in, ending_go, slow_in, slow_go = (threading.Event() for _ in range(4))
    ending, state = History.ending, Session._state

    def held_ending(self, *args):
        ending_in.set()
        ending_go.wait(60)
        return ending(self, *args)

    first = threading.Lock()  # taken by the first GET's read: the slow one

    def held_state(self):
        if ending_in.is_set() and first.acquire(blocking=False):
            slow_in.set()
            slow_go.wait(60)
        return state(self)

    monkeypatch.setattr(History, "ending", held_ending)
    monkeypatch.setattr(Session, "_state", held_state)
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as b:
        command(b, {"cmd": "subscribe", "nodes": [], "format": "json"})
        b.send_text(json.dumps({"cmd": "replay", "steps": 200, "mode": "fused"}))
        assert ending_in.wait(60), "the replay did not reach its end"
        slow = threading.Thread(target=client.get, args=(f"/api/sessions/{sid}",))
        slow.start()
        assert slow_in.wait(60)
        waiting = [threading.Thread(target=client.get, args=(f"/api/sessions/{sid}",)) for _ in range(MAX_WAITERS)]
        for t in waiting:
            t.start()
        wait_for(lambda: s.lock.waiting >= MAX_WAITERS, "the requests did not queue")
        ended = []
        reader = threading.Thread(target=lambda: ended.append(next(
            (kind, d) for kind, d in iter(lambda: recv(b), None) if kind in ("reply", "error"))))
        reader.start()
        ending_go.set()
        # the replay's end is refused at once, or waits its turn
        wait_for(lambda: ended or s.lock.waiting > MAX_WAITERS, "the replay's end did neither")
        slow_go.set()
        for t in (slow, *waiting, reader):
            t.join(60)
        assert ended, "the replay never answered"
    assert not s.rebuilding, ended
    assert client.post(f"/api/sessions/{sid}/train", json={"steps": 1}).status_code == 200


def test_a_crash_is_told_to_the_stream_even_when_the_session_is_busy(monkeypatch):
    # the stream tells of a player that failed after taking in what it left
    # (Session.settled, under the capped lock): with MAX_WAITERS requests
    # waiting for the session that was refused, and the client never heard
    # that training had stopped. The slow request is held only to fix the order
    with make_client(workers=1) as c:
        client = ready(c)
        store = client.app.state.sessions
        sid = client.post("/api/sessions").json()["id"]
        s = store.get(sid)
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
            play(ws)
            frames_until(ws, 20)
            player = s.player
            armed.set()
            slow = threading.Thread(target=client.get, args=(f"/api/sessions/{sid}",))
            slow.start()
            assert slow_in.wait(60)
            waiting = [threading.Thread(target=client.get, args=(f"/api/sessions/{sid}",))
                       for _ in range(MAX_WAITERS)]
            for t in waiting:
                t.start()
            wait_for(lambda: s.lock.waiting >= MAX_WAITERS, "the requests did not queue")
            told = []

            def read():
                while (got := recv(ws))[0] != "error":
                    pass
                told.append(got[1])

            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            os.kill(store.pool.workers[0].pid, signal.SIGKILL)
            wait_for(lambda: player.error, "the player did not hear of the crash")
            reader.join(10)  # the sender looks every IDLE_POLL; the session is still busy meanwhile
            slow_go.set()
            for t in (slow, *waiting):
                t.join(60)
            reader.join(60)
            assert told and "worker process died" in told[0]["message"], told
            wait_for(lambda: client.get("/api/health").json()["workers"][0]["alive"], "no new worker")


def test_a_play_as_its_session_is_deleted_does_not_train_the_deleted_session(client, monkeypatch):
    # a delete paused the session and only then marked it deleted: a play
    # from another connection in between started live training of a session
    # no longer in the store (its memory given back to the budget), left on
    # its worker for as long as that connection stayed open. The delete is
    # held between the two only to fix the order
    store = client.app.state.sessions
    sid = client.post("/api/sessions").json()["id"]
    armed, paused, go, first = threading.Event(), threading.Event(), threading.Event(), threading.Lock()
    pause_ = Session.pause

    def held_pause(self):
        got = pause_(self)
        if armed.is_set() and first.acquire(blocking=False):
            paused.set()
            go.wait(60)
        return got

    monkeypatch.setattr(Session, "pause", held_pause)
    with client.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
        command(ws, {"cmd": "subscribe", "nodes": [], "format": "json"})
        armed.set()
        deleting = threading.Thread(target=client.delete, args=(f"/api/sessions/{sid}",))
        deleting.start()
        try:
            assert paused.wait(60), "the delete did not pause the session"
            ws.send_text(json.dumps({"cmd": "play", "fps": 30, "steps_per_frame": 10}))
            kind, d = recv(ws)
            assert kind == "error" and "deleted" in d["message"], d
        finally:
            go.set()
            deleting.join(60)
        assert not any(sid in w.players for w in store.pool.workers)
