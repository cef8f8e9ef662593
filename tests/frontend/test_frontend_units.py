"""The pure parts of the page (state -> URL, graph layout, dlogits rows),
imported as ES modules in the browser itself: no Node needed."""
from __future__ import annotations

import httpx
import pytest


@pytest.fixture
def modules(page, live_server):
    page.goto(f"{live_server}/api/health")  # any document of ours: same origin, no app running
    return page


def test_url_round_trip_keeps_the_shareable_view(modules):
    out = modules.evaluate("""async () => {
      const st = await import('/static/store.js');
      const s = {...st.initialState({}), config: {...st.DEFAULT_CONFIG, seed: 42, dtype: 'float64', n_hidden: 48, batch_size: 16},
                 mode: 'fused', step: 3, forwarded: true, computed: ['logits', 'h'], selected: 'h', pinned: true, row: 7, present: true};
      const v = st.fromQuery('?' + st.toQuery(s));
      const bad = st.fromQuery('?seed=-1&dtype=float16&n_hidden=99999&batch=1&mode=x&step=a&pos=2&node=%3Cscript%3E&row=-3');
      const none = st.fromQuery('?step=4');
      return {v, bad, none};
    }""")
    v = out["v"]
    assert v["config"] == {"seed": 42, "dtype": "float64", "n_hidden": 48, "batch_size": 16}
    assert (v["mode"], v["step"], v["pos"], v["node"], v["row"], v["present"]) == ("fused", 3, 2, "h", 7, True)
    bad = out["bad"]
    assert bad["config"] == {} and bad["mode"] is None and bad["node"] is None and bad["row"] is None
    assert bad["step"] is None and bad["pos"] == 2
    assert out["none"]["pos"] is None  # no pos: the batch of that step is not drawn yet


def test_layout_is_deterministic_and_flows_left_to_right(modules, live_server):
    graph = httpx.get(f"{live_server}/api/graph").json()
    out = modules.evaluate("""async (graph) => {
      const g = await import('/static/graph.js');
      const a = g.layoutGraph(g.viewNodes(graph, false));
      const b = g.layoutGraph(g.viewNodes(graph, false));
      const f = g.layoutGraph(g.viewNodes(graph, true));
      return {a: a.nodes.map(n => [n.name, n.x, n.y]), b: b.nodes.map(n => [n.name, n.x, n.y]),
              edges: a.edges, fused: f.nodes.map(n => [n.name, n.x, n.inputs])};
    }""", graph)
    assert out["a"] == out["b"]
    x = {name: xx for name, xx, _ in out["a"]}
    for e in out["edges"]:
        assert x[e["src"]] < x[e["dst"]], e  # every edge points right: forward order
    assert len({(xx, yy) for _, xx, yy in out["a"]}) == len(out["a"])  # no two nodes on one spot
    fused = {name: inputs for name, _, inputs in out["fused"]}
    assert fused["batchnorm"] == ["hprebn"] and fused["hpreact"] == ["bngain", "batchnorm", "bnbias"]
    assert fused["cross_entropy"] == ["logits"] and fused["loss"] == ["cross_entropy", "Yb"]


def test_dlogits_rows_sum_to_zero_and_worst_rows_come_first(modules):
    out = modules.evaluate("""async () => {
      const d = await import('/static/dlogits.js');
      const probs = [[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]];
      const m = d.dlogitsModel({probs, Yb: [0, 0, 2], Xb: [[0, 0, 0], [0, 0, 1], [0, 1, 2]]}, ['.', 'a', 'b']);
      return {rows: [0, 1, 2].map(i => d.rowModel(m, i)), order: m.byLoss};
    }""")
    for r in out["rows"]:
        assert abs(r["sum"]) < 1e-12
    assert out["rows"][1]["force"] == pytest.approx([0.1 - 1, 0.1, 0.8])
    assert out["order"] == [1, 2, 0]  # -log 0.1 > -log 0.4 > -log 0.7
    assert out["rows"][1]["wrong"] and out["rows"][1]["top"] == "b"
