"""Live panels (frontend/livefig.js through theme.mount): a figure whose
numbers changed moves its traces instead of being redrawn, and the axes
still show every number, as Plotly's own autorange would. In a real browser
with the real Plotly."""
from __future__ import annotations

import pytest

# every visible trace's finite numbers inside its axes' ranges (log axes in log10)
OUT_OF_VIEW = """(el) => {
  const bad = [];
  el._fullData.forEach((t, i) => {
    if (t.visible !== true) return;
    for (const letter of ['x', 'y']) {
      const ax = el._fullLayout[`${letter}axis${(t[letter + 'axis'] || letter).slice(1)}`];
      if (!ax || (ax.type !== 'linear' && ax.type !== 'log')) continue;
      const [a, b] = [Math.min(...ax.range), Math.max(...ax.range)];
      for (const v of el.data[i][letter] || []) {
        const u = ax.type === 'log' ? Math.log10(v) : v;
        if (typeof v === 'number' && Number.isFinite(u) && (u < a - 1e-9 || u > b + 1e-9)) bad.push([i, letter, v, [a, b]]);
      }
    }
  });
  return bad;
}"""

SETUP = """async () => {
  const theme = await import('/static/theme.js');
  const el = document.createElement('div');
  el.style.width = '600px'; el.style.height = '320px';
  document.body.replaceChildren(el);
  const m = theme.mount(el, {move: true});
  window.__fig = {el, m, show: async (fig) => { await m.show(fig); return {...m.stats}; }};
}"""


@pytest.fixture
def fig(page, live_server):
    page.goto(f"{live_server}/api/health")  # any document of ours: same origin
    page.add_script_tag(url="/vendor/plotly.min.js")
    page.evaluate(SETUP)

    def show(data, layout=None):
        stats = page.evaluate("([d, l]) => window.__fig.show({data: d, layout: l})", [data, layout or {}])
        out = page.evaluate(f"({OUT_OF_VIEW})(window.__fig.el)")
        ys = page.evaluate("window.__fig.el.data.map(t => Array.from(t.y))")
        rng = page.evaluate("({x: window.__fig.el._fullLayout.xaxis.range, y: window.__fig.el._fullLayout.yaxis.range})")
        return stats, out, ys, rng

    return show


def line(y, **kw):
    return {"type": "scatter", "mode": "lines", "x": list(range(len(y))), "y": y, **kw}


def test_new_numbers_move_the_traces_and_stay_in_view(fig):
    s, out, _, _ = fig([line([1, 2, 3])])
    assert s == {"moves": 0, "refits": 0, "reacts": 1} and out == []  # the first figure is drawn
    s, out, ys, rng = fig([line([1.2, 2.8, 2])])
    assert s["moves"] == 1 and s["refits"] == 0 and s["reacts"] == 1  # moved, axes kept
    assert ys == [[1.2, 2.8, 2]] and out == []
    s, out, ys, rng = fig([line([1, 40, 100, 3])])  # far out of range, and one point more
    assert s["moves"] == 2 and s["refits"] == 1 and out == []
    assert rng["y"][1] > 100 and rng["x"][1] >= 3
    s, out, _, rng = fig([line([50, 50.5, 51, 50.2])])  # fills a sliver of the old range: fitted again
    assert s["refits"] == 2 and out == [] and rng["y"][1] - rng["y"][0] < 5
    s, out, _, _ = fig([line([50, 50.5, 51, 50.2])], {"title": {"text": "changed"}})
    assert s["reacts"] == 2  # not only numbers: redrawn


def test_bars_keep_zero_hidden_traces_do_not_count_log_axes_fit(fig):
    fig([{"type": "bar", "x": [0, 1, 2], "y": [5, 6, 7]}])
    s, out, _, rng = fig([{"type": "bar", "x": [0, 1, 2], "y": [50, 60, 70]}])
    assert s["moves"] == 1 and out == [] and rng["y"][0] <= 0 < 70 < rng["y"][1]
    hidden = {"visible": "legendonly"}
    fig([line([1, 2, 3]), line([1e6, 2e6, 3e6], **hidden)])
    s, out, _, rng = fig([line([1, 2, 4]), line([5e6, 6e6, 7e6], **hidden)])
    assert out == [] and rng["y"][1] < 100  # the hidden trace does not stretch the axis
    log = {"yaxis": {"type": "log"}}
    fig([line([1e-3, 1e-2, 1e-1])], log)
    s, out, _, rng = fig([line([1e-6, 1e-2, 10])], log)
    assert out == [] and rng["y"][0] < -6 and rng["y"][1] > 1  # in log10 units
    s, out, _, rng = fig([line([1e-6, 1e-2, 10])], {"yaxis": {"type": "log", "range": [-3, 0]}})
    assert rng["y"] == [-3, 0]  # a range the figure fixes is kept
