"""Room fan-out benchmark (prints, never asserts).

    python -m benchmarks.room_bench [--followers 300] [--rounds 6] [--presses 10] [--no-redis]

One room, N follower WebSockets (a load script in its own process, so its
work does not slow the teacher's measurements), a teacher who presses "next
node" every 250 ms over the session's stream, as the stepper does, and then
sends its view to the room, as teach.js does.

Printed:
  * key press -> state received by every follower: p50, p95, max over every
    (follower, press), and the frames a follower skipped (latest wins);
  * the teacher's own key -> frame latency with the room's fan-out (views
    sent) over without it (no views sent, followers connected but idle):
    windows alternate, the median of the per-round ratios is printed;
  * with Redis (unless --no-redis, and if redis-server is installed): the
    same with the teacher on one server process and every follower on a
    second one, both using one redis-server.
Targets (issue 17): p95 <= 250 ms, the teacher's ratio <= 1.10.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from websockets.sync.client import connect

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.live import CLIENT, free_port, start_server  # noqa: E402

VERSION = re.compile(rb'^\{"type":"state","version":(\d+)')
CADENCE = 0.25  # seconds between the teacher's key presses: a brisk teacher


# ---- the followers: a load script in its own process --------------------------
def followers_main(url: str, n: int, ready, stop, out) -> None:
    asyncio.run(_followers(url, n, ready, stop, out))


async def _followers(url: str, n: int, ready, stop, out) -> None:
    from websockets.asyncio.client import connect as aconnect
    arrivals: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    probe: dict[int, tuple[int, int]] = {}  # version -> (step, pos), from follower 0

    async def one(i: int, ws) -> None:
        async for text in ws:
            t = time.monotonic()
            m = VERSION.match(text) if isinstance(text, bytes) else None
            if m is None:
                continue
            v = int(m.group(1))
            arrivals[i].append((v, t))
            if i == 0:
                f = json.loads(text)["frame"]
                probe[v] = (f["step"], len(f["computed"]), len(text))

    sockets = []
    for _ in range(n):  # one by one: 300 handshakes at once would time out on 2 cores
        sockets.append(await aconnect(url, max_size=None, open_timeout=60, ping_interval=None))
    tasks = [asyncio.create_task(one(i, ws)) for i, ws in enumerate(sockets)]
    ready.set()
    while not stop.is_set():
        await asyncio.sleep(0.1)
    out.put((arrivals, probe))  # first: closing 300 sockets politely takes a while
    for t in tasks:
        t.cancel()
    for ws in sockets:
        ws.transport.abort()


# ---- the teacher ---------------------------------------------------------------
class Teacher:
    def __init__(self, host: str):
        self.stack = contextlib.ExitStack()
        self.http = httpx.Client(base_url=f"http://{host}", headers=CLIENT, timeout=60)
        self.sid = self.http.post("/api/sessions").json()["id"]
        self.stream = self.stack.enter_context(connect(f"ws://{host}/api/sessions/{self.sid}/stream", max_size=None))
        self.cmd({"cmd": "subscribe", "nodes": [], "format": "json"})
        self.cmd({"cmd": "forward"})
        self.pos, self.step = 0, 0
        room = self.http.post("/api/rooms", json={"session": self.sid}).json()
        self.code = room["code"]
        # max_queue None: statuses this script never reads must not stop its reads (and its pongs)
        self.teach = self.stack.enter_context(connect(f"ws://{host}/api/rooms/{self.code}/teach", max_size=None,
                                                      max_queue=None))
        self.teach.send(json.dumps({"cmd": "hello", "secret": room["secret"]}))
        self.sent: dict[tuple[int, int], float] = {}  # (step, pos) -> time of its key press

    def cmd(self, c: dict) -> None:
        """A command and its reply and frame, as the stepper sends it."""
        self.stream.send(json.dumps(c))
        while json.loads(self.stream.recv(timeout=60))["type"] != "frame":
            pass

    def view(self) -> None:
        self.teach.send(json.dumps({"cmd": "view", "view": {"session": self.sid, "inspect": "probs", "row": 3}}))

    def press(self, publish: bool) -> float:
        """One key press: the next node (or, at the end, update and forward)."""
        t0 = time.monotonic()
        if self.pos < 27:
            self.cmd({"cmd": "backward", "mode": "atomic", "nodes": 1})
            self.pos += 1
        else:
            self.cmd({"cmd": "update"})
            self.cmd({"cmd": "forward"})
            self.pos, self.step = 0, self.step + 1
        took = time.monotonic() - t0
        if publish:
            self.sent[(self.step, self.pos)] = t0
            self.view()
        return took


def run(teacher_host: str, follower_host: str, n: int, rounds: int, presses: int, label: str) -> None:
    t = Teacher(teacher_host)
    t.view()
    ctx = mp.get_context("spawn")
    ready, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    url = f"ws://{follower_host}/api/rooms/{t.code}/follow"
    loader = ctx.Process(daemon=True, target=followers_main, args=(url, n, ready, stop, out))
    loader.start()
    if not ready.wait(300):
        raise SystemExit("followers did not connect")
    time.sleep(1.0)
    for publish in (False, True) * 3:  # warm up both paths
        t.press(publish)
        time.sleep(CADENCE)
    t.sent.clear()
    ratios, on_all, off_all = [], [], []
    for _ in range(rounds):
        lat = {}
        for publish in (False, True):
            got = []
            for _ in range(presses):
                start = time.monotonic()
                got.append(t.press(publish))
                time.sleep(max(0.0, CADENCE - (time.monotonic() - start)))
            lat[publish] = statistics.median(got)
        on_all.append(lat[True])
        off_all.append(lat[False])
        ratios.append(lat[True] / lat[False])
    time.sleep(1.0)
    stop.set()
    arrivals, probe = out.get(timeout=120)
    loader.join(30)
    delays, skipped, per_press = [], 0, {}
    published = {probe[v][:2]: v for v in probe}
    t.state_bytes = statistics.median(p[2] for p in probe.values())
    for per in arrivals:
        seen = {}
        for v, at in per:
            seen.setdefault(v, at)
        for key, t0 in t.sent.items():
            v = published.get(key)
            if v is None or v not in seen:
                skipped += 1  # folded into a newer state (latest wins), or never seen by follower 0
                continue
            delays.append(seen[v] - t0)
            per_press.setdefault(key, []).append(seen[v] - t0)
    delays.sort()
    q = lambda p: delays[min(len(delays) - 1, int(p * len(delays)))] * 1000  # noqa: E731
    print(f"[{label}] {n} followers, {len(t.sent)} presses published, {len(delays)} arrivals: "
          f"key -> every follower p50 {q(0.5):.0f} ms, p95 {q(0.95):.0f} ms, max {q(1.0):.0f} ms; "
          f"skipped {skipped} of {len(t.sent) * n} (latest wins)")
    print(f"[{label}] teacher key -> frame: {statistics.median(off_all) * 1000:.1f} ms without fan-out, "
          f"{statistics.median(on_all) * 1000:.1f} ms with; ratio (median of {rounds} rounds) "
          f"{statistics.median(ratios):.3f}; a state message is {t.state_bytes / 1024:.0f} KB")
    slow = sorted(((max(d), k) for k, d in per_press.items()), reverse=True)[:3]
    print(f"[{label}] slowest presses (step, pos): " + ", ".join(f"{k}: {d * 1000:.0f} ms" for d, k in slow))
    t.stack.close()


def redis_server() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    return proc, f"redis://127.0.0.1:{port}/0"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--followers", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--presses", type=int, default=10)
    ap.add_argument("--no-redis", action="store_true")
    a = ap.parse_args()
    env = {"BPN_WORKERS": "1", "OMP_NUM_THREADS": "1"}
    proc, base = start_server(env=env)
    try:
        host = base.split("//")[1]
        run(host, host, a.followers, a.rounds, a.presses, "one process")
    finally:
        proc.terminate()
        proc.wait()
    if a.no_redis or shutil.which("redis-server") is None:
        return
    rproc, url = redis_server()
    servers = []
    try:
        for _ in range(2):
            servers.append(start_server(env={**env, "BPN_REDIS_URL": url}))
        a_host, b_host = (s[1].split("//")[1] for s in servers)
        run(a_host, b_host, a.followers, a.rounds, a.presses, "redis, followers on a second process")
    finally:
        for p, _ in servers:
            p.terminate()
            p.wait()
        rproc.terminate()
        rproc.wait()


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
