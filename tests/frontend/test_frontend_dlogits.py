"""The dlogits panel: click a row, see the forces on each character."""
from __future__ import annotations

import math

import httpx
from pagekit import dlogits_row_point, open_view, state


def test_clicking_a_dlogits_row_shows_pulls_that_sum_to_zero_with_the_target_marked(page, live_server, shots):
    open_view(page, live_server, "?pos=9")  # the backward has just computed dlogits
    sid = state(page, "session")["id"]
    vocab = state(page, "session")["vocab"]
    page.wait_for_function("() => window.__bpn.state.rowData && window.__bpn.state.rowData.dlogits")
    row = 5
    page.mouse.click(*dlogits_row_point(page, row))
    info = page.get_by_test_id("row-info")
    page.wait_for_function("(r) => document.getElementById('dlogits').dataset.renderedRow === String(r)", arg=row)

    Yb = httpx.get(f"{live_server}/api/sessions/{sid}/tensors/Yb").json()["value"]
    logits = httpx.get(f"{live_server}/api/sessions/{sid}/tensors/logits").json()
    n = len(Yb)
    target = vocab[Yb[row]]
    assert page.get_by_test_id("row-target").inner_text() == target
    assert info.get_attribute("data-row") == str(row)

    # the bars a user sees: n * dlogits of that row, the target one pulled up (negative)
    bars = page.evaluate("() => document.querySelector('[data-plot=row]').data[1]")
    assert all(math.isclose(a, n * g, rel_tol=1e-6, abs_tol=1e-9) for a, g in zip(bars["y"], logits["grad"][row]))
    assert abs(sum(bars["y"])) < 1e-5
    shown_sum = page.get_by_test_id("row-sum").inner_text()
    assert shown_sum.startswith("Σ n·dlogits = ")
    assert abs(float(shown_sum.split("= ")[1].replace("−", "-"))) < 1e-5
    t = Yb[row]
    assert bars["y"][t] < 0 and all(v >= 0 for j, v in enumerate(bars["y"]) if j != t)
    colours = bars["marker"]["color"]
    others = {colours[j] for j in range(len(colours)) if j != t}
    assert len(others) == 1 and colours[t] not in others  # the target's bar stands out
    # the example's loss is -log p(target)
    probs = httpx.get(f"{live_server}/api/sessions/{sid}/tensors/probs").json()["value"]
    loss = float(page.get_by_test_id("row-loss").inner_text().split("= ")[1])
    assert math.isclose(loss, -math.log(probs[row][t]), rel_tol=1e-3)
    # target cells are boxed in the heatmap
    boxes = page.evaluate("() => document.querySelector('[data-plot=dlogits]').data[1].x")
    assert boxes == Yb
    page.get_by_test_id("dlogits").screenshot(path=str(shots / "dlogits_row.png"))


def test_worst_rows_first_puts_the_highest_loss_on_top(page, live_server):
    open_view(page, live_server)
    page.wait_for_function("() => window.__bpn.state.rowData")
    sid = state(page, "session")["id"]
    Yb = httpx.get(f"{live_server}/api/sessions/{sid}/tensors/Yb").json()["value"]
    probs = httpx.get(f"{live_server}/api/sessions/{sid}/tensors/probs").json()["value"]
    worst = max(range(len(Yb)), key=lambda i: -math.log(probs[i][Yb[i]]))
    page.get_by_test_id("btn-sort").click()
    # the heatmap is redrawn after the graph's paint: wait for it, not for the state
    page.wait_for_function("() => document.getElementById('dlogits').dataset.renderedSort === 'true'")
    first = page.evaluate("() => document.querySelector('[data-plot=dlogits]').layout.yaxis.ticktext[0]")
    assert first.startswith(f"<b>! {worst} ")
    page.mouse.click(*dlogits_row_point(page, 0))
    page.wait_for_function("(r) => document.getElementById('dlogits').dataset.renderedRow === String(r)", arg=worst)
