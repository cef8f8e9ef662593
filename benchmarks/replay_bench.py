"""A shared link far into training against the same training over HTTP.

In one run, alternating (the machine is shared and noisy), at the lecture's
size: POST /train of N steps on a fresh session (one request: the route's
most at this size), the stream's "replay" of N steps alone (a WebSocket
client, no page), and a link `/?step=N&pos=3` opened in headless Chromium,
timed from navigation to the page showing step N with 3 backward nodes
(page load, session, replay with its progress, the frame and the drawing).
Issue 14's target: the link in no more time than /train. Prints medians and
the ratios with the load average; never asserts.

    .venv/bin/python -m benchmarks.replay_bench [--steps 20000] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import httpx
from playwright.sync_api import sync_playwright
from websockets.sync.client import connect

from benchmarks.frontend_latency import ARGS, CHROMIUM
from benchmarks.live import CLIENT, start_server

SHOWN = """(n) => window.__bpn && window.__bpn.ready && !window.__bpn.state.busy && window.__bpn.state.step === n
  && document.getElementById('graph').dataset.renderedPos === '3'"""


def train(http: httpx.Client, steps: int) -> float:
    sid = http.post("/api/sessions").json()["id"]
    t = time.perf_counter()
    r = http.post(f"/api/sessions/{sid}/train", json={"steps": steps})
    took = time.perf_counter() - t
    assert r.status_code == 200, r.text
    http.delete(f"/api/sessions/{sid}")
    return took


def replay(http: httpx.Client, base: str, steps: int) -> tuple[float, int]:
    sid = http.post("/api/sessions").json()["id"]
    with connect(f"ws{base[4:]}/api/sessions/{sid}/stream") as ws:
        t = time.perf_counter()
        ws.send(json.dumps({"cmd": "replay", "steps": steps}))
        progress = 0
        while True:
            m = ws.recv(timeout=600)
            kind = json.loads(m)["type"] if isinstance(m, str) else "frame"
            if kind == "reply":
                took = time.perf_counter() - t
                break
            progress += kind == "progress"
            assert kind == "progress", m
    http.delete(f"/api/sessions/{sid}")
    return took, progress


def link(browser, base: str, steps: int) -> float:
    page = browser.new_page(viewport={"width": 1600, "height": 1200})
    t = time.perf_counter()
    page.goto(f"{base}/?step={steps}&pos=3")
    page.wait_for_function(SHOWN, arg=steps, timeout=600_000, polling=20)
    took = time.perf_counter() - t
    page.close()  # its session goes with it (pagehide)
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    proc, base = start_server()
    times: dict[str, list[float]] = {"POST /train": [], "stream replay": [], "link in the page": []}
    progress = []
    loads = [os.getloadavg()[0]]
    try:
        http = httpx.Client(base_url=base, headers=CLIENT, timeout=600)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            link(browser, base, 200)  # warm up the page's caches and the server
            for _ in range(args.rounds):
                times["POST /train"].append(train(http, args.steps))
                took, n = replay(http, base, args.steps)
                times["stream replay"].append(took)
                progress.append(n)
                times["link in the page"].append(link(browser, base, args.steps))
                loads.append(os.getloadavg()[0])
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    base_t = statistics.median(times["POST /train"])
    print(f"{args.steps:,} steps at the lecture's size, {args.rounds} alternating rounds, load average "
          f"{min(loads):.2f}-{max(loads):.2f} (2 cores, shared)")
    for label, xs in times.items():
        med = statistics.median(xs)
        print(f"  {label:17s} median {med:6.2f} s  ({', '.join(f'{x:.2f}' for x in xs)})   "
              f"{med / base_t:4.2f}x /train")
    print(f"  progress messages per replay: {', '.join(map(str, progress))}")
    ratio = statistics.median(times["link in the page"]) / base_t
    print(f"  target: the link in <= the time of /train: {'ok' if ratio <= 1 else 'OVER'} ({ratio:.2f}x)")


if __name__ == "__main__":
    main()
