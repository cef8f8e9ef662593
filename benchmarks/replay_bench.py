"""A shared link far into training against the same training over HTTP.

In one run, alternating (the machine is shared and noisy), at the lecture's
size: POST /train of N steps on a fresh session (one request: the route's
most at this size), the stream's "replay" of N steps alone (a WebSocket
client, no page), and a link `/?seed=S&step=N&pos=3` opened in headless
Chromium, timed from navigation to the page showing step N with 3 backward
nodes (page load, session, replay with its progress, the frame and the
drawing). The link is opened twice: first cold (a seed no replay has
trained), then again, as the next student to open it does (the server kept
the first one's training, server/sessions/trajectories.py). A class (--class K) is K
stream clients sending the replay of one new link at once: the time until
the last has its reply. Issue 14's target: the link in no more time than
/train. Prints medians and the ratios with the load average; never asserts.

The link's time is split by timestamps inside the page (from navigation
start): its start, until the replay command goes out on the stream; the
replay, until its reply comes back; and the rest, until the step is drawn.

    .venv/bin/python -m benchmarks.replay_bench [--steps 20000] [--rounds 3] [--baseline TREE]

--baseline TREE (another checkout, e.g. `git archive <commit> | tar -x -C /tmp/old`)
opens the same link on that tree's server and page too, alternating round by
round, and prints the ratio of the two.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright
from websockets.sync.client import connect

from benchmarks.frontend_latency import ARGS, CHROMIUM
from benchmarks.live import CLIENT, start_server

SHOWN = """(n) => window.__bpn && window.__bpn.ready && !window.__bpn.state.busy && window.__bpn.state.step === n
  && document.getElementById('graph').dataset.renderedPos === '3'"""

# When the replay command went out and when its reply came back (page time, ms)
STAMPS = """(() => { const send = WebSocket.prototype.send; window.__replay = {};
  WebSocket.prototype.send = function (d) {
    if (JSON.parse(d).cmd === 'replay') {
      window.__replay.sent = performance.now();
      this.addEventListener('message', (ev) => { if (typeof ev.data === 'string' && !window.__replay.reply
        && JSON.parse(ev.data).type === 'reply') window.__replay.reply = performance.now(); });
    }
    return send.call(this, d);
  }; })();"""


def a_class(http: httpx.Client, base: str, steps: int, k: int, seed: int) -> float:
    """K clients replaying one link at once: seconds until the last reply."""
    sids = [http.post("/api/sessions", json={"seed": seed}).json()["id"] for _ in range(k)]
    # unbounded queues: each waits unread while the loop below reads another
    socks = [connect(f"ws{base[4:]}/api/sessions/{sid}/stream", max_queue=None) for sid in sids]
    t = time.perf_counter()
    for ws in socks:
        ws.send(json.dumps({"cmd": "replay", "steps": steps}))
    for ws in socks:  # each one's messages wait in its socket meanwhile
        while (m := ws.recv(timeout=1200)) and not (isinstance(m, str) and json.loads(m)["type"] == "reply"):
            pass
    took = time.perf_counter() - t
    for ws, sid in zip(socks, sids):
        ws.close()
        http.delete(f"/api/sessions/{sid}")
    return took


def train(http: httpx.Client, steps: int) -> float:
    sid = http.post("/api/sessions").json()["id"]
    t = time.perf_counter()
    r = http.post(f"/api/sessions/{sid}/train", json={"steps": steps})
    took = time.perf_counter() - t
    assert r.status_code == 200, r.text
    http.delete(f"/api/sessions/{sid}")
    return took


def replay(http: httpx.Client, base: str, steps: int, seed: int) -> tuple[float, int]:
    sid = http.post("/api/sessions", json={"seed": seed}).json()["id"]
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


def link(browser, base: str, steps: int, seed: int) -> tuple[float, float, float]:
    """(whole, start, replay) in seconds: navigation to the step drawn, to the
    replay command sent, and from it to its reply."""
    page = browser.new_page(viewport={"width": 1600, "height": 1200})
    page.add_init_script(STAMPS)
    t = time.perf_counter()
    page.goto(f"{base}/?seed={seed}&step={steps}&pos=3")
    page.wait_for_function(SHOWN, arg=steps, timeout=600_000, polling=20)
    took = time.perf_counter() - t
    stamps = page.evaluate("window.__replay")
    page.close()  # its session goes with it (pagehide)
    return took, stamps["sent"] / 1000, (stamps["reply"] - stamps["sent"]) / 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--baseline", default=None, help="another checkout whose page opens the same link, alternating")
    ap.add_argument("--class", dest="klass", type=int, default=30, help="clients opening one link at once (0: none)")
    args = ap.parse_args()
    procs = [start_server()]
    base = procs[0][1]
    trees = {"link in the page": base}
    if args.baseline:
        procs.append(start_server(tree=Path(args.baseline).resolve()))
        trees["link, baseline"] = procs[1][1]
    again = {f"{label}, again": url for label, url in trees.items()}
    klass = {label.replace("link in the page", "link").replace("link", f"class of {args.klass}"): url
             for label, url in trees.items()} if args.klass else {}
    times: dict[str, list[float]] = {"POST /train": [], "stream replay": [],
                                     **{k: [] for k in [*trees, *again, *klass]}}
    parts: dict[str, list[tuple[float, float]]] = {k: [] for k in trees}
    progress = []
    loads = [os.getloadavg()[0]]
    try:
        http = httpx.Client(base_url=base, headers=CLIENT, timeout=600)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for url in trees.values():
                link(browser, url, 200, 1)  # warm up the page's caches and the server
            for r in range(args.rounds):
                seed = 1000 * (r + 1)  # a link of its own each time: the first replay of each is cold
                times["POST /train"].append(train(http, args.steps))
                took, n = replay(http, base, args.steps, seed)
                times["stream replay"].append(took)
                progress.append(n)
                for label, url in trees.items():
                    took, start, replayed = link(browser, url, args.steps, seed + 1)
                    times[label].append(took)
                    parts[label].append((start, replayed))
                    times[f"{label}, again"].append(link(browser, url, args.steps, seed + 1)[0])
                for label, url in klass.items():
                    base_http = httpx.Client(base_url=url, headers=CLIENT, timeout=1200)
                    times[label].append(a_class(base_http, url, args.steps, args.klass, seed + 2))
                loads.append(os.getloadavg()[0])
            browser.close()
    finally:
        for proc, _ in procs:
            proc.terminate()
            proc.wait(timeout=10)
    base_t = statistics.median(times["POST /train"])
    print(f"{args.steps:,} steps at the lecture's size, {args.rounds} alternating rounds, load average "
          f"{min(loads):.2f}-{max(loads):.2f} (2 cores, shared)")
    for label, xs in times.items():
        med = statistics.median(xs)
        print(f"  {label:24s} median {med:6.2f} s  ({', '.join(f'{x:.2f}' for x in xs)})   "
              f"{med / base_t:4.2f}x /train")
        if label in parts:
            start = statistics.median(a for a, _ in parts[label])
            rest = statistics.median(x - a - r for x, (a, r) in zip(xs, parts[label]))
            print(f"  {'':24s} in the page: start {start:.2f} s, replay "
                  f"{statistics.median(r for _, r in parts[label]):.2f} s, then drawn in {rest:.2f} s")
    print(f"  progress messages per replay: {', '.join(map(str, progress))}")
    ratio = statistics.median(times["link in the page"]) / base_t
    print(f"  target: the link in <= the time of /train: {'ok' if ratio <= 1 else 'OVER'} ({ratio:.2f}x cold, "
          f"{statistics.median(times['link in the page, again']) / base_t:.2f}x opened again)")
    if args.baseline:
        mine, theirs = (statistics.median(times[k]) for k in trees)
        print(f"  this tree / baseline: {mine / theirs:.2f}x (start {statistics.median(a for a, _ in parts['link in the page']):.2f} s"
              f" vs {statistics.median(a for a, _ in parts['link, baseline']):.2f} s)")


if __name__ == "__main__":
    main()
