"""bpn.show in a real JupyterLab, as a learner meets it: a JupyterLab server
started here on loopback (an ephemeral port, a token, a temporary root and
settings), the example notebook with its exercise-1 cell filled in with one
mistake (dbndiff2 divides by n where the lecture has n - 1), opened and run
in headless Chromium. The widget draws the graph through the kernel's widget
messages alone, marks the wrong node, shows a clicked node's |yours − true|
heatmap and, at logits, the dlogits row inspector; no request leaves the
machine. Screenshots: artifacts/screenshots/notebook-widget*.png. The first
draw's time (cell run -> graph on screen) is printed, not asserted."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse
import contextlib

import httpx
import nbformat
import pytest

from test_widget_state import BACKWARD, PLANTED, RIGHT

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "backprop_ninja.ipynb"
SHOTS = REPO / "artifacts" / "screenshots"
CHROMIUM = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
TOKEN = "bpn-widget-test-token"
WIDGET = ".bpn-widget"
# JupyterLab's own calls home, off: news and update checks, and no toast over the screenshots
SETTINGS = {"@jupyterlab/apputils-extension/notification.jupyterlab-settings":
            {"fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True}}

APP = "window.jupyterapp"
PANEL = f"{APP}.shell.currentWidget"
READY = f"""() => {{ const w = {APP} && {PANEL};
  return Boolean(w && w.context && w.context.isReady && w.sessionContext && w.sessionContext.session
    && w.sessionContext.session.kernel && w.sessionContext.session.kernel.status === 'idle'); }}"""
DRAWN = f"""(n) => [...document.querySelectorAll('{WIDGET} [data-testid=bpn-graph][data-rendered-pos]')]
  .filter((g) => g.querySelector('svg.main-svg')).length >= n"""


def learner_notebook() -> nbformat.NotebookNode:
    """The example notebook up to its first show cell, its exercise-1 cell written with one mistake."""
    nb = nbformat.read(EXAMPLE, as_version=4)
    tags = [set(c.metadata.get("tags", [])) for c in nb.cells]
    show = next(i for i, t in enumerate(tags) if "show" in t)
    cells = nb.cells[:show + 1]
    ex1 = next(i for i, t in enumerate(tags) if "exercise-1" in t)
    assert RIGHT in BACKWARD
    cells[ex1] = nbformat.v4.new_code_cell(BACKWARD.replace(RIGHT, PLANTED).strip(), metadata={"tags": ["exercise-1"]})
    nb.cells = cells
    return nb


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on loopback serving a folder with the learner's notebook; yields (base URL, index of the show cell)."""
    root = tmp_path_factory.mktemp("lab")
    work, home = root / "work", root / "jupyter"
    work.mkdir()
    nb = learner_notebook()
    nbformat.write(nb, work / "learner.ipynb")
    settings = home / "settings"
    for rel, value in SETTINGS.items():
        (settings / rel).parent.mkdir(parents=True, exist_ok=True)
        (settings / rel).write_text(json.dumps(value))
    # nothing of the user's own Jupyter or IPython setup is read or written
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_DATA_DIR": str(home / "data"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "IPYTHONDIR": str(home / "ipython")}
    log = open(root / "lab.log", "w")
    proc = subprocess.Popen(
        # port 0: the server takes a port the system gives it and writes it to its runtime file, read below
        # (no port chosen here and released before the server binds it, which another process could take)
        [sys.executable, "-m", "jupyterlab", "--ServerApp.ip=127.0.0.1", "--ServerApp.port=0",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}", "--ServerApp.open_browser=False",
         f"--ServerApp.root_dir={work}", "--LabApp.expose_app_in_browser=True",
         f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={home / 'workspaces'}",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.extension_manager=readonly",
         *(["--allow-root"] if os.geteuid() == 0 else [])],  # a container's CI runs as root
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    info = home / "runtime" / f"jpserver-{proc.pid}.json"
    try:
        deadline = time.monotonic() + 90
        base = None
        while True:
            assert proc.poll() is None, (root / "lab.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "JupyterLab did not start:\n" + (root / "lab.log").read_text()[-3000:]
            if base is None:
                with contextlib.suppress(OSError, ValueError):  # not written yet, or half written
                    base = f"http://127.0.0.1:{json.loads(info.read_text())['port']}"
                if base is None:
                    time.sleep(0.3)
                    continue
            try:
                if httpx.get(f"{base}/api/status", params={"token": TOKEN}, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "JupyterLab did not start:\n" + (root / "lab.log").read_text()[-3000:]
            time.sleep(0.3)
        yield base, len(nb.cells) - 1
    finally:
        proc.terminate()  # the server shuts its kernels down on SIGTERM
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def page(playwright):
    browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM)
    context = browser.new_context(viewport={"width": 1600, "height": 1200})
    page = context.new_page()
    page.requests = []  # every URL the page asks for, its web sockets too
    context.on("request", lambda r: page.requests.append(r.url))
    page.on("websocket", lambda ws: page.requests.append(ws.url))
    page.errors = []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    try:
        yield page
    finally:
        context.close()
        browser.close()


def off_machine(url: str) -> bool:
    p = urlparse(url)
    return p.scheme not in ("data", "blob", "about") and p.hostname != "127.0.0.1"


def run_show_cell(page, k: int) -> None:
    """Select cell k, bring it into view and run it, as Shift+Enter does; the page notes when (window.__ranAt)."""
    page.evaluate(f"""(k) => {{ const nb = {PANEL}.content; nb.activeCellIndex = k;
      nb.activeCell.node.scrollIntoView({{block: 'start'}});
      window.__ranAt = performance.now(); {APP}.commands.execute('notebook:run-cell'); }}""", k)


def node_point(page, widget: int, name: str) -> tuple[float, float]:
    """Viewport coordinates of a node's marker in the widget's graph."""
    return tuple(page.evaluate(f"""([i, name]) => {{
      const gd = document.querySelectorAll('{WIDGET} [data-testid=bpn-graph]')[i];
      const fl = gd._fullLayout; const r = gd.getBoundingClientRect();
      const t = gd.data.find((d) => d.name === 'nodes'); const j = t.customdata.indexOf(name);
      return [r.left + fl.xaxis._offset + fl.xaxis.l2p(t.x[j]), r.top + fl.yaxis._offset + fl.yaxis.l2p(t.y[j])];
    }}""", [widget, name]))


def click_node(page, widget: int, name: str) -> None:
    page.locator(f"{WIDGET} [data-testid=bpn-graph]").nth(widget).scroll_into_view_if_needed()
    x, y = node_point(page, widget, name)
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    page.wait_for_function(f"""(name) => {{ const d = document.querySelector('{WIDGET} [data-testid=bpn-node]');
      return d && d.dataset.node === name && !d.hidden; }}""", arg=name, timeout=10_000)


def marks(page, widget: int = 0) -> dict:
    """What graph.js drew: the ring colour of each node, the node under "first wrong", the svg's text."""
    return page.evaluate(f"""(i) => {{
      const gd = document.querySelectorAll('{WIDGET} [data-testid=bpn-graph]')[i];
      const nodes = gd.data.find((d) => d.name === 'nodes');
      const at = (t, j) => nodes.customdata.find((_, q) => nodes.x[q] === t.x[j] && nodes.y[q] === t.y[j]);
      const rings = gd.data.find((d) => d.name === 'derive');
      const wrong = gd.data.find((d) => d.name === 'first wrong');
      return {{rings: Object.fromEntries(rings.x.map((_, j) => [at(rings, j), rings.marker.color[j]])),
               firstWrong: wrong.x.map((x, j) => nodes.customdata.find((_, q) => nodes.x[q] === x)),
               text: gd.querySelector('svg.main-svg').parentElement.textContent}};
    }}""", widget)


def test_the_widget_in_jupyterlab(lab, page):
    base, show_at = lab
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(f"{base}/lab/tree/learner.ipynb?token={TOKEN}")
    page.wait_for_function(READY, timeout=90_000)
    page.evaluate(f"() => {APP}.commands.execute('application:toggle-left-area')")  # the file browser away: room
    # the learner runs the notebook down to the show cell, then the show cell
    page.evaluate(f"""(k) => {{ {PANEL}.content.activeCellIndex = k;
      return {APP}.commands.execute('notebook:run-all-above'); }}""", show_at)
    page.wait_for_function(READY, timeout=120_000)
    outputs = page.evaluate(f"() => {PANEL}.content.widgets.map((c) => c.model.type === 'code' ? "
                            "c.model.sharedModel.outputs.map((o) => o.output_type).join(',') : '')")
    assert "error" not in ",".join(outputs), outputs
    run_show_cell(page, show_at)
    page.wait_for_function(DRAWN, arg=1, timeout=60_000)
    cold = page.evaluate("""() => { const k = globalThis.__backpropNinjaWidget; const t = k.times.at(-1);
      const at = (x) => Math.round(x - window.__ranAt);
      return {cell: t.drawn - window.__ranAt, render: t.drawn - t.start, via: t.via,
              steps: {imports: at(k.load.start), plotly: at(k.load.plotly), modules: at(k.load.modules),
                      render: at(t.start), assets: at(t.assets), drawn: at(t.drawn)}}; }""")

    # the graph: plotly's svg, every node ringed by its verdict, the planted one marked first wrong
    m = marks(page)
    assert m["firstWrong"] == ["bndiff2"] and "first wrong" in m["text"]
    assert m["rings"]["bndiff2"] == "#e03131"  # red: wrong
    assert m["rings"]["hprebn"] == "#f08c00"  # orange: wrong only because it used dbndiff
    assert m["rings"]["logprobs"] == "#2f9e44"  # green: right
    summary = page.locator(f"{WIDGET} [data-testid=bpn-first-wrong]").inner_text()
    assert "dbndiff2" in summary

    # a click on the wrong node: its verdict, the named mistake, its |yours − true| heatmap
    click_node(page, 0, "bndiff2")
    page.wait_for_function(f"() => document.querySelector('{WIDGET} [data-testid=bpn-diff]')?.dataset.rendered === 'bndiff2'",
                           timeout=10_000)
    node = page.locator(f"{WIDGET} [data-testid=bpn-node]")
    assert "WRONG" in node.get_by_test_id("bpn-verdict").inner_text()
    assert "n-1" in node.get_by_test_id("bpn-diagnosis").inner_text()
    heat = page.evaluate(f"""() => {{ const gd = document.querySelector('{WIDGET} [data-testid=bpn-diff]');
      return {{type: gd.data[0].type, rows: gd.data[0].z.length, cols: gd.data[0].z[0].length,
               title: gd.previousElementSibling.textContent, svg: Boolean(gd.querySelector('svg.main-svg'))}}; }}""")
    assert heat["type"] == "heatmap" and (heat["rows"], heat["cols"]) == (32, 64) and heat["svg"]
    assert "|yours − true| of dbndiff2" in heat["title"]
    ring = page.evaluate(f"""() => {{ const gd = document.querySelector('{WIDGET} [data-testid=bpn-graph]');
      return gd.data.filter((d) => d.marker && d.marker.symbol === 'circle-open' && d.marker.line.dash === 'dot')
        .map((d) => d.x.length); }}""")
    assert ring == [1]  # the clicked node is outlined
    page.mouse.move(5, 5)  # no hover label over the graph
    page.evaluate(f"() => document.querySelector('{WIDGET}').closest('.jp-Cell').scrollIntoView({{block: 'start'}})")
    page.screenshot(path=str(SHOTS / "notebook-widget.png"))
    page.locator(WIDGET).screenshot(path=str(SHOTS / "notebook-widget-wrong-node.png"))

    # at logits: the dlogits heatmap and the row inspector (the push and pull of one row)
    click_node(page, 0, "logits")
    page.wait_for_function(f"""() => ['bpn-plot-dlogits', 'bpn-plot-row'].every((id) =>
      document.querySelector('{WIDGET} [data-testid=' + id + '] svg.main-svg'))""", timeout=10_000)
    info = page.locator(f"{WIDGET} [data-field=row-info]")
    assert "p(target)" in info.inner_text() and info.get_attribute("data-row") is not None  # the worst row, opened
    x, y = page.evaluate(f"""() => {{ const gd = document.querySelector('{WIDGET} [data-plot=dlogits]');
      gd.scrollIntoView({{block: 'center'}}); const fl = gd._fullLayout; const r = gd.getBoundingClientRect();
      return [r.left + fl.xaxis._offset + fl.xaxis.l2p(5), r.top + fl.yaxis._offset + fl.yaxis.l2p(3)]; }}""")
    page.mouse.move(x, y)
    page.mouse.click(x, y)  # batch order: the fourth row is example 3
    page.wait_for_function(f"() => document.querySelector('{WIDGET} [data-field=row-info]').dataset.row === '3'",
                           timeout=10_000)
    assert info.inner_text().startswith("example 3:")
    page.mouse.move(5, 5)
    page.evaluate(f"() => document.querySelector('{WIDGET} [data-testid=bpn-dlogits]').scrollIntoView({{block: 'end'}})")
    page.screenshot(path=str(SHOTS / "notebook-widget-dlogits.png"))

    # the cell run again: a second graph in this page (its modules and plotly.js already imported)
    run_show_cell(page, show_at)
    page.wait_for_function("""() => { const t = globalThis.__backpropNinjaWidget.times;
      return t.length >= 2 && t.at(-1).drawn; }""", timeout=60_000)
    warm = page.evaluate("() => { const t = globalThis.__backpropNinjaWidget.times.at(-1);"
                         " return {cell: t.drawn - window.__ranAt, render: t.drawn - t.start}; }")
    print(f"\nfirst draw after the show cell runs: {cold['cell']:.0f} ms (ms after the run: {cold['steps']}); "
          f"run again: {warm['cell']:.0f} ms (render {warm['render']:.0f} ms)")

    assert cold["via"] == "reference"  # JupyterLab: the kernel's one _Assets widget
    assert any(u.startswith("ws://127.0.0.1") for u in page.requests)  # the kernel's socket: the record works
    assert [u for u in page.requests if off_machine(u)] == []
    assert not [e for e in page.errors if "plot failed" in e or "backprop" in e.lower()], page.errors


def test_a_front_end_without_widget_references_asks_the_kernel(lab, page):
    """Where a widget cannot reach another (a front end that puts each output in a frame of its own),
    the graph asks its kernel for the assets with a message; forced here in JupyterLab by a test hook."""
    base, show_at = lab
    page.add_init_script("globalThis.__backpropNinjaWidget = {loads: {}, times: [], noRefs: true};")
    page.goto(f"{base}/lab/tree/learner.ipynb?token={TOKEN}")
    page.wait_for_function(READY, timeout=90_000)
    page.evaluate(f"""(k) => {{ {PANEL}.content.activeCellIndex = k;
      return {APP}.commands.execute('notebook:run-all-above'); }}""", show_at)
    page.wait_for_function(READY, timeout=120_000)
    run_show_cell(page, show_at)
    page.wait_for_function(DRAWN, arg=1, timeout=120_000)
    assert page.evaluate("() => globalThis.__backpropNinjaWidget.times.at(-1).via") == "kernel"
    click_node(page, 0, "bndiff2")
    page.wait_for_function(f"() => document.querySelector('{WIDGET} [data-testid=bpn-diff]')?.dataset.rendered === 'bndiff2'",
                           timeout=10_000)
    assert [u for u in page.requests if off_machine(u)] == []


def test_a_second_view_of_the_same_widget_keeps_following_it(lab, page):
    """The same widget shown in two cells, the first cell's output cleared (its view goes): the second view
    still follows the widget, a node selected from the kernel opens there."""
    base, show_at = lab
    page.goto(f"{base}/lab/tree/learner.ipynb?token={TOKEN}")
    page.wait_for_function(READY, timeout=90_000)
    page.evaluate(f"""(k) => {{ {PANEL}.content.activeCellIndex = k;
      return {APP}.commands.execute('notebook:run-all-above'); }}""", show_at)
    page.wait_for_function(READY, timeout=120_000)
    sources = ["w = bpn.show(globals())\ndisplay(w)", "display(w)", "w.selected = 'bndiff2'"]
    page.evaluate(f"""(sources) => {{ const m = {PANEL}.content.model.sharedModel;
      sources.forEach((source, j) => m.insertCell(m.cells.length, {{cell_type: 'code', source}})); }}""", sources)
    first = show_at + 1
    for k in (first, first + 1):
        run_show_cell(page, k)
        page.wait_for_function(READY, timeout=60_000)
    page.wait_for_function(DRAWN, arg=2, timeout=60_000)
    page.evaluate(f"(k) => {PANEL}.content.widgets[k].model.outputs.clear()", first)  # the first view goes
    page.wait_for_function(f"() => document.querySelectorAll('{WIDGET}').length === 1", timeout=10_000)
    run_show_cell(page, first + 2)
    page.wait_for_function(f"""() => {{ const d = document.querySelector('{WIDGET} [data-testid=bpn-node]');
      return d && d.dataset.node === 'bndiff2' && !d.hidden; }}""", timeout=15_000)
    assert [u for u in page.requests if off_machine(u)] == []
