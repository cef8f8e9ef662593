"""The pure progress model of "Derive it" (deriveprogress.js), imported as
an ES module in the browser itself."""
from __future__ import annotations

import httpx
import pytest


@pytest.fixture
def modules(page, live_server):
    page.goto(f"{live_server}/api/health")  # same origin, no app running
    return page


def test_progress_counts_and_summary(modules):
    out = modules.evaluate("""async () => {
      const P = await import('/static/deriveprogress.js');
      let p = P.emptyProgress();
      const order = ['loss', 'logprobs', 'probs', 'counts'];
      p = P.recordAttempt(p, 'atomic', 'loss', 'dloss = 1.0', {verdict: 'correct', message: 'ok'});
      p = P.recordHint(p, 'atomic', 'logprobs', 1);
      p = P.recordHint(p, 'atomic', 'logprobs', 2);
      p = P.recordAttempt(p, 'atomic', 'logprobs', 'x', {verdict: 'wrong', mistake: 'missing_1n', message: 'no'});
      const failing = P.status(p, 'atomic', 'logprobs');
      const firstWrong = P.firstWrong(p, 'atomic', order);
      p = P.recordAttempt(p, 'atomic', 'logprobs', 'y', {verdict: 'correct', message: 'ok'});
      p = P.recordReveal(p, 'atomic', 'probs');
      p = P.recordAttempt(p, 'atomic', 'counts', 'z', {verdict: 'error', error: 'syntax', message: 'bad'});
      // a later wrong attempt does not unsolve a solved node
      p = P.recordAttempt(p, 'atomic', 'loss', 'dloss = 2', {verdict: 'wrong', message: 'no'});
      return {failing, firstWrong, summary: P.summary(p, 'atomic', order), open: P.firstOpen(p, 'atomic', order),
              statuses: order.map((n) => P.status(p, 'atomic', n)), other: P.status(p, 'fused', 'loss'),
              hist: P.entry(p, 'atomic', 'logprobs').history.map((a) => a.code)};
    }""")
    assert out["failing"] == "failing" and out["firstWrong"] == "logprobs"
    assert out["summary"] == {"clean": 1, "hinted": 1, "revealed": 1, "open": 1, "total": 4, "attempts": 5}
    assert out["open"] == "counts"
    assert out["statuses"] == ["solved", "solved", "revealed", "failing"]
    assert out["other"] == "unsolved"  # modes are kept apart
    assert out["hist"] == ["y", "x"]  # newest first


def test_export_import_round_trip_and_refusals(modules):
    out = modules.evaluate("""async () => {
      const P = await import('/static/deriveprogress.js');
      let p = P.recordAttempt(P.emptyProgress(), 'fused', 'logits', 'dlogits = 1', {verdict: 'correct', message: 'ok'});
      p = P.setDraft(p, 'atomic', 'counts', 'dcounts = ');
      const back = P.importText(P.exportText(p));
      const errors = [];
      for (const text of ['not json', '{"format": "x"}',
          JSON.stringify({format: P.FORMAT, version: 9, nodes: {}}),
          JSON.stringify({format: P.FORMAT, version: 1, nodes: {'atomic:<b>': {attempts: 1, hints: 0}}}),
          JSON.stringify({format: P.FORMAT, version: 1, nodes: {'atomic:loss': {attempts: -1, hints: 0}}})]) {
        try { P.importText(text); errors.push(null); } catch (e) { errors.push(e.message); }
      }
      const store = {}; const storage = {getItem: (k) => store[k] ?? null, setItem: (k, v) => { store[k] = v; }};
      P.save(storage, p);
      const loaded = P.load(storage);
      store[P.STORAGE_KEY] = '{broken';
      const damaged = P.load(storage);
      return {same: JSON.stringify(back) === JSON.stringify(p), errors, loaded: P.status(loaded, 'fused', 'logits'),
              draft: P.entry(loaded, 'atomic', 'counts').draft, damaged: Object.keys(damaged.nodes).length};
    }""")
    assert out["same"] and out["loaded"] == "solved" and out["draft"] == "dcounts = "
    assert out["damaged"] == 0  # a damaged entry starts afresh instead of breaking the page
    errors = out["errors"]
    assert "not JSON" in errors[0] and "not a progress export" in errors[1] and "version 9" in errors[2]
    assert "Unknown node" in errors[3] and "counts" in errors[4]


# the lecture's exercise-1 cell as a learner pastes it: cmp lines between, dC's double loop at the end
LECTURE_CELL = """dlogprobs = torch.zeros_like(logprobs)
dlogprobs[range(n), Yb] = -1.0/n
cmp('logprobs', dlogprobs, logprobs)
dprobs = (1.0 / probs) * dlogprobs
dcounts_sum_inv = (counts * dprobs).sum(1, keepdim=True)
dcounts = counts_sum_inv * dprobs
dcounts_sum = (-counts_sum**-2) * dcounts_sum_inv
dcounts += torch.ones_like(counts) * dcounts_sum
cmp('counts', dcounts, counts)
dnorm_logits = counts * dcounts
dlogits = dnorm_logits.clone()
dlogit_maxes = (-dnorm_logits).sum(1, keepdim=True)
dlogits += F.one_hot(logits.max(1).indices,
                     num_classes=logits.shape[1]) * dlogit_maxes
dh = dlogits @ W2.T
dembcat = dhprebn @ W1.T
demb = dembcat.view(emb.shape)
dC = torch.zeros_like(C)
for k in range(Xb.shape[0]):
  for j in range(Xb.shape[1]):
    ix = Xb[k,j]
    dC[ix] += demb[k,j]
cmp('C', dC, C)"""


def test_a_cells_lines_for_one_node(modules):
    out = modules.evaluate("""async (cell) => {
      const L = await import('/static/derivelines.js');
      const nodes = ['logprobs', 'counts', 'counts_sum', 'logits', 'norm_logits', 'C', 'emb', 'W1', 'bnvar'];
      return {lines: Object.fromEntries(nodes.map((n) => [n, L.linesFor(cell, n)])),
              firsts: L.statements(cell).map((s) => s.first),
              at: [L.statementAt(cell, 19), L.statementAt(cell, 2), L.statementAt(cell, 99)],
              fallback: L.nodeLines('x = 1\\ny = dlogprobs', {node: 'probs', line: 2}),
              assigns: [L.assigns('dW2, db2 = 1, 2', 'W2'), L.assigns('x = dW2 == 1', 'W2'), L.assigns('ddW2 = 1', 'W2'),
                        L.assigns('dC[Xb[k, j]] += demb[k, j]', 'C'), L.assigns('  dh -= 1', 'h')]};
    }""", LECTURE_CELL)
    lines = out["lines"]
    assert lines["logprobs"] == "dlogprobs = torch.zeros_like(logprobs)\ndlogprobs[range(n), Yb] = -1.0/n"
    # a node used twice: both of its lines, though another node's line stands between them
    assert lines["counts"] == "dcounts = counts_sum_inv * dprobs\ndcounts += torch.ones_like(counts) * dcounts_sum"
    assert lines["counts_sum"] == "dcounts_sum = (-counts_sum**-2) * dcounts_sum_inv"
    # a statement over two lines (an open bracket) stays whole; dnorm_logits is not dlogits
    assert lines["logits"] == ("dlogits = dnorm_logits.clone()\ndlogits += F.one_hot(logits.max(1).indices,\n"
                               "                     num_classes=logits.shape[1]) * dlogit_maxes")
    assert lines["norm_logits"] == "dnorm_logits = counts * dcounts"
    # the loop is part of dC's lines: its body assigns dC
    assert lines["C"] == ("dC = torch.zeros_like(C)\nfor k in range(Xb.shape[0]):\n  for j in range(Xb.shape[1]):\n"
                          "    ix = Xb[k,j]\n    dC[ix] += demb[k,j]")
    assert lines["emb"] == "demb = dembcat.view(emb.shape)"
    assert lines["W1"] == "" and lines["bnvar"] == ""  # not in this cell
    assert out["assigns"] == [True, False, False, True, True]
    assert out["firsts"][:4] == [0, 1, 2, 3]
    assert out["at"][0].startswith("for k in range") and out["at"][1].startswith("cmp(") and out["at"][2] == ""
    assert out["fallback"] == "y = dlogprobs"  # lines the server found, that assign nothing we recognise


def test_lines_around_the_editor_and_the_moment(modules, live_server):
    graph = httpx.get(f"{live_server}/api/graph").json()
    out = modules.evaluate("""async (graph) => {
      const L = await import('/static/derivelines.js');
      const t = (n, m) => L.lineTexts(graph, n, m);
      return {logprobs: t('logprobs', 'atomic'), counts: t('counts', 'atomic'), loss: t('loss', 'atomic'),
              hprebnFused: t('hprebn', 'fused'), logitsFused: t('logits', 'fused'),
              clocks: [0, 61, 781, 3600, 5191].map(L.clock),
              urls: ['https://www.youtube.com/watch?v=q8SA3rM6ckI&t=781s', 'javascript:alert(1)',
                     'http://www.youtube.com/x', 'https://evil.example/youtube.com'].map(L.safeMomentUrl),
              moments: graph.nodes[0].moment === undefined ? null
                : {probs: L.momentOf(graph, 'probs', 'atomic'), logits: L.momentOf(graph, 'logits', 'fused'),
                   hprebn: L.momentOf(graph, 'hprebn', 'fused'), hprebnAtomic: L.momentOf(graph, 'hprebn', 'atomic')},
              modes: ['atomic', 'lecture', 'fused'].map(L.deriveMode)};
    }""", graph)
    # the line that USES logprobs is above the editor (not logprobs = probs.log(), which made it)
    assert out["logprobs"]["used"] == "loss = -logprobs[range(n), Yb].mean()"
    assert out["logprobs"]["made"] == "logprobs = probs.log()"
    assert out["counts"]["lines"] == 2 and "probs = counts * counts_sum_inv" in out["counts"]["used"]
    assert "counts_sum = counts.sum(1, keepdim=True)" in out["counts"]["used"]
    assert out["loss"] == {"used": "", "lines": 0, "made": "loss = -logprobs[range(n), Yb].mean()"}
    assert "F.cross_entropy(logits, Yb)" in out["logitsFused"]["used"]
    assert out["hprebnFused"]["lines"] >= 2 and out["hprebnFused"]["made"] == "hprebn = embcat @ W1 + b1"
    assert out["clocks"] == ["0:00", "1:01", "13:01", "1:00:00", "1:26:31"]
    assert out["urls"] == ["https://www.youtube.com/watch?v=q8SA3rM6ckI&t=781s", None, None, None]
    assert out["modes"] == ["atomic", "atomic", "fused"]
    m = out["moments"]
    if m is not None:  # the graph carries the lecture's moments
        assert m["logits"]["seconds"] == 5191 and m["hprebn"]["seconds"] == 5797  # exercises 2 and 3
        assert 781 <= m["probs"]["seconds"] < 3917 and 781 <= m["hprebnAtomic"]["seconds"] < 5191  # inside exercise 1


def test_next_open_node_and_a_cell_in_the_progress(modules):
    out = modules.evaluate("""async () => {
      const P = await import('/static/deriveprogress.js');
      const F = await import('/static/deriveflow.js');
      const order = ['loss', 'logprobs', 'probs', 'counts', 'counts_sum'];
      let p = P.recordAttempt(P.emptyProgress(), 'atomic', 'probs', 'dprobs = 1', {verdict: 'correct', message: 'ok'});
      const next = [F.nextOpen(p, 'atomic', order, 'logprobs'), F.nextOpen(p, 'atomic', order, 'counts_sum'),
                    F.nextOpen(p, 'atomic', order, 'loss')];
      const cell = {mode: 'atomic', first_wrong: 'counts', nodes: [
        {node: 'loss', status: 'correct', message: 'taken as given'}, {node: 'logprobs', status: 'correct', message: 'right'},
        {node: 'probs', status: 'wrong', mistake: 'no_upstream', mistake_label: 'upstream gradient missing', message: 'no'},
        {node: 'counts', status: 'affected', affected_by: ['probs'], message: 'uses dprobs'},
        {node: 'counts_sum', status: 'error', message: 'NameError'}]};
      p = P.recordCell(p, 'atomic', cell, (n) => (n === 'loss' ? '' : 'd' + n + ' = ...'));
      const back = P.importText(P.exportText(p));
      const all = order.map((n) => F.nextOpen(p, 'atomic', order, n));
      return {next, statuses: order.map((n) => P.status(p, 'atomic', n)),
              attempts: order.map((n) => P.entry(p, 'atomic', n).attempts),
              logprobs: P.entry(back, 'atomic', 'logprobs').history[0],
              probs: P.entry(back, 'atomic', 'probs').history.map((a) => [a.verdict, a.mistake_label, a.source || null]),
              all};
    }""")
    assert out["next"] == ["counts", "loss", "logprobs"]  # skips solved nodes and wraps around
    # a solved node stays solved; affected nodes, and dloss that the cell does not write, are left as they were
    assert out["statuses"] == ["unsolved", "solved", "solved", "unsolved", "failing"]
    assert out["attempts"] == [0, 1, 2, 0, 1]
    assert out["logprobs"]["code"] == "dlogprobs = ..." and out["logprobs"]["source"] == "cell"
    assert out["probs"] == [["wrong", "upstream gradient missing", "cell"], ["correct", None, None]]


def test_cell_rows_and_finite_difference_table(modules):
    out = modules.evaluate("""async () => {
      const C = await import('/static/derivecell.js');
      const D = await import('/static/derivefd.js');
      const opened = [];
      const cell = {mode: 'atomic', first_wrong: 'probs', solved: 1, total: 4, message: 'x', nodes: [
        {node: 'logprobs', status: 'correct', message: 'ok', exact: true, approx: true, maxdiff: 0, affected_by: []},
        {node: 'probs', status: 'wrong', message: 'differs', mistake: 'no_upstream', mistake_label: 'upstream gradient missing',
         diagnosis: 'multiply by dlogprobs', exact: false, approx: false, maxdiff: 0.5, affected_by: []},
        {node: 'counts', status: 'affected', message: 'uses dprobs', affected_by: ['probs'], exact: false, approx: false, maxdiff: 1},
        {node: 'C', status: 'missing', message: 'not in the cell', affected_by: []}]};
      const rows = C.cellRows(cell, (n) => opened.push(n));
      rows[2].querySelector('button').click();
      const fd = D.fdNodes({node: 'probs', mode: 'atomic', eps: 1e-6, tolerance: 1e-6, dtype: 'float64', agree: true,
        yours_agree: false, message: 'sampled 2 entries', samples: [
          {index: [3, 17], numeric: 0.0123456789, autograd: 0.0123456788, yours: 0.5},
          {index: [0, 0], numeric: -2e-9, autograd: -2.0000001e-9, yours: null}]});
      const box = document.createElement('div'); box.append(...fd);
      return {texts: rows.map((r) => r.textContent), first: rows.map((r) => r.classList.contains('first-wrong')),
              diag: rows[1].querySelector('[data-testid=cell-diagnosis]').textContent, opened,
              head: [...box.querySelectorAll('th')].map((t) => t.textContent),
              cells: [...box.querySelectorAll('tbody tr')].map((tr) => [...tr.children].map((td) => td.textContent)),
              verdict: box.querySelector('[data-testid=fd-verdict]').textContent,
              status: [{status: 'affected', affected_by: ['probs', 'counts']}, {status: 'missing'}].map(C.statusText)};
    }""")
    texts = out["texts"]
    assert texts[0].startswith("dlogprobscorrect") and "maxdiff 0" in texts[0]
    assert "upstream gradient missing" in texts[1] and "first wrong" in texts[1]
    assert "uses dprobs" in texts[2] and "to do" in texts[3]
    assert out["first"] == [False, True, False, False] and out["diag"] == "multiply by dlogprobs"
    assert out["opened"] == ["counts"]
    assert out["head"] == ["entry", "finite differences", "autograd", "yours"]
    assert out["cells"][0][0] == "[3, 17]" and out["cells"][0][1] == "0.0123457" and out["cells"][1][3] == "–"
    assert out["verdict"] == "yours disagrees"
    assert out["status"] == ["uses dprobs, dcounts", "to do"]
