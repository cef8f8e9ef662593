"""Key press -> next backward node on screen, in headless Chromium.

Starts the real server on loopback, opens the page (which draws a batch),
then presses ArrowRight and times, inside the page, from the keydown event to
the moment the graph has been redrawn for the new backward position (the
`data-rendered-pos` marker set after Plotly.react resolves), to the next
animation frame after it (painted), and to the inspector showing the new
node's gradient (its tensors come in the same stream frame). Run at the
lecture's size and at batch 256 / n_hidden 200 (issue 14's targets: key ->
inspector p90 <= 100 ms and <= 200 ms), then a quick hand: 30 presses in
0.5 s and how many nodes the page advanced (all of them are carried out:
27 is the whole backward pass). A benchmark, not an assertion: it prints
median and p90 against the targets, with the load average (the machine is
shared).

    .venv/bin/python benchmarks/frontend_latency.py [--presses 25] [--sizes 64x32,200x256] [--baseline TREE]

--baseline TREE (another checkout, e.g. `git worktree add /tmp/old <commit>`)
measures that tree's server and page too, size by size, alternating with
this one, and prints the ratios.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.live import start_server  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]

# Installed once in the page: timestamps of each keydown, of each graph redraw,
# of the paint after it, and of each inspector redraw.
PROBE = """() => {
  const t = window.__lat = {keys: [], graph: {}, paint: {}, insp: {}};
  window.addEventListener('keydown', (e) => { if (e.key === 'ArrowRight') t.keys.push(performance.now()); }, true);
  const g = document.getElementById('graph');
  new MutationObserver(() => {
    const pos = g.dataset.renderedPos;
    if (pos in t.graph) return;
    t.graph[pos] = performance.now();
    requestAnimationFrame(() => { t.paint[pos] = performance.now(); });
  }).observe(g, {attributes: true, attributeFilter: ['data-rendered-pos']});
  const ins = document.getElementById('inspector');
  new MutationObserver(() => {
    const s = window.__bpn.state;
    const pos = String(s.computed.length);
    // the inspector follows the backward pass: done when it shows the new node's gradient
    if (ins.dataset.renderedKey === `${s.computed[s.computed.length - 1]}:g` && !(pos in t.insp)) t.insp[pos] = performance.now();
  }).observe(ins, {attributes: true, attributeFilter: ['data-rendered-key']});
}"""






def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


# inspector p90 targets (ms) by (n_hidden, batch)
INSPECTOR_TARGET = {(64, 32): 100.0, (200, 256): 200.0}
DRAWN = ("(p) => !window.__bpn.state.busy && document.getElementById('graph').dataset.renderedPos === String(p)")


def open_page(browser, base: str, n_hidden: int, batch: int):
    page = browser.new_page(viewport={"width": 1600, "height": 1200})
    page.goto(f"{base}/?n_hidden={n_hidden}&batch={batch}&pos=0")
    page.wait_for_function("window.__bpn && window.__bpn.ready", timeout=60_000)
    page.wait_for_function(DRAWN, arg=0)
    return page


def one_at_a_time(browser, base: str, n_hidden: int, batch: int, presses: int) -> dict:
    page = open_page(browser, base, n_hidden, batch)
    # warm up (first Plotly draws, JIT, server caches), then back to the start
    page.keyboard.press("ArrowRight")
    page.wait_for_function(DRAWN, arg=1)
    page.keyboard.press("ArrowLeft")
    page.wait_for_function(DRAWN, arg=0)
    page.wait_for_timeout(300)
    page.evaluate(PROBE)
    for i in range(1, presses + 1):
        page.keyboard.press("ArrowRight")
        page.wait_for_function(DRAWN, arg=i)
        page.wait_for_function("(p) => String(p) in window.__lat.insp", arg=i, timeout=10_000)
        page.wait_for_timeout(40)  # like a person: one press at a time
    lat = page.evaluate("() => window.__lat")
    page.close()
    keys = lat["keys"]
    return {
        "graph redrawn": [lat["graph"][str(i)] - keys[i - 1] for i in range(1, presses + 1)],
        "graph painted": [lat["paint"][str(i)] - keys[i - 1] for i in range(1, presses + 1) if str(i) in lat["paint"]],
        "inspector redrawn": [lat["insp"][str(i)] - keys[i - 1] for i in range(1, presses + 1)],
    }


def quick_hand(browser, base: str, n_hidden: int, batch: int, presses: int = 30, within: float = 0.5):
    """(nodes advanced, seconds until the last is on screen) after `presses` in `within` s."""
    page = open_page(browser, base, n_hidden, batch)
    # Playwright's keyboard.press waits until the page has handled each key,
    # so a loop of them cannot press faster than the page draws; a hand can.
    # The keydowns are dispatched in the page on a timer instead, as the
    # browser would deliver them (late when the page is busy, never lost).
    page.evaluate("""([n, gap]) => { window.__hand = {sent: []};
      for (let i = 0; i < n; i += 1) setTimeout(() => {
        window.dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowRight', bubbles: true}));
        window.__hand.sent.push(performance.now()); }, i * gap); }""", [presses, within * 1000 / presses])
    page.wait_for_function("(n) => window.__hand.sent.length === n", arg=presses, timeout=60_000)
    page.wait_for_function("() => !window.__bpn.state.busy && document.getElementById('graph').dataset.renderedPos"
                           " === String(window.__bpn.state.computed.length)", timeout=60_000)
    sent = page.evaluate("() => window.__hand.sent")
    pressed = (sent[-1] - sent[0]) / 1000
    done = (page.evaluate("() => performance.now()") - sent[0]) / 1000
    nodes = page.evaluate("() => window.__bpn.state.computed.length")
    total = nodes + len(page.evaluate("() => window.__bpn.state.remaining"))
    page.close()
    return nodes, total, pressed, done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presses", type=int, default=25, help="ArrowRight presses timed (max 26 per batch)")
    ap.add_argument("--sizes", default="64x32,200x256", help="n_hidden x batch, comma separated")
    ap.add_argument("--url", default=None, help="use a running server instead of starting one")
    ap.add_argument("--baseline", default=None, help="another checkout to measure alongside (its server and page)")
    args = ap.parse_args()
    presses = min(args.presses, 26)
    sizes = [tuple(int(x) for x in s.split("x")) for s in args.sizes.split(",")]
    procs, bases = [], {}
    try:
        if args.url:
            bases["this tree"] = args.url.rstrip("/")
        else:
            procs.append(start_server())
            bases["this tree"] = procs[-1][1]
        if args.baseline:
            procs.append(start_server(tree=Path(args.baseline).resolve()))
            bases["baseline"] = procs[-1][1]
        results, hands = {}, {}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for n_hidden, batch in sizes:
                for who, base in bases.items():  # alternating, size by size
                    load0 = os.getloadavg()[0]
                    results[(who, n_hidden, batch)] = (one_at_a_time(browser, base, n_hidden, batch, presses), load0)
                    hands[(who, n_hidden, batch)] = quick_hand(browser, base, n_hidden, batch)
            browser.close()
    finally:
        for proc, _ in procs:
            proc.terminate()
            proc.wait(timeout=10)
    for (who, n_hidden, batch), (rows, load0) in results.items():
        target = INSPECTOR_TARGET.get((n_hidden, batch), 100.0)
        print(f"[{who}] key press -> next backward node, {presses} presses, n_hidden={n_hidden} batch={batch}, headless "
              f"Chromium, load average {load0:.2f} at start (2 cores; target: inspector p90 <= {target:.0f} ms)")
        for label, xs in rows.items():
            judged = label == "inspector redrawn"
            p90 = pct(xs, 0.9)
            flag = ("ok" if p90 <= target else "OVER") if judged else "info"
            print(f"  {label:18s} median {statistics.median(xs):6.1f} ms   p90 {p90:6.1f} ms   max {max(xs):6.1f} ms"
                  f"   [{flag}]")
        if who == "baseline":
            mine = results[("this tree", n_hidden, batch)][0]
            print("  this tree / baseline, p90: " + ", ".join(
                f"{label} {pct(mine[label], 0.9) / pct(xs, 0.9):.2f}x" for label, xs in rows.items()))
        nodes, total, pressed, done = hands[(who, n_hidden, batch)]
        print(f"  quick hand: 30 presses in {pressed:.2f} s -> {nodes} of {total} nodes advanced "
              f"(30 presses can advance at most {total}), all on screen <= {done:.2f} s after the first")
    print(f"load average now: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
