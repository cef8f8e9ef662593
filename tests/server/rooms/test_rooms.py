"""Rooms through the API: a teacher's session followed live, never driven by
a follower; late joiners, forks, the end of a room, guessing refused."""
from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import pytest

from backprop_ninja.model.mistakes import label
from backprop_ninja.server.rooms.hub import Slot
from backprop_ninja.server.routes.rooms import FOLLOWER_REFUSAL
from tests.server.conftest import make_client, ready


@pytest.fixture(scope="module")
def client():
    with make_client(max_sessions=50) as c:
        yield ready(c)


def new_session(client) -> str:
    r = client.post("/api/sessions")
    assert r.status_code == 201, r.text
    return r.json()["id"]


def make_room(client, sid: str) -> dict:
    r = client.post("/api/rooms", json={"session": sid})
    assert r.status_code == 201, r.text
    return r.json()


def until(ws, kind: str, pred=lambda m: True) -> dict:
    """Read messages until one of `kind` satisfies pred (older frames may come first)."""
    while True:
        msg = ws.receive()  # graph and state come as binary (UTF-8 JSON), the rest as text
        assert msg["type"] == "websocket.send", f"the socket closed: {msg}"
        m = json.loads(msg["text"] if msg.get("text") is not None else msg["bytes"])
        if m["type"] == kind and pred(m):
            return m


def view(sid: str, **kw) -> str:
    return json.dumps({"cmd": "view", "view": {"session": sid, **kw}})


def hello(ws, secret: str) -> None:
    ws.send_text(json.dumps({"cmd": "hello", "secret": secret}))


def test_follower_sees_the_teacher_live_and_never_the_session_id(client):
    sid = new_session(client)
    room = make_room(client, sid)
    assert f"follow={room['code']}" in room["join_url"]
    assert room["qr_svg"].startswith("<svg") and "path" in room["qr_svg"]
    code = room["code"]
    with client.websocket_connect(f"/api/rooms/{code}/teach") as teacher, \
            client.websocket_connect(f"/api/rooms/{code}/follow") as follower:
        hello(teacher, room["secret"])
        assert until(follower, "status", lambda m: m["teacher_connected"] and m["followers"] == 1)
        assert client.post(f"/api/sessions/{sid}/forward").status_code == 200
        assert client.post(f"/api/sessions/{sid}/backward", json={"mode": "atomic", "nodes": 3}).status_code == 200
        teacher.send_text(view(sid, selected="probs", pinned=True, inspect="probs", row=4, present=True))
        graph = until(follower, "graph")
        assert {n["name"] for n in graph["graph"]["nodes"]} >= {"logits", "hprebn", "logprobs"}
        state = until(follower, "state")
        assert state["frame"]["computed"] == ["loss", "logprobs", "probs"] and state["forwarded"]
        assert state["view"] == {"selected": "probs", "pinned": True, "inspect": "probs", "row": 4,
                                 "sort_by_loss": False, "show_diff": False, "present": True, "playing": False,
                                 "derive": False}
        assert state["tensor"]["name"] == "probs" and state["tensor"]["grad"] is not None
        assert len(state["rows"]["Yb"]) == 32 and state["rows"]["dlogits"] is None  # not reached yet
        assert "session" not in state["view"] and sid not in json.dumps(state) and sid not in json.dumps(graph)
        # the teacher steps on: the follower's next state has it
        client.post(f"/api/sessions/{sid}/backward", json={"mode": "fused", "nodes": None})
        teacher.send_text(view(sid, inspect="logits"))
        later = until(follower, "state", lambda m: m["frame"]["mode"] == "fused")
        assert later["version"] > state["version"] and later["rows"]["dlogits"] is not None


def test_a_teachers_socket_refused_by_a_full_room_leaves_no_trace(client, monkeypatch):
    monkeypatch.setattr("backprop_ninja.server.rooms.hub.MAX_FOLLOWERS", 2)  # the teacher's first socket and one follower
    sid = new_session(client)
    room = make_room(client, sid)
    code = room["code"]
    with client.websocket_connect(f"/api/rooms/{code}/follow") as follower:
        with client.websocket_connect(f"/api/rooms/{code}/teach") as teacher:
            hello(teacher, room["secret"])
            assert until(follower, "status", lambda m: m["teacher_connected"])
            with client.websocket_connect(f"/api/rooms/{code}/teach") as second:
                hello(second, room["secret"])
                refused = until(second, "error")
                assert refused["message"] == "this room has 2 followers on this server, its limit"
        # the teacher's one real socket closed: the class is told
        assert until(follower, "status", lambda m: not m["teacher_connected"])["ended"] is False


def test_a_follower_cannot_drive_the_teachers_session(client):
    sid = new_session(client)
    client.post(f"/api/sessions/{sid}/forward")
    room = make_room(client, sid)
    code = room["code"]
    before = client.get(f"/api/sessions/{sid}").json()
    with client.websocket_connect(f"/api/rooms/{code}/follow") as follower:
        for cmd in ({"cmd": "forward"}, {"cmd": "backward", "nodes": 5}, {"cmd": "play"}, {"cmd": "pause"},
                    {"cmd": "seek", "step": 0}, {"cmd": "view", "view": {"session": sid}},
                    {"cmd": "hello", "secret": "guess"}, {"cmd": "end"}):
            follower.send_text(json.dumps(cmd))
            err = until(follower, "error")
            assert err["message"] == FOLLOWER_REFUSAL and err["cmd"] == cmd["cmd"]
    # the teacher's socket wants the teacher's secret
    with client.websocket_connect(f"/api/rooms/{code}/teach") as impostor:
        hello(impostor, "not-the-secret")
        err = until(impostor, "error")
        assert "wrong teacher secret" in err["message"]
    with client.websocket_connect(f"/api/rooms/{code}/teach") as impostor:
        impostor.send_text(view(sid))  # no hello
        assert "hello" in until(impostor, "error")["message"]
    assert client.get(f"/api/sessions/{sid}").json() == before
    # a room only for a session one holds
    r = client.post("/api/rooms", json={"session": "no-such-session"})
    assert r.status_code == 404 and "no session" in r.json()["detail"]


def test_a_late_joiner_gets_the_room_at_once_and_a_fork_is_exact(client):
    sid = new_session(client)
    for _ in range(2):
        client.post(f"/api/sessions/{sid}/forward")
        client.post(f"/api/sessions/{sid}/backward", json={"mode": "atomic", "nodes": None})
        client.post(f"/api/sessions/{sid}/update")
    client.post(f"/api/sessions/{sid}/forward")
    client.post(f"/api/sessions/{sid}/backward", json={"mode": "atomic", "nodes": 7})
    room = make_room(client, sid)
    code = room["code"]
    with client.websocket_connect(f"/api/rooms/{code}/teach") as teacher:
        hello(teacher, room["secret"])
        teacher.send_text(view(sid, inspect="dh", row=2))
        time.sleep(0.05)
        with client.websocket_connect(f"/api/rooms/{code.lower().replace('-', ' ')}/follow") as late:
            state = until(late, "state")  # with no new step by the teacher
            assert state["frame"]["step"] == 2 and len(state["frame"]["computed"]) == 7
        r = client.post(f"/api/rooms/{code}/fork")
        assert r.status_code == 201, r.text
        mine = r.json()["session"]["id"]
        assert mine != sid and r.json()["view"]["row"] == 2
    theirs, copy = client.get(f"/api/sessions/{sid}").json(), client.get(f"/api/sessions/{mine}").json()
    for k in ("step", "loss", "mode", "computed", "remaining", "next"):
        assert copy[k] == theirs[k], k
    for name in ("W1", "hprebn", "logits"):
        a = client.get(f"/api/sessions/{sid}/tensors/{name}").json()
        b = client.get(f"/api/sessions/{mine}/tensors/{name}").json()
        assert a["value"] == b["value"] and a["grad"] == b["grad"], name
    # the copy goes on by itself, exactly as the teacher's would
    for s in (sid, mine):
        client.post(f"/api/sessions/{s}/backward", json={"mode": "atomic", "nodes": None})
        client.post(f"/api/sessions/{s}/update")
        client.post(f"/api/sessions/{s}/forward")
    assert client.get(f"/api/sessions/{sid}").json()["loss"] == client.get(f"/api/sessions/{mine}").json()["loss"]


def test_reconnects_resume_and_followers_are_told_the_room_ended(client):
    sid = new_session(client)
    room = make_room(client, sid)
    code = room["code"]
    with client.websocket_connect(f"/api/rooms/{code}/follow") as follower:
        with client.websocket_connect(f"/api/rooms/{code}/teach") as teacher:
            hello(teacher, room["secret"])
            until(follower, "status", lambda m: m["teacher_connected"])
            teacher.send_text(view(sid))
            until(follower, "state")
        assert until(follower, "status", lambda m: not m["teacher_connected"])["ended"] is False
        with client.websocket_connect(f"/api/rooms/{code}/teach") as teacher:  # the teacher's page reloaded
            hello(teacher, room["secret"])
            until(follower, "status", lambda m: m["teacher_connected"])
            teacher.send_text(json.dumps({"cmd": "end"}))
            ended = until(follower, "status", lambda m: m["ended"])
            assert ended["reason"] == "the teacher ended the room"
    r = client.get(f"/api/rooms/{code}")
    assert r.status_code == 404 and "ended" in r.json()["detail"]


def test_a_room_whose_teacher_stays_away_times_out():
    with make_client(room_timeout=3.0) as client:  # ample for a hello to come first, even on a loaded machine
        away_too_long(client)


def away_too_long(client):
    sid = new_session(client)
    room = make_room(client, sid)
    code = room["code"]
    with client.websocket_connect(f"/api/rooms/{code}/follow") as follower:
        with client.websocket_connect(f"/api/rooms/{code}/teach") as teacher:
            hello(teacher, room["secret"])
            until(follower, "status", lambda m: m["teacher_connected"])
        ended = until(follower, "status", lambda m: m["ended"])
        assert "away for more than 3 s" in ended["reason"]


def test_guessing_codes_is_refused_and_a_right_code_is_not_counted():
    with make_client() as c:
        sid = new_session(c)
        code = make_room(c, sid)["code"]
        for _ in range(30):  # a class joining through one address
            assert c.get(f"/api/rooms/{code}").status_code == 200
        for k in range(20):
            r = c.get(f"/api/rooms/ABCD{k:06d}")
            assert r.status_code == 404 and "no room" in r.json()["detail"]
        r = c.get(f"/api/rooms/{code}")
        assert r.status_code == 429
        assert "too many unknown room codes" in r.json()["detail"] and "a minute" in r.json()["detail"]
        with c.websocket_connect(f"/api/rooms/{code}/follow") as ws:
            assert "too many unknown room codes" in json.loads(ws.receive_text())["message"]


def test_a_slot_keeps_only_the_newest_of_each_kind():
    async def go():
        slot = Slot()
        for k in range(100):
            slot.put("state", f"s{k}")
        slot.put("status", "t")
        slot.put("graph", "g")
        return await slot.take(), slot.dropped
    # in a thread of its own: after the browser tests, Playwright's loop runs in this one
    with ThreadPoolExecutor(1) as pool:
        got, dropped = pool.submit(asyncio.run, go()).result()
    assert got == ["g", "s99", "t"] and dropped == 99


def test_the_class_view_counts_followers_progress_anonymously(client):
    sid = new_session(client)
    client.post(f"/api/sessions/{sid}/forward")
    room = make_room(client, sid)
    code = room["code"]
    progress = [  # three followers' "Derive it" at dprobs, in exercise 1
        {"logprobs": {"status": "solved"}, "probs": {"status": "solved"}},
        {"logprobs": {"status": "solved", "hints": 2}, "probs": {"status": "failing", "mistake": "one_branch"}},
        {"logprobs": {"status": "failing", "mistake": "sign"}},
    ]
    with client.websocket_connect(f"/api/rooms/{code}/teach") as teacher:
        hello(teacher, room["secret"])
        teacher.send_text(view(sid, inspect="probs"))
        with client.websocket_connect(f"/api/rooms/{code}/follow") as a, \
                client.websocket_connect(f"/api/rooms/{code}/follow") as b, \
                client.websocket_connect(f"/api/rooms/{code}/follow") as c:
            for ws, nodes in zip((a, b, c), progress):
                ws.send_text(json.dumps({"cmd": "progress", "mode": "atomic", "nodes": nodes}))
            a.send_text(json.dumps({"cmd": "nickname", "nickname": "Ada"}))
            got = until(teacher, "class", lambda m: m["reporting"] == 3 and m["nicknames"] == ["Ada"])
            assert got["node"] == "probs" and got["mode"] == "atomic"
            assert (got["solved"], got["hinted"], got["revealed"], got["trying"]) == (1, 0, 0, 1)
            assert got["first_failing"] == {"logprobs": 1, "probs": 1}
            assert (got["mistake"], got["mistake_count"], got["wrong"]) == ("one_branch", 1, 1)
            assert "Ada" not in json.dumps({k: v for k, v in got.items() if k != "nicknames"})
            # bad reports are refused with a sentence, and change nothing
            c.send_text(json.dumps({"cmd": "progress", "mode": "atomic", "nodes": {"W9": {"status": "solved"}}}))
            assert "'W9' not in the atomic backward" in until(c, "error")["message"]
            c.send_text(json.dumps({"cmd": "progress", "mode": "atomic", "nodes": {"probs": {"status": "great"}}}))
            assert until(c, "error")["cmd"] == "progress"
            # the teacher moves on to dlogprobs: counted there
            teacher.send_text(view(sid, inspect="logprobs"))
            got = until(teacher, "class", lambda m: m["node"] == "logprobs")
            assert (got["solved"], got["hinted"], got["trying"], got["mistake"]) == (1, 1, 1, "sign")
        # followers gone: their records go too
        got = until(teacher, "class", lambda m: m["reporting"] == 0)
        assert got["nicknames"] == []


def test_the_class_view_counts_a_first_try_mistake_by_its_name(client):
    """A follower's wrong first try at dloss counts though they solved it since,
    named as the catalogue names it (missing_1n is "missing 1/n", not "missing 1n")."""
    sid = new_session(client)
    client.post(f"/api/sessions/{sid}/forward")
    room = make_room(client, sid)
    code = room["code"]
    sign = client.post(f"/api/sessions/{sid}/attempts", json={"node": "loss", "code": "dloss = -1.0", "mode": "atomic"})
    assert sign.json()["mistake"] == "sign"  # what a follower's page reports after this try
    progress = [
        {"loss": {"status": "solved", "mistakes": ["sign"], "wrong": 1}},  # wrong sign first, then right
        {"loss": {"status": "solved", "hints": 1, "mistakes": ["sign"], "wrong": 2}},
        {"loss": {"status": "failing", "mistake": "sign", "mistakes": ["sign", "missing_1n"], "wrong": 2}},
        {"loss": {"status": "solved"}},
        {"loss": {"status": "failing", "wrong": 1}},  # a wrong try of no named kind (a syntax error, say)
    ]
    with client.websocket_connect(f"/api/rooms/{code}/teach") as teacher, ExitStack() as stack:
        hello(teacher, room["secret"])
        teacher.send_text(view(sid, inspect="loss", selected="loss", pinned=True, derive=True))
        socks = [stack.enter_context(client.websocket_connect(f"/api/rooms/{code}/follow")) for _ in progress]
        for ws, nodes in zip(socks, progress):
            ws.send_text(json.dumps({"cmd": "progress", "mode": "atomic", "nodes": nodes}))
        got = until(teacher, "class", lambda m: m["reporting"] == 5)
        assert got["node"] == "loss"
        assert (got["solved"], got["hinted"], got["trying"], got["wrong"]) == (2, 1, 2, 4)
        assert (got["mistake"], got["mistake_count"]) == ("sign", 3)
        assert got["mistake_label"] == label("sign") and got["mistake_label"] != "sign"
        # the teacher looks at dlogprobs: one follower's "missing 1/n" there, by its human name
        ws = socks[0]
        ws.send_text(json.dumps({"cmd": "progress", "mode": "atomic", "nodes": {
            "loss": {"status": "solved"},
            "logprobs": {"status": "solved", "mistakes": ["missing_1n"], "wrong": 1}}}))
        teacher.send_text(view(sid, inspect="logprobs", derive=True))
        got = until(teacher, "class", lambda m: m["node"] == "logprobs" and m["mistake"] is not None)
        assert (got["mistake"], got["mistake_count"], got["solved"]) == ("missing_1n", 1, 1)
        assert got["mistake_label"] == label("missing_1n") and "1/n" in got["mistake_label"]
        # a kind that is not a kind is refused with a sentence
        ws.send_text(json.dumps({"cmd": "progress", "mode": "atomic",
                                 "nodes": {"loss": {"status": "solved", "mistakes": ["Wrong Sign!"]}}}))
        assert "progress" in until(ws, "error")["message"]


def test_followers_and_a_late_joiner_learn_the_teachers_derive_it_is_on(client):
    sid = new_session(client)
    client.post(f"/api/sessions/{sid}/forward")
    room = make_room(client, sid)
    code = room["code"]
    with client.websocket_connect(f"/api/rooms/{code}/teach") as teacher, \
            client.websocket_connect(f"/api/rooms/{code}/follow") as early:
        hello(teacher, room["secret"])
        teacher.send_text(view(sid, inspect="loss"))
        assert until(early, "state")["view"]["derive"] is False
        teacher.send_text(view(sid, inspect="loss", selected="loss", pinned=True, derive=True))
        on = until(early, "state", lambda m: m["view"]["derive"])
        assert on["view"]["inspect"] == "loss"
        with client.websocket_connect(f"/api/rooms/{code}/follow") as late:  # joins after: told at once
            first = until(late, "state")
            assert first["view"]["derive"] is True and first["view"]["inspect"] == "loss"
            teacher.send_text(view(sid, inspect="loss"))  # and off again
            assert until(late, "state", lambda m: not m["view"]["derive"])["version"] > first["version"]
        # a fork made meanwhile carries the view too
        r = client.post(f"/api/rooms/{code}/fork")
        assert r.status_code == 201 and r.json()["view"]["derive"] is False
    bad = json.dumps({"cmd": "view", "view": {"session": sid, "derive": "yes please"}})
    with client.websocket_connect(f"/api/rooms/{code}/teach") as teacher:
        hello(teacher, room["secret"])
        teacher.send_text(bad)
        assert "derive" in until(teacher, "error")["message"]
