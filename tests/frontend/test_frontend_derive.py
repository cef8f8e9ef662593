"""Derive it yourself, in a real browser: solve the first five nodes by
typing, make a classic mistake and read its diagnosis, reload and find the
progress kept; answers of unsolved nodes stay hidden."""
from __future__ import annotations

from pagekit import open_view

# the first five nodes of the backward pass, as a learner types them
SOLUTIONS = [
    ("loss", "dloss = 1.0"),
    ("logprobs", "dlogprobs = torch.zeros_like(logprobs)\ndlogprobs[range(n), Yb] = -1.0/n"),
    ("probs", "dprobs = (1.0 / probs) * dlogprobs"),
    ("counts_sum_inv", "dcounts_sum_inv = (counts * dprobs).sum(1, keepdim=True)"),
    ("counts_sum", "dcounts_sum = (-counts_sum**-2) * dcounts_sum_inv"),
]

# (the graph has no .data until plotly.js, loaded after the page's first command, has drawn it)
RINGS = """(n) => { const g = document.getElementById('graph'); const t = g.data && g.data.find((d) => d.name === 'derive');
  return Boolean(t) && t.x.length === n; }"""


def type_code(page, code: str) -> None:
    editor = page.get_by_test_id("derive-editor")
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    for i, line in enumerate(code.split("\n")):
        if i:
            page.keyboard.press("Enter")
        page.keyboard.type(line)
    page.keyboard.press("Control+Enter")


def wait_verdict(page, node: str, attempts: int) -> str:
    page.wait_for_function("""([node, k]) => {
        const c = document.querySelector('[data-testid=derive-counts]');
        return document.querySelector('[data-testid=derive-target]').textContent === 'd' + node
          && c.textContent.startsWith('attempts ' + k) && document.querySelector('[data-testid=derive-verdict]'); }""",
                           arg=[node, attempts], timeout=20_000)
    return page.get_by_test_id("derive-verdict").inner_text()


def test_solve_five_make_a_mistake_reload(page, live_server, shots):
    open_view(page, live_server)
    page.evaluate("() => localStorage.clear()")
    page.get_by_test_id("derive-toggle").click()
    page.wait_for_function("() => window.__bpn.state.forwarded && window.__bpn.state.deriveOn")
    assert page.get_by_test_id("derive-target").inner_text() == "dloss"
    for i, (node, code) in enumerate(SOLUTIONS):
        assert page.get_by_test_id("derive-target").inner_text() == f"d{node}"
        # before it is solved, the page does not give the answer away
        assert not page.get_by_test_id("backward-line").is_visible()
        type_code(page, code)
        assert wait_verdict(page, node, 1) == "correct"
        page.wait_for_function("(n) => document.querySelector(`#tape [data-node='${n}']`).dataset.derive === 'solved'",
                               arg=node)
        assert page.get_by_test_id("backward-line").is_visible()  # solved: the lecture's line is shown
        if i == 2:
            page.screenshot(path=str(shots / "derive-solved-probs.png"), full_page=True)
        page.get_by_test_id("derive-next").click()

    # dcounts with the second branch forgotten: the mistake is named, not the answer given
    assert page.get_by_test_id("derive-target").inner_text() == "dcounts"
    type_code(page, "dcounts = counts_sum_inv * dprobs")
    assert wait_verdict(page, "counts", 1) == "wrong"
    assert page.get_by_test_id("derive-mistake").inner_text() == "one branch only"
    diagnosis = page.get_by_test_id("derive-diagnosis").inner_text()
    assert "+=" in diagnosis and "counts_sum" in diagnosis
    assert "counts_sum_inv * dprobs\ndcounts +=" not in page.inner_text("body")  # the answer stays hidden
    page.get_by_test_id("derive-hint").click()
    page.wait_for_function("() => document.querySelectorAll('[data-testid=derive-hints] li').length === 1")
    assert "(32, 27)" in page.get_by_test_id("derive-hints").inner_text()
    page.wait_for_function(RINGS, arg=6)  # five solved and one failing node ringed in the graph
    assert "first wrong" in page.evaluate(
        "() => document.getElementById('graph').data.find((d) => d.name === 'first wrong').text.join()")
    page.screenshot(path=str(shots / "derive-mistake.png"), full_page=True)

    page.reload()
    page.wait_for_function("window.__bpn && window.__bpn.ready", timeout=30_000)
    page.wait_for_function("() => window.__bpn.state.deriveOn && window.__bpn.state.forwarded")
    page.wait_for_function("() => document.querySelector('[data-testid=derive-target]').textContent === 'dcounts'")
    assert page.get_by_test_id("derive-progress").inner_text().startswith("5 solved")
    for node, _ in SOLUTIONS:
        assert page.locator(f"#tape [data-node='{node}']").get_attribute("data-derive") == "solved"
    assert page.locator("#tape [data-node='counts']").get_attribute("data-derive") == "failing"
    assert page.get_by_test_id("derive-counts").inner_text() == "attempts 1 · hints 1"
    assert page.get_by_test_id("derive-editor").input_value() == "dcounts = counts_sum_inv * dprobs"
    page.wait_for_function("() => document.querySelectorAll('[data-testid=derive-hints] li').length === 1")
    assert "one branch only" in page.get_by_test_id("derive-history").text_content()
    page.wait_for_function(RINGS, arg=6)
    page.screenshot(path=str(shots / "derive-after-reload.png"), full_page=True)

    # the fix: the second branch with +=, typed on the next line
    type_code(page, "dcounts = counts_sum_inv * dprobs\ndcounts += torch.ones_like(counts) * dcounts_sum")
    assert wait_verdict(page, "counts", 2) == "correct"
    assert page.get_by_test_id("derive-progress").inner_text().startswith("6 solved")


def test_reveal_fused_exercise_and_export_import(page, browser, live_server, shots, tmp_path):
    open_view(page, live_server)
    page.evaluate("() => localStorage.clear()")
    page.get_by_test_id("derive-toggle").click()
    page.wait_for_function("() => window.__bpn.state.forwarded && window.__bpn.state.deriveOn")
    page.get_by_test_id("derive-reveal").click()
    page.wait_for_function("() => !document.querySelector('[data-testid=derive-answer]').hidden")
    assert "dloss = 1.0" in page.get_by_test_id("derive-answer").inner_text()
    assert page.locator("#tape [data-node='loss']").get_attribute("data-derive") == "revealed"
    assert page.get_by_test_id("derive-progress").inner_text() == "0 solved · 1 revealed · 26 open"

    # exercise 2 in the fused view: dlogits in one go, from logits and Yb
    page.get_by_test_id("mode-fused").click()
    page.wait_for_function("() => document.querySelector('[data-testid=derive-target]').textContent === 'dlogits'")
    assert not page.get_by_test_id("plot-dlogits").is_visible()  # hidden until derived
    type_code(page, "dlogits = F.softmax(logits, 1)\ndlogits[range(n), Yb] -= 1\ndlogits /= n")
    assert wait_verdict(page, "logits", 1) == "correct"
    page.wait_for_function("() => document.querySelector('[data-testid=plot-dlogits]').offsetParent !== null")
    page.screenshot(path=str(shots / "derive-fused-dlogits.png"), full_page=True)

    # exercise 4: the other twelve fused nodes revealed, the learner's dlogits and the lecture's lines train
    assert page.get_by_test_id("derive-train").is_disabled()
    for k in range(12):
        page.get_by_test_id("derive-next").click()
        page.wait_for_function("(k) => !document.querySelector('[data-testid=derive-target]').textContent.includes('dlogits')", arg=k)
        page.get_by_test_id("derive-reveal").click()
        page.wait_for_function("() => !document.querySelector('[data-testid=derive-answer]').hidden")
    page.get_by_test_id("derive-train-steps").fill("200")
    page.get_by_test_id("derive-train").click()
    page.wait_for_function("() => document.querySelector('[data-testid=derive-train-status]').textContent.includes(\"as the lecture's does\")",
                           timeout=60_000)
    assert page.evaluate("() => document.querySelector('[data-testid=derive-train-plot]').data.length") == 4
    page.screenshot(path=str(shots / "derive-exercise4.png"), full_page=True)

    with page.expect_download() as dl:
        page.get_by_test_id("derive-export").click()
    saved = tmp_path / "progress.json"
    dl.value.save_as(saved)

    other = browser.new_context(viewport={"width": 1600, "height": 1200}).new_page()  # empty storage
    try:
        open_view(other, live_server)
        other.get_by_test_id("derive-toggle").click()
        other.wait_for_function("() => window.__bpn.state.deriveOn")
        bad = tmp_path / "bad.json"
        bad.write_text('{"format": "something else"}')
        other.get_by_test_id("derive-import").set_input_files(str(bad))
        other.wait_for_function("() => document.querySelector('[data-testid=toast]').textContent.includes('not a progress export')")
        other.get_by_test_id("derive-import").set_input_files(str(saved))
        other.wait_for_function(
            "() => document.querySelector('[data-testid=derive-progress]').textContent === '0 solved · 1 revealed · 26 open'")
        assert other.locator("#tape [data-node='loss']").get_attribute("data-derive") == "revealed"
        other.get_by_test_id("mode-fused").click()
        other.wait_for_function(
            "() => document.querySelector('[data-testid=derive-progress]').textContent.startsWith('1 solved')")
    finally:
        other.context.close()


def test_editor_indents_like_a_code_cell(page, live_server):
    open_view(page, live_server)
    page.evaluate("() => localStorage.clear()")
    page.get_by_test_id("derive-toggle").click()
    page.wait_for_function("() => window.__bpn.state.forwarded && window.__bpn.state.deriveOn")
    page.get_by_test_id("chip-C").click()  # any node can be attempted on its own
    page.wait_for_function("() => document.querySelector('[data-testid=derive-target]').textContent === 'dC'")
    editor = page.get_by_test_id("derive-editor")
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    page.keyboard.press("Tab")
    page.keyboard.type("x")
    assert editor.input_value() == "    x"
    page.keyboard.press("Shift+Tab")
    assert editor.input_value() == "x"
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    # the lecture's double loop, typed line by line: Enter keeps the indentation and adds one after ':'
    for i, line in enumerate(["dC = torch.zeros_like(C)", "for k in range(Xb.shape[0]):",
                              "for j in range(Xb.shape[1]):", "dC[Xb[k, j]] += demb[k, j]"]):
        if i:
            page.keyboard.press("Enter")
        page.keyboard.type(line)
    assert editor.input_value() == ("dC = torch.zeros_like(C)\nfor k in range(Xb.shape[0]):\n"
                                    "    for j in range(Xb.shape[1]):\n        dC[Xb[k, j]] += demb[k, j]")
    page.keyboard.press("Control+Enter")
    assert wait_verdict(page, "C", 1) == "correct"
    page.keyboard.press("Escape")  # leaves the editor: the stepper's keys work again
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => window.__bpn.state.computed.length === 1")
