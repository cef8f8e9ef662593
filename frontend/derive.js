// "Derive it yourself": the learner writes d<node>, the server checks it in
// its sandbox, the verdict names the mistake. Answers of unsolved nodes stay
// hidden: this module marks the page (body, inspector, tape chips) and
// derive.css hides what a marked page must not show; the graph draws the
// rings it puts in the store as `derive`.
import { api } from './api.js';
import { wireEditor } from './deriveeditor.js';
import * as P from './deriveprogress.js';
import { gradNameOf } from './graph.js';
import { inspectedNode } from './inspector.js';
import { diffFigure, historyItems, resultNodes } from './deriveresult.js';
import { createTrainSection } from './derivetrain.js';
import { h, mount } from './theme.js';
import { reportError, toast } from './toast.js';


const ON_KEY = 'bpn-derive-on'; // derive mode stays on across reloads
// derive works in exercise 1 (atomic, in either order of its tape) or exercises 2-3 (fused)
const modeOf = (state) => (state.mode === 'fused' ? 'fused' : 'atomic');
const orderOf = (state) => (state.graph ? (state.mode === 'fused' ? state.graph.fused_order : state.graph.backward_order) : []);

function skeleton(root) {
  const el = (name, tag = 'div', attrs = {}, ...kids) => h(tag, { 'data-d': name, ...attrs }, ...kids);
  root.replaceChildren(
    h('div', { class: 'panel-head' },
      h('h2', {}, 'Derive it: ', el('target', 'span', { class: 'mono', 'data-testid': 'derive-target' }), ' ',
        el('shape', 'span', { class: 'shape mono' })),
      h('div', { class: 'head-right' },
        el('progress', 'span', { class: 'derive-progress', 'data-testid': 'derive-progress' }),
        el('export', 'button', { type: 'button', class: 'small', 'data-testid': 'derive-export' }, 'Export progress'),
        h('label', { class: 'upload small', title: 'A file saved with Export progress' }, h('span', {}, 'Import…'),
          el('import', 'input', { type: 'file', accept: '.json,application/json', 'data-testid': 'derive-import' })))),
    el('summary', 'p', { class: 'derive-summary', 'data-testid': 'derive-summary' }),
    h('p', { class: 'derive-legend' }, 'In the graph and the backward order: ', h('span', { class: 'lg solved' }), ' solved ',
      h('span', { class: 'lg revealed' }), ' revealed ', h('span', { class: 'lg failing' }), ' last attempt wrong. '
      + 'Backward lines, gradients and checks of a node stay hidden until you solve it or reveal it.'),
    h('div', { class: 'derive-nav' },
      el('prev', 'button', { type: 'button', class: 'small' }, '← previous'),
      el('pos', 'span', { class: 'derive-pos' }),
      el('next', 'button', { type: 'button', class: 'small', 'data-testid': 'derive-next' }, 'next open node →')),
    h('div', { class: 'derive-grid' },
      h('div', { class: 'derive-left' },
        h('div', { class: 'code-label' }, 'forward'), el('forward', 'pre', { class: 'derive-forward' }),
        el('scope', 'p', { class: 'derive-scope', 'data-testid': 'derive-scope' }),
        el('editor', 'textarea', {
          class: 'derive-editor', spellcheck: 'false', autocapitalize: 'off', autocomplete: 'off', rows: '7',
          'data-testid': 'derive-editor', 'aria-label': 'Your code for the gradient',
        }),
        h('div', { class: 'derive-actions' },
          el('submit', 'button', { type: 'button', class: 'primary', 'data-testid': 'derive-submit' }, 'Check ',
            h('kbd', {}, 'Ctrl'), '+', h('kbd', {}, 'Enter')),
          el('hint', 'button', { type: 'button', 'data-testid': 'derive-hint' }, 'Hint'),
          el('reveal', 'button', { type: 'button', 'data-testid': 'derive-reveal' }, 'Reveal the answer'),
          el('counts', 'span', { class: 'derive-counts', 'data-testid': 'derive-counts' }),
          h('span', { class: 'derive-keys' }, 'Tab indents · Esc leaves the editor')),
        el('hints', 'ol', { class: 'derive-hints', 'data-testid': 'derive-hints' }),
        el('answer', 'div', { class: 'derive-answer', 'data-testid': 'derive-answer', hidden: true })),
      h('div', { class: 'derive-right' },
        el('result', 'div', { class: 'derive-result', 'data-testid': 'derive-result', 'aria-live': 'polite' }),
        el('plot', 'div', { class: 'plot', 'data-testid': 'derive-heatmap' }),
        h('details', { class: 'derive-history' }, el('history-title', 'summary', {}, 'Earlier attempts'),
          el('history', 'ol', { 'data-testid': 'derive-history' })))),
    el('train', 'section', { class: 'derive-train', 'data-testid': 'derive-train-section' }),
  );
  return (name) => root.querySelector(`[data-d="${name}"]`);
}

export function createDerive(root, toggle, { store, actions, storage = window.localStorage }) {
  const get = store.get;
  const $ = skeleton(root);
  const plot = mount($('plot'));
  let progress = P.load(storage);
  try { if (storage.getItem(ON_KEY) === '1') store.set({ deriveOn: true }); } catch (_) { /* no storage */ }
  let target = null; // the node being derived
  let shownTarget = null; // whose draft the editor holds
  const results = new Map(); // mode:node -> the last AttemptPublic of this page
  const hintTexts = new Map(); // mode:node -> [text]
  const answers = new Map(); // mode:node -> AnswerPublic
  const overviews = new Map(); // session|mode -> DerivePublic
  let busy = false;
  const key = () => `${modeOf(get())}:${target}`;
  const trainView = createTrainSection($('train'), {
    get, progress: () => progress, order: () => (get().graph ? get().graph.fused_order : []),
  });

  const change = (p) => { progress = p; P.save(storage, p); render(get()); };
  const on = () => Boolean(get().deriveOn);

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
    const [mode, node] = [modeOf(s), target];
    try {
      if (!get().forwarded) await actions.forward();
      const r = await api.attempt(get().session.id, node, code, mode);
      results.set(`${mode}:${node}`, r);
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
    const level = Math.min(3, P.entry(progress, modeOf(s), target).hints + 1);
    try {
      await loadHints(modeOf(s), target, level);
      change(P.recordHint(progress, modeOf(s), target, level));
    } catch (err) { reportError(err, 'derive'); }
  }

  async function reveal() {
    const s = get();
    if (!target || !s.session) return;
    try {
      answers.set(key(), await api.answer(s.session.id, modeOf(s), target));
      change(P.recordReveal(progress, modeOf(s), target));
    } catch (err) { reportError(err, 'derive'); }
  }

  function step(dir) {
    const order = orderOf(get());
    const i = order.indexOf(target);
    if (dir > 0) {
      const open = order.slice(i + 1).find((n) => !P.unlocked(progress, modeOf(get()), n)) || P.firstOpen(progress, modeOf(get()), order);
      setTarget(open || order[Math.min(order.length - 1, i + 1)]);
    } else setTarget(order[Math.max(0, i - 1)]);
  }

  wireEditor($('editor'), { onSubmit: submit });
  let draftTimer = null;
  $('editor').addEventListener('input', () => {
    clearTimeout(draftTimer);
    const [mode, node, text] = [modeOf(get()), target, $('editor').value];
    draftTimer = setTimeout(() => { progress = P.setDraft(progress, mode, node, text); P.save(storage, progress); }, 300);
  });
  $('submit').addEventListener('click', submit);
  $('hint').addEventListener('click', hint);
  $('reveal').addEventListener('click', reveal);
  $('next').addEventListener('click', () => step(1));
  $('prev').addEventListener('click', () => step(-1));
  $('export').addEventListener('click', () => {
    const url = URL.createObjectURL(new Blob([P.exportText(progress)], { type: 'application/json' }));
    const a = h('a', { href: url, download: 'backprop-ninja-progress.json' });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  });
  $('import').addEventListener('change', async (ev) => {
    const file = ev.target.files[0];
    ev.target.value = '';
    if (!file) return;
    try {
      change(P.importText(await file.text()));
      results.clear();
      toast('Progress imported.');
    } catch (err) { toast(err.message); }
  });
  toggle.addEventListener('click', () => {
    const next = !on();
    try { storage.setItem(ON_KEY, next ? '1' : '0'); } catch (_) { /* storage disabled: on for this page only */ }
    store.set({ deriveOn: next });
    if (next) setTarget(P.firstOpen(progress, modeOf(get()), orderOf(get())) || orderOf(get())[0]);
  });
  let forwardedFor = null; // a batch is drawn once per session when derive mode needs one

  function markPage(s) {
    document.body.dataset.derive = on() ? 'on' : 'off';
    if (!on()) { // the CSS keys on body[data-derive=on]: nothing else to mark, nothing to draw
      if (s.derive) store.set({ derive: null });
      return;
    }
    const order = orderOf(s);
    const locked = (n) => !(P.unlocked(progress, modeOf(s), n) || P.unlocked(progress, 'atomic', n));
    const shown = inspectedNode(s);
    const ref = s.graph ? gradNameOf(s.graph, shown) : shown;
    const node = s.graph && s.graph.nodes.find((n) => n.name === ref);
    document.getElementById('inspector').toggleAttribute('data-derive-hidden', Boolean(node && node.kind !== 'data' && locked(ref)));
    for (const chip of document.querySelectorAll('#tape .chip[data-node]')) {
      chip.dataset.derive = P.status(progress, modeOf(s), chip.dataset.node);
    }
    document.body.dataset.deriveDlogits = locked('logits') ? 'hidden' : '';
    const status = Object.fromEntries(order.map((n) => [n, P.status(progress, modeOf(s), n)]));
    const derive = { status, firstWrong: P.firstWrong(progress, modeOf(s), order) };
    if (JSON.stringify(derive) !== JSON.stringify(s.derive || null)) store.set({ derive });
  }

  async function overview(s) {
    const k = `${s.session.id}|${modeOf(s)}`;
    if (!overviews.has(k)) overviews.set(k, await api.deriveOverview(s.session.id, modeOf(s)));
    return overviews.get(k);
  }

  function render(s) {
    toggle.setAttribute('aria-pressed', on() ? 'true' : 'false');
    root.hidden = !on();
    if (!s.graph) return;
    markPage(s);
    if (!on()) return;
    if (s.session && !s.forwarded && !s.busy && forwardedFor !== s.session.id) {
      forwardedFor = s.session.id;
      actions.forward(); // the checks need a batch: draw one, as f would
    }
    const order = orderOf(s);
    const picked = s.pinned && (s.graph ? gradNameOf(s.graph, s.selected) : s.selected);
    if (picked && order.includes(picked) && picked !== target && !s.busy) target = picked;
    if (!order.includes(target)) target = P.firstOpen(progress, modeOf(s), order) || order[0];
    const e = P.entry(progress, modeOf(s), target);
    const node = s.graph.nodes.find((n) => n.name === target);
    $('target').textContent = `d${target}`;
    $('shape').textContent = node.shape.length ? `(${node.shape.join(', ')})` : '(a number)';
    $('pos').textContent = `node ${order.indexOf(target) + 1} of ${order.length}, ${modeOf(s) === 'fused' ? 'exercises 2 and 3 (fused)' : 'exercise 1 (atomic)'}`;
    $('forward').textContent = node.forward;
    const sum = P.summary(progress, modeOf(s), order);
    $('progress').textContent = `${sum.clean + sum.hinted} solved · ${sum.revealed} revealed · ${sum.open} open`;
    $('summary').textContent = sum.open === 0
      ? `All ${sum.total} derived: ${sum.clean} without hints, ${sum.hinted} with hints, ${sum.revealed} revealed (${sum.attempts} attempt${sum.attempts === 1 ? '' : 's'}).`
      : `Write d${target} in PyTorch with the lecture's names, as in the notebook's cells (several lines, += and for loops allowed). It is checked against autograd on this batch and on one you have not seen.`;
    if (shownTarget !== key()) {
      shownTarget = key();
      $('editor').value = e.draft || (e.history[0] && e.history[0].code) || `d${target} = `;
      $('editor').placeholder = `d${target} = ...`;
    }
    overview(s).then((ov) => {
      const item = ov.nodes.find((n) => n.node === target);
      const ups = item ? item.scope : [];
      $('scope').textContent = `In scope: every forward value (${node.inputs.concat([target]).join(', ')}, ...), `
        + `n and the sizes, torch, F${ups.length ? `, and the true ${ups.length > 6 ? `${ups.slice(0, 3).join(', ')} ... ${ups.slice(-3).join(', ')}` : ups.join(', ')}` : ''}.`;
    }).catch((err) => reportError(err, 'derive'));
    $('submit').disabled = busy;
    $('hint').disabled = e.hints >= 3;
    $('hint').textContent = e.hints >= 3 ? 'No more hints' : `Hint ${e.hints + 1} of 3`;
    $('counts').textContent = `attempts ${e.attempts} · hints ${e.hints}${e.revealed ? ' · revealed' : ''}`;
    renderHints(s, e);
    renderAnswer(s, e);
    renderResult(s, e);
    renderHistory(e);
    trainView.render(s);
  }

  function renderHints(s, e) {
    const k = key();
    const texts = hintTexts.get(k) || [];
    if (texts.length < e.hints) loadHints(modeOf(s), target, e.hints).then(() => render(get())).catch(() => {});
    $('hints').replaceChildren(...texts.slice(0, e.hints).map((t) => h('li', {}, t)));
  }

  function renderAnswer(s, e) {
    const box = $('answer');
    box.hidden = !e.revealed;
    if (!e.revealed) return;
    const a = answers.get(key());
    if (!a) { api.answer(s.session.id, modeOf(s), target).then((r) => { answers.set(key(), r); render(get()); }).catch(() => {}); return; }
    box.replaceChildren(...[h('div', { class: 'code-label' }, 'the lecture\'s answer'), h('pre', {}, a.code),
      a.idea ? h('p', { class: 'hint' }, 'The idea, as the lecture first writes it (a Python loop):') : null,
      a.idea ? h('pre', {}, a.idea) : null].filter(Boolean));
  }

  function renderResult(s, e) {
    const r = results.get(key());
    $('result').replaceChildren(...resultNodes(r, e.history[0], busy));
    plot.show(diffFigure(r, target, s, busy));
  }

  function renderHistory(e) {
    $('history-title').textContent = `Earlier attempts (${e.history.length})`;
    $('history').replaceChildren(...historyItems(e.history, (code) => { $('editor').value = code; }));
  }

  store.subscribe(render);
  return { render, get progress() { return progress; } };
}
