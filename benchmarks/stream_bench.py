"""Live-training stream benchmark (prints, never asserts).

    python -m benchmarks.stream_bench [--seconds 0.5] [--rounds 15]

1. headless: MLP.train_step (fused, one torch thread) in a plain loop, in
   this process, while the server's session is paused;
2. served: a real uvicorn subprocess trains the same config live (on one of
   its training workers, server/live/worker.py) while one
   WebSocket client reads frames at browser speed (20 fps, the
   dashboard's default; 30 fps, the play command's default; and 60 fps, a
   display's refresh rate; 10 steps a frame; two subscribed tensors in
   binary); served steps/s over headless steps/s is the ratio (target >= 0.90);
3. frames/s delivered to one client on loopback with a high cap (240 fps,
   1 step a frame, summaries only; target >= 200).

This machine's speed drifts by +-30% over seconds (other tenants of the
host), so headless and served windows are short and alternate: each served
window is divided by the headless window just before it, and the median of
those ratios is reported. Rates are also given per CPU-second of the
training thread (the busiest thread of the server and its child
processes, read from /proc): the speed with a core of one's own.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from functools import lru_cache
from pathlib import Path

import httpx
import torch
from websockets.sync.client import connect

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from backprop_ninja.model import MLP, Config  # noqa: E402
from benchmarks.live import CLIENT, TICK, start_server, thread_cpu  # noqa: E402

STEP = re.compile(rb'^\{"type":"frame","step":(\d+)')


@lru_cache(maxsize=1)
def _model() -> MLP:
    return MLP(Config())  # one model for every headless window: it warms up once


def headless(seconds: float) -> tuple[float, float]:
    """(steps per wall second, steps per CPU second)."""
    m = _model()
    for _ in range(20):  # warm up
        m.train_step()
    n, t0, c0 = 0, time.perf_counter(), time.thread_time()
    while time.perf_counter() - t0 < seconds:
        m.train_step()
        n += 1
    return n / (time.perf_counter() - t0), n / (time.thread_time() - c0)


def frame_step(msg) -> int | None:
    """The step of a frame, read from the start of its header: a light client,
    so that the measurement is of the server, not of this script's parsing."""
    head = msg[4:60] if isinstance(msg, bytes) else msg[:60].encode()
    m = STEP.match(head)
    return int(m.group(1)) if m else None


def recv_reply(ws, cmd: str) -> None:
    """Read up to the reply to `cmd` and the frame that follows it."""
    while True:
        msg = ws.recv()
        if isinstance(msg, str) and msg.startswith('{"type":"reply"') and f'"cmd":"{cmd}"' in msg:
            ws.recv()
            return


def served(ws, pid: int, seconds: float, play: dict) -> tuple[float, float, float]:
    """(steps per wall second, steps per CPU second of the trainer, frames/s)
    of one window of live training, from play to pause."""
    ws.send(json.dumps({"cmd": "play", **play}))
    recv_reply(ws, "play")
    first = last = None
    frames, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        step = frame_step(ws.recv())
        if step is None:
            continue
        frames += 1
        if first is None:
            first, cpu0 = (time.perf_counter(), step), thread_cpu(pid)
        last = (time.perf_counter(), step)
    cpu1 = thread_cpu(pid)
    elapsed = time.perf_counter() - t0
    ws.send(json.dumps({"cmd": "pause"}))
    recv_reply(ws, "pause")
    steps = last[1] - first[1]
    trainer = max(cpu1[t] - cpu0.get(t, 0.0) for t in cpu1)  # the busiest thread
    return steps / (last[0] - first[0]), steps / max(trainer, 1 / TICK), frames / elapsed


class Client:
    """One session and its WebSocket, subscribed to `nodes`."""

    def __init__(self, base: str, nodes: list[str]):
        self.base = base
        self.sid = httpx.post(f"{base}/api/sessions", headers=CLIENT).json()["id"]
        url = base.replace("http", "ws") + f"/api/sessions/{self.sid}/stream"
        self._cm = connect(url, max_size=None, compression=None)
        self.ws = self._cm.__enter__()
        self.ws.send(json.dumps({"cmd": "subscribe", "nodes": nodes}))
        recv_reply(self.ws, "subscribe")

    def close(self) -> None:
        self._cm.__exit__(None, None, None)
        httpx.delete(f"{self.base}/api/sessions/{self.sid}", headers=CLIENT)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=0.5, help="per window")
    p.add_argument("--rounds", type=int, default=15, help="alternations; medians are reported")
    p.add_argument("--fps", type=int, nargs="+", default=[20, 30, 60], help="the clients' frame rates")
    args = p.parse_args()
    torch.set_num_threads(1)
    proc, base = start_server()
    clients = {f"{f} fps": f for f in args.fps}
    # per client and round: (served wall/s, served CPU/s, headless wall/s, headless CPU/s)
    runs: dict[str, list[tuple]] = {k: [] for k in clients}
    frames_per_s = []
    try:
        conn = {k: Client(base, ["h", "logits"]) for k in clients}
        fast = Client(base, [])
        # the first play warms up the worker and the frame thread: not measured
        first = next(iter(conn.values()))
        served(first.ws, proc.pid, 2.5, {"fps": 20, "steps_per_frame": 10})
        for r in range(args.rounds):
            for k, fps in clients.items():
                hw, hc = headless(args.seconds)
                sw, sc, _ = served(conn[k].ws, proc.pid, args.seconds, {"fps": fps, "steps_per_frame": 10})
                runs[k].append((sw, sc, hw, hc))
            frames_per_s.append(served(fast.ws, proc.pid, args.seconds, {"fps": 240, "steps_per_frame": 1})[2])
            print(f"round {r + 1}: " + "; ".join(
                f"{k} {v[-1][0]:.0f}/{v[-1][2]:.0f} = {v[-1][0] / v[-1][2]:.2f}" for k, v in runs.items())
                + f"; frames {frames_per_s[-1]:.0f}/s", flush=True)
        for c in (*conn.values(), fast):
            c.close()
    finally:
        proc.terminate()
        proc.wait()
    med = statistics.median
    print(f"load average now {open('/proc/loadavg').read().split()[0]} on {os.cpu_count()} cores")
    print("lecture size: n_embd 10, n_hidden 64, block 3, batch 32, float32, one torch thread")
    print(f"ratio = served steps/s over the headless steps/s of the window just before; medians of "
          f"{args.rounds} rounds of {args.seconds:g} s windows")
    print(f"{'':24}{'served/s':>10}{'headless/s':>12}{'wall ratio':>12}{'CPU ratio':>11}")
    for k, v in runs.items():
        print(f"{'served, ' + k + ' client':24}{med(x[0] for x in v):10.0f}{med(x[2] for x in v):12.0f}"
              f"{med(x[0] / x[2] for x in v):12.3f}{med(x[1] / x[3] for x in v):11.3f}   (target >= 0.90)")
    print(f"frames to one client: {med(frames_per_s):.0f}/s (cap 240, 1 step a frame; target >= 200)")


if __name__ == "__main__":
    main()
