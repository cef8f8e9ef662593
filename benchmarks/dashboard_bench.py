"""Train & watch page benchmark (prints, never asserts).

    python -m benchmarks.dashboard_bench [--seconds 8] [--rounds 3] [--viewport 1600x1200]

1. headless: MLP.train_step (fused, one thread) in a plain loop, with the
   page's default config (the lecture's training run: n_hidden 200), steps/s;
2. dashboard: a real server subprocess trains the same config live while
   frontend/train.html is open and playing in headless Chromium (the tests'
   flags): training steps/s read from the API, its ratio to (1)
   (target >= 0.90), and the page's redraw rate: animation frames in which
   at least one figure was replaced by Plotly.react (target >= 15/s), with
   Plotly.react calls/s, frames received/s and each panel's updates/s;
3. the same with the page's drawing switched off (frames still streamed and
   decoded): what the server side costs, apart from the browser's CPU.
Headless and dashboard runs alternate (the page paused during headless), so
load from other processes on the machine hits both alike. The page redraws
only the panels on screen: --viewport 1600x3600 puts all of them there."""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import httpx
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.live import TICK, start_server, thread_cpu  # noqa: E402

from model import MLP, Config  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
PAGE_CONFIG = dict(n_hidden=200, lr_decay_step=100_000)  # frontend/train/app.js DEFAULTS


def headless(seconds: float) -> float:
    torch.set_num_threads(1)
    m = MLP(Config(**PAGE_CONFIG))
    for _ in range(200):  # warm up
        m.train_step()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        m.train_step()
        n += 1
    return n / (time.perf_counter() - t0)




STATS = ("() => { const t = window.__train; "
         "return {...t.stats, panels: {...t.stats.panels}, panelMs: {...t.stats.panelMs}}; }")


def _cpu(path: str) -> float:
    fields = open(path).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def browser_cpu() -> float:
    """CPU seconds used so far by every Chromium process of this machine's
    benchmark browser (renderer, GPU/compositor, browser)."""
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if "playwright_chromiumdev_profile" in open(f"/proc/{pid}/cmdline").read():
                total += _cpu(f"/proc/{pid}/stat")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            pass
    return total


def dashboard(page, base: str, sid: str, seconds: float, pid: int, warmup: float = 2.0, draw: bool = True) -> dict:
    """Play for warmup + seconds; rates over the last `seconds`. draw=False: the
    page receives and decodes every frame but draws nothing (server-side cost)."""
    page.evaluate(f"window.__train.setDrawing({'true' if draw else 'false'})")
    page.evaluate("window.__train.actions.togglePlay()")
    page.wait_for_function("() => window.__train.state.playing")
    time.sleep(warmup)
    s0, p0, t0 = httpx.get(f"{base}/api/sessions/{sid}").json()["step"], page.evaluate(STATS), time.perf_counter()
    c0, b0 = thread_cpu(pid), browser_cpu()
    time.sleep(seconds)
    s1, p1, t1 = httpx.get(f"{base}/api/sessions/{sid}").json()["step"], page.evaluate(STATS), time.perf_counter()
    c1, b1 = thread_cpu(pid), browser_cpu()
    page.evaluate("window.__train.actions.togglePlay()")
    page.wait_for_function("() => !window.__train.state.playing")
    page.evaluate("window.__train.setDrawing(true)")
    dt = t1 - t0
    trainer = max(c1[t] - c0.get(t, 0.0) for t in c1)  # the busiest thread
    return {
        "steps": (s1 - s0) / dt,
        "cpu_steps": (s1 - s0) / max(trainer, 1 / TICK),  # per CPU second of the trainer
        "trainer_cores": trainer / dt,
        "browser_cores": (b1 - b0) / dt,
        "redraws": (p1["redraws"] - p0["redraws"]) / dt,
        "reacts": (p1["reacts"] - p0["reacts"]) / dt,
        "frames": (p1["frames"] - p0["frames"]) / dt,
        "panels": {k: (p1["panels"][k] - p0["panels"].get(k, 0)) / dt for k in p1["panels"]},
        # mean ms of one update of each panel (its Plotly.react and DOM notes)
        "panel_ms": {k: (p1["panelMs"][k] - p0["panelMs"].get(k, 0)) / max(1, p1["panels"][k] - p0["panels"].get(k, 0))
                     for k in p1["panels"]},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--viewport", default="1600x1200", help="WxH of the browser window")
    args = ap.parse_args()
    width, height = (int(v) for v in args.viewport.split("x"))

    from playwright.sync_api import sync_playwright

    proc, base = start_server()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": width, "height": height})
            errors = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{base}/static/train.html")
            page.wait_for_function("window.__train && window.__train.ready", timeout=30_000)
            sid = page.evaluate("window.__train.state.session.id")
            cfg = page.evaluate("window.__train.state.session.config")
            print(f"config: n_hidden {cfg['n_hidden']}, batch {cfg['batch_size']}, {cfg['dtype']}; "
                  f"viewport {width}x{height}; {args.rounds} rounds of {args.seconds:g} s each")
            heads, dash, idle = [], [], []
            for r in range(args.rounds):
                heads.append(headless(args.seconds))
                dash.append(dashboard(page, base, sid, args.seconds, proc.pid))
                idle.append(dashboard(page, base, sid, args.seconds, proc.pid, draw=False))
                d = dash[-1]
                print(f"round {r + 1}: headless {heads[-1]:5.0f} steps/s | dashboard {d['steps']:5.0f} steps/s "
                      f"(ratio {d['steps'] / heads[-1]:.3f}; {d['cpu_steps']:.0f}/cpu-s, trainer {d['trainer_cores']:.2f} "
                      f"core, browser {d['browser_cores']:.2f}), redraws {d['redraws']:4.1f}/s, frames in "
                      f"{d['frames']:4.1f}/s | not drawing {idle[-1]['steps']:5.0f} steps/s "
                      f"(ratio {idle[-1]['steps'] / heads[-1]:.3f}; browser {idle[-1]['browser_cores']:.2f})", flush=True)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    med = statistics.median
    ratio = med([d["steps"] / h for d, h in zip(dash, heads)])
    print()
    print(f"headless training          {med(heads):8.0f} steps/s")
    print(f"dashboard open and playing {med(d['steps'] for d in dash):8.0f} steps/s   "
          f"ratio {ratio:.3f}   (target >= 0.90)")
    print(f"  per CPU second of trainer {med(d['cpu_steps'] for d in dash):8.0f} steps     "
          f"ratio {med([d['cpu_steps'] / h for d, h in zip(dash, heads)]):.3f}   (what serving costs per step, "
          f"apart from CPU contention)")
    print(f"  the trainer got           {med(d['trainer_cores'] for d in dash):8.2f} cores; the browser used "
          f"{med(d['browser_cores'] for d in dash):.2f} cores ({os.cpu_count()} on this machine, load average "
          f"{open('/proc/loadavg').read().split()[0]})")
    print(f"  same page, drawing off    {med(d['steps'] for d in idle):8.0f} steps/s   "
          f"ratio {med([d['steps'] / h for d, h in zip(idle, heads)]):.3f}   (frames still streamed and decoded)")
    print(f"page redraws               {med(d['redraws'] for d in dash):8.1f} /s       (target >= 15)")
    print(f"Plotly.react calls         {med(d['reacts'] for d in dash):8.1f} /s")
    print(f"frames received            {med(d['frames'] for d in dash):8.1f} /s")
    panels = {k: med(d["panels"].get(k, 0) for d in dash) for k in dash[-1]["panels"]}
    print("panel updates /s           " + ", ".join(f"{k} {v:.1f}" for k, v in panels.items()))
    ms = {k: med(d["panel_ms"].get(k, 0) for d in dash) for k in dash[-1]["panel_ms"]}
    print("ms per panel update        " + ", ".join(f"{k} {v:.0f}" for k, v in ms.items() if panels[k]))
    if errors:
        print(f"console errors: {errors[:3]}")


if __name__ == "__main__":
    main()
