"""One round trip a key, and a shared link rebuilt with progress (issue 14,
items 3-4), in the real browser against the real server."""
from __future__ import annotations

import json

import httpx
from pagekit import READY, open_view, state, status, wait_drawn

from tests.conftest import CLIENT

INSPECTED = """() => { const s = window.__bpn.state; const k = document.getElementById('inspector').dataset.renderedKey;
  return !s.busy && k === `${s.computed[s.computed.length - 1]}:g`; }"""


def watch_requests(page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url) if "/api/" in r.url else None)
    return seen


def test_quick_presses_are_all_carried_out_in_order_over_the_stream(page, live_server, shots):
    open_view(page, live_server, "?pos=0")
    requests = watch_requests(page)
    for _ in range(20):  # as fast as a hand can: most wait while the first is in flight
        page.keyboard.press("ArrowRight")
    wait_drawn(page, 20)
    page.wait_for_function(INSPECTED)
    assert status(page, "pos") == "20/27"
    # then a mixed run: 5 forward, 2 back, 3 forward, in that order -> 26
    for key in ["ArrowRight"] * 5 + ["ArrowLeft"] * 2 + ["ArrowRight"] * 3:
        page.keyboard.press(key)
    wait_drawn(page, 26)
    page.wait_for_function(INSPECTED)
    computed = state(page, "computed")
    graph = httpx.get(f"{live_server}/api/graph").json()
    assert computed == graph["backward_order"][:26]
    # the inspector shows the node the pass reached, with its gradient, and
    # nothing but the stream carried it: no GET /tensors, no GET /frame
    name = computed[-1]
    assert page.get_by_test_id("inspector-title").inner_text() == name
    assert not [u for u in requests if "/tensors/" in u or u.endswith("/frame")], requests
    page.screenshot(path=str(shots / "quick_presses.png"))


def test_pinning_a_node_and_the_autograd_gap_come_over_the_stream(page, live_server):
    open_view(page, live_server, "?pos=6")
    requests = watch_requests(page)
    page.get_by_test_id("chip-probs").click()
    page.wait_for_function("() => document.getElementById('inspector').dataset.renderedKey === 'probs:g'")
    page.get_by_role("button", name="Show |manual − autograd|").click()
    page.locator("[data-box=diff]").wait_for(state="visible")
    page.keyboard.press("ArrowRight")  # pinned: the inspector stays on probs
    wait_drawn(page, 7)
    assert page.get_by_test_id("inspector-title").inner_text() == "probs"
    assert state(page, "tensor")["name"] == "probs" and state(page, "tensor")["absdiff"] is not None
    assert not [u for u in requests if "/tensors/" in u], requests


def test_the_config_comes_once_and_with_the_first_modules(page, live_server):
    # configspec.js awaits GET /api/config before start.js can send the
    # session: index.html preloads it beside start.js's imports, and that one
    # response is the one configspec.js reads (a second request: the preload
    # went unused, and the session waits for the modules again)
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url.removeprefix(live_server)))
    open_view(page, live_server, "?pos=0")
    assert seen.count("/api/config") == 1, seen
    assert seen.index("/api/config") < seen.index("/static/app.js"), seen


RECORD_DONE = """new MutationObserver((ms) => { for (const m of ms) {
    const d = m.target.dataset && m.target.dataset.done;
    if (m.target.id === 'replay' && d !== undefined) (window.__done = window.__done || []).push(
      [Number(d), m.target.dataset.shared === 'true', m.target.textContent]); } })
  .observe(document, {subtree: true, attributes: true, attributeFilter: ['data-done']});"""


def test_a_link_thousands_of_steps_in_shows_progress_then_the_step(page, live_server, shots):
    # every value the progress element takes, recorded from the first paint on
    page.add_init_script(RECORD_DONE)
    # a seed of its own: no other test's replay has trained this link
    link = f"{live_server}/?seed=11&step=5000&pos=4&node=W1"
    # from the first response on: "load" waits for plotly.js, asked for (start.js) while the replay runs
    page.goto(link, wait_until="commit")
    bar = page.get_by_test_id("replay-progress")
    bar.wait_for(state="visible")
    page.wait_for_function("() => (window.__done || []).some(([d]) => d > 0)")
    assert "of 5,000" in bar.inner_text()
    page.screenshot(path=str(shots / "replay_progress.png"))
    page.wait_for_function(READY, timeout=120_000)
    wait_drawn(page, 4)
    bar.wait_for(state="hidden")
    done = [d for d, shared, _ in page.evaluate("() => window.__done") if not shared]
    assert done == sorted(done) and 0 < max(done) < 5000 and len(set(done)) >= 2
    assert status(page, "step") == "5000" and status(page, "pos") == "4/27"
    assert page.get_by_test_id("inspector-title").inner_text() == "W1"
    # the same numbers as training there over HTTP
    http = httpx.Client(base_url=live_server, headers=CLIENT, timeout=60)
    sid = http.post("/api/sessions", json={"seed": 11}).json()["id"]
    try:
        http.post(f"/api/sessions/{sid}/train", json={"steps": 5000})
        loss = http.post(f"/api/sessions/{sid}/forward").json()["loss"]
        assert abs(state(page, "loss") - loss) < 1e-12
    finally:
        http.delete(f"/api/sessions/{sid}")
    page.screenshot(path=str(shots / "replay_done.png"))

    # a student opening the same link next starts where the first replay ended
    # (its last snapshot: the update after it is trained again, for its frame)
    second = page.context.new_page()
    second.add_init_script(RECORD_DONE)
    second.goto(link, wait_until="commit")
    second.wait_for_function(READY, timeout=120_000)
    wait_drawn(second, 4)
    seen = second.evaluate("() => window.__done")
    first = next(x for x in seen if x[0] > 0)  # (before it, the bar's 0 of the page's own start)
    assert first[:2] == [4975, True], seen
    assert "trained once on the server for everyone who opens this link" in first[2]
    assert state(second, "loss") == state(page, "loss") and status(second, "step") == "5000"
    second.close()


def test_a_links_progress_shows_before_plotly_has_drawn_the_graph(page, live_server):
    """The replay starts before plotly.js is there (start.js): with plotly.js
    held back, as on a slow machine, the progress is on screen, with a size of
    its own, while the graph is still empty; the graph is drawn once it comes."""
    held = []
    page.route("**/vendor/plotly.min.js", lambda route: held.append(route))
    # not until "load": the script tag that asks for plotly.js, put in before the load event, holds it back too
    page.goto(f"{live_server}/?step=3000&pos=2", wait_until="commit")
    bar = page.get_by_test_id("replay-progress")
    # (from "commit" on, the body may not be parsed yet: no #replay to read)
    page.wait_for_function("() => Number(document.getElementById('replay')?.dataset.done || 0) > 0")
    assert bar.is_visible()
    box = bar.bounding_box()
    assert box["height"] > 100 and box["width"] > 200, box
    assert page.evaluate("() => !window.Plotly")
    page.wait_for_function("() => document.getElementById('replay').hidden", timeout=120_000)
    assert held, "plotly.js was never asked for"
    held[0].continue_()
    page.wait_for_function(READY, timeout=60_000)
    wait_drawn(page, 2)
    assert status(page, "step") == "3000"


def test_a_link_sends_its_replay_before_the_page_has_loaded(page, live_server):
    # app.js (the page's wiring, its views and through them plotly.js) held
    # back: the link's session and replay are already under way without it
    held = []
    page.route("**/static/app.js", lambda route: held.append(route))
    sent: list[dict] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(json.loads(payload))))
    page.goto(f"{live_server}/?step=300&pos=2&node=W1", wait_until="commit")
    for _ in range(300):
        if sent:
            break
        page.wait_for_timeout(50)
    assert sent[:1] == [{"cmd": "replay", "steps": 300, "mode": "atomic", "pos": 2}], sent
    assert held and not page.evaluate("() => Boolean(window.__bpn)")  # nothing of the page ran yet
    held[0].continue_()
    page.wait_for_function(READY, timeout=60_000)
    wait_drawn(page, 2)
    # the page took that build over: one session, the link's step, its pinned node
    assert status(page, "step") == "300" and status(page, "pos") == "2/27"
    assert page.get_by_test_id("inspector-title").inner_text() == "W1"
    assert state(page, "tensor")["name"] == "W1"
    assert [m["cmd"] for m in sent] == ["replay", "subscribe"]


def test_an_answer_that_is_slow_to_come_shows_the_page_waiting(page, live_server):
    # the page's commands pass through Playwright on their way to the real
    # server; one of them is held back, as a slow network or server would
    held: list = []
    hold = {"on": False}

    def route(ws):
        server = ws.connect_to_server()

        def from_page(msg):
            if hold["on"] and '"backward"' in str(msg):
                held.append((server, msg))
            else:
                server.send(msg)
        ws.on_message(from_page)
    page.route_web_socket("**/stream", route)
    open_view(page, live_server, "?pos=0")
    hold["on"] = True
    page.keyboard.press("ArrowRight")
    # while the answer does not come, the step buttons are disabled and the graph shows a waiting cursor
    page.wait_for_function("() => document.querySelector('[data-testid=btn-next]').disabled")
    assert state(page, "busy") and page.evaluate("() => document.getElementById('graph').classList.contains('busy')")
    assert len(held) == 1 and status(page, "pos") == "0/27"
    hold["on"] = False
    server, msg = held.pop()
    server.send(msg)
    wait_drawn(page, 1)
    assert not page.get_by_test_id("btn-next").is_disabled()
    assert not page.evaluate("() => document.getElementById('graph').classList.contains('busy')")
