"""Train & watch page benchmark (prints, never asserts).

    python -m benchmarks.dashboard_bench [--seconds 1] [--rounds 12] [--viewport 1600x1200]
    python -m benchmarks.dashboard_bench --compare-moves  # also: every figure redrawn by Plotly.react

The page's default config (the lecture's training run: n_hidden 200) in
headless Chromium (the tests' flags), driven the way a user drives it: the
Play button's action. Each round has three short windows, back to back:
1. headless: MLP.train_step (fused, one thread) in a plain loop in this
   process, with the page paused;
2. dashboard: the real server subprocess trains live while the page plays
   and draws: training steps/s (from the frames the page received), its
   ratio to (1) (target >= 0.90), and the page's redraw rate: animation
   frames in which at least one figure was replaced (redrawn by Plotly.react
   or its traces moved, see frontend/livefig.js)
   (target >= 15/s), with figures replaced/s, frames received/s and each
   panel's updates/s and ms;
3. the same with the page's drawing switched off (frames still streamed
   and decoded): what the server side costs, apart from the browser's CPU.
This machine's speed drifts by +-30% over seconds (other tenants of the
host), so windows are short and alternate, each served window is divided
by the headless window of its round, and medians over rounds are reported.
The page redraws only the panels on screen: --viewport 1600x3600 puts all
of them there."""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from functools import lru_cache
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from backprop_ninja.model import MLP, Config  # noqa: E402
from benchmarks.live import TICK, start_server, thread_cpu  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
PAGE_CONFIG = dict(n_hidden=200, lr_decay_step=100_000)  # frontend/train/settings.js DEFAULTS
WARMUP = 0.6  # s of playing before a window: the first frames, the trainer's caches


@lru_cache(maxsize=1)
def _model() -> MLP:
    return MLP(Config(**PAGE_CONFIG))  # one model for every headless window: it warms up once


def headless(seconds: float) -> float:
    m = _model()
    for _ in range(20):  # warm up
        m.train_step()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        m.train_step()
        n += 1
    return n / (time.perf_counter() - t0)


# the page's counters and the newest step it was sent, read at once
STATS = ("() => { const t = window.__train; "
         "return {...t.stats, step: t.state.status.step, panels: {...t.stats.panels}, panelMs: {...t.stats.panelMs}, "
         "moves: Object.values(t.plotStats).reduce((a, p) => a + p.moves, 0)}; }")


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


def dashboard(page, seconds: float, pid: int, draw: bool = True, move: bool = True) -> dict:
    """Play for WARMUP + seconds (Play, as a user presses it), then pause;
    rates over the last `seconds`. draw=False: the page receives and decodes
    every frame but draws nothing (server-side cost); move=False: every
    figure is redrawn by Plotly.react, none moved."""
    page.evaluate(f"window.__train.setDrawing({str(draw).lower()}); window.__train.setMoving({str(move).lower()})")
    page.evaluate("window.__train.actions.togglePlay()")
    page.wait_for_function("() => window.__train.state.playing && window.__train.idle")
    time.sleep(WARMUP)
    p0, t0, c0, b0 = page.evaluate(STATS), time.perf_counter(), thread_cpu(pid), browser_cpu()
    time.sleep(seconds)
    p1, t1, c1, b1 = page.evaluate(STATS), time.perf_counter(), thread_cpu(pid), browser_cpu()
    page.evaluate("window.__train.actions.togglePlay()")
    page.wait_for_function("() => !window.__train.state.playing && window.__train.idle")
    page.evaluate("window.__train.setDrawing(true); window.__train.setMoving(true)")
    dt = t1 - t0
    trainer = max(c1[t] - c0.get(t, 0.0) for t in c1)  # the busiest thread
    steps = p1["step"] - p0["step"]
    count = lambda k: p1["panels"][k] - p0["panels"].get(k, 0)  # noqa: E731
    return {
        "steps": steps / dt,
        "cpu_steps": steps / max(trainer, 1 / TICK),  # per CPU second of the trainer
        "trainer_cores": trainer / dt,
        "browser_cores": (b1 - b0) / dt,
        "redraws": (p1["redraws"] - p0["redraws"]) / dt,
        "reacts": (p1["reacts"] - p0["reacts"]) / dt,
        "moves": (p1["moves"] - p0["moves"]) / dt,
        "frames": (p1["frames"] - p0["frames"]) / dt,
        "panels": {k: count(k) / dt for k in p1["panels"]},
        # mean ms of one update of each panel (its figure and DOM notes)
        "panel_ms": {k: (p1["panelMs"][k] - p0["panelMs"].get(k, 0)) / count(k) for k in p1["panels"] if count(k)},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.0, help="per window")
    ap.add_argument("--rounds", type=int, default=12, help="alternations; medians are reported")
    ap.add_argument("--viewport", default="1600x1200", help="WxH of the browser window")
    ap.add_argument("--compare-moves", action="store_true",
                    help="a fourth window each round: the page with every figure redrawn by Plotly.react")
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
            cfg = page.evaluate("window.__train.state.session.config")
            print(f"config: n_hidden {cfg['n_hidden']}, batch {cfg['batch_size']}, {cfg['dtype']}; "
                  f"viewport {width}x{height}; {args.rounds} rounds of 3 windows of {args.seconds:g} s")
            torch.set_num_threads(1)
            heads, dash, idle, react = [], [], [], []
            for r in range(args.rounds):
                heads.append(headless(args.seconds))
                dash.append(dashboard(page, args.seconds, proc.pid))
                idle.append(dashboard(page, args.seconds, proc.pid, draw=False))
                if args.compare_moves:
                    react.append(dashboard(page, args.seconds, proc.pid, move=False))
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
    print(f"figures replaced           {med(d['reacts'] for d in dash):8.1f} /s       "
          f"({med(d['moves'] for d in dash):.1f}/s of them moved, the rest redrawn by Plotly.react)")
    print(f"frames received            {med(d['frames'] for d in dash):8.1f} /s")
    panels = {k: med(d["panels"].get(k, 0) for d in dash) for k in dash[-1]["panels"]}
    print("panel updates /s           " + ", ".join(f"{k} {v:.1f}" for k, v in panels.items()))
    ms = {k: med(d["panel_ms"][k] for d in dash if k in d["panel_ms"]) for k in panels if panels[k]}
    print("ms per panel update        " + ", ".join(f"{k} {v:.0f}" for k, v in ms.items()))
    if react:
        print(f"every figure by Plotly.react {med(d['steps'] for d in react):6.0f} steps/s   "
              f"ratio {med([d['steps'] / h for d, h in zip(react, heads)]):.3f}   browser "
              f"{med(d['browser_cores'] for d in react):.2f} cores, redraws {med(d['redraws'] for d in react):.1f}/s "
              f"(same run, same rounds)")
    if errors:
        print(f"console errors: {errors[:3]}")


if __name__ == "__main__":
    main()
