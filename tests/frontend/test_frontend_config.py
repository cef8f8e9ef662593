"""The configuration controls: dtype, reset, uploading a word list."""
from __future__ import annotations

from pagekit import graph_labels, open_view, parse_badge, state, status, wait_drawn

WORDS = "ab\nabc\nbca\ncab\nacb\nbac\naab\nbba\ncca\nabcab\nccab\nbaab\n"


def test_float64_shrinks_the_gap_below_tanh_and_reset_keeps_the_config(page, live_server):
    open_view(page, live_server)
    page.keyboard.press("b")
    wait_drawn(page, 27)
    kind32, gap32 = parse_badge(page.get_by_test_id("badge-hpreact").inner_text())
    assert kind32 == "approx" and 1e-12 < gap32 < 1e-6

    page.select_option("select[name=dtype]", "float64")
    page.fill("input[name=n_hidden]", "48")
    page.get_by_test_id("btn-apply").click()
    page.wait_for_function("() => window.__bpn.state.config.dtype === 'float64' && window.__bpn.ready && !window.__bpn.state.busy")
    assert status(page, "dtype") == "float64"
    assert "(32,48)" in page.evaluate("() => [...document.querySelectorAll('#graph-labels .textpoint text')].map(t => t.textContent).join(' ')")
    page.keyboard.press("b")
    wait_drawn(page, 27)
    kind64, gap64 = parse_badge(page.get_by_test_id("badge-hpreact").inner_text())
    assert kind64 == "exact" or gap64 < 1e-13
    assert "dtype=float64" in page.url and "n_hidden=48" in page.url

    page.keyboard.press("r")
    page.wait_for_function("() => window.__bpn.ready && window.__bpn.state.computed.length === 0 && !window.__bpn.state.busy")
    wait_drawn(page, 0)
    assert status(page, "step") == "0" and status(page, "dtype") == "float64"
    assert state(page, "config")["n_hidden"] == 48


def test_uploading_a_word_list_rebuilds_the_graph_for_its_vocabulary(page, live_server, tmp_path, shots):
    open_view(page, live_server)
    words = tmp_path / "abc.txt"
    words.write_text(WORDS)
    page.get_by_test_id("upload").set_input_files(str(words))
    page.wait_for_function("() => window.__bpn.state.config.dataset !== 'default' && window.__bpn.ready && !window.__bpn.state.busy")
    wait_drawn(page, 0)
    assert state(page, "session")["vocab"] == [".", "a", "b", "c"]
    assert "dataset=" in page.url
    assert set(graph_labels(page)) >= {"logits", "probs", "loss"}
    texts = page.evaluate("() => [...document.querySelectorAll('#graph-labels .textpoint text')].map(t => t.textContent)")
    assert "logits(32,4)" in texts
    page.wait_for_function("() => window.__bpn.state.rowData")
    ticks = page.evaluate("() => document.querySelector('[data-plot=dlogits]').layout.xaxis.ticktext")
    assert ticks == [".", "a", "b", "c"]
    assert page.get_by_test_id("dataset-name").inner_text().startswith("abc.txt: 12 words")
    page.screenshot(path=str(shots / "uploaded_words.png"), full_page=True)


def test_both_pages_take_the_config_bounds_and_defaults_from_the_server(page, live_server):
    """Nothing of the config is copied into the pages: a URL beyond the
    server's bound is ignored, and the forms' min/max are the server's."""
    fields = page.request.get(f"{live_server}/api/config").json()["fields"]
    top = int(fields["n_hidden"]["maximum"])
    open_view(page, live_server, f"?n_hidden={top + 1}&batch=48")
    assert state(page, "config")["n_hidden"] == fields["n_hidden"]["default"]  # out of bounds: the default
    assert state(page, "config")["batch_size"] == 48
    form = page.get_by_test_id("config")
    assert form.locator("input[name=n_hidden]").get_attribute("max") == str(top)
    assert form.locator("input[name=batch_size]").get_attribute("min") == str(int(fields["batch_size"]["minimum"]))
    page.goto(f"{live_server}/static/train.html?n_hidden={top}&lr=99")
    page.wait_for_function("() => window.__train && window.__train.ready")
    cfg = page.evaluate("() => window.__train.state.session.config")
    assert cfg["n_hidden"] == top and cfg["lr"] == fields["lr"]["default"]  # lr 99 is out of bounds
    assert page.locator("form.config input[name=lr]").get_attribute("max") == str(int(fields["lr"]["maximum"]))
