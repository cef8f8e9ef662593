// "Paste a whole cell": the learner's exercise-1 cell (or exercise 2, 3 or 4's
// lines) checked at once (POST /api/sessions/{sid}/cells). The answer lists
// every node in the lecture's order with its verdict; the first wrong node is
// highlighted with its named mistake; a tap on a row opens that node, with
// the cell's lines for it, in the single-node editor.
import { api } from './api.js';
import { wireEditor } from './deriveeditor.js';
import { nodeLines } from './derivelines.js';
import { mistakeTitle } from './deriveresult.js';
import { h, sci } from './theme.js';
import { reportError, toast } from './toast.js';

const CELL_KEY = (mode) => `bpn-derive-cell-${mode}`; // the pasted cell survives a reload

/** A row's status in words: "correct", "wrong", "uses dprobs", "to do", "error". */
export function statusText(n) {
  if (n.status === 'affected') return `uses ${(n.affected_by || []).map((a) => `d${a}`).join(', ') || 'a wrong node'}`;
  if (n.status === 'missing') return 'to do';
  return n.status;
}

const BADGE = { correct: 'exact', wrong: 'fail', error: 'fail', affected: 'approx', missing: '' };

const nums = (n) => (n.maxdiff === null || n.maxdiff === undefined ? ''
  : `exact ${n.exact ? 'yes' : 'no'} · approx ${n.approx ? 'yes' : 'no'} · maxdiff ${n.maxdiff === 0 ? '0' : sci(n.maxdiff)}`);

/** One <li> per node of a CellPublic; `onOpen(node)` when a row is tapped. */
export function cellRows(cell, onOpen) {
  return cell.nodes.map((n) => {
    const first = n.node === cell.first_wrong;
    const badge = BADGE[n.status] === undefined ? '' : BADGE[n.status];
    return h('li', { class: `cell-row ${n.status}${first ? ' first-wrong' : ''}`, 'data-status': n.status },
      h('button', {
        type: 'button', class: 'cell-open', 'data-testid': `cell-row-${n.node}`, 'data-node': n.node,
        title: `Open d${n.node} in the single-node editor`, onclick: () => onOpen(n.node),
      },
      h('span', { class: 'mono cell-name' }, `d${n.node}`),
      h('span', { class: `badge ${badge}`, 'data-field': 'status' }, statusText(n)),
      n.mistake ? h('span', { class: 'derive-mistake' }, mistakeTitle(n)) : null,
      first ? h('span', { class: 'cell-first' }, 'first wrong') : null,
      nums(n) ? h('span', { class: 'check-line' }, nums(n)) : null,
      h('span', { class: 'cell-go', 'aria-hidden': 'true' }, '›')),
      first && n.diagnosis ? h('p', { class: 'derive-diagnosis', 'data-testid': 'cell-diagnosis' }, n.diagnosis) : null,
      // the message where the row alone does not say it: the first wrong, an error, dloss taken as given
      (first || n.status === 'error' || (n.status === 'correct' && !n.line)) && n.message ? h('p', { class: 'hint' }, n.message) : null);
  });
}

const INTRO = {
  atomic: 'Paste your exercise-1 cell as you wrote it in the notebook: every d… line in the lecture\'s order '
    + '(cmp(...) lines may stay: they are skipped). Each node is checked against autograd; the first wrong one is '
    + 'named, and the nodes after it that are wrong only because they used it are marked "uses …".',
  fused: 'Paste your backward lines of exercise 2, 3 or 4 (dlogits = …, dhprebn = …, and the layers between): '
    + 'any of the fused nodes, in the lecture\'s order. Each node is checked against autograd.',
};
const PLACEHOLDER = {
  atomic: '# your exercise-1 cell, from dlogprobs down to dC\n# cmp(\'logprobs\', dlogprobs, logprobs) lines are skipped',
  fused: '# your backward lines of exercise 2, 3 or 4, from dlogits down to dC',
};

/**
 * The section. `ensureBatch()` draws a batch if the session has none;
 * `onResult(cell, code, mode)` after each answer; `onOpen(node, lines)` for a tapped row.
 */
export function createCell(root, { get, mode, ensureBatch, onResult, onOpen, storage = window.localStorage }) {
  const editor = h('textarea', {
    class: 'derive-editor cell-editor', spellcheck: 'false', autocapitalize: 'off', autocomplete: 'off', rows: '14',
    'data-testid': 'cell-editor', 'aria-label': 'Your whole cell', // no maxlength: a cut paste would pass unnoticed, the server's 422 says it
  });
  const check = h('button', { type: 'button', class: 'primary', 'data-testid': 'cell-submit' }, 'Check the cell ',
    h('kbd', {}, 'Ctrl'), '+', h('kbd', {}, 'Enter'));
  const closeButton = h('button', { type: 'button', 'data-testid': 'cell-close' }, '← one node at a time');
  const intro = h('p', { class: 'hint' });
  const summary = h('p', { class: 'cell-summary', 'data-testid': 'cell-summary', 'aria-live': 'polite' });
  const failure = h('p', { class: 'derive-diagnosis', 'data-testid': 'cell-error', hidden: true });
  const note = h('p', { class: 'hint', hidden: true },
    'Nodes your cell got right count as solved in your progress, wrong ones as a wrong attempt. '
    + 'Nodes marked "uses …" keep their state: fix the node they used and check the cell again. Tap a row to work on that node alone.');
  const list = h('ol', { class: 'cell-rows', 'data-testid': 'cell-rows' });
  root.replaceChildren(h('h3', {}, 'A whole cell at once'), intro, editor,
    h('div', { class: 'derive-actions' }, check, closeButton), failure, summary, note, list);

  let busy = false;
  let shownMode = null;
  let drawn = null; // the answer whose rows are on screen
  const answers = new Map(); // mode -> {cell, code}: the last answer on this page

  const save = (m, text) => { try { storage.setItem(CELL_KEY(m), text); } catch (_) { /* no storage */ } };
  let saveTimer = null;
  editor.addEventListener('input', () => {
    clearTimeout(saveTimer);
    const [m, text] = [mode(), editor.value];
    saveTimer = setTimeout(() => save(m, text), 300);
  });

  async function submit() {
    const s = get();
    const code = editor.value;
    if (busy || !s.session) return;
    if (!code.trim()) { toast('Paste your cell first: the d… lines, one after the other.'); return; }
    const m = mode();
    busy = true;
    render();
    try {
      await ensureBatch();
      const cell = await api.cell(get().session.id, m, code);
      answers.set(m, { cell, code });
      save(m, code);
      onResult(cell, code, m);
    } catch (err) {
      reportError(err, 'derive');
    } finally {
      busy = false;
      render();
    }
  }

  wireEditor(editor, { onSubmit: submit });
  check.addEventListener('click', submit);

  function render() {
    const m = mode();
    if (shownMode !== m) {
      shownMode = m;
      try { editor.value = storage.getItem(CELL_KEY(m)) || ''; } catch (_) { editor.value = ''; }
      editor.placeholder = PLACEHOLDER[m];
      intro.textContent = INTRO[m];
    }
    check.disabled = busy;
    const a = answers.get(m);
    const cell = a && a.cell;
    failure.hidden = !(cell && cell.error_message);
    failure.textContent = cell && cell.error_message ? cell.error_message : '';
    // a cell that did not run: its error alone (every row would only say "not checked")
    const ran = Boolean(cell && !cell.error);
    summary.textContent = busy ? 'Checking every node…' : ran ? cell.message : '';
    note.hidden = !ran;
    if (drawn === (a || null)) return; // the rows stay as they are: a row keeps the keyboard's focus
    drawn = a || null;
    const byNode = ran ? new Map(cell.nodes.map((n) => [n.node, n])) : null;
    list.replaceChildren(...(ran ? cellRows(cell, (node) => onOpen(node, nodeLines(a.code, byNode.get(node)))) : []));
  }

  return { render, closeButton };
}
