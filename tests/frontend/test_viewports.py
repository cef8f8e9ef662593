"""Both pages at the screens they are used on: a 1366x768 laptop, a 1280x720
projector in presenter mode, a 390x844 phone. Each test asserts what a user
at that screen needs (boxes inside the viewport, label sizes, no overlapping
labels, no sideways scroll) and saves a screenshot to artifacts/screenshots/."""
from __future__ import annotations

import httpx
import pytest

from pagekit import open_view, wait_drawn

LAPTOP = {"width": 1366, "height": 768}
PROJECTOR = {"width": 1280, "height": 720}
PHONE = {"width": 390, "height": 844}

BOX = """(sel) => { const e = document.querySelector(sel); if (!e) return null;
  const r = e.getBoundingClientRect(); return {x: r.x, y: r.y, right: r.right, bottom: r.bottom, w: r.width, h: r.height}; }"""

# every label's text box (viewport px) and its rendered font size
LABELS = """() => [...document.querySelectorAll('#graph-labels .textpoint text')].map(t => {
  const r = t.getBoundingClientRect();
  return {name: (t.querySelector('tspan.line') || t).textContent, x: r.x, y: r.y, right: r.right, bottom: r.bottom,
          px: parseFloat(getComputedStyle(t).fontSize)}; })"""

SCROLL_WIDTH = "() => document.scrollingElement.scrollWidth"


def box(page, sel):
    b = page.evaluate(BOX, sel)
    assert b is not None, f"nothing matches {sel}"
    return b


def overlapping(labels):
    out = []
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            if a["x"] < b["right"] and b["x"] < a["right"] and a["y"] < b["bottom"] and b["y"] < a["bottom"]:
                out.append((a["name"], b["name"]))
    return out


# the graph follows the pass with a smooth scroll: until it rests past `at` px
SCROLLED = """(at) => { const s = document.querySelector('[data-testid=graph-scroll]'); const left = s.scrollLeft;
  return left > at && new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(() => ok(s.scrollLeft === left)))); }"""


def first_paragraph(page):
    return box(page, "[data-testid=explain] p:first-child")


@pytest.mark.parametrize("pos, node", [(5, "counts_sum"), (22, "hprebn")])
def test_laptop_shows_graph_code_and_explanation_without_scrolling(page, live_server, shots, pos, node):
    page.set_viewport_size(LAPTOP)
    open_view(page, live_server, f"?pos={pos}")
    page.wait_for_function("(n) => document.querySelector('[data-testid=inspector-title]').textContent === n", arg=node)
    assert page.evaluate("() => window.scrollY") == 0
    graph = box(page, "#graph")
    assert graph["y"] >= 0 and graph["bottom"] <= LAPTOP["height"]
    for sel in ("[data-testid=forward-line]", "[data-testid=backward-line]"):
        assert box(page, sel)["bottom"] <= LAPTOP["height"], sel
    assert first_paragraph(page)["bottom"] <= LAPTOP["height"]
    assert page.evaluate(SCROLL_WIDTH) <= LAPTOP["width"]
    labels = page.evaluate(LABELS)
    assert len(labels) == 29 and overlapping(labels) == []
    page.screenshot(path=str(shots / f"viewport_laptop_pos{pos}.png"))


def test_projector_presenter_mode_has_large_labels_and_the_code_on_one_screen(page, live_server, shots):
    page.set_viewport_size(PROJECTOR)
    open_view(page, live_server, "?pos=12&present=1")
    assert page.evaluate("() => document.body.classList.contains('present')")
    page.wait_for_function(SCROLLED, arg=200)
    labels = page.evaluate(LABELS)
    assert len(labels) == 29
    assert min(lab["px"] for lab in labels) >= 18
    assert overlapping(labels) == []
    # the graph scrolls sideways to keep the node just computed in view
    current = page.evaluate("() => window.__bpn.state.computed.at(-1)")
    shown = [lab for lab in labels if lab["name"] == current][0]
    assert 0 <= shown["x"] and shown["right"] <= PROJECTOR["width"]
    graph = box(page, "[data-testid=graph-scroll]")
    assert graph["y"] >= 0 and graph["bottom"] <= PROJECTOR["height"]
    for sel in ("[data-testid=forward-line]", "[data-testid=backward-line]"):
        b = box(page, sel)
        assert b["bottom"] <= PROJECTOR["height"] and b["right"] <= PROJECTOR["width"], sel
    assert first_paragraph(page)["bottom"] <= PROJECTOR["height"]
    assert page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('[data-testid=backward-line]')).fontSize)") >= 18
    assert page.evaluate(SCROLL_WIDTH) <= PROJECTOR["width"]
    page.screenshot(path=str(shots / "viewport_projector_present.png"))

    # stepping on: the graph follows the pass (the new node's label on screen)
    for _ in range(6):
        page.keyboard.press("ArrowRight")
        wait_drawn(page)
    current = page.evaluate("() => window.__bpn.state.computed.at(-1)")
    # (a smooth scroll: wait until it has brought the label in)
    page.wait_for_function("""(name) => [...document.querySelectorAll('#graph-labels .textpoint text')].some(t => {
      const r = t.getBoundingClientRect(); return t.textContent === name && r.x >= 0 && r.right <= innerWidth; })""", arg=current)

    # the help card fits the projector whole
    page.keyboard.press("?")
    card = box(page, ".help-card")
    assert card["y"] >= 0 and card["bottom"] <= PROJECTOR["height"]
    assert page.evaluate("() => { const c = document.querySelector('.help-card'); return c.scrollHeight <= c.clientHeight; }")
    page.screenshot(path=str(shots / "viewport_projector_help.png"))
    page.keyboard.press("Escape")

    # and it can be left with the control on screen
    exit_btn = box(page, "[data-testid=present-exit]")
    assert exit_btn["y"] >= 0 and exit_btn["bottom"] <= PROJECTOR["height"] and exit_btn["right"] <= PROJECTOR["width"]
    page.get_by_test_id("present-exit").click()
    page.get_by_test_id("controls").wait_for(state="visible")


def test_phone_fits_its_width_and_every_control_is_reachable(page, live_server, shots):
    page.set_viewport_size(PHONE)
    open_view(page, live_server, "?pos=5")
    assert page.evaluate(SCROLL_WIDTH) <= PHONE["width"]
    header = box(page, ".topbar")
    assert header["h"] <= PHONE["height"] / 5
    assert page.evaluate("() => getComputedStyle(document.querySelector('.topbar')).position") != "sticky"
    # every button, link and field: visible and inside the screen's width
    # (down the page is fine: it scrolls vertically)
    controls = page.evaluate("""() => [...document.querySelectorAll('header button, header a, #controls button, #controls input, #controls select, #controls .upload span')]
      .filter(e => e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden' && !(e.type === 'file'))
      .map(e => { const r = e.getBoundingClientRect(); return {t: e.dataset.testid || e.name || e.textContent.trim(), x: r.x, right: r.right, w: r.width}; })""")
    assert len(controls) >= 20
    outside = [c["t"] for c in controls if c["x"] < 0 or c["right"] > PHONE["width"] or c["w"] == 0]
    assert outside == []
    # the stepper stays at the bottom of the screen, scrolled or not
    page.evaluate("() => window.scrollTo(0, 900)")
    nxt = box(page, "[data-testid=btn-next]")
    assert 0 <= nxt["y"] and nxt["bottom"] <= PHONE["height"]
    page.get_by_test_id("btn-next").click()
    wait_drawn(page, 6)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.wait_for_function(SCROLLED, arg=400)
    # the graph scrolls sideways; its labels are readable and never printed over each other
    labels = page.evaluate(LABELS)
    assert len(labels) == 29 and overlapping(labels) == []
    assert min(lab["px"] for lab in labels) >= 10
    assert page.evaluate("() => { const s = document.querySelector('[data-testid=graph-scroll]'); return s.scrollWidth > s.clientWidth; }")
    page.screenshot(path=str(shots / "viewport_phone.png"))
    page.screenshot(path=str(shots / "viewport_phone_full.png"), full_page=True)


# Plotly's annotations (titles, callouts) in a plot: text and its box (not a callout's stem), viewport px
ANNOTATIONS = """(sel) => [...document.querySelectorAll(`${sel} .annotation`)].map(a => {
  const r = a.querySelector('.annotation-text-g').getBoundingClientRect();
  return {name: a.textContent, x: r.x, y: r.y, right: r.right, bottom: r.bottom}; })"""


@pytest.mark.parametrize("mode", ["atomic", "lecture"])
def test_phone_shows_a_branch_node_s_parts_and_callout_whole(page, live_server, shots, mode):
    """counts is used twice: its gradient is two parts added. On a phone the
    inspector's three heatmaps (part + part = sum) stand one under the other
    with their titles apart, and the graph's callout over counts fits the
    ~350 px of graph on screen (in the lecture's order half finished: four lines)."""
    page.set_viewport_size(PHONE)
    tape = httpx.get(f"{live_server}/api/graph").json()
    if mode == "atomic":
        pos = tape["backward_order"].index("counts") + 1
    else:  # its first part, the second still to come
        pos = [t["node"] for t in tape["lecture_order"]].index("counts") + 1
    open_view(page, live_server, f"?pos={pos}&mode={mode}")
    page.wait_for_function("() => document.querySelector('[data-testid=inspector-title]').textContent === 'counts'")
    assert page.evaluate(SCROLL_WIDTH) == PHONE["width"]

    callout = [a for a in page.evaluate(ANNOTATIONS, "#graph") if a["name"].startswith("dcounts =")]
    assert len(callout) == 1
    assert ("still to come" in callout[0]["name"]) == (mode == "lecture")
    # the graph scrolls (smoothly) to bring the callout whole into view
    page.wait_for_function("""() => { const s = document.querySelector('[data-testid=graph-scroll]').getBoundingClientRect();
      const a = [...document.querySelectorAll('#graph .annotation')].find(e => e.textContent.startsWith('dcounts ='));
      const r = a.querySelector('.annotation-text-g').getBoundingClientRect(); return r.x >= s.x && r.right <= s.right; }""")
    seen = box(page, "[data-testid=graph-scroll]")
    (c,) = [a for a in page.evaluate(ANNOTATIONS, "#graph") if a["name"].startswith("dcounts =")]
    assert seen["x"] <= c["x"] and c["right"] <= seen["right"] and seen["y"] <= c["y"]
    # and no node label under it
    labels = page.evaluate(LABELS)
    assert overlapping([*labels, {**c, "name": "callout"}]) == []
    page.screenshot(path=str(shots / f"viewport_phone_callout_{mode}.png"))

    if mode == "atomic":  # both parts are in: the three heatmaps
        page.locator("[data-box=parts] .main-svg").first.wait_for()
        page.locator("[data-box=parts]").scroll_into_view_if_needed()
        titles = page.evaluate(ANNOTATIONS, "[data-plot=parts]")
        assert [t["name"].split()[:3] for t in titles] == [["from", "probs", "‖·‖"], ["+", "from", "counts_sum"],
                                                           ["=", "dcounts", "‖·‖"]]
        assert overlapping(titles) == []
        plot = box(page, "[data-plot=parts]")
        assert all(plot["x"] <= t["x"] and t["right"] <= plot["right"] for t in titles)  # none cut off
        page.locator("[data-box=parts]").screenshot(path=str(shots / "viewport_phone_parts.png"))
    assert page.evaluate(SCROLL_WIDTH) == PHONE["width"]


def test_phone_presenter_mode_can_be_left_and_a_reload_does_not_keep_it(page, live_server, shots):
    page.set_viewport_size(PHONE)
    open_view(page, live_server, "?pos=5&present=1")
    assert page.evaluate("() => document.body.classList.contains('present')")
    assert page.evaluate(SCROLL_WIDTH) <= PHONE["width"]
    exit_btn = box(page, "[data-testid=present-exit]")
    assert exit_btn["x"] >= 0 and exit_btn["right"] <= PHONE["width"] and exit_btn["bottom"] <= PHONE["height"]
    page.wait_for_function(SCROLLED, arg=400)
    page.screenshot(path=str(shots / "viewport_phone_present.png"))
    page.wait_for_function("() => !location.search.includes('present')")
    page.reload()
    page.wait_for_function("window.__bpn && window.__bpn.ready")
    wait_drawn(page, 5)
    assert not page.evaluate("() => document.body.classList.contains('present')")
    page.get_by_test_id("present-toggle").click()
    page.get_by_test_id("present-exit").click()
    assert not page.evaluate("() => document.body.classList.contains('present')")


def test_training_dashboard_has_a_presenter_mode(page, live_server, shots):
    page.set_viewport_size(PROJECTOR)
    page.goto(f"{live_server}/static/train.html?n_hidden=64")
    page.wait_for_function("window.__train && window.__train.idle", timeout=30_000)
    tick = "() => parseFloat(getComputedStyle(document.querySelector('[data-plot=loss] .xtick text')).fontSize)"
    page.wait_for_function("() => document.querySelector('[data-plot=loss] .xtick text')")
    small = page.evaluate(tick)
    toggle = page.get_by_test_id("present-toggle")
    assert toggle.get_attribute("aria-pressed") == "false"
    page.keyboard.press("p")  # the stepper's key
    page.wait_for_function("() => document.body.classList.contains('present')")
    assert toggle.get_attribute("aria-pressed") == "true"
    assert not page.get_by_test_id("controls").is_visible()
    page.wait_for_function(f"() => ({tick})() > {small} * 1.3")
    # the panels redrawn for presenter mode keep their height (a resize in the middle
    # of a redraw once left them 0 px tall)
    page.wait_for_function("() => window.__train.idle")
    page.wait_for_timeout(500)  # past Plotly's 100 ms resize debounce, which is where the height went
    heights = page.evaluate("() => ['loss', 'flow'].map(p => document.querySelector(`[data-plot=${p}]`).clientHeight)")
    assert min(heights) >= 250, heights
    assert page.evaluate("() => parseFloat(getComputedStyle(document.body).fontSize)") >= 18
    assert page.evaluate(SCROLL_WIDTH) <= PROJECTOR["width"]
    exit_btn = box(page, "[data-testid=present-exit]")
    assert exit_btn["y"] >= 0 and exit_btn["bottom"] <= PROJECTOR["height"]
    page.screenshot(path=str(shots / "viewport_train_present.png"))
    page.get_by_test_id("present-exit").click()
    page.get_by_test_id("controls").wait_for(state="visible")
    page.wait_for_function(f"() => ({tick})() === {small}")


def test_training_dashboard_on_a_phone(page, live_server, shots):
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server}/static/train.html?n_hidden=64")
    page.wait_for_function("window.__train && window.__train.idle", timeout=30_000)
    assert page.evaluate(SCROLL_WIDTH) <= PHONE["width"]
    page.screenshot(path=str(shots / "viewport_train_phone.png"))


def test_empty_dashboard_panels_do_not_print_titles_over_each_other(page, live_server):
    page.set_viewport_size({"width": 1600, "height": 3600})  # every panel on screen, so every one is drawn
    page.goto(f"{live_server}/static/train.html?n_hidden=64")
    page.wait_for_function("window.__train && window.__train.idle", timeout=30_000)
    for panel in ("bn", "act", "params", "grad"):
        page.wait_for_function("(p) => document.querySelector(`[data-plot=${p}] .main-svg`)", arg=panel)
        texts = page.evaluate("""(p) => [...document.querySelectorAll(`[data-plot=${p}] .annotation`)].map(a => {
          const r = a.getBoundingClientRect(); return {name: a.textContent, x: r.x, y: r.y, right: r.right, bottom: r.bottom}; })""", panel)
        assert texts, panel
        assert overlapping(texts) == [], panel
