// The node inspector: value and gradient, the code of the node, the local rule
// in plain words, the check against autograd. `inspectorModel` is pure; the
// view puts it in the DOM and hands the figures to Plotly.react.
import { FUSED_GROUPS, FUSED_OUTPUT, badgeText } from './graph.js';
import { absDiff, emptyFigure, sumFigure, tensorFigure } from './tensorplot.js';
import { fmt, memo, mount, sci } from './theme.js';

// Nodes reused across a whole axis in the forward (broadcast): their gradient
// is a sum in the backward.
const BROADCAST = {
  b1: 'b1 is added to every row of the batch',
  b2: 'b2 is added to every row of the batch',
  bngain: 'one gain per unit multiplies every example',
  bnbias: 'one bias per unit is added to every example',
  bnmeani: 'the (1,h) mean is subtracted from every row',
  bnvar_inv: 'the (1,h) scale multiplies every row',
  counts_sum_inv: 'each row\'s single number multiplies all 27 entries of the row',
  logit_maxes: 'each row\'s max is subtracted from all 27 logits of the row',
};
// Nodes summed (or averaged) by their consumer: their gradient is a broadcast.
const SUMMED = {
  hprebn: 'bnmeani averages hprebn over the batch',
  bndiff2: 'bnvar adds up bndiff2 over the batch (divided by n-1)',
  counts: 'counts_sum adds up each row of counts',
  logprobs: 'the loss averages one picked entry per row',
};
const MATMUL = new Set(['embcat', 'W1', 'h', 'W2']);

const FUSED_TEXT = {
  cross_entropy: {
    forward: 'loss = F.cross_entropy(logits, Yb)',
    backward: 'dlogits = F.softmax(logits, 1)\ndlogits[range(n), Yb] -= 1\ndlogits /= n',
    explain: [
      'Exercise 2: the seven cross-entropy nodes collapse into one. Write the loss of one row with the softmax, differentiate it on paper, and the whole chain shrinks to "probabilities minus the one-hot target, divided by n".',
      'So every row of dlogits adds up to zero: the wrong characters are pushed down by exactly what the right one is pulled up. The dlogits panel shows those forces row by row.',
    ],
  },
  batchnorm: {
    forward: 'bnmeani = hprebn.mean(0, keepdim=True)\nbnvar = hprebn.var(0, keepdim=True, unbiased=True)\nbnvar_inv = (bnvar + 1e-5)**-0.5\nbnraw = (hprebn - bnmeani) * bnvar_inv',
    backward: 'dhprebn = bngain*bnvar_inv/n * (n*dhpreact - dhpreact.sum(0)\n          - n/(n-1)*bnraw*(dhpreact*bnraw).sum(0))',
    explain: [
      'Exercise 3: the six BatchNorm nodes collapse into one line. Each input reaches the output three ways: directly, through the batch mean and through the batch variance; the formula adds those three routes for a whole column at once.',
      'The mean\'s route through the variance drops out, because deviations from a mean always sum to zero. Against the atomic chain it differs only by float rounding (about 1e-9 in float32).',
    ],
  },
};

const FLOAT_NOTE = 'Why ≈ and not exact? Above this node the gradient went through tanh. '
  + 'We write tanh\'s derivative as 1 − h² from the saved output; autograd runs its own tanh backward kernel, '
  + 'the same math with float32 operations in another order, so the last bits round differently '
  + '(about 1e-9 here) and that tiny gap travels down to every node below. '
  + 'Switch dtype to float64 and the gap drops to about 1e-17.';

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
  const fusedNode = FUSED_TEXT[name];
  const node = graph.nodes.find((n) => n.name === name);
  if (!node && !fusedNode) return { name, missing: true };
  const gradName = fusedNode ? FUSED_OUTPUT[name] : name;
  const check = state.checks[gradName] || null;
  const computed = state.computed.includes(gradName);
  const explain = [];
  let forward;
  let backward;
  let shape;
  let kind;
  let branches = 1;
  let consumers = [];
  if (fusedNode) {
    ({ forward, backward } = fusedNode);
    explain.push(...fusedNode.explain);
    const last = graph.nodes.find((n) => n.name === FUSED_GROUPS[name].at(-1));
    shape = last.shape;
    kind = 'fused';
  } else {
    ({ forward, backward, shape, kind, branches, consumers } = node);
    if (node.explain) explain.push(node.explain);
    if (BROADCAST[name]) {
      explain.push(`Broadcast forward, sum backward: ${BROADCAST[name]}. Every copy sends its own gradient back and they all land on the same number, so the backward adds them up along the copied axis (keepdim keeps the shape).`);
    }
    if (SUMMED[name]) {
      explain.push(`Sum forward, broadcast backward: ${SUMMED[name]}. A sum passes a small change of any term straight through, so every term receives the same upstream gradient, copied across the summed axis (times the 1/n or 1/(n−1) in front).`);
    }
    if (MATMUL.has(name)) {
      explain.push('Why the transpose: every output entry is a dot product of a row with a column, so each operand\'s gradient is the upstream gradient multiplied by the other operand. Write down the shapes and the one product that fits tells you where the .T goes.');
    }
    if (branches === 2) {
      explain.push(`Two branches add: ${name} feeds both ${consumers.join(' and ')}. Nudge one entry and the loss moves along both routes at once; to first order the two effects add, so the code assigns the first part with = and adds the second with +=. The panel below shows the two parts and their sum.`);
    }
    if (kind === 'data') explain.push('Data: integers pick rows and targets; nothing to differentiate.');
    if (state.mode === 'fused' && kind !== 'data' && !graph.fused_order.includes(name) && name !== 'loss') {
      explain.push('In the fused view this gradient is not computed on its own: switch to atomic to step through it.');
    }
  }
  const belowTanh = graph.backward_order.indexOf(gradName) >= graph.backward_order.indexOf('hpreact');
  const floatNote = computed && check && !check.exact && belowTanh ? FLOAT_NOTE : null;
  return {
    name, gradName, kind, shape, forward, backward, explain, check, computed, branches, consumers,
    badge: computed ? badgeText(check) : '',
    verdict: !check || !computed ? 'none' : check.exact ? 'exact' : check.approx ? 'approx' : 'fail',
    floatNote,
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
export function inspectorFigures(model, tensor, ctx, present, showDiff) {
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
    const norm = (v) => Math.sqrt(v.flat(Infinity).reduce((a, x) => a + x * x, 0));
    const parts = Object.entries(tensor.contributions).map(([c, v]) => ({
      title: `from ${c}<br>‖·‖ ${fmt(norm(v), 3)}`, label: `d${name} via ${c}`, values: v }));
    parts.push({ title: `d${name}<br>‖·‖ ${fmt(norm(tensor.grad), 3)}`, label: `d${name}`, values: tensor.grad });
    figs.parts = sumFigure(parts, base);
  }
  if (showDiff && tensor.grad && tensor.reference) {
    const diff = absDiff(tensor.grad, tensor.reference);
    const worst = Math.max(0, ...[diff].flat(Infinity));
    figs.diff = worst === 0
      ? emptyFigure(`|d${name} − autograd| is 0 everywhere: bit-exact`, present)
      : tensorFigure(diff, { ...base, label: `|d${name} − autograd|`, sequential: true });
  }
  return figs;
}

export function createInspectorView(root, { onFollow, onToggleDiff }) {
  const $ = (sel) => root.querySelector(sel);
  const plots = {
    value: mount($('[data-plot=value]')),
    grad: mount($('[data-plot=grad]')),
    parts: mount($('[data-plot=parts]')),
    diff: mount($('[data-plot=diff]')),
  };
  $('[data-action=follow]').addEventListener('click', () => onFollow());
  $('[data-action=diff]').addEventListener('click', () => onToggleDiff());
  const figuresFor = memo(inspectorFigures);
  const modelFor = memo((graph, selected, computed, checks, mode, next) =>
    inspectorModel({ graph, selected, computed, checks, mode, next }));
  const ctxFor = memo((session, config, rowData) => ctxOf({ session, config, rowData }));
  return {
    render(state) {
      const model = modelFor(state.graph, state.selected, state.computed, state.checks, state.mode, state.next);
      if (!model) return Promise.resolve();
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
      $('[data-field=backward]').textContent = model.backward || '(none: integers)';
      const ex = $('[data-field=explain]');
      ex.replaceChildren(...model.explain.map((t) => Object.assign(document.createElement('p'), { textContent: t })));
      const note = $('[data-field=float-note]');
      note.textContent = model.floatNote || '';
      note.hidden = !model.floatNote;
      const follow = $('[data-action=follow]');
      follow.hidden = !state.pinned;
      const diffBtn = $('[data-action=diff]');
      diffBtn.hidden = !model.computed || model.kind === 'data';
      diffBtn.textContent = state.showDiff ? 'Hide |manual − autograd|' : 'Show |manual − autograd|';
      diffBtn.setAttribute('aria-pressed', state.showDiff ? 'true' : 'false');
      const ctx = ctxFor(state.session, state.config, state.rowData);
      const figs = figuresFor(model, state.tensor, ctx, state.present, state.showDiff);
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
}

