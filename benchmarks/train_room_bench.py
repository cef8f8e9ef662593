"""Training-page room benchmark (prints, never asserts).

    python -m benchmarks.train_room_bench [--followers 200] [--slow 50] [--rounds 3] [--window 6]

The teacher's session trains live (its own stream at 20 frames/s, as the
training page asks); a room made for it on the training page fans its frames
out. Windows alternate: without followers, and with N follower sockets (a
load script in its own process) of which `--slow` never read (their sends
back up; latest wins must keep them from holding anyone back).

Printed, per kind of window (medians over rounds): the teacher's training
speed (steps/s, from the session's step count), the frames/s the teacher's
own stream received, the frames/s each reading follower received; and the
ratios with / without followers (target: the teacher's within 10%).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx
from websockets.sync.client import connect

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.live import CLIENT, start_server  # noqa: E402


def followers_main(url: str, n: int, slow: int, ready, stop, out) -> None:
    asyncio.run(_followers(url, n, slow, ready, stop, out))


async def _followers(url: str, n: int, slow: int, ready, stop, out) -> None:
    from websockets.asyncio.client import connect as aconnect
    counts = [0] * n

    async def read(i: int, ws) -> None:
        async for data in ws:
            if isinstance(data, bytes) and data[3] == 0:  # a binary stream frame (the room's JSON: byte 3 a letter)
                counts[i] += 1

    socks = [await aconnect(url, max_size=None, max_queue=1 if i < slow else 16) for i in range(n)]
    readers = [asyncio.create_task(read(i, ws)) for i, ws in enumerate(socks) if i >= slow]
    ready.set()
    t0 = time.monotonic()
    while not stop.is_set():
        await asyncio.sleep(0.05)
    secs = time.monotonic() - t0
    for r in readers:
        r.cancel()
    for ws in socks:
        await ws.close()
    out.put([c / secs for c in counts[slow:]])


def teacher_stream(host: str, sid: str, stop: threading.Event, got: list) -> None:
    with connect(f"ws://{host}/api/sessions/{sid}/stream", additional_headers=CLIENT, max_size=None) as ws:
        ws.send(json.dumps({"cmd": "subscribe", "nodes": ["h", "bnvar_inv", "bngain", "bnbias"], "format": "binary"}))
        ws.send(json.dumps({"cmd": "play", "steps_per_frame": 10, "fps": 20, "val_every": 0}))
        while not stop.is_set():
            try:
                m = ws.recv(timeout=0.5)
            except TimeoutError:
                continue
            if isinstance(m, bytes):
                got.append(time.monotonic())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--followers", type=int, default=200)
    ap.add_argument("--slow", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--window", type=float, default=6.0)
    a = ap.parse_args()
    proc, base = start_server(env={"BPN_WORKERS": "1", "OMP_NUM_THREADS": "1"})
    host = base.split("//")[1]
    http = httpx.Client(base_url=base, headers=CLIENT, timeout=60)
    stop_stream = threading.Event()
    try:
        sid = http.post("/api/sessions", json={"n_hidden": 200}).json()["id"]
        room = http.post("/api/rooms", json={"session": sid, "page": "train"}).json()
        code = room["code"]
        frames: list[float] = []
        streamer = threading.Thread(target=teacher_stream, args=(host, sid, stop_stream, frames), daemon=True)
        streamer.start()
        teach = connect(f"ws://{host}/api/rooms/{code}/teach")
        teach.send(json.dumps({"cmd": "hello", "secret": room["secret"]}))
        time.sleep(2.0)  # training under way
        teach.send(json.dumps({"cmd": "view", "view": {"session": sid, "playing": True}}))
        res = {False: [], True: []}
        for _ in range(a.rounds):
            for with_followers in (False, True):
                loader = None
                if with_followers:
                    ready, stop, out = mp.Event(), mp.Event(), mp.Queue()
                    loader = mp.Process(target=followers_main, args=(
                        f"ws://{host}/api/rooms/{code}/follow", a.followers, a.slow, ready, stop, out))
                    loader.start()
                    ready.wait(120)
                    time.sleep(1.0)  # the late joiners' first messages sent
                s0, f0, t0 = http.get(f"/api/sessions/{sid}").json()["step"], len(frames), time.monotonic()
                time.sleep(a.window)
                s1, f1, t1 = http.get(f"/api/sessions/{sid}").json()["step"], len(frames), time.monotonic()
                per = None
                if loader is not None:
                    stop.set()
                    per = out.get(timeout=120)
                    loader.join(30)
                res[with_followers].append(((s1 - s0) / (t1 - t0), (f1 - f0) / (t1 - t0), per))
        for w in (False, True):
            rows = res[w]
            speed = statistics.median(r[0] for r in rows)
            fps = statistics.median(r[1] for r in rows)
            extra = ""
            if w:
                each = [x for r in rows for x in r[2]]
                extra = (f"; each reading follower {statistics.median(each):.1f} frames/s "
                         f"(min {min(each):.1f}), {a.slow} never reading")
            print(f"{'with' if w else 'without'} {a.followers if w else 0} followers: teacher trains "
                  f"{speed:.0f} steps/s, its stream {fps:.1f} frames/s{extra}")
        ratio = statistics.median(x[0] / y[0] for x, y in zip(res[True], res[False]))
        fratio = statistics.median(x[1] / y[1] for x, y in zip(res[True], res[False]))
        print(f"ratio with / without followers (median of {a.rounds} rounds): training speed {ratio:.3f}, "
              f"teacher's frames/s {fratio:.3f}")
        teach.close()
    finally:
        stop_stream.set()
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
