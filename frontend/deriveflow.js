// How a learner moves through an exercise in "Derive it": the exercise's
// progress bar, the next open node after a correct answer, and the in-page
// question asked once before the lecture's answer is shown (window.confirm
// blocks the page and is easy to dismiss by accident on a phone).
import * as P from './deriveprogress.js';
import { h } from './theme.js';

/** The next node of `order` after `from` that is neither solved nor revealed, wrapping around; null when none is. */
export function nextOpen(progress, mode, order, from) {
  const i = order.indexOf(from);
  const after = order.slice(i + 1).concat(order.slice(0, Math.max(0, i)));
  return after.find((n) => !P.unlocked(progress, mode, n)) || null;
}

/** The sentence under the panel's title: what to do, or how the exercise went once every node is done. */
export function summaryText(sum, target) {
  if (sum.open === 0) {
    return `All ${sum.total} derived: ${sum.clean} without hints, ${sum.hinted} with hints, ${sum.revealed} revealed `
      + `(${sum.attempts} attempt${sum.attempts === 1 ? '' : 's'}).`;
  }
  return `Write d${target} in PyTorch with the lecture's names, as in the notebook's cells (several lines, += and for `
    + 'loops allowed). It is checked against autograd on this batch and on one you have not seen.';
}

/** The bar's element, updated by `renderBar`; role=progressbar for screen readers. */
export function createBar() {
  const seg = (cls) => h('span', { class: `seg ${cls}` });
  const parts = { solved: seg('solved'), revealed: seg('revealed') };
  const el = h('div', {
    class: 'derive-bar', role: 'progressbar', 'aria-valuemin': '0', 'data-testid': 'derive-bar',
  }, parts.solved, parts.revealed);
  return { el, parts };
}

/** Show a summary (P.summary) of an exercise on the bar: solved, then revealed, then open. */
export function renderBar(bar, sum, exercise) {
  const solved = sum.clean + sum.hinted;
  const done = solved + sum.revealed;
  const pct = (k) => `${sum.total ? (100 * k) / sum.total : 0}%`;
  bar.parts.solved.style.width = pct(solved);
  bar.parts.revealed.style.width = pct(sum.revealed);
  bar.el.setAttribute('aria-valuemax', String(sum.total));
  bar.el.setAttribute('aria-valuenow', String(done));
  bar.el.setAttribute('aria-valuetext', `${solved} solved, ${sum.revealed} revealed, ${sum.open} open of ${sum.total}`);
  bar.el.setAttribute('aria-label', `${exercise}: nodes derived`);
  bar.el.title = `${exercise}: ${solved} solved, ${sum.revealed} revealed, ${sum.open} open`;
}

/**
 * The question before a reveal, in the panel: `ask(node, onYes)` shows it and
 * focuses "Show it" (Enter answers, Esc or "Keep trying" closes it).
 * `returnFocus` gets the focus back when it closes without revealing.
 */
export function createAsk(box, returnFocus) {
  let onYes = null;
  const yes = h('button', { type: 'button', class: 'primary', 'data-testid': 'derive-reveal-yes' }, 'Show it');
  const no = h('button', { type: 'button', 'data-testid': 'derive-reveal-no' }, 'Keep trying');
  const text = h('p', { id: 'derive-ask-text' });
  box.replaceChildren(text, h('div', { class: 'derive-actions' }, yes, no));
  box.setAttribute('role', 'alertdialog');
  box.setAttribute('aria-labelledby', 'derive-ask-text');
  box.hidden = true;
  const close = (refocus) => {
    box.hidden = true;
    onYes = null;
    if (refocus) returnFocus();
  };
  yes.addEventListener('click', () => { const f = onYes; close(false); if (f) f(); });
  no.addEventListener('click', () => close(true));
  box.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Escape') return;
    ev.stopPropagation(); // the page's own Esc (close help) must not fire as well
    close(true);
  });
  return {
    ask(node, then) {
      onYes = then;
      text.textContent = `Show the lecture's answer for d${node}? It counts as revealed in your progress.`;
      box.hidden = false;
      yes.focus();
    },
    close: () => close(false),
    get open() { return !box.hidden; },
  };
}
