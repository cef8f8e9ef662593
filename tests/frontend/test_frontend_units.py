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
      const q = st.toQuery(s);
      const opened = st.fromQuery('?pos=3&present=1');
      return {v, bad, none, q, opened};
    }""")
    v = out["v"]
    assert v["config"] == {"seed": 42, "dtype": "float64", "n_hidden": 48, "batch_size": 16}
    assert (v["mode"], v["step"], v["pos"], v["node"], v["row"]) == ("fused", 3, 2, "h", 7)
    # presenter mode is the screen's, not the view's: a link can open in it, but
    # the page never writes it back (a reload or a shared link opens the normal page)
    assert "present" not in out["q"] and v["present"] is False and out["opened"]["present"] is True
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


def test_float_note_and_lecture_tape_follow_this_batchs_checks(modules, live_server):
    graph = httpx.get(f"{live_server}/api/graph", params={"dtype": "float64"}).json()
    out = modules.evaluate("""async (graph) => {
      const notes = await import('/static/notes.js');
      const tape = await import('/static/tape.js');
      const ok = {exact: true, approx: true, maxdiff: 0};
      const off = (d) => ({exact: false, approx: true, maxdiff: d});
      const checks = {logits: ok, h: ok, hpreact: off(2e-18), bngain: off(4e-18)};
      const exact = notes.floatNote(graph, 'logits', 'atomic', checks);
      const own = notes.floatNote(graph, 'hpreact', 'atomic', checks);
      const inherited = notes.floatNote(graph, 'bngain', 'atomic', checks);
      const fused = notes.floatNote(graph, 'logits', 'fused', {logits: off(1e-17)});
      // the lecture's tape after dcounts = ... (5 steps): one chip current, its badge a fail
      const state = {graph, mode: 'lecture', computed: ['loss', 'logprobs', 'probs', 'counts_sum_inv', 'counts'],
        remaining: graph.lecture_order.slice(5).map((it) => it.node), checks: {counts: {exact: false, approx: false, maxdiff: 0.004}}};
      const chips = tape.tapeModel(state);
      const half = notes.halfNote(graph, 'counts', 'lecture', state.computed, state.remaining);
      return {exact, own, inherited, fused, chips: chips.slice(3, 7), half};
    }""", graph)
    assert out["exact"] is None
    assert "fused multiply-add" in out["own"] and "This run is float64" in out["own"]
    assert "dhpreact" in out["inherited"] and "multiply-add" not in out["inherited"]
    assert "log_softmax" in out["fused"]
    assert [(c["label"], c["status"]) for c in out["chips"]] == [
        ("dcounts_sum_inv", "done"), ("dcounts =", "current"), ("dcounts_sum", "next"), ("dcounts +=", "pending")]
    assert out["chips"][1]["badge"].startswith("✗")
    assert "Half finished" in out["half"] and "step 7" in out["half"]


def test_lr_schedule_and_view_switch_sentences(modules):
    out = modules.evaluate("""async () => {
      const sch = await import('/static/train/schedule.js');
      return [sch.scheduleText({lr: 0.1, lr_decay_step: 100000}), sch.scheduleText({lr: 0.2, lr_decay_step: null}),
              sch.scheduleText({lr: 0.05, lr_decay_step: 500})];
    }""")
    assert out[0].startswith("lr 0.1 for updates 1-100,000, then 0.01: the lecture's schedule")
    assert out[1].startswith("lr 0.2 at every step: no drop")
    assert out[2] == "lr 0.05 for updates 1-500, then 0.005."


def test_the_two_branch_callout_breaks_into_lines_that_fit(modules, live_server):
    graph = httpx.get(f"{live_server}/api/graph").json()
    out = modules.evaluate("""async (graph) => {
      const c = await import('/static/callout.js');
      const g = await import('/static/graph.js');
      const lay = g.layoutGraph(g.viewNodes(graph, false));
      const part = {name: 'counts', first: 'probs', second: 'counts_sum', norms: ['0.736', '0.0882', '0.726']};
      const plain = (l) => l.replace(/<[^>]+>/g, '');
      const at = (chars) => ({chars, done: c.calloutLines({...part, waiting: false}, chars).map(plain),
                              waiting: c.calloutLines({...part, waiting: true}, chars).map(plain),
                              most: c.calloutLinesMax(lay, chars)});
      return {wide: at(c.calloutChars(1300, false)), phone: at(c.calloutChars(350, false)),
              phoneChars: c.calloutChars(350, false)};
    }""", graph)
    nb = "\u00a0"
    # a laptop: the two lines as they are
    assert out["wide"]["done"] == [f"dcounts = (from{nb}probs) + (from{nb}counts_sum)",
                                   f"the tensors add up: ‖from{nb}probs‖{nb}0.736, ‖from{nb}counts_sum‖{nb}0.0882, ‖sum‖{nb}0.726"]
    assert out["wide"]["most"] == 2
    # a phone: no line longer than fits, nothing lost, a part's name kept with its norm
    phone = out["phone"]
    for lines in (phone["done"], phone["waiting"]):
        assert max(map(len, lines)) <= out["phoneChars"] and len(lines) > 2
    assert " ".join(phone["done"]) == " ".join(out["wide"]["done"])
    assert f"‖from{nb}counts_sum‖{nb}0.0882," in phone["done"][2]
    assert phone["most"] >= max(len(phone["done"]), len(phone["waiting"]))
