"""Sockets that drop, in a real browser against a real server. The training
page's stream (frontend/api.js Stream, the reconnect in train/session.js): one
that closes while the server stays is opened again on the same run; a
server that stops is said so in a sentence, and once it is back on the same
address (its sessions gone with it) the page starts a new run that plays.
A follower's room socket (frontend/followbar.js): opened again after a
restart, it hears that the room is gone and says the room has ended."""
from __future__ import annotations

import pytest
from pagekit import open_view, wait_drawn
from test_frontend_rooms import FOLLOWS, follower

from tests.conftest import free_port, start_server, stop_server, wait_healthy

READY = "window.__train && window.__train.ready"
IDLE = "window.__train.idle && !window.__train.state.playing"


def toast_says(page, words: str) -> str:
    """The toast's text once it holds `words` (shown or already faded: a toast
    shown while the test waited for the server to start may be gone)."""
    page.wait_for_function("(w) => document.getElementById('toast').textContent.includes(w)", arg=words,
                           timeout=60_000)
    return page.evaluate("document.getElementById('toast').textContent")


def play_until(page, step: int) -> None:
    page.keyboard.press(" ")
    page.wait_for_function(f"() => window.__train.state.playing && window.__train.state.status.step > {step}",
                           timeout=30_000)


@pytest.fixture
def server():
    """A server of this test's own, which it stops and starts again on one port."""
    port = free_port()
    procs = []

    def start():
        proc, log = start_server(port, {"BPN_WORKERS": "1"})
        procs.append((proc, log))
        wait_healthy(f"http://127.0.0.1:{port}", proc, log)

    def stop():
        stop_server(*procs.pop())

    start()
    yield f"http://127.0.0.1:{port}", start, stop
    while procs:
        stop()


def test_a_dropped_stream_is_opened_again_on_the_same_run(page, server):
    base, _, _ = server
    page.goto(f"{base}/static/train.html?n_hidden=16")
    page.wait_for_function(READY, timeout=30_000)
    play_until(page, 50)
    first = page.evaluate("window.__train.state.session.id")
    page.evaluate("window.__train.state.stream.ws.close()")  # as a network blip closes it
    assert "reconnecting" in toast_says(page, "Connection lost")
    page.wait_for_function(f"() => window.__train.state.stream && window.__train.state.stream.ok && {IDLE}")
    assert page.evaluate("window.__train.state.session.id") == first  # the same run, where it stopped
    step = page.evaluate("window.__train.state.status.step")
    assert step > 50
    frames = page.evaluate("window.__train.stats.frames")
    play_until(page, step + 50)
    # live frames over the new stream: the step alone can pass step + 50 with the
    # play's own frame (built once the worker trains; this small model's 50 steps
    # take a few ms), before the first live frame comes
    page.wait_for_function(f"() => window.__train.stats.frames > {frames}", timeout=30_000)


def test_a_restarted_server_is_found_again_with_a_new_run(page, server, shots):
    base, start, stop = server
    page.goto(f"{base}/static/train.html?n_hidden=16")
    page.wait_for_function(READY, timeout=30_000)
    play_until(page, 50)
    first = page.evaluate("window.__train.state.session.id")
    stop()
    said = toast_says(page, "not reachable")  # after a few quick tries: what to do
    assert said.startswith("The server is not reachable") and "Start it again" in said
    page.wait_for_function(f"() => {IDLE}")
    page.screenshot(path=str(shots / "train_server_away.png"))
    start()  # the same address; every session of the old server is gone
    assert "starting a new run" in toast_says(page, "The session is gone")
    page.wait_for_function(f"() => window.__train.state.session.id !== '{first}' && {IDLE}", timeout=60_000)
    assert page.evaluate("window.__train.state.status.step") == 0
    assert f"session={page.evaluate('window.__train.state.session.id')}" in page.url
    play_until(page, 20)
    page.screenshot(path=str(shots / "train_server_back.png"))


def test_a_follower_whose_server_restarted_is_told_the_room_has_ended(page, browser, server, shots):
    base, start, stop = server
    open_view(page, base)
    page.keyboard.press("f")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    wait_drawn(page, 2)
    page.get_by_test_id("teach").click()
    link = page.get_by_test_id("follow-link")
    link.wait_for()
    code = page.get_by_test_id("room-code").inner_text()
    phone = follower(browser, link.get_attribute("href"), {"width": 390, "height": 844})
    phone.wait_for_function(FOLLOWS, arg=[2, 0])
    assert phone.get_by_test_id("teacher-state").inner_text() == "● teacher connected"
    stop()
    phone.get_by_test_id("teacher-state").filter(has_text="○ teacher away").wait_for()
    assert phone.get_by_test_id("follow-state").inner_text() == f"Following the teacher · room {code}"
    start()  # the same address; the room was in the old server's memory
    ended = phone.get_by_test_id("follow-state")
    ended.filter(has_text="has ended").wait_for(timeout=60_000)
    assert ended.inner_text().startswith(f"Room {code} has ended: no room {code}")
    assert phone.get_by_test_id("teacher-state").inner_text() == ""
    assert phone.get_by_test_id("own-stepper").is_visible()  # the way on: a stepper of its own
    assert phone.evaluate("window.__bpn.state.room.ended") is not None
    assert phone.evaluate("window.__bpn.state.computed.length") == 2  # the last state stays on screen
    phone.screenshot(path=str(shots / "follower_room_gone.png"))
