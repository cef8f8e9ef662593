"""What a student reads in the browser is true where they are: the fused
view's exercise 2 and 3 code, a switch of view that keeps the place, the
float note in float64 and in fused mode, a derivation revealed one step at a
time, and the lecture's order flagging a half-finished gradient."""
from __future__ import annotations

from pagekit import open_view, state, status, wait_drawn

INSPECTED = "(key) => document.getElementById('inspector').dataset.renderedKey === key"
NOT_BUSY = "() => !window.__bpn.state.busy"


def _node_colours(page) -> dict:
    """The fill drawn for each node of the graph, by name."""
    return page.evaluate("""() => { const t = document.getElementById('graph').data.find((d) => d.name === 'nodes');
        return Object.fromEntries(t.customdata.map((n, i) => [n, t.marker.color[i]])); }""")


def test_fused_view_teaches_exercises_2_and_3(page, live_server, shots):
    open_view(page, live_server, "?mode=fused&pos=1")
    pending = page.evaluate("async () => (await import('/static/theme.js')).COLORS.pending")
    assert status(page, "pos") == "1/13"
    page.get_by_test_id("chip-logits").click()
    page.wait_for_function(INSPECTED, arg="logits:g")
    code = page.get_by_test_id("backward-line").inner_text()
    assert "F.softmax(logits, 1)" in code and "-= 1" in code and "clone" not in code
    assert "F.cross_entropy" in page.get_by_test_id("forward-line").inner_text()
    explain = page.get_by_test_id("explain").inner_text()
    assert "Exercise 2" in explain and "panel below" not in explain
    colours = _node_colours(page)
    assert colours["cross_entropy"] != pending and colours["loss"] != pending  # done with dlogits
    assert colours["batchnorm"] == pending
    page.screenshot(path=str(shots / "fused_logits.png"), full_page=True)
    page.keyboard.press("Escape")
    for pos in range(2, 9):  # ... through dhprebn, BatchNorm's one line
        page.keyboard.press("ArrowRight")
        wait_drawn(page, pos)
    page.get_by_test_id("chip-hprebn").click()
    page.wait_for_function(INSPECTED, arg="hprebn:g")
    code = page.get_by_test_id("backward-line").inner_text()
    assert "n*dhpreact - dhpreact.sum(0)" in code and "dbndiff" not in code
    assert "Exercise 3" in page.get_by_test_id("explain").inner_text()
    assert _node_colours(page)["batchnorm"] != pending
    page.screenshot(path=str(shots / "fused_hprebn.png"), full_page=True)


def test_switching_views_keeps_the_place_and_says_so(page, live_server, shots):
    open_view(page, live_server, "?pos=12")  # loss .. db2
    assert status(page, "pos") == "12/27"
    page.get_by_test_id("mode-fused").click()
    page.wait_for_function("() => window.__bpn.state.mode === 'fused' && !window.__bpn.state.busy")
    assert status(page, "pos") == "4/13"  # dlogits, dh, dW2, db2
    toast = page.get_by_test_id("toast")
    toast.wait_for(state="visible")
    assert "12/27" in toast.inner_text() and "4/13" in toast.inner_text()
    page.keyboard.press("m")
    page.wait_for_function("() => window.__bpn.state.mode === 'atomic' && !window.__bpn.state.busy")
    assert status(page, "pos") == "12/27" and state(page, "step") == 0


def test_float_note_says_what_is_true_in_float64_and_in_fused_mode(page, live_server, shots):
    open_view(page, live_server, "?mode=fused&pos=1")
    page.get_by_test_id("chip-logits").click()
    page.wait_for_function(INSPECTED, arg="logits:g")
    note = page.get_by_test_id("float-note")
    note.wait_for(state="visible")
    text = note.inner_text()
    assert "softmax" in text and "log_softmax" in text and "tanh" not in text  # above tanh, and says why
    assert "Switch dtype to float64" in text
    open_view(page, live_server, "?dtype=float64&pos=27")
    page.get_by_test_id("chip-W1").click()
    page.wait_for_function(INSPECTED, arg="W1:g")
    note.wait_for(state="visible")
    text = note.inner_text()
    assert "This run is float64" in text and "Switch dtype" not in text and "1e-9" not in text
    assert "dhprebn" in text  # where its gap comes from: the gradient it starts from
    page.get_by_test_id("inspector").screenshot(path=str(shots / "float_note_float64.png"))


def test_a_derivation_is_revealed_one_step_at_a_time(page, live_server, shots):
    open_view(page, live_server, "?pos=22&node=hprebn")
    box = page.get_by_test_id("derivation")
    box.wait_for(state="visible")
    assert box.get_attribute("data-derivation") == "batchnorm"
    steps = page.get_by_test_id("derivation-step")
    assert steps.count() == 0
    button = page.get_by_test_id("derivation-next")
    assert "Show the derivation" in button.inner_text()
    button.click()
    assert steps.count() == 1
    for k in range(2, 6):
        button.click()
        assert steps.count() == k
    assert "vanishes" in steps.nth(4).inner_text()
    # typeset by the browser: real MathML elements with a size on screen
    size = page.evaluate("""() => { const m = document.querySelectorAll('[data-testid=derivation-step] math');
        return [m.length, Math.min(...[...m].map((e) => e.getBoundingClientRect().width))]; }""")
    assert size[0] == 5 and size[1] > 40
    while button.is_enabled():
        button.click()
    assert "All steps shown" in button.inner_text() and steps.count() >= 7
    box.screenshot(path=str(shots / "derivation_batchnorm.png"))
    page.get_by_test_id("derivation-hide").click()
    assert steps.count() == 0


def test_lecture_order_flags_the_half_finished_gradient(page, live_server, shots):
    open_view(page, live_server, "?mode=lecture&pos=4")
    assert status(page, "pos") == "4/31"
    page.keyboard.press("ArrowRight")  # dcounts = counts_sum_inv * dprobs: the first part only
    page.wait_for_function("() => !window.__bpn.state.busy && window.__bpn.state.computed.at(-1) === 'counts'")
    page.wait_for_function(NOT_BUSY)
    assert status(page, "pos") == "5/31"
    chip = page.get_by_test_id("chip-counts-probs")
    page.wait_for_function("() => document.querySelector('[data-testid=chip-counts-probs]').classList.contains('fail')")
    assert chip.inner_text().split()[1:3] == ["dcounts", "="]
    half = page.get_by_test_id("half-note")
    half.wait_for(state="visible")
    assert "Half finished" in half.inner_text() and "counts_sum" in half.inner_text()
    page.screenshot(path=str(shots / "lecture_half_finished.png"), full_page=True)
    for want in ("6/31", "7/31"):
        page.keyboard.press("ArrowRight")
        page.wait_for_function("(w) => !window.__bpn.state.busy && document.querySelector('[data-status=pos]').textContent === w", arg=want)
    page.wait_for_function("() => document.querySelector('[data-testid=badge-counts-counts_sum]').textContent === '✓ exact'")
    assert page.get_by_test_id("badge-counts-probs").inner_text() == ""
    assert half.is_hidden()
