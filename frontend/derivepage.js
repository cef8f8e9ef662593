// What "Derive it" marks outside its panel: the page (body data attributes
// that derive.css keys on), the inspector when it shows a node not yet
// derived, the tape's chips, and the graph's rings (the store's `derive`).
import * as P from './deriveprogress.js';
import { deriveMode } from './derivelines.js';
import { gradNameOf } from './graph.js';
import { inspectedNode } from './inspector.js';

/** Mark the page for state `s`, progress `progress`, derive mode on or off; `order`: the mode's nodes. */
export function markPage(s, { progress, on, order, store }) {
  document.body.dataset.derive = on ? 'on' : 'off';
  if (!on) { // the CSS keys on body[data-derive=on]: nothing else to mark, nothing to draw
    if (s.derive) store.set({ derive: null });
    return;
  }
  const mode = deriveMode(s.mode);
  const locked = (n) => !(P.unlocked(progress, mode, n) || P.unlocked(progress, 'atomic', n));
  const shown = inspectedNode(s);
  const ref = s.graph ? gradNameOf(s.graph, shown) : shown;
  const node = s.graph && s.graph.nodes.find((n) => n.name === ref);
  document.getElementById('inspector').toggleAttribute('data-derive-hidden', Boolean(node && node.kind !== 'data' && locked(ref)));
  for (const chip of document.querySelectorAll('#tape .chip[data-node]')) {
    chip.dataset.derive = P.status(progress, mode, chip.dataset.node);
  }
  document.body.dataset.deriveDlogits = locked('logits') ? 'hidden' : '';
  const status = Object.fromEntries(order.map((n) => [n, P.status(progress, mode, n)]));
  const derive = { status, firstWrong: P.firstWrong(progress, mode, order) };
  if (JSON.stringify(derive) !== JSON.stringify(s.derive || null)) store.set({ derive });
}

/** Export progress as a file download; import one (`onImport(progress)`, or a toast naming what is wrong). */
export function wireTransfer(exportButton, importInput, { progress, onImport, say }) {
  exportButton.addEventListener('click', () => {
    const url = URL.createObjectURL(new Blob([P.exportText(progress())], { type: 'application/json' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = 'backprop-ninja-progress.json';
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  });
  importInput.addEventListener('change', async (ev) => {
    const file = ev.target.files[0];
    ev.target.value = '';
    if (!file) return;
    try {
      onImport(P.importText(await file.text()));
      say('Progress imported.');
    } catch (err) { say(err.message); }
  });
}
