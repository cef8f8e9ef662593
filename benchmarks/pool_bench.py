"""The training pool's fairness and parallelism (prints, never asserts).

    python -m benchmarks.pool_bench [--seconds 6] [--rounds 3]

1. fairness: one worker (BPN_WORKERS=1); a small session (the lecture's
   size, n_hidden 64) trains alone, then beside a max-size session (n_hidden
   1024, batch 4096, block 16, n_embd 64: ~1 s a step here) on the same
   worker. Ratio: the small one's steps/s beside it over alone (target >= 0.30).
2. parallelism: two workers (BPN_WORKERS=2); one session alone, then two
   at once. Ratio: the two's combined steps/s over the one's alone
   (target >= 1.6 on 2 cores).

Each session is driven the way a page drives it: a WebSocket that plays
(10 frames/s, 1 step a frame: frames cost next to nothing) and pauses. The
first session's steps/s is read from its frames (step and arrival time of
the first and the last of the window), not from play to pause: a pause
waits for the step under way, up to a second of the max-size model's.
Others' steps/s come from their pause replies. Windows alternate (alone,
together, alone, ...) and medians of the ratios of neighbouring windows
are reported: this machine's speed drifts over seconds.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import httpx
from websockets.sync.client import connect

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.live import CLIENT, start_server  # noqa: E402

SMALL: dict = {}
MAX = {"n_hidden": 1024, "batch_size": 4096, "block_size": 16, "n_embd": 64}


class Player:
    """One session and its stream."""

    def __init__(self, base: str, config: dict):
        self.base = base
        self.sid = httpx.post(f"{base}/api/sessions", json=config, timeout=120, headers=CLIENT).json()["id"]
        self._cm = connect(base.replace("http", "ws") + f"/api/sessions/{self.sid}/stream", max_size=None)
        self.ws = self._cm.__enter__()
        self.command({"cmd": "subscribe", "nodes": [], "format": "json"})

    def command(self, cmd: dict) -> dict:
        self.ws.send(json.dumps(cmd))
        while True:  # live frames may come before the reply
            d = json.loads(self.ws.recv())
            if d["type"] == "error":
                raise SystemExit(d["message"])
            if d["type"] == "reply" and d["cmd"] == cmd["cmd"]:
                self.ws.recv()  # its frame
                return d["result"]

    def step(self) -> int:
        return httpx.get(f"{self.base}/api/sessions/{self.sid}", timeout=120).json()["step"]

    def play(self) -> None:
        self.command({"cmd": "play", "fps": 10, "steps_per_frame": 1, "val_every": 0})

    def rate(self, seconds: float) -> float:
        """Steps/s from the frames that arrive within `seconds` (their count: self.frames)."""
        first = last = None
        self.frames, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            d = json.loads(self.ws.recv())
            if d["type"] == "frame":
                last = (time.perf_counter(), d["step"])
                first = first or last
                self.frames += 1
        self.frames /= seconds
        return (last[1] - first[1]) / (last[0] - first[0])

    def pause(self) -> int:
        return self.command({"cmd": "pause"})["step"]

    def close(self) -> None:
        self._cm.__exit__(None, None, None)


def window(players: list[Player], seconds: float) -> list[float]:
    """Steps/s of each player over one window in which they all play."""
    start = [p.step() for p in players]
    for p in players:
        p.play()
    t0 = time.perf_counter()
    first = players[0].rate(seconds)
    ends = [p.pause() for p in players]
    dt = time.perf_counter() - t0
    return [first] + [(e - s) / dt for s, e in zip(start[1:], ends[1:])]


def fairness(rounds: int, seconds: float) -> None:
    proc, base = start_server(env={"BPN_WORKERS": "1"})
    try:
        small, big = Player(base, SMALL), Player(base, MAX)
        window([small, big], 4.0)  # warm up: the big model's first steps allocate
        ratios, alone_s, beside_s, big_s, fps = [], [], [], [], []
        for r in range(rounds):
            alone = window([small], seconds)[0]
            beside, big_rate = window([small, big], seconds)
            fps.append(small.frames)
            again = window([small], seconds)[0]
            ratios.append(beside / ((alone + again) / 2))
            alone_s.append((alone + again) / 2)
            beside_s.append(beside)
            big_s.append(big_rate)
            print(f"round {r + 1}: small alone {alone:.0f} and {again:.0f}/s, beside the max-size one "
                  f"{beside:.0f}/s (ratio {ratios[-1]:.3f}, {fps[-1]:.1f} frames/s of 10 asked for); "
                  f"max-size {big_rate:.2f} steps/s", flush=True)
        small.close()
        big.close()
    finally:
        proc.terminate()
        proc.wait()
    med = statistics.median
    print(f"fairness, one worker: small alone {med(alone_s):.0f} steps/s, beside a max-size session "
          f"{med(beside_s):.0f} steps/s: ratio {med(ratios):.3f} (target >= 0.30), {med(fps):.1f} frames/s "
          f"of 10 asked for; the max-size one {med(big_s):.2f} steps/s")


def parallel(rounds: int, seconds: float) -> None:
    proc, base = start_server(env={"BPN_WORKERS": "2"})
    try:
        a, b = Player(base, {"seed": 1}), Player(base, {"seed": 2})
        window([a, b], 1.0)  # warm up both workers
        ratios = []
        for r in range(rounds):
            one = window([a], seconds)[0]
            both = sum(window([a, b], seconds))
            again = window([a], seconds)[0]
            ratios.append(both / ((one + again) / 2))
            print(f"round {r + 1}: one session {one:.0f} and {again:.0f}/s, two on two workers {both:.0f}/s "
                  f"combined (ratio {ratios[-1]:.3f})", flush=True)
        a.close()
        b.close()
    finally:
        proc.terminate()
        proc.wait()
    print(f"parallelism, two workers: two sessions' combined steps/s over one alone: "
          f"{statistics.median(ratios):.3f} (target >= 1.6)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=8.0, help="per window")
    p.add_argument("--rounds", type=int, default=3, help="alternations; medians are reported")
    p.add_argument("--only", choices=["fairness", "parallel"], help="run one of the two")
    args = p.parse_args()
    print(f"load average {open('/proc/loadavg').read().split()[0]} on {os.cpu_count()} cores")
    if args.only != "parallel":
        fairness(args.rounds, args.seconds)
    if args.only != "fairness":
        parallel(args.rounds, args.seconds)


if __name__ == "__main__":
    main()
