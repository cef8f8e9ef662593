"""Teach a room in real browsers: a teacher page and two follower pages (one
phone-sized) follow five steps, a fork and a snap-back."""
from __future__ import annotations

from pagekit import open_view, state, wait_drawn

PHONE = {"width": 390, "height": 844}
FOLLOWS = """([pos, step]) => { const s = window.__bpn.state;
  return s.room && s.room.watching && s.computed.length === pos && s.step === step
    && document.getElementById('graph').dataset.renderedPos === String(pos); }"""


def follower(browser, url: str, viewport: dict):
    page = browser.new_context(viewport=viewport, is_mobile=viewport is PHONE,
                               has_touch=viewport is PHONE).new_page()
    page.goto(url)
    page.wait_for_function("() => window.__bpn && window.__bpn.state.room && window.__bpn.state.room.version > 0",
                           timeout=30_000)
    return page


def test_two_followers_follow_five_steps_a_fork_and_a_snap_back(page, browser, live_server, shots):
    open_view(page, live_server)
    page.get_by_test_id("teach").click()
    link = page.get_by_test_id("follow-link")
    link.wait_for()
    url = link.get_attribute("href")
    assert url.startswith(live_server) and "follow=" in url
    assert page.locator("[data-testid=room-qr] svg path").count() >= 1  # drawn by the server, not fetched
    desk, phone = follower(browser, url, {"width": 1280, "height": 900}), follower(browser, url, PHONE)
    for p in (desk, phone):
        p.wait_for_function(FOLLOWS, arg=[0, 0])
        assert p.get_by_test_id("teacher-state").inner_text() == "● teacher connected"
        assert "Following the teacher" in p.get_by_test_id("follow-state").inner_text()
    page.get_by_test_id("room-followers").filter(has_text="2 followers").wait_for()

    for pos in range(1, 6):  # the teacher's key presses, step by step at every follower
        page.keyboard.press("ArrowRight")
        wait_drawn(page, pos)
        for p in (desk, phone):
            p.wait_for_function(FOLLOWS, arg=[pos, 0])
    teacher_node = state(page, "next")
    assert state(desk, "next") == state(phone, "next") == teacher_node
    assert desk.get_by_test_id("status-pos").inner_text() == page.get_by_test_id("status-pos").inner_text()

    # a follower's keys do not drive the teacher's session
    phone.keyboard.press("ArrowRight")
    phone.get_by_test_id("toast").filter(has_text="You are following the teacher").wait_for()
    assert state(page, "computed") == state(phone, "computed") and len(state(page, "computed")) == 5

    # the teacher pins a node and presents: the followers show it, the phone too
    page.get_by_test_id("chip-probs").click()
    page.keyboard.press("p")
    for p in (desk, phone):
        p.wait_for_function("() => window.__bpn.state.selected === 'probs' && document.body.classList.contains('present')")
        p.wait_for_function("() => document.getElementById('inspector').dataset.renderedKey === 'probs:g'")
    page.keyboard.press("p")
    phone.wait_for_function("() => !document.body.classList.contains('present')")
    phone.screenshot(path=str(shots / "room-follower-phone.png"), full_page=False)
    page.screenshot(path=str(shots / "room-teacher.png"))

    # the desktop follower explores on its own: a copy at the teacher's exact state
    desk.get_by_test_id("explore").click()
    desk.wait_for_function("() => window.__bpn.ready && !window.__bpn.state.room.watching")
    mine = state(desk, "session")["id"]
    assert mine and mine != state(page, "session")["id"]
    assert state(desk, "computed") == state(page, "computed") and state(desk, "loss") == state(page, "loss")
    for pos in (6, 7):
        desk.keyboard.press("ArrowRight")
        wait_drawn(desk, pos)
    page.keyboard.press("ArrowRight")  # the teacher goes on; the phone follows, the explorer does not
    wait_drawn(page, 6)
    phone.wait_for_function(FOLLOWS, arg=[6, 0])
    assert len(state(desk, "computed")) == 7 and len(state(page, "computed")) == 6
    desk.screenshot(path=str(shots / "room-follower-exploring.png"))

    # back to the teacher: the room's newest state at once
    desk.get_by_test_id("back-to-teacher").click()
    desk.wait_for_function(FOLLOWS, arg=[6, 0])
    assert state(desk, "computed") == state(page, "computed")

    # the teacher ends the room: both followers are told
    page.get_by_test_id("room-end").click()
    for p in (desk, phone):
        p.get_by_test_id("follow-state").filter(has_text="has ended").wait_for()
        assert p.get_by_test_id("own-stepper").is_visible() and not p.get_by_test_id("explore").is_visible()
    phone.screenshot(path=str(shots / "room-follower-phone-ended.png"))


def derive(page, node: str, code: str, attempts: int = 1) -> str:
    from test_frontend_derive import type_code, wait_verdict
    page.wait_for_function("(n) => document.querySelector('[data-testid=derive-target]').textContent === 'd' + n",
                           arg=node)
    type_code(page, code)
    return wait_verdict(page, node, attempts)


def test_the_class_view_shows_who_is_stuck_where(page, browser, live_server, shots):
    open_view(page, live_server)
    page.evaluate("() => { localStorage.clear(); sessionStorage.clear(); }")
    page.get_by_test_id("teach").click()
    page.get_by_test_id("follow-link").wait_for()
    url = page.get_by_test_id("follow-link").get_attribute("href")
    page.get_by_test_id("derive-toggle").click()
    page.get_by_test_id("chip-logprobs").click()  # the teacher talks about dlogprobs
    learners = []
    for name, dlogprobs in (("Ada", "dlogprobs = torch.zeros_like(logprobs)\ndlogprobs[range(n), Yb] = -1.0/n"),
                            (None, "dlogprobs = torch.zeros_like(logprobs)\ndlogprobs[range(n), Yb] = 1.0/n")):
        p = follower(browser, url, {"width": 1280, "height": 900})
        p.evaluate("() => localStorage.clear()")
        if name:
            p.get_by_test_id("nickname").fill(name)
            p.get_by_test_id("nickname").press("Enter")
        p.get_by_test_id("explore").click()
        p.wait_for_function("() => window.__bpn.ready && !window.__bpn.state.room.watching")
        p.get_by_test_id("derive-toggle").click()
        assert derive(p, "loss", "dloss = 1.0") == "correct"
        p.get_by_test_id("derive-next").click()
        learners.append((p, derive(p, "logprobs", dlogprobs)))
    assert [v for _, v in learners] == ["correct", "wrong"]
    counts = page.get_by_test_id("class-counts")
    counts.filter(has_text="1 solved without hints").filter(has_text="1 still trying").wait_for()
    assert "dlogprobs" in page.get_by_test_id("class-fails").inner_text()
    assert "most common mistake here" in page.get_by_test_id("class-mistake").inner_text()
    assert "Ada" in page.get_by_test_id("class-view").inner_text()
    page.get_by_test_id("room-card").screenshot(path=str(shots / "room-class-view.png"))
    page.screenshot(path=str(shots / "room-teacher-class-view.png"))
