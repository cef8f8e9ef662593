// What "Derive it" shows of an attempt: the verdict, the mistake named, the
// numbers, the |yours - true| heatmap, and the list of earlier attempts.
// Pure builders: (attempt, context) -> DOM nodes or a Plotly figure.
import { emptyFigure, tensorFigure } from './tensorplot.js';
import { h, sci } from './theme.js';

export const MISTAKE_TITLES = {
  one_branch: 'one branch only', transposed: 'transposed', keepdim: 'keepdim missing', wrong_axis: 'wrong axis',
  broadcast: 'silent broadcast', summed: 'summed away', not_summed: 'sum missing', missing_1n: 'missing 1/n',
  extra_1n: 'extra 1/n', bessel: 'n vs n−1', bessel_reverse: 'n vs n−1', sign: 'wrong sign',
  no_local: 'local derivative missing', tanh_input: 'tanh′ of the input', hard_coded: 'hard-coded?',
};
/** A mistake's short name: the server's label (model/mistakes.py), else ours for an attempt kept from before labels. */
export const mistakeTitle = (a) => (a.mistake_label || MISTAKE_TITLES[a.mistake] || a.mistake || '');

const numbers = (r) => `exact ${r.exact ? 'yes' : 'no'} · approx ${r.approx ? 'yes' : 'no'} · maxdiff ${r.maxdiff === 0 ? '0' : sci(r.maxdiff)}`;

/** The result box for an AttemptPublic `r` (or a node's row of a whole cell, `fromCell`), or for the last attempt kept from an earlier page. */
export function resultNodes(r, last, busy) {
  if (!r) {
    if (!last) return [h('p', { class: 'hint' }, busy ? 'Checking…' : 'No attempt yet on this batch.')];
    const where = last.source === 'cell' ? 'in a whole cell, on an earlier page' : 'on an earlier page';
    return [
      h('p', { class: 'hint' }, `Your last attempt (${where}): ${last.verdict}`
        + `${last.mistake ? `, ${mistakeTitle(last)}` : ''}. ${last.message}`),
      last.diagnosis ? h('p', { class: 'derive-diagnosis' }, last.diagnosis) : null,
    ].filter(Boolean);
  }
  const verdict = r.verdict === 'correct' ? (r.exact ? 'exact' : 'approx') : 'fail';
  const nums = r.fromCell
    ? (r.maxdiff === null || r.maxdiff === undefined ? '' : numbers(r))
    : (r.shape_ok ? numbers(r) + (r.second_batch === null ? '' : ` · second batch ${r.second_batch ? 'right' : 'wrong'}`) : '');
  return [
    r.fromCell ? h('p', { class: 'hint' }, 'From your whole cell. Check this node on its own for the |yours − true| map and a second batch.') : null,
    h('p', {}, h('span', { class: `badge big ${verdict}`, 'data-testid': 'derive-verdict' }, r.verdict),
      r.mistake ? h('span', { class: 'derive-mistake', 'data-testid': 'derive-mistake' }, mistakeTitle(r)) : null),
    h('p', { class: 'derive-message' }, r.message),
    r.diagnosis ? h('p', { class: 'derive-diagnosis', 'data-testid': 'derive-diagnosis' }, r.diagnosis) : null,
    r.note ? h('p', { class: 'hint', 'data-testid': 'derive-note' }, r.note) : null,
    nums ? h('p', { class: 'check-line' }, nums) : null,
  ].filter(Boolean);
}

/** The lecture's answer (AnswerPublic): its own lines, and an equivalent form apart, labelled as whose it is. */
export function answerNodes(a) {
  return [
    h('div', { class: 'code-label' }, 'the lecture\'s answer'), h('pre', { 'data-testid': 'derive-answer-code' }, a.code),
    a.alternative ? h('p', { class: 'hint', 'data-testid': 'derive-alternative-label' }, a.alternative_label || 'An equivalent form:') : null,
    a.alternative ? h('pre', { 'data-testid': 'derive-alternative' }, a.alternative) : null,
  ].filter(Boolean);
}

/** The per-element |yours - true| of an attempt as a heatmap (bars for a single row). */
export function diffFigure(r, node, state, busy) {
  const present = state.present;
  if (!r) return emptyFigure(busy ? 'checking…' : '|yours − true| appears here', present);
  if (r.fromCell) return emptyFigure(`check d${node} on its own to see |yours − true| here`, present);
  if (!r.absdiff) return emptyFigure(r.verdict === 'error' ? 'no result to compare' : 'shapes differ: nothing to compare', present);
  const rows = r.absdiff.length;
  const cols = r.absdiff[0].length;
  if (r.maxdiff === 0) return emptyFigure(`|yours − true| is 0 everywhere: d${node} is bit-exact`, present);
  const c = state.config;
  const ctx = { vocab: state.session && state.session.vocab, batch: c.batch_size, hidden: c.n_hidden, embd: c.n_embd, present };
  return tensorFigure(rows === 1 ? r.absdiff[0] : r.absdiff, {
    name: node, shape: rows === 1 ? [cols] : [rows, cols], ctx, present, label: `|yours − true| of d${node}`, sequential: true,
  });
}

/** Earlier attempts, newest first; `onLoad(code)` puts one back in the editor. */
export function historyItems(history, onLoad) {
  return history.map((a) => h('li', {},
    h('button', { type: 'button', class: 'small', title: 'Load into the editor', onclick: () => onLoad(a.code) }, 'load'),
    h('span', { class: `badge ${a.verdict === 'correct' ? 'exact' : 'fail'}` },
      a.mistake ? `${a.verdict}: ${mistakeTitle(a)}` : a.verdict),
    a.source === 'cell' ? h('span', { class: 'hint' }, 'cell') : null,
    h('code', {}, a.code.split('\n')[0].slice(0, 80))));
}
