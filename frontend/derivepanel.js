// The "Derive it" panel's elements (derive.js fills them) and the texts
// around its editor: above it the line(s) that use the node, where its
// gradient flows back from; below it the line that made the node; beside the
// node, the moment of the lecture where it is derived.
import { createBar } from './deriveflow.js';
import { clock, lineTexts, momentOf, safeMomentUrl } from './derivelines.js';
import { h } from './theme.js';

/** Builds the panel in `root`; returns `$(name)`, the element named `name`, and the progress bar. */
export function skeleton(root) {
  const el = (name, tag = 'div', attrs = {}, ...kids) => h(tag, { 'data-d': name, ...attrs }, ...kids);
  const bar = createBar();
  root.replaceChildren(
    h('div', { class: 'panel-head' },
      h('h2', {}, 'Derive it: ', el('target', 'span', { class: 'mono', 'data-testid': 'derive-target' }), ' ',
        el('shape', 'span', { class: 'shape mono' })),
      h('div', { class: 'head-right' },
        el('progress', 'span', { class: 'derive-progress', 'data-testid': 'derive-progress' }),
        el('export', 'button', { type: 'button', class: 'small', 'data-testid': 'derive-export' }, 'Export progress'),
        h('label', { class: 'upload small', title: 'A file saved with Export progress' }, h('span', {}, 'Import…'),
          el('import', 'input', { type: 'file', accept: '.json,application/json', 'data-testid': 'derive-import' })))),
    bar.el,
    el('summary', 'p', { class: 'derive-summary', 'data-testid': 'derive-summary' }),
    h('p', { class: 'derive-legend' }, 'In the graph and the backward order: ', h('span', { class: 'lg solved' }), ' solved ',
      h('span', { class: 'lg revealed' }), ' revealed ', h('span', { class: 'lg failing' }), ' last attempt wrong. '
      + 'Backward lines, gradients and checks of a node stay hidden until you solve it or reveal it.'),
    h('div', { class: 'derive-nav' },
      el('prev', 'button', { type: 'button', class: 'small' }, '← previous'),
      el('pos', 'span', { class: 'derive-pos' }),
      el('next', 'button', { type: 'button', class: 'small', 'data-testid': 'derive-next' }, 'next open node →'),
      el('cell-open', 'button', { type: 'button', class: 'small', 'aria-pressed': 'false', 'data-testid': 'derive-cell-open' },
        'Paste a whole cell'),
      el('moment', 'a', { class: 'derive-moment', target: '_blank', rel: 'noopener noreferrer', 'data-testid': 'derive-moment', hidden: true })),
    el('cell', 'section', { class: 'derive-cell', 'data-testid': 'derive-cell', 'aria-label': 'A whole cell at once', hidden: true }),
    el('grid', 'div', { class: 'derive-grid' },
      h('div', { class: 'derive-left' },
        el('used-label', 'div', { class: 'code-label' }, 'used in'),
        el('used', 'pre', { class: 'derive-used', 'data-testid': 'derive-used' }),
        el('editor', 'textarea', {
          class: 'derive-editor', spellcheck: 'false', autocapitalize: 'off', autocomplete: 'off', rows: '7',
          'data-testid': 'derive-editor', 'aria-label': 'Your code for the gradient',
        }),
        el('made-label', 'div', { class: 'code-label' }, 'made by'),
        el('made', 'pre', { class: 'derive-made', 'data-testid': 'derive-made' }),
        el('scope', 'p', { class: 'derive-scope', 'data-testid': 'derive-scope' }),
        h('div', { class: 'derive-actions' },
          el('submit', 'button', { type: 'button', class: 'primary', 'data-testid': 'derive-submit' }, 'Check ',
            h('kbd', {}, 'Ctrl'), '+', h('kbd', {}, 'Enter')),
          el('hint', 'button', { type: 'button', 'data-testid': 'derive-hint' }, 'Hint'),
          el('reveal', 'button', { type: 'button', 'data-testid': 'derive-reveal' }, 'Reveal the answer'),
          el('counts', 'span', { class: 'derive-counts', 'data-testid': 'derive-counts' }),
          h('span', { class: 'derive-keys' }, 'Tab indents · Esc leaves the editor')),
        el('ask', 'div', { class: 'derive-ask', 'data-testid': 'derive-ask' }),
        el('hints', 'ol', { class: 'derive-hints', 'data-testid': 'derive-hints' }),
        el('answer', 'div', { class: 'derive-answer', 'data-testid': 'derive-answer', tabindex: '-1', hidden: true })),
      h('div', { class: 'derive-right' },
        el('result', 'div', { class: 'derive-result', 'data-testid': 'derive-result', 'aria-live': 'polite' }),
        el('flow', 'p', { class: 'derive-flow', hidden: true },
          el('next-open', 'button', { type: 'button', class: 'primary', 'data-testid': 'derive-next-open' }),
          el('flow-text', 'span', { class: 'hint' })),
        el('fd', 'div', { class: 'derive-fd', 'data-testid': 'derive-fd-section', hidden: true }),
        el('plot', 'div', { class: 'plot', 'data-testid': 'derive-heatmap' }),
        h('details', { class: 'derive-history' }, el('history-title', 'summary', {}, 'Earlier attempts'),
          el('history', 'ol', { 'data-testid': 'derive-history' })))),
    el('train', 'section', { class: 'derive-train', 'data-testid': 'derive-train-section' }),
  );
  return { $: (name) => root.querySelector(`[data-d="${name}"]`), bar };
}

const FUSED_LABEL = 'used in the fused forward: your gradient flows back through these lines';

/** The lines around the editor and the lecture's moment, for node `name` in derive mode `mode`. */
export function renderLines($, graph, name, mode) {
  const t = lineTexts(graph, name, mode);
  const fusedGroup = mode === 'fused' && (graph.fused_groups || []).some((g) => g.output === name);
  $('used-label').textContent = !t.lines ? 'used in: nothing'
    : fusedGroup ? FUSED_LABEL
      : t.lines > 1 ? `used in ${t.lines} lines: your gradient flows back from both`
        : 'used in: your gradient flows back from this line';
  $('used').textContent = t.lines ? t.used : `${name} is the last line of the forward pass: the backward pass starts here.`;
  $('used').classList.toggle('prose', !t.lines);
  $('made-label').textContent = `made by: how ${name} itself was computed`;
  $('made').textContent = t.made;
  const m = momentOf(graph, name, mode);
  const url = m && safeMomentUrl(m.url);
  const link = $('moment');
  link.hidden = !url;
  if (url) {
    link.href = url;
    link.textContent = `▶ watch this in the lecture (${clock(m.seconds)})`;
    link.title = `${m.label} (opens the video in a new tab)`;
  }
}

/** What the learner's code can use for graph node `node`: `ups`, the true gradients upstream of it. */
export function scopeText(node, ups) {
  const shown = ups.length > 6 ? `${ups.slice(0, 3).join(', ')} ... ${ups.slice(-3).join(', ')}` : ups.join(', ');
  return `In scope: every forward value (${node.inputs.concat([node.name]).join(', ')}, ...), `
    + `n and the sizes, torch, F${ups.length ? `, and the true ${shown}` : ''}.`;
}
