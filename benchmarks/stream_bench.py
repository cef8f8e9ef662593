"""Live-training stream benchmark (prints, never asserts).

    python -m benchmarks.stream_bench [--seconds 2] [--rounds 5]

1. headless: MLP.train_step (fused, one torch thread) in a plain loop;
2. served: a real uvicorn subprocess trains the same config live while one
   WebSocket client reads frames at browser speed (20 fps, what the
   dashboard asks for; 30 fps, the play command's default; and 60 fps; 10
   steps a frame; two subscribed tensors in binary); its steps/s over
   headless is the ratio (target >= 0.90);
3. frames/s delivered to one client on loopback with a high cap (240 fps,
   1 step a frame, summaries only; target >= 200).

Rates are given two ways. Wall clock is what a user sees, but on a shared
machine it measures the neighbours too. Per CPU-second of the training
thread (read from /proc, Linux) it is the speed the same code has on an
idle machine, where the trainer owns a core: the number to compare designs
with. Headless and served runs alternate, medians are reported."""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

import httpx
import torch
from websockets.sync.client import connect

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.live import start_server  # noqa: E402

from model import MLP, Config  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
STEP = re.compile(rb'^\{"type":"frame","step":(\d+)')


def headless(seconds: float) -> tuple[float, float]:
    """(steps per wall second, steps per CPU second)."""
    m = MLP(Config())
    for _ in range(200):  # warm up
        m.train_step()
    n, t0, c0 = 0, time.perf_counter(), time.thread_time()
    while time.perf_counter() - t0 < seconds:
        m.train_step()
        n += 1
    return n / (time.perf_counter() - t0), n / (time.thread_time() - c0)




def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds used so far by each thread of a process."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # the thread just ended
            continue
        out[tid] = (int(fields[11]) + int(fields[12])) / TICK
    return out


def frame_step(msg) -> int | None:
    """The step of a frame, read from the start of its header: a light client,
    so that the measurement is of the server, not of this script's parsing."""
    head = msg[4:60] if isinstance(msg, bytes) else msg[:60].encode()
    m = STEP.match(head)
    return int(m.group(1)) if m else None


def stream(base: str, pid: int, seconds: float, play: dict, nodes: list[str]) -> tuple[float, float, float]:
    """(steps per wall second, steps per CPU second of the trainer, frames/s)
    while one client reads a session's live frames for `seconds`."""
    sid = httpx.post(f"{base}/api/sessions").json()["id"]
    url = base.replace("http", "ws") + f"/api/sessions/{sid}/stream"
    with connect(url, max_size=None, compression=None) as ws:
        ws.send(json.dumps({"cmd": "subscribe", "nodes": nodes}))
        ws.recv(), ws.recv()
        ws.send(json.dumps({"cmd": "play", **play}))
        ws.recv(), ws.recv()
        t_end = time.perf_counter() + 0.5  # let it settle
        while time.perf_counter() < t_end:
            ws.recv()
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
        ws.send(json.dumps({"cmd": "pause"}))
    httpx.delete(f"{base}/api/sessions/{sid}")
    steps = last[1] - first[1]
    trainer = max(cpu1[t] - cpu0.get(t, 0.0) for t in cpu1)  # the busiest thread
    return steps / (last[0] - first[0]), steps / max(trainer, 1 / TICK), frames / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds; medians are reported")
    args = p.parse_args()
    torch.set_num_threads(1)
    proc, base = start_server()
    browser = {"steps_per_frame": 10}
    runs: dict[str, list[tuple]] = {"headless": [], "20 fps": [], "30 fps": [], "60 fps": [], "frames": []}
    try:
        for r in range(args.rounds):
            runs["headless"].append(headless(args.seconds))
            for fps in (20, 30, 60):
                runs[f"{fps} fps"].append(stream(base, proc.pid, args.seconds, {**browser, "fps": fps},
                                                 ["h", "logits"]))
            runs["frames"].append(stream(base, proc.pid, args.seconds, {"fps": 240, "steps_per_frame": 1}, []))
            print(f"round {r + 1}: " + "; ".join(f"{k} {v[-1][0]:.0f}/s wall, {v[-1][1]:.0f}/cpu-s"
                                                  for k, v in runs.items() if k != "frames")
                  + f"; frames {runs['frames'][-1][2]:.0f}/s", flush=True)
    finally:
        proc.terminate()
        proc.wait()
    med = {k: [statistics.median(x[i] for x in v) for i in range(len(v[0]))] for k, v in runs.items()}
    hw, hc = med["headless"]
    print(f"load average now {open('/proc/loadavg').read().split()[0]} on {os.cpu_count()} cores")
    print("lecture size: n_embd 10, n_hidden 64, block 3, batch 32, float32, one torch thread")
    print(f"{'':24}{'wall steps/s':>14}{'ratio':>8}{'CPU steps/s':>14}{'ratio':>8}")
    print(f"{'headless':24}{hw:14.0f}{'':8}{hc:14.0f}")
    for k in ("20 fps", "30 fps", "60 fps"):
        w, c, f = med[k]
        print(f"{'served, ' + k + ' client':24}{w:14.0f}{w / hw:8.3f}{c:14.0f}{c / hc:8.3f}   (target >= 0.90)")
    print(f"frames to one client: {med['frames'][2]:.0f}/s (cap 240, 1 step a frame; target >= 200)")


if __name__ == "__main__":
    main()
