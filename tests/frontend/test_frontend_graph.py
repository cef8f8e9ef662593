"""The page in a real browser: it loads clean and local, draws every node,
and every backward step shows a check badge that agrees with the API."""
from __future__ import annotations

import json
import math

import httpx
from pagekit import graph_labels, node_point, off_machine, open_view, parse_badge, state, status, verdict, wait_drawn

from tests.conftest import CLIENT


def test_page_loads_without_console_errors_or_off_machine_requests(page, live_server, shots):
    errors, off = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: off.append(r.url) if off_machine(r.url) else None)
    open_view(page, live_server)
    assert status(page, "loss") != "–"  # a fresh page draws a batch at once
    for pos in (1, 2, 3):
        page.keyboard.press("ArrowRight")
        wait_drawn(page, pos)
    page.screenshot(path=str(shots / "load.png"), full_page=True)
    assert errors == []
    assert off == []


def test_every_registry_node_is_drawn_with_its_shape(page, live_server):
    graph = httpx.get(f"{live_server}/api/graph").json()
    open_view(page, live_server)
    labels = graph_labels(page)
    assert sorted(labels) == sorted(n["name"] for n in graph["nodes"])
    shapes = page.evaluate("""() => [...document.querySelectorAll('#graph-labels .textpoint text')]
        .map(t => t.querySelectorAll('tspan.line')[1].textContent)""")
    want = ["scalar" if not n["shape"] else "(" + ",".join(map(str, n["shape"])) + ")" for n in graph["nodes"]]
    assert sorted(shapes) == sorted(want)


def api_checks(base: str) -> dict:
    """/backward's checks for a fresh session with the page's default config:
    the same seed draws the same first batch, so the same numbers."""
    with httpx.Client(base_url=base, timeout=30, headers=CLIENT) as c:
        sid = c.post("/api/sessions", json={}).json()["id"]
        c.post(f"/api/sessions/{sid}/forward")
        checks = c.post(f"/api/sessions/{sid}/backward", json={"mode": "atomic", "nodes": None}).json()["checks"]
        c.delete(f"/api/sessions/{sid}")
    return checks


def test_edges_point_backward_once_their_gradient_has_flowed(page, live_server):
    open_view(page, live_server, "?pos=4")
    shapes = page.evaluate("""() => document.getElementById('graph').layout.shapes
      .map((s) => ({path: s.path, color: s.line.color, width: s.line.width, filled: Boolean(s.fillcolor)}))""")
    # px per x and y unit as Plotly drew them: the arrowheads are shaped in px
    kx, ky = page.evaluate("() => { const f = document.getElementById('graph')._fullLayout; return [f.xaxis._m, f.yaxis._m]; }")
    lines, tips, triangles = {}, {}, []
    for sh in shapes:
        pieces = [p for p in sh["path"].split("M") if p]
        if sh["filled"]:  # the arrowheads of one colour: closed triangles
            assert all(p.endswith("Z") and p.count("L") == 2 for p in pieces)
            tips[sh["color"]] = tips.get(sh["color"], 0) + len(pieces)
            for p in pieces:
                v = [float(x) for x in p.rstrip("Z").replace("L", ",").split(",")]
                triangles.append([(v[i] * kx, v[i + 1] * ky) for i in (0, 2, 4)])  # in px: tip, two base corners
        else:  # the edges of one colour and width: one segment each, from tail to head
            segs = [[float(v) for v in p.replace("L", ",").split(",")] for p in pieces]
            lines.setdefault(sh["color"], []).extend(segs)
    assert set(lines) == set(tips) and all(len(lines[c]) == tips[c] for c in lines)  # an arrowhead an edge
    grey, flowed = lines.pop("#b8c2cc"), [seg for segs in lines.values() for seg in segs]
    # the graph runs forward left to right: a pending edge points forward, one the gradient came through back
    assert grey and all(x1 > x0 for x0, _, x1, _ in grey)
    assert flowed and all(x1 < x0 for x0, _, x1, _ in flowed)
    graph = httpx.get(f"{live_server}/api/graph").json()
    assert len(grey) + len(flowed) == sum(len(set(n["inputs"])) for n in graph["nodes"])  # every edge drawn
    # each edge's arrowhead sits at its head, on the edge, pointing at the head node from outside it
    for x0, y0, x1, y1 in grey + flowed:
        tail, head = (x0 * kx, y0 * ky), (x1 * kx, y1 * ky)
        ex, ey = head[0] - tail[0], head[1] - tail[1]

        def off_line(p):  # px from the line through tail and head
            return abs(ex * (p[1] - tail[1]) - ey * (p[0] - tail[0])) / math.hypot(ex, ey)
        # a node can be the head of several edges, some on one line: this edge's
        # arrowhead is the one on its line, on its side of the head
        near = [t for t in triangles if math.dist(t[0], head) < 40 and math.dist(t[0], tail) < math.dist(head, tail)]
        tip, b1, b2 = min(near, key=lambda t: off_line(t[0]))
        base = ((b1[0] + b2[0]) / 2, (b1[1] + b2[1]) / 2)
        assert off_line(tip) < 0.5 and off_line(base) < 0.5
        assert 5 < math.dist(tip, head)  # just outside the head node's marker
        assert math.dist(tip, head) < math.dist(base, head) and math.dist(base, tail) < math.dist(tip, tail)
        assert abs(math.dist(tip, b1) - math.dist(tip, b2)) < 0.01  # symmetric about the edge


def test_stepping_backward_badges_agree_with_the_api_checks(page, live_server, shots):
    replies = []  # what the page itself was told, over its stream (or HTTP)

    def on_ws(ws):
        ws.on("framereceived", lambda f: replies.append(json.loads(f)) if isinstance(f, str) and '"reply"' in f[:40] else None)
    page.on("websocket", on_ws)
    page.on("response", lambda r: replies.append({"cmd": "backward", "http": r}) if r.url.endswith("/backward") else None)
    open_view(page, live_server)
    order = httpx.get(f"{live_server}/api/graph").json()["backward_order"]
    for pos in range(1, len(order) + 1):
        page.keyboard.press("ArrowRight")
        wait_drawn(page, pos)
        # the node just computed is marked current on the tape, with its badge
        chip = page.get_by_test_id(f"chip-{order[pos - 1]}")
        assert "current" in chip.get_attribute("class")
    seen = [r for r in replies if r.get("cmd") == "backward"]
    assert seen, "the page never heard back from /backward"
    last = seen[-1]
    page_checks = last["http"].json()["checks"] if "http" in last else last["result"]["checks"]
    checks = api_checks(live_server)
    assert set(checks) == set(order) == set(page_checks)
    for name in order:
        assert verdict(page_checks[name]) == verdict(checks[name])
        shown = page.get_by_test_id(f"badge-{name}").inner_text()
        kind, value = parse_badge(shown)
        assert kind == verdict(checks[name]), (name, shown, checks[name])
        if kind != "exact":
            assert abs(value - checks[name]["maxdiff"]) <= 0.051 * checks[name]["maxdiff"], (name, shown)
    # float32: the top of the graph is bit-exact, everything below tanh is not
    assert checks["logits"]["exact"] and not checks["hpreact"]["exact"]
    assert status(page, "next") == "done: update (u)"
    page.get_by_test_id("chip-hpreact").click()
    page.get_by_test_id("float-note").wait_for(state="visible")
    assert "float64" in page.get_by_test_id("float-note").inner_text()
    page.screenshot(path=str(shots / "backward_done.png"), full_page=True)


def test_clicking_a_node_opens_the_inspector_and_two_branches_add(page, live_server, shots):
    open_view(page, live_server, "?pos=6")  # dcounts: probs and counts_sum both feed it
    page.mouse.click(*node_point(page, "counts"))
    page.wait_for_function("() => document.getElementById('inspector').dataset.renderedKey === 'counts:g'")
    assert page.get_by_test_id("inspector-title").inner_text() == "counts"
    assert "dcounts +=" in page.get_by_test_id("backward-line").inner_text()
    assert page.get_by_test_id("inspector-badge").inner_text() == "✓ exact"
    parts = page.get_by_test_id("plot-parts")
    assert parts.is_visible()
    titles = parts.locator(".annotation-text").all_text_contents()
    assert any("from probs" in t for t in titles) and any("from counts_sum" in t for t in titles)
    # the picture's sum equals the gradient shown beside it
    diff = page.evaluate("""() => { const d = document.querySelector('[data-plot=parts]').data;
        let m = 0; d[0].z.forEach((r, i) => r.forEach((v, j) => { m = Math.max(m, Math.abs(v + d[1].z[i][j] - d[2].z[i][j])); }));
        return m; }""")
    assert diff < 1e-6
    page.get_by_test_id("btn-diff").click()
    page.get_by_test_id("plot-diff").wait_for(state="visible")
    page.get_by_test_id("inspector").screenshot(path=str(shots / "inspector_counts.png"))


def test_fused_toggle_collapses_the_two_chains(page, live_server, shots):
    open_view(page, live_server)
    graph = httpx.get(f"{live_server}/api/graph").json()
    page.get_by_test_id("mode-fused").click()
    page.wait_for_function("() => window.__bpn.state.mode === 'fused' && !window.__bpn.state.busy")
    page.wait_for_function("() => [...document.querySelectorAll('#graph-labels .textpoint text')].some(t => t.textContent.startsWith('cross_entropy'))")
    labels = set(graph_labels(page))
    assert {"cross_entropy", "batchnorm", "logits", "hprebn", "loss"} <= labels
    chains = {"logit_maxes", "norm_logits", "counts", "counts_sum", "counts_sum_inv", "probs", "logprobs",
              "bnmeani", "bndiff", "bndiff2", "bnvar", "bnvar_inv", "bnraw"}
    assert not labels & chains
    assert page.get_by_test_id("tape").locator(".chip").count() == len(graph["fused_order"])
    page.keyboard.press("b")
    wait_drawn(page, len(graph["fused_order"]))
    assert status(page, "pos") == f"{len(graph['fused_order'])}/{len(graph['fused_order'])}"
    assert state(page, "mode") == "fused"
    page.screenshot(path=str(shots / "fused.png"), full_page=True)
    page.keyboard.press("m")
    page.wait_for_function("() => window.__bpn.state.mode === 'atomic' && !window.__bpn.state.busy")
    page.wait_for_function("() => [...document.querySelectorAll('#graph-labels .textpoint text')].some(t => t.textContent.startsWith('counts_sum_inv'))")
