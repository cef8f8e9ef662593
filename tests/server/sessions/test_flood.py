"""Bounded waiting: one session asked for far more than it can do at once.
At most MAX_WAITERS requests wait for its lock (each holds a worker thread);
the rest are refused with 429 "busy" at once, and /api/health and the other
sessions keep answering. The session is held busy the way a long /train
holds it (its lock taken), so what the test sees does not depend on timing."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor, as_completed

from backprop_ninja.server.sessions.lock import MAX_WAITERS
from tests.server.conftest import make_client

FLOOD = 80


def test_eighty_requests_on_one_busy_session():
    with make_client(workers=1) as c:
        sid = c.post("/api/sessions", json={"n_hidden": 8}).json()["id"]
        other = c.post("/api/sessions", json={"n_hidden": 8}).json()["id"]
        s = c.app.state.sessions.get(sid)
        s.lock.__enter__()  # busy, as during a long train
        held = True
        with ThreadPoolExecutor(FLOOD) as pool:
            try:
                futures = [pool.submit(c.post, f"/api/sessions/{sid}/train", json={"steps": 1})
                           for _ in range(FLOOD)]
                answered = []
                for f in as_completed(futures):  # the refused ones come back while the lock is held
                    answered.append(f.result())
                    if len(answered) == FLOOD - MAX_WAITERS:
                        break
                assert all(r.status_code == 429 for r in answered), [r.text for r in answered if r.status_code != 429]
                assert all("busy" in r.json()["detail"] for r in answered)
                assert s.lock.waiting == MAX_WAITERS
                # meanwhile: health, another session, and this one's stream (an error frame)
                assert c.get("/api/health").status_code == 200
                assert c.post(f"/api/sessions/{other}/train", json={"steps": 1}).status_code == 200
                with c.websocket_connect(f"/api/sessions/{sid}/stream") as ws:
                    ws.send_text(json.dumps({"cmd": "forward"}))
                    err = ws.receive_json()
                    assert err["type"] == "error" and "busy" in err["message"]
            finally:  # also when an assertion failed: the waiting requests must end
                s.lock.release()
                held = False
        assert not held
        # the pool has finished: the ones that waited were served, in turn
        assert sum(f.result().status_code == 200 for f in futures) == MAX_WAITERS
        assert c.get(f"/api/sessions/{sid}").json()["step"] == MAX_WAITERS
