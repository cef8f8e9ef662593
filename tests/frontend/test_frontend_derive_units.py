"""The pure progress model of "Derive it" (deriveprogress.js), imported as
an ES module in the browser itself."""
from __future__ import annotations

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
