// "Check with finite differences": an oracle that is not autograd. After an
// attempt, the server nudges a few sampled entries of the node by ±eps in
// float64, runs the lecture's forward again for each and compares the
// loss's change with autograd's gradient and with the learner's
// (POST /api/sessions/{sid}/finite-differences).
import { api } from './api.js';
import { fmt, h } from './theme.js';
import { reportError } from './toast.js';

/** The samples table and what was sampled, for a FiniteDiffPublic `r`. */
export function fdNodes(r) {
  const yours = r.samples.some((x) => x.yours !== null && x.yours !== undefined);
  const num = (x) => (x === null || x === undefined ? '–' : fmt(x, 6));
  const head = ['entry', 'finite differences', 'autograd', ...(yours ? ['yours'] : [])];
  const verdict = r.yours_agree === null || r.yours_agree === undefined
    ? (r.agree ? 'autograd agrees' : 'autograd disagrees')
    : (r.yours_agree ? 'yours agrees' : 'yours disagrees');
  const good = r.yours_agree === null || r.yours_agree === undefined ? r.agree : r.yours_agree;
  return [
    h('p', {}, h('span', { class: `badge big ${good ? 'exact' : 'fail'}`, 'data-testid': 'fd-verdict' }, verdict),
      ' ', h('span', { class: 'check-line' }, `${r.dtype} · eps ${fmt(r.eps, 2)} · agree within ${fmt(r.atol, 2)} + ${fmt(r.tolerance, 2)} × |numeric|`)),
    h('p', { class: 'derive-message', 'data-testid': 'fd-message' }, r.message),
    h('div', { class: 'fd-scroll' }, h('table', { class: 'fd-table', 'data-testid': 'fd-table' },
      h('thead', {}, h('tr', {}, ...head.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, ...r.samples.map((x) => h('tr', {},
        h('td', { class: 'mono' }, `[${x.index.join(', ')}]`),
        h('td', {}, num(x.numeric)), h('td', {}, num(x.autograd)),
        ...(yours ? [h('td', {}, num(x.yours))] : [])))))),
  ];
}

/**
 * The button and its answer under an attempt's result. `render(mode, node, code)`
 * shows the button when there is code to check (null: no attempt yet).
 */
export function createFd(root, { get }) {
  const button = h('button', { type: 'button', 'data-testid': 'derive-fd' }, 'Check with finite differences');
  const what = h('span', { class: 'hint' }, 'a check that does not use autograd');
  const out = h('div', { class: 'fd-out', 'data-testid': 'derive-fd-result', 'aria-live': 'polite' });
  root.replaceChildren(h('div', { class: 'derive-actions' }, button, what), out);
  const answers = new Map(); // mode:node -> {code, r}
  let busy = null; // mode:node being checked
  let shown = null; // {mode, node, code}

  button.addEventListener('click', async () => {
    if (!shown || busy || !get().session) return;
    const { mode, node, code } = shown;
    const k = `${mode}:${node}`;
    busy = k;
    render(mode, node, code);
    try {
      answers.set(k, { code, r: await api.finiteDifferences(get().session.id, mode, node, code) });
    } catch (err) {
      reportError(err, 'derive');
    } finally {
      busy = null;
      if (shown) render(shown.mode, shown.node, shown.code);
    }
  });

  function render(mode, node, code) {
    shown = code ? { mode, node, code } : null;
    root.hidden = !shown;
    if (!shown) return;
    const k = `${mode}:${node}`;
    const a = answers.get(k);
    const fresh = a && a.code === code; // an answer for older code is not this attempt's
    button.disabled = busy === k;
    button.textContent = busy === k ? 'Nudging entries…' : 'Check with finite differences';
    out.replaceChildren(...(fresh ? fdNodes(a.r) : []));
  }

  return { render };
}
