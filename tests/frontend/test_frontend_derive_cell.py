"""Derive it beyond one node, in a real browser: a whole exercise-1 cell pasted
with one mistake planted (every node listed in the lecture's order, the first
wrong one named, the ones after it that only used it marked, a tap on a row
opens that node), the finite-difference check of an attempt, and the panel at
a phone's, a projector's and a large screen's size, by touch on the phone."""
from __future__ import annotations

import pytest

from backprop_ninja.model.mistakes import label

from pagekit import off_machine, open_view
from test_frontend_derive_units import LECTURE_CELL

PHONE = {"width": 390, "height": 844}
PROJECTOR = {"width": 1280, "height": 720}
LARGE = {"width": 1920, "height": 1080}

RIGHT = "dprobs = (1.0 / probs) * dlogprobs"
PLANTED = "dprobs = 1.0 / probs"  # the upstream gradient forgotten
assert RIGHT in LECTURE_CELL

# on a phone (is_mobile) the layout viewport grows to fit what is too wide: compare with the screen's own width
NO_SIDEWAYS = "(w) => document.documentElement.scrollWidth <= w && window.innerWidth <= w"
TARGET = "(t) => document.querySelector('[data-testid=derive-target]').textContent === t"


def start(page, base, query: str = ""):
    open_view(page, base, query)
    page.evaluate("() => localStorage.clear()")
    page.get_by_test_id("derive-toggle").click()
    page.wait_for_function("() => window.__bpn.state.forwarded && window.__bpn.state.deriveOn")


def check_cell(page, code: str) -> None:
    page.get_by_test_id("cell-editor").fill(code)
    page.get_by_test_id("cell-editor").focus()
    page.keyboard.press("Control+Enter")
    page.wait_for_function("(c) => document.querySelectorAll('[data-testid=cell-rows] li').length === 27"
                           " && !document.querySelector('[data-testid=cell-submit]').disabled"
                           " && document.querySelector('[data-testid=cell-summary]').textContent !== c",
                           arg=page.get_by_test_id("cell-summary").text_content(), timeout=30_000)


def row(page, node: str):
    return page.locator(f"[data-testid=cell-rows] li:has([data-testid=cell-row-{node}])")


def test_a_pasted_cell_names_the_first_wrong_node_and_opens_it(page, live_server, shots):
    start(page, live_server)
    page.get_by_test_id("derive-cell-open").click()
    assert page.get_by_test_id("derive-editor").is_hidden()  # the cell takes the single-node editor's place
    check_cell(page, LECTURE_CELL.replace(RIGHT, PLANTED))

    statuses = page.evaluate("() => [...document.querySelectorAll('[data-testid=cell-rows] li')].map((li) => "
                             "[li.querySelector('button').dataset.node, li.dataset.status])")
    order = page.evaluate("() => window.__bpn.state.graph.backward_order")
    assert [n for n, _ in statuses] == order  # every node, in the lecture's order
    status = dict(statuses)
    assert status["logprobs"] == "correct" and status["probs"] == "wrong"
    assert status["counts_sum_inv"] == status["counts"] == status["h"] == "affected"
    assert status["W2"] == status["hprebn"] == "missing"  # not in this cell
    assert status["embcat"] == status["emb"] == status["C"] == "correct"
    first = row(page, "probs")
    assert "first-wrong" in first.get_attribute("class")
    assert label("no_upstream") in first.inner_text() and "dlogprobs" in first.get_by_test_id("cell-diagnosis").inner_text()
    assert "uses dprobs" in row(page, "counts_sum_inv").inner_text() and "to do" in row(page, "W2").inner_text()
    assert "maxdiff 0" in row(page, "logprobs").inner_text()
    # the nodes the cell got right count as solved, the wrong one as a wrong attempt; dloss (not in the cell) stays open
    page.wait_for_function("() => document.querySelector(\"#tape [data-node='probs']\").dataset.derive === 'failing'")
    derive = {n: page.locator(f"#tape [data-node='{n}']").get_attribute("data-derive") for n in ("loss", "logprobs", "counts", "C")}
    assert derive == {"loss": "unsolved", "logprobs": "solved", "counts": "unsolved", "C": "solved"}
    assert page.get_by_test_id("derive-progress").inner_text() == "4 solved · 0 revealed · 23 open"
    page.screenshot(path=str(shots / "derive-cell-first-wrong.png"), full_page=True)

    # a tap on the first wrong row: that node in the single-node editor, with the cell's line for it
    page.get_by_test_id("cell-row-probs").click()
    page.wait_for_function(TARGET, arg="dprobs")
    assert page.get_by_test_id("derive-editor").input_value() == PLANTED
    assert page.get_by_test_id("derive-mistake").inner_text() == label("no_upstream")
    assert "whole cell" in page.get_by_test_id("derive-result").inner_text()

    # finite differences: the learner's values disagree with the numeric derivative, autograd's agree
    page.get_by_test_id("derive-fd").click()
    page.wait_for_function("() => document.querySelector('[data-testid=fd-table]')", timeout=30_000)
    assert page.get_by_test_id("fd-verdict").inner_text() == "yours disagrees"
    head = page.locator("[data-testid=fd-table] th").all_inner_texts()
    assert head == ["entry", "finite differences", "autograd", "yours"]
    assert page.locator("[data-testid=fd-table] tbody tr").count() == 6
    fd_text = page.get_by_test_id("derive-fd-result").inner_text()
    assert "float64" in fd_text and "eps" in fd_text and "agree within" in fd_text
    assert "Yours differs" in page.get_by_test_id("fd-message").inner_text()
    page.screenshot(path=str(shots / "derive-finite-differences.png"), full_page=True)

    # the fix, then the same check agrees
    page.get_by_test_id("derive-editor").fill(RIGHT)
    page.get_by_test_id("derive-submit").click()
    page.wait_for_function("() => document.querySelector('[data-testid=derive-verdict]').textContent === 'correct'"
                           " && !document.querySelector('[data-testid=derive-result]').textContent.includes('whole cell')")
    assert page.get_by_test_id("derive-fd-result").inner_text() == ""  # the old answer was for the old code
    page.get_by_test_id("derive-fd").click()
    page.wait_for_function("() => document.querySelector('[data-testid=fd-verdict]')", timeout=30_000)
    assert page.get_by_test_id("fd-verdict").inner_text() == "yours agrees"

    # back in the cell (its text kept), fixed: nothing wrong any more
    page.get_by_test_id("derive-cell-open").click()
    assert page.get_by_test_id("cell-editor").input_value() == LECTURE_CELL.replace(RIGHT, PLANTED)
    check_cell(page, LECTURE_CELL)
    assert page.locator("[data-testid=cell-rows] li.first-wrong").count() == 0
    assert page.locator("[data-testid=cell-rows] li[data-status=affected]").count() == 0
    assert page.get_by_test_id("derive-progress").inner_text().startswith("12 solved")


def test_the_lecture_cell_in_float64(page, live_server):
    start(page, live_server, "?dtype=float64")
    page.get_by_test_id("derive-cell-open").click()
    assert page.get_by_test_id("derive-target").inner_text() == "a whole cell of exercise 1 (atomic)"
    check_cell(page, LECTURE_CELL)
    status = dict(page.evaluate("() => [...document.querySelectorAll('[data-testid=cell-rows] li')].map((li) => "
                                "[li.querySelector('button').dataset.node, li.dataset.status])"))
    written = ["logprobs", "probs", "counts_sum_inv", "counts_sum", "counts", "norm_logits", "logit_maxes", "logits",
               "h", "embcat", "emb", "C"]
    assert all(status[n] == "correct" for n in written), status
    assert page.locator("[data-testid=cell-rows] li.first-wrong").count() == 0
    # dloss is not in the lecture's cell: its row says why it counts as right (and it is not solved by the cell)
    assert row(page, "loss").locator("p.hint").count() == 1
    assert page.get_by_test_id("derive-progress").inner_text() == "12 solved · 0 revealed · 15 open"


def test_a_cell_that_does_not_run_says_why(page, live_server):
    start(page, live_server)
    page.get_by_test_id("derive-cell-open").click()
    page.get_by_test_id("cell-editor").fill("import os\n" + LECTURE_CELL)
    page.get_by_test_id("cell-submit").click()
    page.wait_for_function("() => !document.querySelector('[data-testid=cell-error]').hidden", timeout=30_000)
    assert "import" in page.get_by_test_id("cell-error").inner_text()
    assert page.locator("[data-testid=cell-rows] li").count() == 0  # no rows that would all say "not checked"
    assert page.get_by_test_id("derive-progress").inner_text() == "0 solved · 0 revealed · 27 open"


@pytest.mark.parametrize("screen", ["phone", "projector", "large"])
def test_every_screen(browser, live_server, shots, screen):
    size = {"phone": PHONE, "projector": PROJECTOR, "large": LARGE}[screen]
    touch = screen == "phone"
    context = browser.new_context(viewport=size, has_touch=touch, is_mobile=touch)
    page = context.new_page()
    off = []
    page.on("request", lambda r: off.append(r.url) if off_machine(r.url) else None)
    press = (lambda loc: loc.tap()) if touch else (lambda loc: loc.click())
    try:
        start(page, live_server)
        assert page.evaluate(NO_SIDEWAYS, size["width"])
        press(page.get_by_test_id("chip-logprobs"))
        page.wait_for_function(TARGET, arg="dlogprobs")
        link = page.get_by_test_id("derive-moment")
        assert link.get_attribute("href").startswith("https://www.youtube.com/watch?v=q8SA3rM6ckI&t=")
        assert link.get_attribute("target") == "_blank" and "noopener" in link.get_attribute("rel")
        assert "watch this in the lecture (" in link.inner_text()

        press(page.get_by_test_id("derive-reveal"))
        page.get_by_test_id("derive-reveal-yes").wait_for()
        assert page.evaluate(NO_SIDEWAYS, size["width"])
        page.get_by_test_id("derive-ask").scroll_into_view_if_needed()
        page.screenshot(path=str(shots / f"derive-{screen}-ask.png"))
        press(page.get_by_test_id("derive-reveal-no"))

        page.get_by_test_id("derive-editor").fill("dlogprobs = torch.zeros_like(logprobs)\ndlogprobs[range(n), Yb] = -1.0")
        press(page.get_by_test_id("derive-submit"))
        page.wait_for_function("() => document.querySelector('[data-testid=derive-verdict]')", timeout=20_000)
        assert page.get_by_test_id("derive-mistake").inner_text() == label("missing_1n")
        press(page.get_by_test_id("derive-fd"))
        page.wait_for_function("() => document.querySelector('[data-testid=fd-table]')", timeout=30_000)
        assert page.evaluate(NO_SIDEWAYS, size["width"])
        page.get_by_test_id("derive-result").scroll_into_view_if_needed()
        page.screenshot(path=str(shots / f"derive-{screen}-mistake.png"))

        press(page.get_by_test_id("derive-cell-open"))
        page.get_by_test_id("cell-editor").fill(LECTURE_CELL.replace(RIGHT, PLANTED))
        press(page.get_by_test_id("cell-submit"))
        page.wait_for_function("() => document.querySelectorAll('[data-testid=cell-rows] li').length === 27", timeout=30_000)
        assert page.evaluate(NO_SIDEWAYS, size["width"])
        row(page, "probs").scroll_into_view_if_needed()
        page.screenshot(path=str(shots / f"derive-{screen}-cell.png"))
        press(page.get_by_test_id("cell-row-counts"))  # an affected node: its own lines are right
        page.wait_for_function(TARGET, arg="dcounts")
        assert "dcounts +=" in page.get_by_test_id("derive-editor").input_value()
        assert page.evaluate(NO_SIDEWAYS, size["width"])
        assert off == []  # the lecture's moment is a link only: nothing is loaded from elsewhere
    finally:
        context.close()
