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


PROMPT_UP = "() => { const p = document.querySelector('[data-testid=derive-prompt]'); return p && !p.hidden; }"


def test_derive_it_in_a_class_prompts_followers_and_counts_first_tries(page, browser, live_server, shots):
    """The teacher turns Derive it on: a phone following is prompted, taps "Try
    it yourself" and derives dloss on its own copy (wrong sign first); a late
    joiner is prompted at once. The class view counts both first tries under
    the catalogue's name, then "missing 1/n" at dlogprobs; Derive it off is said too."""
    from backprop_ninja.model.mistakes import label

    open_view(page, live_server)
    page.evaluate("() => { localStorage.clear(); sessionStorage.clear(); }")
    page.get_by_test_id("teach").click()
    page.get_by_test_id("follow-link").wait_for()
    url = page.get_by_test_id("follow-link").get_attribute("href")
    phone = follower(browser, url, PHONE)
    phone.wait_for_function("() => window.__bpn.state.room.version > 0")
    assert phone.get_by_test_id("derive-prompt").is_hidden()  # Derive it is off: nothing to try yet
    assert phone.get_by_test_id("own-stepper").is_hidden()  # only once the room has ended

    page.get_by_test_id("derive-toggle").click()  # the teacher: "let's derive dloss"
    phone.wait_for_function(PROMPT_UP)
    text = phone.get_by_test_id("derive-prompt-text").inner_text()
    assert "Derive it" in text and "dloss" in text
    try_it = phone.get_by_test_id("try-it")
    box = try_it.bounding_box()
    assert box["height"] >= 44 and box["x"] >= 0 and box["x"] + box["width"] <= 390  # a thumb's target, on screen
    phone.screenshot(path=str(shots / "room-follower-derive-prompt.png"))
    try_it.tap()
    phone.wait_for_function("""() => { const s = window.__bpn.state; return window.__bpn.ready && !s.room.watching
        && s.deriveOn && document.querySelector('[data-testid=derive-target]').textContent === 'dloss'; }""")
    assert phone.get_by_test_id("derive-prompt").is_hidden()
    editor = phone.get_by_test_id("derive-editor").bounding_box()  # brought up to the thumb, under the bar
    bar = phone.get_by_test_id("follow-bar").bounding_box()
    assert bar["y"] + bar["height"] <= editor["y"] < 844
    phone.screenshot(path=str(shots / "room-follower-derive-tried.png"))
    assert derive(phone, "loss", "dloss = -1.0") == "wrong"  # the sign, first
    assert derive(phone, "loss", "dloss = 1.0", attempts=2) == "correct"

    late = follower(browser, url, {"width": 1280, "height": 900})  # joins with Derive it already on
    late.wait_for_function(PROMPT_UP)
    assert "dloss" in late.get_by_test_id("derive-prompt-text").inner_text()
    late.get_by_test_id("try-it").click()
    late.wait_for_function("() => window.__bpn.ready && window.__bpn.state.deriveOn && !window.__bpn.state.room.watching")
    assert derive(late, "loss", "dloss = -1.0") == "wrong"

    # both first tries counted at dloss, though the phone solved it since
    mistake = page.get_by_test_id("class-mistake")
    sign = f"most common mistake here: {label('sign')} (2 followers)"
    mistake.filter(has_text=sign).wait_for()
    counts = page.get_by_test_id("class-counts")
    counts.filter(has_text="1 solved without hints").filter(has_text="1 still trying").wait_for()
    assert derive(late, "loss", "dloss = 1.0", attempts=2) == "correct"
    counts.filter(has_text="2 solved without hints").filter(has_text="0 still trying").wait_for()
    assert mistake.inner_text() == sign  # solved by all, the mistake still counted

    # the teacher moves on to dlogprobs; the late joiner follows and forgets 1/n
    page.get_by_test_id("derive-next").click()
    page.get_by_test_id("class-view").locator("h3").filter(has_text="dlogprobs").wait_for()
    assert mistake.inner_text() == "no wrong attempt here"
    late.get_by_test_id("derive-next").click()
    assert derive(late, "logprobs", "dlogprobs = torch.zeros_like(logprobs)\ndlogprobs[range(n), Yb] = -1.0") == "wrong"
    missing = f"most common mistake here: {label('missing_1n')} (1 follower)"
    mistake.filter(has_text=missing).wait_for()
    assert "1/n" in mistake.locator("b").inner_text()
    page.set_viewport_size({"width": 1280, "height": 720})
    page.screenshot(path=str(shots / "room-teacher-derive-class-view.png"))

    # Derive it off: said to followers, who can go back to the teacher from the notice
    page.get_by_test_id("derive-toggle").click()
    phone.wait_for_function(PROMPT_UP)
    assert "off" in phone.get_by_test_id("derive-prompt-text").inner_text()
    assert phone.get_by_test_id("try-it").is_hidden() and not state(phone, "room")["watching"]
    phone.screenshot(path=str(shots / "room-follower-derive-off.png"))
    phone.get_by_test_id("prompt-dismiss").tap()
    assert phone.get_by_test_id("derive-prompt").is_hidden()
    phone.get_by_test_id("back-to-teacher").tap()
    phone.wait_for_function("() => window.__bpn.state.room.watching")
    for p in (phone, late):
        p.context.close()
