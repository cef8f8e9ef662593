"""The inspector's heatmaps tell a student, under the mouse, which cell it is
(indices, the example and character it stands for) and its number, at the
lecture's size and at batch 256 / n_hidden 200: real Chromium, real server."""
from __future__ import annotations

import re

from pagekit import open_view, state

SHOWN = "(k) => document.getElementById('inspector').dataset.renderedKey === k"


def hover_cell(page, plot: str, row: int, col: int) -> str:
    """Move the mouse over cell (row, col) of an inspector heatmap; the hover label's text."""
    x, y = page.evaluate("""([plot, row, col]) => {
      const gd = document.querySelector(`[data-plot=${plot}]`); gd.scrollIntoView({block: 'center'});
      const fl = gd._fullLayout; const r = gd.getBoundingClientRect();
      return [r.left + fl.xaxis._offset + fl.xaxis.l2p(col), r.top + fl.yaxis._offset + fl.yaxis.l2p(row)];
    }""", [plot, row, col])
    page.mouse.move(x, y)
    label = page.locator(f"[data-plot={plot}] .hoverlayer .hovertext")
    label.wait_for()
    # one tspan a line (an SVG text, not HTML)
    return label.evaluate("(el) => [...el.querySelectorAll('tspan.line')].map((t) => t.textContent).join('\\n')"
                          " || el.textContent")


def example(page, i: int) -> str:
    """"emm→a": the context and target of batch row i, from the page's own batch."""
    rd = state(page, "rowData")
    vocab = state(page, "session")["vocab"]
    return "".join(vocab[j] for j in rd["Xb"][i]) + "→" + vocab[rd["Yb"][i]]


def number(text: str, label: str) -> float:
    m = re.search(re.escape(label) + r" = (\S+)", text)
    assert m, text
    return float(m.group(1).replace("−", "-"))


def test_hover_names_the_cell_its_example_its_character_and_its_number(page, live_server, shots):
    open_view(page, live_server, "?pos=2")  # loss, then dlogprobs: (32 examples, 27 characters)
    page.wait_for_function(SHOWN, arg="logprobs:g")
    vocab = state(page, "session")["vocab"]
    # the colour key over the gradient's heatmap: -max|dlogprobs|, 0, +max
    labels = page.locator("[data-box=grad] [data-testid=fig-key]").inner_text().split()
    grad = state(page, "tensor")["grad"]
    top = max(abs(v) for row in grad for v in row)
    low, mid, high = (float(x.replace("−", "-")) for x in labels)
    assert mid == 0 and abs(high - top) <= 0.01 * top and abs(low + top) <= 0.01 * top, labels
    text = hover_cell(page, "grad", 5, 1)
    grad = state(page, "tensor")["grad"]
    assert "dlogprobs[5, 1]" in text
    assert abs(number(text, "dlogprobs[5, 1]") - grad[5][1]) <= 1e-5 * abs(grad[5][1]) + 1e-12
    assert f"example 5 ({example(page, 5)})" in text and f"'{vocab[1]}'" in text
    page.screenshot(path=str(shots / "inspector_hover_lecture.png"))
    text = hover_cell(page, "value", 7, 0)
    assert "logprobs[7, 0]" in text and f"example 7 ({example(page, 7)})" in text and f"'{vocab[0]}'" in text


def test_hover_stays_rich_at_batch_256_and_200_hidden_units(page, live_server, shots):
    # dh: 256 examples x 200 hidden units, 51,200 cells, each still named
    open_view(page, live_server, "?n_hidden=200&batch=256&pos=10")
    assert state(page, "computed")[-1] == "h"
    page.wait_for_function(SHOWN, arg="h:g")
    text = hover_cell(page, "grad", 200, 150)
    grad = state(page, "tensor")["grad"]
    # 256 rows in ~180 px: a row is under a pixel, so the mouse lands on the row next to it or on it
    i, j = (int(v) for v in re.search(r"dh\[(\d+), (\d+)\]", text).groups())
    assert abs(i - 200) <= 1 and j == 150, text
    assert f"example {i} ({example(page, i)})" in text and "hidden unit 150" in text
    assert abs(number(text, f"dh[{i}, 150]") - grad[i][150]) <= 1e-5 * abs(grad[i][150]) + 1e-12
    page.screenshot(path=str(shots / "inspector_hover_big.png"))
