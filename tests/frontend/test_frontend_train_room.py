"""Teach from the training page in real browsers: the teacher starts a room and
trains live; a follower on a phone sees the steps climb and the "following"
bar, and its play key does not drive the teacher's run."""
from __future__ import annotations

READY = "window.__train && window.__train.ready"
PHONE = {"width": 390, "height": 844}
STEP = "() => Number(document.querySelector('[data-testid=status-step]').textContent.replace(/,/g, ''))"


def test_a_phone_follows_the_teachers_live_training(page, browser, live_server, shots):
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{live_server}/static/train.html?n_hidden=64")
    page.wait_for_function(READY, timeout=30_000)
    page.get_by_test_id("teach").click()
    link = page.get_by_test_id("follow-link")
    link.wait_for()
    url = link.get_attribute("href")
    assert url.startswith(live_server) and "/static/train.html?follow=" in url
    assert page.locator("[data-testid=room-qr] svg path").count() >= 1

    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    phone.on("pageerror", lambda e: errors.append(f"follower: {e}"))
    phone.goto(url)
    phone.wait_for_function(READY, timeout=30_000)
    bar = phone.get_by_test_id("follow-bar")
    assert "Following the teacher" in bar.inner_text()
    phone.get_by_test_id("teacher-state").filter(has_text="● teacher connected").wait_for()
    assert phone.get_by_test_id("btn-play").is_hidden()  # a follower's page has no controls of its own
    page.get_by_test_id("room-followers").filter(has_text="1 follower").wait_for()

    page.keyboard.press(" ")  # the teacher plays
    page.wait_for_function("() => window.__train.state.playing")
    phone.get_by_test_id("follow-playing").filter(has_text="training").wait_for()
    phone.wait_for_function(f"() => ({STEP})() > 0 && window.__train.stats.frames >= 2", timeout=30_000)
    first = phone.evaluate(STEP)
    phone.wait_for_function(f"(s) => ({STEP})() > s + 20", arg=first, timeout=30_000)
    assert phone.evaluate("window.__train.state.series.lastStep") > first
    phone.wait_for_function("() => document.querySelector('[data-plot=loss] .scatterlayer .trace')")

    # the follower's play key is refused, in a sentence; the teacher trains on
    phone.keyboard.press(" ")
    toast = phone.get_by_test_id("toast")
    toast.filter(has_text="following the teacher").wait_for()
    assert page.evaluate("window.__train.state.playing")
    phone.screenshot(path=str(shots / "train-follower-phone.png"))
    page.screenshot(path=str(shots / "train-teacher-room.png"))

    # the teacher pauses: the follower sees it, at the teacher's step
    page.keyboard.press(" ")
    page.wait_for_function("() => window.__train.idle && !window.__train.state.playing")
    teacher_step = page.evaluate(STEP)
    phone.get_by_test_id("follow-playing").filter(has_text="paused").wait_for()
    phone.wait_for_function(f"(s) => ({STEP})() === s", arg=teacher_step, timeout=30_000)
    assert not phone.evaluate("window.__train.state.playing")
    phone.screenshot(path=str(shots / "train-follower-phone-paused.png"))
    assert errors == [], errors
    phone.context.close()
