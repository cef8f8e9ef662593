"""The train & watch page follows the lecture's lr schedule by default and
says so; a run with its own drop step says that, and drops there."""
from __future__ import annotations

import httpx

READY = "window.__train && window.__train.ready"


def _open(page, base: str, query: str) -> None:
    page.set_viewport_size({"width": 1600, "height": 1400})
    page.goto(f"{base}/static/train.html?{query}")
    page.wait_for_function(READY, timeout=30_000)


def test_default_run_is_the_lectures_schedule(page, live_server, shots):
    _open(page, live_server, "n_hidden=64")
    sid = page.evaluate("window.__train.state.session.id")
    config = httpx.get(f"{live_server}/api/sessions/{sid}").json()["config"]
    assert config["lr"] == 0.1 and config["lr_decay_step"] == 100000
    text = page.get_by_test_id("lr-schedule").inner_text()
    assert "lr 0.1 for updates 1-100,000, then 0.01" in text and "lecture's schedule" in text
    page.locator("section.controls").screenshot(path=str(shots / "train_schedule.png"))


def test_the_lr_drops_where_the_page_says(page, live_server):
    _open(page, live_server, "n_hidden=16&decay=40")
    assert page.get_by_test_id("lr-schedule").inner_text() == "lr 0.1 for updates 1-40, then 0.01."
    page.keyboard.press(" ")
    page.wait_for_function("() => window.__train.state.playing")
    page.wait_for_function("() => window.__train.state.status.step > 60", timeout=30_000)
    page.keyboard.press(" ")
    page.wait_for_function("() => !window.__train.state.playing && window.__train.idle")
    sid = page.evaluate("window.__train.state.session.id")
    points = httpx.get(f"{live_server}/api/sessions/{sid}/history").json()["points"]
    lrs = {p["step"]: p["lr"] for p in points}
    assert lrs[40] == 0.1 and lrs[41] == 0.01  # update 41 is the first with lr/10
    page.wait_for_function("() => document.querySelector('[data-testid=status-lr]').textContent.startsWith('0.01')")
