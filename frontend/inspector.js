// The node inspector: value and gradient, the code of the node, the local rule
// in plain words, the check against autograd. `inspectorModel` is pure; the
// view puts it in the DOM and hands the figures to Plotly.react.
import { badgeText, fusedGroup, gradNameOf } from './graph.js';
import { createDerivationView } from './mathsteps.js';
import { floatNote, halfNote, nodeText } from './notes.js';
import { emptyFigure, sumFigure, tensorFigure } from './tensorplot.js';
import { fmt, memo, mount, sci } from './theme.js';

// Every sentence shown here comes from the server (model/texts.py via
// /api/graph), filled in for this config, dtype and view.

/** The node actually shown: the selection, or the backward pass's latest node. */
export function inspectedNode(state) {
  if (state.selected) return state.selected;
  const last = state.computed[state.computed.length - 1];
  return last || state.next || 'loss';
}

/** Everything the inspector says about a node, as plain data. */
export function inspectorModel(state) {
  const name = inspectedNode(state);
  const graph = state.graph;
  if (!graph) return null;
  const group = fusedGroup(graph, name);
  const node = graph.nodes.find((n) => n.name === name);
  if (!node && !group) return { name, missing: true };
  const mode = state.mode || 'atomic';
  const gradName = gradNameOf(graph, name);
  const text = nodeText(graph, name, mode);
  const check = state.checks[gradName] || null;
  const computed = state.computed.includes(gradName);
  const remaining = state.remaining || [];
  const base = group
    ? { shape: group.shape, kind: 'fused', branches: 1, consumers: [], made: group.text.used_by }
    : { shape: node.shape, kind: node.kind, branches: node.branches, consumers: node.consumers, made: node.forward };
  const halfDone = halfNote(graph, gradName, mode, state.computed, remaining);
  return {
    name, gradName, ...base,
    // the line the backward rule differentiates: where this node is used
    // the loss is used by nothing: its gradient, 1, is where the backward starts
    forward: text.used_by || 'nothing uses the loss: dloss = 1 starts the backward',
    madeBy: group ? '' : `${name} itself is made by: ${text.made_by}`,
    backward: text.backward,
    explain: text.explain,
    derivation: group ? (graph.nodes.find((n) => n.name === group.output) || {}).derivation : node.derivation,
    check, computed,
    badge: computed ? badgeText(check) : '',
    verdict: !check || !computed ? 'none' : check.exact ? 'exact' : check.approx ? 'approx' : 'fail',
    floatNote: computed && !halfDone ? floatNote(graph, gradName, mode, state.checks) : null,
    halfNote: halfDone,
  };
}

function ctxOf(state) {
  const c = state.config;
  const rd = state.rowData;
  return {
    vocab: state.session ? state.session.vocab : null,
    batch: c.batch_size, hidden: c.n_hidden, embd: c.n_embd,
    Xb: rd && rd.Xb, Yb: rd && rd.Yb,
  };
}

/** The figures for the inspected tensor (pure). */
export function inspectorFigures(model, tensor, ctx, present, showDiff, stacked = false) {
  const figs = { value: null, grad: null, parts: null, diff: null };
  if (!model || model.missing) return figs;
  // a tensor of another node: the right one is on its way, keep the old pictures
  if (tensor && tensor.name !== model.gradName) return null;
  if (!tensor) {
    const msg = model.kind === 'data' || model.kind === 'param' ? 'loading…' : 'no value yet: press f (forward)';
    figs.value = emptyFigure(msg, present);
    figs.grad = emptyFigure('', present);
    return figs;
  }
  const name = tensor.name;
  const shape = tensor.shape;
  const base = { name, shape, ctx: { ...ctx, present }, present };
  // a fused node shows its input and the gradient it produces in one expression
  figs.value = tensorFigure(tensor.value, { ...base, label: name });
  if (model.kind === 'data') figs.grad = emptyFigure('integers: no gradient', present);
  else if (tensor.grad === null || tensor.grad === undefined) figs.grad = emptyFigure(`d${name}: not computed yet (→)`, present);
  else figs.grad = tensorFigure(tensor.grad, { ...base, label: `d${name}` });
  if (tensor.contributions && tensor.grad && Object.keys(tensor.contributions).length === 2) {
    const norm = (v) => Math.sqrt(sumSq(v));
    const parts = Object.entries(tensor.contributions).map(([c, v]) => ({
      title: `from ${c}<br>‖·‖ ${fmt(norm(v), 3)}`, label: `d${name} via ${c}`, values: v }));
    parts.push({ title: `d${name}<br>‖·‖ ${fmt(norm(tensor.grad), 3)}`, label: `d${name}`, values: tensor.grad });
    figs.parts = sumFigure(parts, { ...base, stacked });
  }
  if (showDiff && tensor.grad && tensor.absdiff) {
    const diff = tensor.absdiff; // |manual − autograd|, taken on the server in the session's dtype
    const worst = maxOf(diff);
    figs.diff = worst === 0
      ? emptyFigure(`|d${name} − autograd| is 0 everywhere: bit-exact`, present)
      : tensorFigure(diff, { ...base, label: `|d${name} − autograd|`, sequential: true });
  }
  return figs;
}

const PARTS_SIDE_BY_SIDE_PX = 540; // three heatmaps and their titles ("from counts_sum ‖·‖ 0.0882") side by side

/** The sum of squares of a nested array, without flattening it (at batch 256 that cost more than the sum). */
function sumSq(v) {
  if (!Array.isArray(v)) return v * v;
  let sq = 0;
  for (const x of v) sq += sumSq(x);
  return sq;
}

/** The largest number of a nested array (0 for none); no spread: 51,200 arguments overflow the stack. */
function maxOf(v) {
  if (!Array.isArray(v)) return Math.max(0, v);
  let m = 0;
  for (const x of v) m = Math.max(m, maxOf(x));
  return m;
}

export function createInspectorView(root, { onFollow, onToggleDiff }) {
  const $ = (sel) => root.querySelector(sel);
  const plots = {
    value: mount($('[data-plot=value]')),
    grad: mount($('[data-plot=grad]')),
    parts: mount($('[data-plot=parts]')),
    diff: mount($('[data-plot=diff]')),
  };
  const derivation = createDerivationView($('[data-field=derivation]'));
  $('[data-action=follow]').addEventListener('click', () => onFollow());
  $('[data-action=diff]').addEventListener('click', () => onToggleDiff());
  const figuresFor = memo(inspectorFigures);
  const modelFor = memo((graph, selected, computed, checks, mode, next, remaining) =>
    inspectorModel({ graph, selected, computed, checks, mode, next, remaining }));
  const ctxFor = memo((session, config, rowData) => ctxOf({ session, config, rowData }));
  let shownModel = null;
  // The panel's width, kept by a ResizeObserver (as graph.js keeps the
  // graph's): read in render, after this render's own text writes, it forced
  // a layout of the page on every key press. Crossing the phone's width draws
  // the parts again.
  let stacked = root.clientWidth < PARTS_SIDE_BY_SIDE_PX;
  let last = null;
  let view = null;
  new ResizeObserver(() => {
    const now = root.clientWidth < PARTS_SIDE_BY_SIDE_PX;
    if (now === stacked) return;
    stacked = now;
    if (last) view.render(last);
  }).observe(root);
  view = {
    render(state) {
      last = state;
      const model = modelFor(state.graph, state.selected, state.computed, state.checks, state.mode, state.next,
        state.remaining);
      if (!model) return Promise.resolve();
      // the words change with the node, not with every render (a press can render more than once)
      if (model !== shownModel) {
        shownModel = model;
        $('[data-testid=inspector-title]').textContent = model.kind === 'fused' ? model.name : `${model.name}`;
        $('[data-field=shape]').textContent = model.shape ? `(${model.shape.join(', ')})` : '';
        $('[data-field=kind]').textContent = model.kind || '';
        const badge = $('[data-testid=inspector-badge]');
        badge.textContent = model.badge || (model.kind === 'data' ? 'no gradient' : 'not computed');
        badge.className = `badge big ${model.verdict}`;
        const chk = model.check && model.computed ? model.check : null;
        $('[data-field=check]').textContent = chk
          ? `exact ${chk.exact ? 'yes' : 'no'} · approx ${chk.approx ? 'yes' : 'no'} · maxdiff ${chk.maxdiff === 0 ? '0' : sci(chk.maxdiff)}`
          : '';
        $('[data-field=forward]').textContent = model.forward || '';
        $('[data-field=made-by]').textContent = model.madeBy || '';
        $('[data-field=made-by]').hidden = !model.madeBy;
        $('[data-field=backward]').textContent = model.backward || '(none: integers)';
        const ex = $('[data-field=explain]');
        ex.replaceChildren(...model.explain.map((t) => Object.assign(document.createElement('p'), { textContent: t })));
        const note = $('[data-field=float-note]');
        note.textContent = model.floatNote || '';
        note.hidden = !model.floatNote;
        const half = $('[data-field=half-note]');
        half.textContent = model.halfNote || '';
        half.hidden = !model.halfNote;
        derivation.render(state.graph, model.derivation || null);
      }
      const follow = $('[data-action=follow]');
      follow.hidden = !state.pinned;
      const diffBtn = $('[data-action=diff]');
      diffBtn.hidden = !model.computed || model.kind === 'data';
      const diffText = state.showDiff ? 'Hide |manual − autograd|' : 'Show |manual − autograd|';
      if (diffBtn.textContent !== diffText) { // write only what changed
        diffBtn.textContent = diffText;
        diffBtn.setAttribute('aria-pressed', state.showDiff ? 'true' : 'false');
      }
      const ctx = ctxFor(state.session, state.config, state.rowData);
      // the parts and their sum one under the other where three side by side would not fit (a phone)
      const figs = figuresFor(model, state.tensor, ctx, state.present, state.showDiff, stacked);
      if (!figs) return Promise.resolve();
      const jobs = [];
      for (const k of ['value', 'grad', 'parts', 'diff']) {
        const box = root.querySelector(`[data-box=${k}]`);
        box.hidden = !figs[k];
        if (figs[k]) jobs.push(plots[k].show(figs[k]));
      }
      const t = state.tensor;
      const key = t ? `${t.name}:${t.grad ? 'g' : '-'}` : '';
      return Promise.all(jobs).then(() => { root.dataset.renderedKey = key; });
    },
  };
  return view;
}

