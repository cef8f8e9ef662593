// "Show the derivation": the lecture's work on paper, one step at a time. The
// steps come from the server (model/derivations.py), each a sentence and its
// equation as MathML, which the browser typesets itself: nothing to load.
import { h } from './theme.js';

/** What the panel shows: the derivation and how many of its steps (pure). */
export function derivationModel(graph, id, shown) {
  const d = id && graph && graph.derivations.find((x) => x.id === id);
  if (!d) return null;
  const n = Math.max(0, Math.min(shown, d.steps.length));
  return { id: d.id, title: d.title, steps: d.steps.slice(0, n), shown: n, total: d.steps.length };
}

export function createDerivationView(root) {
  let id = null;
  let shown = 0;
  let graph = null;
  const title = h('p', { class: 'deriv-title' });
  const list = h('ol', { class: 'deriv-steps', 'data-testid': 'derivation-steps' });
  const more = h('button', { type: 'button', class: 'small primary', 'data-testid': 'derivation-next' });
  const hide = h('button', { type: 'button', class: 'small', 'data-testid': 'derivation-hide' }, 'Hide');
  const body = h('div', { class: 'deriv-body' }, title, list, h('div', { class: 'deriv-actions' }, more, hide));
  root.replaceChildren(body);

  function draw() {
    const m = derivationModel(graph, id, shown);
    root.hidden = !m;
    if (!m) return;
    root.dataset.derivation = m.id;
    root.dataset.shown = String(m.shown);
    title.textContent = m.title;
    title.hidden = m.shown === 0;
    list.hidden = m.shown === 0;
    hide.hidden = m.shown === 0;
    // keep the steps already drawn: MathML is laid out once, and the reader's place stays put
    while (list.children.length > m.shown) list.lastChild.remove();
    for (let i = list.children.length; i < m.shown; i += 1) {
      const s = m.steps[i];
      const math = h('div', { class: 'deriv-math' });
      math.innerHTML = s.math; // MathML built by the server from its own LaTeX
      list.append(h('li', { 'data-testid': 'derivation-step' }, h('p', {}, s.text), s.math ? math : ''));
    }
    more.textContent = m.shown === 0 ? `Show the derivation: ${m.title}` : m.shown < m.total ? `Next step (${m.shown + 1} of ${m.total})` : 'All steps shown';
    more.disabled = m.shown >= m.total;
  }
  more.addEventListener('click', () => { shown += 1; draw(); });
  hide.addEventListener('click', () => { shown = 0; draw(); });
  return {
    render(g, derivationId) {
      if (g !== graph || derivationId !== id) {
        graph = g;
        if (derivationId !== id) { id = derivationId; shown = 0; list.replaceChildren(); }
      }
      draw();
    },
  };
}
