"""Derive it yourself, in a real browser: solve the first five nodes by
typing (the line that uses each node above the editor, the line that made it
below, Enter moves on), make a classic mistake and read its name and
diagnosis, reload and find the progress kept; answers of unsolved nodes stay
hidden, and revealing one asks first."""
from __future__ import annotations

from backprop_ninja.model.mistakes import label

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


def bar(page) -> tuple[str, str, str]:
    b = page.get_by_test_id("derive-bar")
    assert b.get_attribute("role") == "progressbar"
    return b.get_attribute("aria-valuenow"), b.get_attribute("aria-valuemax"), b.get_attribute("aria-valuetext")


def start(page, live_server):
    open_view(page, live_server)
    page.evaluate("() => localStorage.clear()")
    page.get_by_test_id("derive-toggle").click()
    page.wait_for_function("() => window.__bpn.state.forwarded && window.__bpn.state.deriveOn")


def test_solve_five_make_a_mistake_reload(page, live_server, shots):
    start(page, live_server)
    assert page.get_by_test_id("derive-target").inner_text() == "dloss"
    assert bar(page) == ("0", "27", "0 solved, 0 revealed, 27 open of 27")
    # nothing uses the loss: the backward pass starts there
    assert "starts here" in page.get_by_test_id("derive-used").inner_text()
    for i, (node, code) in enumerate(SOLUTIONS):
        assert page.get_by_test_id("derive-target").inner_text() == f"d{node}"
        # before it is solved, the page does not give the answer away
        assert not page.get_by_test_id("backward-line").is_visible()
        if node == "logprobs":
            # above the editor the line that USES logprobs (the gradient flows back from it), below it the one that made it
            assert page.get_by_test_id("derive-used").inner_text() == "loss = -logprobs[range(n), Yb].mean()"
            assert page.get_by_test_id("derive-made").inner_text() == "logprobs = probs.log()"
            used, editor, made = (page.get_by_test_id(t).bounding_box()["y"] for t in ("derive-used", "derive-editor", "derive-made"))
            assert used < editor < made
            # the inspector's derivation (softmax minus one-hot: exercise 2's answer) waits too
            assert not page.get_by_test_id("derivation").is_visible()
        type_code(page, code)
        assert wait_verdict(page, node, 1) == "correct"
        if node == "logprobs":
            page.get_by_test_id("derivation").wait_for()
        page.wait_for_function("(n) => document.querySelector(`#tape [data-node='${n}']`).dataset.derive === 'solved'",
                               arg=node)
        assert page.get_by_test_id("backward-line").is_visible()  # solved: the lecture's line is shown
        assert bar(page)[0] == str(i + 1)
        if i == 2:
            page.screenshot(path=str(shots / "derive-solved-probs.png"), full_page=True)
        # the next open node is offered, focused: Enter moves on, and the editor has the focus again
        following = SOLUTIONS[i + 1][0] if i + 1 < len(SOLUTIONS) else "counts"
        assert page.get_by_test_id("derive-next-open").inner_text() == f"Next: d{following} →"
        page.wait_for_function("() => document.activeElement.dataset.testid === 'derive-next-open'")
        page.keyboard.press("Enter")
        page.wait_for_function("(n) => document.querySelector('[data-testid=derive-target]').textContent === 'd' + n",
                               arg=following)
        assert page.evaluate("() => document.activeElement.dataset.testid") == "derive-editor"

    # dcounts is used twice: both lines above the editor
    used = page.get_by_test_id("derive-used").inner_text()
    assert "probs = counts * counts_sum_inv" in used and "counts_sum = counts.sum(1, keepdim=True)" in used
    assert "2 lines" in page.locator("[data-d=used-label]").text_content()
    # dcounts with the second branch forgotten: the mistake is named, not the answer given
    assert page.get_by_test_id("derive-target").inner_text() == "dcounts"
    type_code(page, "dcounts = counts_sum_inv * dprobs")
    assert wait_verdict(page, "counts", 1) == "wrong"
    assert page.get_by_test_id("derive-mistake").inner_text() == label("one_branch")
    assert not page.get_by_test_id("derive-next-open").is_visible()  # no "next" after a wrong answer
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
    assert label("one_branch") in page.get_by_test_id("derive-history").text_content()
    page.wait_for_function(RINGS, arg=6)
    page.screenshot(path=str(shots / "derive-after-reload.png"), full_page=True)

    # the fix: the second branch with +=, typed on the next line
    type_code(page, "dcounts = counts_sum_inv * dprobs\ndcounts += torch.ones_like(counts) * dcounts_sum")
    assert wait_verdict(page, "counts", 2) == "correct"
    assert page.get_by_test_id("derive-progress").inner_text().startswith("6 solved")


def reveal(page) -> None:
    page.get_by_test_id("derive-reveal").click()
    page.get_by_test_id("derive-reveal-yes").click()
    page.wait_for_function("() => !document.querySelector('[data-testid=derive-answer]').hidden")


def test_reveal_fused_exercise_and_export_import(page, browser, live_server, shots, tmp_path):
    start(page, live_server)
    # Reveal asks first, in the page: "Keep trying" and Esc leave the node open
    page.get_by_test_id("derive-reveal").click()
    assert "counts as revealed" in page.get_by_test_id("derive-ask").inner_text()
    assert page.evaluate("() => document.activeElement.dataset.testid") == "derive-reveal-yes"
    page.get_by_test_id("derive-reveal-no").click()
    assert not page.get_by_test_id("derive-ask").is_visible()
    assert page.evaluate("() => document.activeElement.dataset.testid") == "derive-reveal"
    page.keyboard.press("Enter")  # the reveal button, by keyboard: asks again
    page.get_by_test_id("derive-reveal-yes").wait_for()
    page.keyboard.press("Escape")
    assert not page.get_by_test_id("derive-ask").is_visible()
    assert page.get_by_test_id("derive-answer").is_hidden()
    assert page.get_by_test_id("derive-progress").inner_text() == "0 solved · 0 revealed · 27 open"
    page.get_by_test_id("derive-reveal").click()
    page.keyboard.press(" ")  # "Show it" has the focus: Space presses it (it does not start playing)
    page.wait_for_function("() => !document.querySelector('[data-testid=derive-answer]').hidden")
    assert not page.get_by_test_id("derive-reveal").is_visible()  # asked once: a revealed node stays revealed
    assert not page.evaluate("() => window.__bpn.state.playing")
    assert "dloss = 1.0" in page.get_by_test_id("derive-answer").inner_text()
    assert page.locator("#tape [data-node='loss']").get_attribute("data-derive") == "revealed"
    assert page.get_by_test_id("derive-progress").inner_text() == "0 solved · 1 revealed · 26 open"

    # exercise 2 in the fused view: dlogits in one go, from logits and Yb
    page.get_by_test_id("mode-fused").click()
    page.wait_for_function("() => document.querySelector('[data-testid=derive-target]').textContent === 'dlogits'")
    assert not page.get_by_test_id("plot-dlogits").is_visible()  # hidden until derived
    # exercise 2's moment of the lecture, and the fused forward line it differentiates
    assert page.get_by_test_id("derive-moment").inner_text() == "▶ watch this in the lecture (1:26:31)"
    assert "F.cross_entropy(logits, Yb)" in page.get_by_test_id("derive-used").inner_text()
    assert page.get_by_test_id("derive-bar").get_attribute("aria-valuemax") == "13"
    type_code(page, "dlogits = F.softmax(logits, 1)\ndlogits[range(n), Yb] -= 1\ndlogits /= n")
    assert wait_verdict(page, "logits", 1) == "correct"
    page.wait_for_function("() => document.querySelector('[data-testid=plot-dlogits]').offsetParent !== null")
    page.screenshot(path=str(shots / "derive-fused-dlogits.png"), full_page=True)

    # exercise 4: the other twelve fused nodes revealed, the learner's dlogits and the lecture's lines train
    assert page.get_by_test_id("derive-train").is_disabled()
    for k in range(12):
        page.get_by_test_id("derive-next").click()
        page.wait_for_function("(k) => !document.querySelector('[data-testid=derive-target]').textContent.includes('dlogits')", arg=k)
        reveal(page)
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
    start(page, live_server)
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
    # the lecture's answer is its double loop; the one-call index_add_ is shown apart, labelled as a viewer's form
    reveal(page)
    answer = page.evaluate("""async () => (await fetch(`/api/sessions/${window.__bpn.state.session.id}/derive/atomic/C/answer`,
        {headers: {'X-Requested-With': 'test'}})).json()""")
    code = page.get_by_test_id("derive-answer-code").inner_text()
    assert code == answer["code"] and "for k in range" in code and "index_add_" not in code
    assert page.get_by_test_id("derive-alternative").inner_text() == answer["alternative"]
    assert "index_add_" in answer["alternative"]
    assert page.get_by_test_id("derive-alternative-label").inner_text() == answer["alternative_label"]
    page.get_by_test_id("derive-editor").focus()
    page.keyboard.press("Escape")  # leaves the editor: the stepper's keys work again
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => window.__bpn.state.computed.length === 1")
