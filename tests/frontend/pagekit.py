"""Small helpers the browser tests share: open a view, wait until it is drawn,
read what a user sees (badges, status, the Plotly SVG)."""
from __future__ import annotations

import re
from urllib.parse import urlparse

READY = "window.__bpn && window.__bpn.ready"

# Drawn: the graph has rendered the store's current backward position, and no
# action is running.
DRAWN = """(pos) => {
  const s = window.__bpn.state; const g = document.getElementById('graph');
  const want = pos === null ? s.computed.length : pos;
  return !s.busy && s.computed.length === want && g.dataset.renderedPos === String(want);
}"""


def open_view(page, base: str, query: str = "") -> None:
    page.goto(f"{base}/{query}")
    page.wait_for_function(READY, timeout=30_000)
    wait_drawn(page)


def wait_drawn(page, pos: int | None = None, timeout: float = 15_000) -> None:
    page.wait_for_function(DRAWN, arg=pos, timeout=timeout)


def state(page, key: str):
    return page.evaluate(f"() => window.__bpn.state[{key!r}]")


def status(page, field: str) -> str:
    return page.get_by_test_id(f"status-{field}").inner_text().strip()


def graph_labels(page) -> list[str]:
    """The node names drawn in the graph's SVG (first line of each label)."""
    return page.evaluate("""() => [...document.querySelectorAll('#graph-labels .textpoint text')]
        .map(t => t.querySelector('tspan.line').textContent)""")


def parse_badge(text: str) -> tuple[str, float | None]:
    """'✓ exact' -> ('exact', 0); '≈ 4.7e−10' -> ('approx', 4.7e-10); '✗ …' -> ('fail', x)."""
    text = text.strip()
    if text == "✓ exact":
        return "exact", 0.0
    m = re.fullmatch(r"([≈✗]) (\S+)", text)
    assert m, f"unexpected badge {text!r}"
    value = float(m.group(2).replace("−", "-"))
    return ("approx" if m.group(1) == "≈" else "fail"), value


def verdict(check: dict) -> str:
    return "exact" if check["exact"] else "approx" if check["approx"] else "fail"


def off_machine(url: str) -> bool:
    p = urlparse(url)
    if p.scheme in ("data", "blob", "about"):
        return False
    return p.hostname not in ("127.0.0.1",)


def node_point(page, name: str) -> tuple[float, float]:
    """Viewport coordinates of a node's marker in the Plotly graph."""
    return tuple(page.evaluate("""(name) => {
      const gd = document.getElementById('graph'); gd.scrollIntoView({block: 'center'});
      const fl = gd._fullLayout; const r = gd.getBoundingClientRect();
      for (const t of gd.data) {
        if (!t.customdata || t.mode !== 'markers') continue;
        const i = t.customdata.indexOf(name);
        if (i >= 0) return [r.left + fl.xaxis._offset + fl.xaxis.l2p(t.x[i]), r.top + fl.yaxis._offset + fl.yaxis.l2p(t.y[i])];
      }
      throw new Error('no node ' + name);
    }""", name))


def dlogits_row_point(page, row_rank: int, col: int = 5) -> tuple[float, float]:
    """Viewport coordinates of a cell in the dlogits heatmap (row by display rank)."""
    return tuple(page.evaluate("""([rank, col]) => {
      const gd = document.querySelector('[data-plot=dlogits]'); gd.scrollIntoView({block: 'center'});
      const fl = gd._fullLayout; const r = gd.getBoundingClientRect();
      return [r.left + fl.xaxis._offset + fl.xaxis.l2p(col), r.top + fl.yaxis._offset + fl.yaxis.l2p(rank)];
    }""", [row_rank, col]))
