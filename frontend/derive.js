// "Derive it yourself": the learner writes d<node>, the server checks it in
// its sandbox, the verdict names the mistake. Answers of unsolved nodes stay
// hidden: this module marks the page (body, inspector, tape chips) and
// derive.css hides what a marked page must not show; the graph draws the
// rings it puts in the store as `derive`. The panel's parts: derivepanel.js
// (elements, the lines around the editor), deriveflow.js (progress bar, next
// node, the question before a reveal), derivecell.js (a whole cell),
// derivefd.js (finite differences), deriveresult.js (a verdict), derivepage.js
// (what it marks outside the panel).
import { api } from './api.js';
import { createCell } from './derivecell.js';
import { wireEditor } from './deriveeditor.js';
import { createFd } from './derivefd.js';
import { createAsk, nextOpen, renderBar, summaryText } from './deriveflow.js';
import { deriveMode as modeOf, nodeLines } from './derivelines.js';
import { renderLines, scopeText, skeleton } from './derivepanel.js';
import * as P from './deriveprogress.js';
import { markPage, wireTransfer } from './derivepage.js';
import { gradNameOf } from './graph.js';
import { answerNodes, diffFigure, historyItems, resultNodes } from './deriveresult.js';
import { createTrainSection } from './derivetrain.js';
import { h, mount } from './theme.js';
import { reportError, toast } from './toast.js';

const ON_KEY = 'bpn-derive-on'; // derive mode stays on across reloads
const orderOf = (state) => (state.graph ? (state.mode === 'fused' ? state.graph.fused_order : state.graph.backward_order) : []);
const exerciseOf = (mode) => (mode === 'fused' ? 'exercises 2 and 3 (fused)' : 'exercise 1 (atomic)');
const CELL_VERDICT = { correct: 'correct', wrong: 'wrong', error: 'error', affected: 'affected' };

export function createDerive(root, toggle, { store, actions, storage = window.localStorage }) {
  const get = store.get;
  const { $, bar } = skeleton(root);
  const plot = mount($('plot'));
  let progress = P.load(storage);
  try { if (storage.getItem(ON_KEY) === '1') store.set({ deriveOn: true }); } catch (_) { /* no storage */ }
  let target = null; // the node being derived
  let shownTarget = null; // whose draft the editor holds
  let view = 'node'; // 'node': one node in the editor; 'cell': a whole cell
  let focusNext = false; // a correct answer just came: focus "next" (Enter moves on)
  const results = new Map(); // mode:node -> the last AttemptPublic of this page (+ its code), or a cell's row
  const hintTexts = new Map(); // mode:node -> [text]
  const answers = new Map(); // mode:node -> AnswerPublic
  const overviews = new Map(); // session|mode -> DerivePublic
  let busy = false;
  const key = () => `${modeOf(get().mode)}:${target}`;
  const trainView = createTrainSection($('train'), {
    get, progress: () => progress, order: () => (get().graph ? get().graph.fused_order : []),
  });
  const fd = createFd($('fd'), { get });
  const ask = createAsk($('ask'), () => $('reveal').focus());

  // every change goes through the store, so the room's report (follow.js) sees it when it happens
  const change = (p) => { progress = p; P.save(storage, p); store.set({ deriveProgress: p }); };
  const on = () => Boolean(get().deriveOn);
  const ensureBatch = async () => { if (!get().forwarded) await actions.forward(); };

  function setTarget(node) {
    target = node;
    const s = get();
    // the inspector shows the node's forward value (its backward stays hidden)
    if (node && (s.selected !== node || !s.pinned)) actions.select(node);
    render(get());
  }

  async function submit() {
    const s = get();
    if (busy || !target || !s.session) return;
    const code = $('editor').value;
    if (!code.trim()) { toast(`Write d${target} = ... first.`); return; }
    busy = true;
    render(get());
    const [mode, node] = [modeOf(s.mode), target];
    try {
      await ensureBatch();
      const r = await api.attempt(get().session.id, node, code, mode);
      results.set(`${mode}:${node}`, { ...r, code });
      focusNext = r.verdict === 'correct' && node === target;
      change(P.recordAttempt(progress, mode, node, code, r));
      if (r.verdict === 'correct') toast(`d${node} solved.`);
    } catch (err) {
      reportError(err, 'derive');
    } finally {
      busy = false;
      render(get());
    }
  }

  async function loadHints(mode, node, upTo) {
    const k = `${mode}:${node}`;
    const have = hintTexts.get(k) || [];
    for (let level = have.length + 1; level <= upTo; level += 1) {
      have.push((await api.hint(get().session.id, mode, node, level)).text);
    }
    hintTexts.set(k, have);
  }

  async function hint() {
    const s = get();
    if (!target || !s.session) return;
    const mode = modeOf(s.mode);
    const level = Math.min(3, P.entry(progress, mode, target).hints + 1);
    try {
      await loadHints(mode, target, level);
      change(P.recordHint(progress, mode, target, level));
    } catch (err) { reportError(err, 'derive'); }
  }

  async function reveal(mode, node) {
    try {
      answers.set(`${mode}:${node}`, await api.answer(get().session.id, mode, node));
      change(P.recordReveal(progress, mode, node));
      if (node === target) $('answer').focus(); // the button that had the focus is gone: the answer takes it
    } catch (err) { reportError(err, 'derive'); }
  }

  function step(dir) {
    const order = orderOf(get());
    const i = order.indexOf(target);
    if (dir > 0) setTarget(nextOpen(progress, modeOf(get().mode), order, target) || order[Math.min(order.length - 1, i + 1)]);
    else setTarget(order[Math.max(0, i - 1)]);
  }

  // the editor gets the focus, scrolled so that the line above it (where the node is used) shows too
  function toEditor() {
    $('editor').focus({ preventScroll: true });
    $('used-label').scrollIntoView({ block: 'nearest' });
    $('editor').scrollIntoView({ block: 'nearest' });
  }

  function setView(v) {
    view = v;
    render(get());
  }

  const cell = createCell($('cell'), {
    get,
    mode: () => modeOf(get().mode),
    ensureBatch,
    onResult(c, code, mode) {
      // only the nodes the cell writes: dloss, which the lecture's cell takes as given, is not the learner's
      const lines = new Map(c.nodes.map((n) => [n.node, nodeLines(code, n)]));
      for (const n of c.nodes) {
        if (CELL_VERDICT[n.status] && lines.get(n.node)) {
          results.set(`${mode}:${n.node}`, { ...n, verdict: CELL_VERDICT[n.status], fromCell: true, code: lines.get(n.node) });
        }
      }
      change(P.recordCell(progress, mode, c, (node) => lines.get(node)));
    },
    onOpen(node, lines) {
      view = 'node';
      setTarget(node);
      if (lines) {
        $('editor').value = lines;
        change(P.setDraft(progress, modeOf(get().mode), node, lines));
      }
      toEditor();
    },
  });

  wireEditor($('editor'), { onSubmit: submit });
  let draftTimer = null;
  $('editor').addEventListener('input', () => {
    clearTimeout(draftTimer);
    const [mode, node, text] = [modeOf(get().mode), target, $('editor').value];
    draftTimer = setTimeout(() => { progress = P.setDraft(progress, mode, node, text); P.save(storage, progress); }, 300);
  });
  $('submit').addEventListener('click', submit);
  $('hint').addEventListener('click', hint);
  $('reveal').addEventListener('click', () => {
    const [mode, node] = [modeOf(get().mode), target];
    if (!node || !get().session || P.entry(progress, mode, node).revealed) return;
    ask.ask(node, () => reveal(mode, node)); // asked once: a revealed node shows its answer from then on
  });
  $('next').addEventListener('click', () => step(1));
  $('prev').addEventListener('click', () => step(-1));
  $('next-open').addEventListener('click', () => {
    step(1);
    toEditor();
  });
  $('cell-open').addEventListener('click', () => setView(view === 'cell' ? 'node' : 'cell'));
  cell.closeButton.addEventListener('click', () => setView('node'));
  wireTransfer($('export'), $('import'), {
    progress: () => progress, say: toast, onImport: (p) => { results.clear(); change(p); },
  });
  toggle.addEventListener('click', () => {
    const next = !on();
    try { storage.setItem(ON_KEY, next ? '1' : '0'); } catch (_) { /* storage disabled: on for this page only */ }
    store.set({ deriveOn: next });
    if (next) setTarget(P.firstOpen(progress, modeOf(get().mode), orderOf(get())) || orderOf(get())[0]);
  });
  let forwardedFor = null; // a batch is drawn once per session when derive mode needs one

  async function overview(s) {
    const k = `${s.session.id}|${modeOf(s.mode)}`;
    if (!overviews.has(k)) overviews.set(k, await api.deriveOverview(s.session.id, modeOf(s.mode)));
    return overviews.get(k);
  }

  function render(s) {
    toggle.setAttribute('aria-pressed', on() ? 'true' : 'false');
    root.hidden = !on();
    if (!s.graph) return;
    markPage(s, { progress, on: on(), order: orderOf(s), store });
    if (!on()) return;
    if (s.session && !s.forwarded && !s.busy && forwardedFor !== s.session.id) {
      forwardedFor = s.session.id;
      actions.forward(); // the checks need a batch: draw one, as f would
    }
    const mode = modeOf(s.mode);
    const order = orderOf(s);
    const picked = s.pinned && (s.graph ? gradNameOf(s.graph, s.selected) : s.selected);
    if (picked && order.includes(picked) && picked !== target && !s.busy) target = picked;
    if (!order.includes(target)) target = P.firstOpen(progress, mode, order) || order[0];
    const e = P.entry(progress, mode, target);
    const node = s.graph.nodes.find((n) => n.name === target);
    const whole = view === 'cell'; // a whole cell: no one node in play
    $('target').textContent = whole ? `a whole cell of ${exerciseOf(mode)}` : `d${target}`;
    $('target').classList.toggle('mono', !whole);
    $('shape').textContent = whole ? '' : node.shape.length ? `(${node.shape.join(', ')})` : '(a number)';
    $('pos').textContent = `node ${order.indexOf(target) + 1} of ${order.length}, ${exerciseOf(mode)}`;
    for (const k of ['prev', 'pos', 'next', 'summary']) $(k).hidden = whole; // the cell has its own
    renderLines($, s.graph, target, mode);
    if (whole) $('moment').hidden = true;
    const sum = P.summary(progress, mode, order);
    $('progress').textContent = `${sum.clean + sum.hinted} solved · ${sum.revealed} revealed · ${sum.open} open`;
    renderBar(bar, sum, exerciseOf(mode));
    $('summary').textContent = summaryText(sum, target);
    $('cell-open').setAttribute('aria-pressed', whole ? 'true' : 'false');
    $('cell').hidden = !whole;
    $('grid').hidden = whole;
    if (whole) cell.render();
    if (shownTarget !== key()) {
      shownTarget = key();
      ask.close();
      $('editor').value = e.draft || (e.history[0] && e.history[0].code) || `d${target} = `;
      $('editor').placeholder = `d${target} = ...`;
    }
    overview(s).then((ov) => {
      const item = ov.nodes.find((n) => n.node === node.name);
      $('scope').textContent = scopeText(node, item ? item.scope : []);
    }).catch((err) => reportError(err, 'derive'));
    $('submit').disabled = busy;
    $('hint').disabled = e.hints >= 3;
    $('hint').textContent = e.hints >= 3 ? 'No more hints' : `Hint ${e.hints + 1} of 3`;
    $('reveal').hidden = e.revealed;
    $('counts').textContent = `attempts ${e.attempts} · hints ${e.hints}${e.revealed ? ' · revealed' : ''}`;
    renderHints(s, e);
    renderAnswer(s, e);
    renderResult(s, e, order);
    renderHistory(e);
    trainView.render(s);
  }

  function renderHints(s, e) {
    const k = key();
    const texts = hintTexts.get(k) || [];
    if (texts.length < e.hints) loadHints(modeOf(s.mode), target, e.hints).then(() => render(get())).catch(() => {});
    $('hints').replaceChildren(...texts.slice(0, e.hints).map((t) => h('li', {}, t)));
  }

  function renderAnswer(s, e) {
    const box = $('answer');
    box.hidden = !e.revealed;
    if (!e.revealed) return;
    const k = key();
    const a = answers.get(k);
    if (!a) { api.answer(s.session.id, modeOf(s.mode), target).then((r) => { answers.set(k, r); render(get()); }).catch(() => {}); return; }
    box.replaceChildren(...answerNodes(a));
  }

  function renderResult(s, e, order) {
    const mode = modeOf(s.mode);
    const r = results.get(key());
    $('result').replaceChildren(...resultNodes(r, e.history[0], busy));
    plot.show(diffFigure(r, target, s, busy));
    // the attempt on screen, else the last one kept from an earlier page
    fd.render(mode, target, (r && r.code) || (e.history[0] && e.history[0].code) || null);
    // after a correct answer: the next open node, one Enter away
    const solvedNow = Boolean(r && r.verdict === 'correct');
    const next = solvedNow ? nextOpen(progress, mode, order, target) : null;
    $('flow').hidden = !solvedNow;
    $('next-open').hidden = !next;
    $('next-open').textContent = next ? `Next: d${next} →` : '';
    $('flow-text').textContent = next ? ' or press Enter' : `Every node of ${exerciseOf(mode)} is done.`;
    if (focusNext && next) $('next-open').focus();
    focusNext = false;
  }

  function renderHistory(e) {
    $('history-title').textContent = `Earlier attempts (${e.history.length})`;
    $('history').replaceChildren(...historyItems(e.history, (code) => { $('editor').value = code; }));
  }

  store.subscribe(render);
  return { render, get progress() { return progress; } };
}
