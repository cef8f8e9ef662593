"""The train & watch page (frontend/train.html) in a real browser against the
real server: live training, history, evaluation, samples, snapshots."""
from __future__ import annotations

import json
import math
import os
import signal
import time

import httpx
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from pagekit import off_machine
from test_frontend_livefig import OUT_OF_VIEW

from tests.conftest import CLIENT

# tall enough that every panel is on screen: the page redraws only visible panels
TALL = {"width": 1600, "height": 3600}
READY = "window.__train && window.__train.ready"


@pytest.fixture
def train_page(page, live_server):
    """The page, opened fresh, with console errors and off-machine requests recorded."""
    errors: list[str] = []
    outside: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("request", lambda r: outside.append(r.url) if off_machine(r.url) else None)
    page.set_viewport_size(TALL)
    page.goto(f"{live_server}/static/train.html?n_hidden=64")
    page.wait_for_function(READY, timeout=30_000)
    yield page
    assert errors == [], errors
    assert outside == [], outside


def sid(page) -> str:
    return page.evaluate("window.__train.state.session.id")


def api(live_server: str, path: str, **kw):
    r = httpx.request(kw.pop("method", "GET"), f"{live_server}/api/sessions/{path}", timeout=30,
                      headers=CLIENT, **kw)
    assert r.status_code < 300, r.text
    return r.json()


def flat(x) -> list[float]:
    return [v for row in x for v in flat(row)] if isinstance(x, list) else [x]


def status_step(page) -> int:
    return int(page.get_by_test_id("status-step").inner_text().replace(",", ""))


def plot_data(page, name: str):
    return page.evaluate(f"() => document.querySelector('[data-plot={name}]').data.map(t => ({{name: t.name, x: Array.from(t.x || []), y: Array.from(t.y || [])}}))")


def play_for(page, seconds: float, min_step: int) -> None:
    page.keyboard.press(" ")
    page.wait_for_function("() => window.__train.state.playing")
    page.wait_for_timeout(seconds * 1000)
    page.wait_for_function(f"() => window.__train.state.status.step >= {min_step}", timeout=20_000)


def pause(page) -> None:
    page.keyboard.press(" ")
    page.wait_for_function("() => !window.__train.state.playing && window.__train.idle")
    # the status line shows the step training stopped at from the next redraw
    # on, an animation frame or two later: read before it, it showed the last
    # live frame's step, ~250 steps earlier (the scrub test's rare failure)
    page.wait_for_function("""() => document.querySelector('[data-testid=status-step]').textContent
        .replace(/[^0-9]/g, '') === String(window.__train.state.status.step)""")


PAGE_STATE = """() => { const t = window.__train, s = t.state; return {idle: t.idle, view: s.view,
    status: s.status, pending: s.pending, shownUpdate: s.shown && s.shown.update,
    shownStep: s.shown && s.shown.frame.step, last: s.series.lastStep, full: s.series.fullSteps,
    box: document.querySelector('[data-testid=scrub-input]').value}; }"""


def drawn(page) -> None:
    """Every panel shows the newest state (nothing stale left to draw)."""
    page.wait_for_function("""() => { const t = window.__train; return t.ready && !t.state.playing &&
        t.stats.redraws > 0 && document.querySelector('[data-plot=grad]').data; }""")
    page.wait_for_timeout(300)


def test_play_trains_the_net_and_every_view_follows(train_page, live_server, shots):
    page = train_page
    assert status_step(page) == 0
    play_for(page, 2.5, 300)
    early = {n: plot_data(page, n) for n in ("act", "grad", "bn")}
    frames_early = page.evaluate("window.__train.stats.frames")
    # live panels move their traces (livefig.js) more often than they redraw.
    # Waited for, not counted after a fixed time: a loaded machine draws
    # fewer frames a second, and the first draw (and a pause) are always
    # redraws, so a short window on a slow machine would count as few moves
    # as redraws. Were moving broken, moves would stay 0 and this times out.
    page.wait_for_function("""() => ['flow', 'bn', 'grad', 'params'].every((k) => {
        const v = window.__train.plotStats[k]; return v && v.moves > v.reacts + 1; })""", timeout=60_000)
    page.wait_for_timeout(1500)
    pause(page)
    drawn(page)
    late = {n: plot_data(page, n) for n in ("act", "grad", "bn")}
    # and every number drawn is inside its axes
    moved = page.evaluate("Object.fromEntries(Object.entries(window.__train.plotStats).map(([k, v]) => [k, {...v}]))")
    for name in ("flow", "bn", "grad", "params"):
        assert moved[name]["moves"] > moved[name]["reacts"], (name, moved[name])  # the pause's redraw included
    # (the loss curve is redrawn when its smoothing window grows, often in a short run)
    assert moved["loss"]["moves"] > 0, moved["loss"]
    for name in ("loss", "flow", "bn", "act", "grad", "params"):
        assert page.evaluate(f"({OUT_OF_VIEW})(document.querySelector('[data-plot={name}]'))") == [], name
    step = status_step(page)
    assert step >= 300
    assert step == api(live_server, sid(page))["step"]
    # paused, the panels are redrawn and Plotly fits their axes again (moved,
    # the step axis kept room to grow)
    for name in ("loss", "params"):
        assert page.evaluate(f"document.querySelector('[data-plot={name}]')._fullLayout.xaxis.autorange") is True, name
    assert page.evaluate("window.__train.stats.frames") > frames_early > 5  # frames kept arriving
    # the loss falls: the curve drawn, first points against last points
    loss = plot_data(page, "loss")
    raw = [y for y in loss[0]["y"] if y is not None]
    assert len(raw) > 100
    first, last = sum(raw[:30]) / 30, sum(raw[-30:]) / 30
    assert last < first - 0.05, (first, last)
    # the curve starts where training did (thinned to ~800 points: its first
    # point is one of the first few steps), and the first batch was about as
    # bad as a uniform guess (ln 27 = 3.3)
    assert loss[0]["x"][0] <= 1 + step // 800
    start = api(live_server, f"{sid(page)}/history", params={"until": 1})["points"]
    assert start[0]["step"] == 1 and start[0]["loss"] > 3.0
    # histograms of h, of every gradient, and the BatchNorm statistics all moved
    for name in ("act", "grad", "bn"):
        assert early[name][0]["y"] != late[name][0]["y"], name
    assert len(late["grad"]) >= 9  # dlogits, dh, dhpreact and the parameters
    # NaN and Inf are counted for every gradient, and training this one stayed finite
    for name in ("logits", "h", "hpreact", "C", "W1", "b1", "W2", "b2", "bngain", "bnbias"):
        assert page.get_by_test_id(f"nan-{name}").inner_text() == "0"
        assert page.get_by_test_id(f"inf-{name}").inner_text() == "0"
    # val loss was evaluated (every 1000 steps) and drawn; saturation is shown as a share
    hist = api(live_server, f"{sid(page)}/history")
    vals = [p for p in hist["points"] if p["val_loss"] is not None]
    if step >= 1000:
        pts = hist["points"]
        assert vals, f"no val loss in {len(pts)} points, steps {pts[0]['step']}..{pts[-1]['step']}"
        assert loss[2]["x"][: len(vals)] == [p["step"] for p in vals]
    assert page.get_by_test_id("act-saturated").inner_text().startswith("saturated ")
    page.screenshot(path=str(shots / "train_live.png"), full_page=True)


def test_scrubbing_back_shows_what_the_api_reports_for_that_step(train_page, live_server, shots):
    page = train_page
    play_for(page, 1.5, 150)
    pause(page)
    last = status_step(page)
    target = last - 7
    box = page.get_by_test_id("scrub-input")
    box.fill(str(target))
    box.press("Enter")
    try:
        page.wait_for_function(f"""() => {{ const e = document.querySelector('[data-testid=view-frame-step]');
            return e && e.dataset.value === '{target - 1}' && window.__train.idle; }}""", timeout=15_000)
    except PlaywrightTimeout:  # say what the page and the server held
        raise AssertionError(f"update {target} never shown whole; page: {page.evaluate(PAGE_STATE)}; server at "
                             f"step {api(live_server, sid(page))['step']}") from None
    drawn(page)
    s = sid(page)
    frame = api(live_server, f"{s}/frame")
    # that one point, in full: past 10,000 steps (a fast machine trains that many
    # in the 1.5 s of play) the whole history comes back thinned, without it
    point = next(p for p in api(live_server, f"{s}/history?since={target - 1}&until={target}")["points"]
                 if p["step"] == target)
    # update `target`: the parameters it started from (step target-1) and the batch it trained on
    assert frame["step"] == target - 1
    assert float(page.get_by_test_id("view-hist-loss").get_attribute("data-value")) == point["loss"]
    assert float(page.get_by_test_id("view-frame-loss").get_attribute("data-value")) == frame["loss"]
    assert frame["loss"] == pytest.approx(point["loss"], rel=1e-5)  # the same batch, shown again
    assert page.get_by_test_id("status-view").inner_text() == f"update {target:,}"
    assert page.get_by_test_id("act-saturated").inner_text() == f"saturated {100 * frame['tanh']['saturated']:.2f}%"
    bn = plot_data(page, "bn")
    this_batch = next(t for t in bn if t["name"] == "this batch")
    assert this_batch["y"] == pytest.approx(frame["batchnorm"]["batch_mean"], abs=1e-12)
    grad = plot_data(page, "grad")
    dh = next(t for t in grad if t["name"] == "dh")
    assert dh["x"] == pytest.approx(frame["nodes"]["h"]["grad"]["hist"]["edges"], rel=1e-7)
    assert page.get_by_test_id("std-h").inner_text() == f"{frame['nodes']['h']['grad']['std']:#.3g}"
    shapes = page.evaluate("document.querySelector('[data-plot=loss]').layout.shapes.map(s => s.x0)")
    assert target in shapes  # the curve marks the update on screen
    page.screenshot(path=str(shots / "train_history.png"), full_page=True)
    # one step on from there: the same batch is applied, history continues from it
    box.press("Escape")  # leave the number box: arrow keys move through the history
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"""() => {{ const e = document.querySelector('[data-testid=view-frame-step]');
        return e && e.dataset.value === '{target}'; }}""", timeout=15_000)
    assert api(live_server, f"{s}/frame")["step"] == target


def test_samples_evaluation_png_and_snapshot_export_import_resume(train_page, live_server, shots, tmp_path):
    page = train_page
    play_for(page, 1.2, 100)
    pause(page)
    old = sid(page)
    step = status_step(page)
    # loss on the whole splits, with both kinds of BatchNorm statistics
    page.get_by_test_id("btn-evaluate").click()
    page.wait_for_selector("[data-testid=split-table]:not([hidden])")
    for split in ("train", "val", "test"):
        for kind in ("running", "calibrated"):
            assert 1.5 < float(page.get_by_test_id(f"loss-{kind}-{split}").inner_text()) < math.log(27) + 0.2
    # names sampled from the model, each marked new or seen, as the API reports them
    page.get_by_test_id("samples-k").fill("15")
    page.get_by_test_id("samples-seed").fill("7")
    page.get_by_test_id("btn-sample").click()
    page.wait_for_function("() => document.querySelectorAll('[data-testid=samples] li').length === 15")
    shown = page.evaluate("""() => [...document.querySelectorAll('[data-testid=samples] li')].map(li =>
        [li.querySelector('.word').textContent, li.dataset.seen === 'true', li.querySelector('.mark').textContent])""")
    expect = api(live_server, f"{old}/samples", method="POST", json={"k": 15, "seed": 7})["samples"]
    assert [(w, seen) for w, seen, _ in shown] == [(s["word"] or "(empty)", s["seen"]) for s in expect]
    assert all(mark == ("seen" if seen else "new") for _, seen, mark in shown)
    # a figure saved as PNG
    with page.expect_download() as dl:
        page.locator("[data-png=loss]").click()
    png = tmp_path / "loss.png"
    dl.value.save_as(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # export the snapshot...
    with page.expect_download() as dl:
        page.get_by_test_id("btn-export").click()
    snap_file = tmp_path / "snap.json"
    dl.value.save_as(snap_file)
    snap = json.loads(snap_file.read_text())
    assert snap["step"] == step and snap["format"] == "backprop-ninja-snapshot/1"
    # ...import it: a new session at the same step with the same parameters
    page.get_by_test_id("import-file").set_input_files(str(snap_file))
    page.wait_for_function(f"() => window.__train.state.session.id !== '{old}' && window.__train.idle")
    page.wait_for_function("() => document.querySelector('[data-testid=snapshot-info]').textContent.startsWith('Imported')")
    new = sid(page)
    assert status_step(page) == step
    a, b = api(live_server, f"{old}/snapshot"), api(live_server, f"{new}/snapshot")
    assert b["step"] == a["step"] == step
    assert b["params"] == a["params"]
    assert b["running_mean"] == a["running_mean"] and b["running_var"] == a["running_var"]
    # and training resumes identically: one more step in each gives the same parameters
    page.get_by_test_id("btn-step").click()
    page.wait_for_function(f"() => window.__train.state.status.step === {step + 1} && window.__train.idle")
    api(live_server, f"{old}/train", method="POST", json={"steps": 1})
    a, b = api(live_server, f"{old}/snapshot"), api(live_server, f"{new}/snapshot")
    assert b["step"] == a["step"] == step + 1
    for name in a["params"]:
        assert flat(b["params"][name]) == pytest.approx(flat(a["params"][name]), abs=1e-6), name
    drawn(page)
    page.locator("[data-panel=after]").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "train_after.png"), full_page=True)


def test_a_worker_killed_while_playing_is_told_and_play_goes_on(train_page, live_server, shots):
    """kill -9 of the training worker mid-play: the page says what happened,
    its curve keeps only steps the session still has, and play goes on."""
    page = train_page
    page.keyboard.press(" ")
    page.wait_for_function("() => window.__train.state.playing && window.__train.state.status.step > 100")
    pids = [w["pid"] for w in httpx.get(f"{live_server}/api/health").json()["workers"] if w["sessions"]]
    assert len(pids) == 1
    os.kill(pids[0], signal.SIGKILL)
    toast = page.locator("#toast", has_text="worker process died")
    toast.wait_for(timeout=30_000)
    page.wait_for_function("() => !window.__train.state.playing && window.__train.idle")
    state = api(live_server, sid(page))
    assert not state["playing"]
    page.wait_for_function(f"() => window.__train.state.series.lastStep <= {state['step']}")
    page.screenshot(path=str(shots / "train_worker_died.png"))
    page.wait_for_function("() => window.__train && window.__train.ready")
    httpx_wait_alive(live_server)
    page.keyboard.press(" ")
    page.wait_for_function(f"() => window.__train.state.playing && window.__train.state.status.step > {state['step'] + 50}")
    pause(page)


def httpx_wait_alive(live_server: str) -> None:
    """Until every worker of the pool runs again (a play also waits for one)."""
    while not all(w["alive"] for w in httpx.get(f"{live_server}/api/health").json()["workers"]):
        time.sleep(0.05)
