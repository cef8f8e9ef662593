"""Class use: a shared URL reproduces the view; the keyboard drives the
stepper; presenter mode shows large type and no controls."""
from __future__ import annotations

from pagekit import dlogits_row_point, open_view, state, status, wait_drawn

VIEW = """() => { const s = window.__bpn.state;
  return {step: s.step, pos: s.computed.length, computed: s.computed, selected: s.selected, row: s.row,
          loss: s.loss, mode: s.mode, config: s.config}; }"""


def test_a_shared_url_reproduces_the_view_in_another_browser(page, browser, live_server, shots):
    open_view(page, live_server)
    page.keyboard.press("s")  # backward, update, forward: step 1, a new batch
    page.wait_for_function("() => window.__bpn.state.step === 1 && window.__bpn.state.forwarded")
    wait_drawn(page, 0)
    for pos in range(1, 8):
        page.keyboard.press("ArrowRight")
        wait_drawn(page, pos)
    page.get_by_test_id("chip-probs").click()
    page.wait_for_function("() => document.getElementById('inspector').dataset.renderedKey === 'probs:g'")
    page.wait_for_function("() => window.__bpn.state.rowData")
    page.mouse.click(*dlogits_row_point(page, 3))
    page.wait_for_function("() => document.getElementById('dlogits').dataset.renderedRow === '3'")
    page.wait_for_function("() => new URLSearchParams(location.search).get('row') === '3'")
    url = page.url
    before = page.evaluate(VIEW)
    assert before["step"] == 1 and before["pos"] == 7 and before["selected"] == "probs" and before["row"] == 3

    other = browser.new_context(viewport={"width": 1600, "height": 1200}).new_page()  # no shared storage
    try:
        other.goto(url)
        other.wait_for_function("window.__bpn && window.__bpn.ready", timeout=30_000)
        wait_drawn(other, 7)
        other.wait_for_function("() => document.getElementById('inspector').dataset.renderedKey === 'probs:g'")
        other.wait_for_function("() => document.getElementById('dlogits').dataset.renderedRow === '3'")
        after = other.evaluate(VIEW)
        assert after["step"] == before["step"]
        assert after["computed"] == before["computed"]
        assert after["selected"] == before["selected"] and after["row"] == before["row"]
        assert after["config"] == before["config"] and after["mode"] == before["mode"]
        assert abs(after["loss"] - before["loss"]) < 1e-6
        # and what a user reads is the same
        for field in ("step", "loss", "next", "pos"):
            assert status(other, field) == status(page, field)
        assert other.get_by_test_id("inspector-title").inner_text() == "probs"
        assert other.get_by_test_id("row-target").inner_text() == page.get_by_test_id("row-target").inner_text()
        assert other.get_by_test_id("badge-probs").inner_text() == page.get_by_test_id("badge-probs").inner_text()
        other.screenshot(path=str(shots / "shared_url.png"), full_page=True)
    finally:
        other.context.close()


def test_keyboard_steps_back_and_forth_forwards_updates_and_opens_help(page, live_server, shots):
    open_view(page, live_server)
    assert status(page, "pos") == "0/27"
    page.keyboard.press("ArrowRight")
    wait_drawn(page, 1)
    page.keyboard.press("ArrowRight")
    wait_drawn(page, 2)
    assert status(page, "pos") == "2/27" and status(page, "next") == "dprobs"
    page.keyboard.press("ArrowLeft")
    wait_drawn(page, 1)
    assert status(page, "next") == "dlogprobs"
    loss0 = status(page, "loss")

    page.keyboard.press("u")  # finishes the backward, then updates
    page.wait_for_function("() => window.__bpn.state.step === 1 && !window.__bpn.state.forwarded && !window.__bpn.state.busy")
    assert status(page, "step") == "1" and status(page, "loss") == "–" and status(page, "next") == "forward (f)"
    page.keyboard.press("f")
    page.wait_for_function("() => window.__bpn.state.forwarded && !window.__bpn.state.busy")
    wait_drawn(page, 0)
    assert status(page, "loss") not in ("–", loss0)

    page.keyboard.press("b")
    wait_drawn(page, 27)
    page.keyboard.press("ArrowLeft")
    wait_drawn(page, 26)

    page.keyboard.press("?")
    help_box = page.get_by_test_id("help")
    help_box.wait_for(state="visible")
    assert "next backward node" in help_box.inner_text()
    page.screenshot(path=str(shots / "help.png"))
    page.keyboard.press("Escape")
    help_box.wait_for(state="hidden")
    page.keyboard.press("h")
    help_box.wait_for(state="visible")
    page.keyboard.press("h")
    help_box.wait_for(state="hidden")

    # typing in a field is not a shortcut
    page.locator("input[name=seed]").focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("f")
    page.wait_for_timeout(300)
    assert state(page, "computed").__len__() == 26


def test_space_plays_and_pauses(page, live_server):
    open_view(page, live_server)
    page.keyboard.press(" ")
    page.wait_for_function("() => window.__bpn.state.computed.length >= 2", timeout=5_000)
    page.keyboard.press(" ")
    page.wait_for_function("() => !window.__bpn.state.playing && !window.__bpn.state.busy")
    stopped = len(state(page, "computed"))
    page.wait_for_timeout(1_000)
    assert len(state(page, "computed")) == stopped


def test_presenter_mode_hides_the_controls(page, live_server, shots):
    open_view(page, live_server, "?pos=12")
    controls = page.get_by_test_id("controls")
    assert controls.is_visible()
    page.keyboard.press("p")
    controls.wait_for(state="hidden")
    size = page.evaluate("() => parseFloat(getComputedStyle(document.body).fontSize)")
    assert size >= 18
    page.keyboard.press("ArrowRight")  # the keyboard still drives it
    wait_drawn(page, 13)
    page.screenshot(path=str(shots / "presenter.png"))
    page.keyboard.press("p")
    controls.wait_for(state="visible")

    open_view(page, live_server, "?pos=3&present=1")
    assert not page.get_by_test_id("controls").is_visible()
    assert page.evaluate("() => document.body.classList.contains('present')")
    # the address bar drops it: a reload does not keep the page in presenter mode
    page.wait_for_function("() => location.search.includes('pos=3') && !location.search.includes('present')")
    page.reload()
    page.wait_for_function("window.__bpn && window.__bpn.ready")
    wait_drawn(page, 3)
    assert page.get_by_test_id("controls").is_visible()
