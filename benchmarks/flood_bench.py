"""/api/health while one session is flooded (issue 13's target: <= 1 s).

The real server; one session; 80 /train calls sent to it at once, each a
few hundred ms of training. Prints /api/health's latency idle (baseline)
and during the flood, their ratio, and how the 80 calls were answered
(a few trained in turn, the rest refused 429 "busy" at once). A benchmark:
it prints, it does not assert.

    .venv/bin/python -m benchmarks.flood_bench
"""
from __future__ import annotations

import statistics
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.live import CLIENT, start_server  # noqa: E402

FLOOD = 80
STEPS = 2000  # per /train call: ~0.3-0.5 s at the lecture's size here
TARGET = 1.0  # seconds


def health_times(base: str, stop: threading.Event, n: int | None = None) -> list[float]:
    out = []
    with httpx.Client(base_url=base, timeout=120) as c:
        while not stop.is_set() and (n is None or len(out) < n):
            t = time.perf_counter()
            c.get("/api/health")
            out.append(time.perf_counter() - t)
            time.sleep(0.02)
    return out


def main() -> None:
    torch.set_num_threads(1)
    proc, base = start_server()
    try:
        with httpx.Client(base_url=base, headers=CLIENT, timeout=600) as c:
            sid = c.post("/api/sessions", json={"n_hidden": 200}).json()["id"]
            idle = health_times(base, threading.Event(), 30)
            stop = threading.Event()
            during: list[float] = []
            watcher = threading.Thread(target=lambda: during.extend(health_times(base, stop)))
            t0 = time.perf_counter()
            with ThreadPoolExecutor(FLOOD) as pool:
                watcher.start()
                answers = list(pool.map(lambda _: httpx.post(f"{base}/api/sessions/{sid}/train",
                                                             json={"steps": STEPS}, headers=CLIENT,
                                                             timeout=600), range(FLOOD)))
            stop.set()
            watcher.join()
            took = time.perf_counter() - t0
        codes = Counter(r.status_code for r in answers)
        base_med, med, worst = statistics.median(idle), statistics.median(during), max(during)
        print(f"/api/health idle:        median {base_med * 1000:7.1f} ms  (baseline, {len(idle)} calls)")
        print(f"/api/health under flood: median {med * 1000:7.1f} ms, max {worst * 1000:7.1f} ms "
              f"({len(during)} calls over {took:.1f} s)  -> {worst / base_med:.1f}x the idle median; "
              f"target <= {TARGET:g} s: {'ok' if worst <= TARGET else 'OVER'}")
        print(f"the {FLOOD} /train calls: " + ", ".join(f"{n} x {code}" for code, n in sorted(codes.items())))
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
