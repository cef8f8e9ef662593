// "Derive it" progress: per node and mode, the attempts, hints and reveal,
// kept in the browser (localStorage) and exported / imported as a file.
// Pure functions on plain objects: every change returns a new progress.

export const STORAGE_KEY = 'bpn-derive-progress';
export const FORMAT = 'backprop-ninja derive progress';
const VERSION = 1;
const KEEP_ATTEMPTS = 30; // earlier attempts kept per node
const MAX_CODE = 100000; // the server's limit on one attempt

export function emptyProgress() {
  return { format: FORMAT, version: VERSION, nodes: {} };
}

const keyOf = (mode, node) => `${mode}:${node}`;

/** One node's record: attempts, hints seen, revealed, solved, its attempts and draft. */
export function entry(p, mode, node) {
  return p.nodes[keyOf(mode, node)] || {
    attempts: 0, hints: 0, revealed: false, solved: false, failing: false, draft: '', history: [],
  };
}

function put(p, mode, node, patch) {
  const e = { ...entry(p, mode, node), ...patch };
  return { ...p, nodes: { ...p.nodes, [keyOf(mode, node)]: e } };
}

/** 'solved' | 'revealed' | 'failing' | 'unsolved' (what the graph and tape colour). */
export function status(p, mode, node) {
  const e = entry(p, mode, node);
  if (e.revealed) return 'revealed';
  if (e.solved) return 'solved';
  if (e.failing) return 'failing';
  return 'unsolved';
}

/** May the page show this node's backward line, gradient and check? */
export function unlocked(p, mode, node) {
  const s = status(p, mode, node);
  return s === 'solved' || s === 'revealed';
}

export function recordAttempt(p, mode, node, code, result) {
  const e = entry(p, mode, node);
  const item = {
    code, verdict: result.verdict, mistake: result.mistake || null, mistake_label: result.mistake_label || null,
    error: result.error || null, message: result.message, diagnosis: result.diagnosis || null,
    at: new Date().toISOString(), ...(result.source ? { source: result.source } : {}),
  };
  const solved = e.solved || result.verdict === 'correct';
  return put(p, mode, node, {
    attempts: e.attempts + 1,
    solved,
    failing: !solved && result.verdict !== 'correct',
    history: [item, ...e.history].slice(0, KEEP_ATTEMPTS),
  });
}

/**
 * A whole cell's answer (CellPublic) as attempts: each node the cell got right
 * counts as solved, each wrong one (or one that raised) as a wrong attempt.
 * "affected" nodes (wrong only through a wrong node upstream) and missing
 * ones are left as they were: the learner has not been shown anything about
 * them yet. `codeFor(node)` gives the cell's lines for the node; a node the
 * cell does not write ("" or null: the loss, which the check takes as given) is skipped.
 */
export function recordCell(p, mode, cell, codeFor) {
  const verdicts = { correct: 'correct', wrong: 'wrong', error: 'error' };
  let out = p;
  for (const n of cell.nodes) {
    const verdict = verdicts[n.status];
    const code = codeFor(n.node);
    if (!verdict || !code) continue;
    out = recordAttempt(out, mode, n.node, code, {
      verdict, mistake: n.mistake, mistake_label: n.mistake_label, message: n.message,
      diagnosis: n.diagnosis, source: 'cell',
    });
  }
  return out;
}

export function recordHint(p, mode, node, level) {
  const e = entry(p, mode, node);
  return put(p, mode, node, { hints: Math.max(e.hints, level) });
}

export function recordReveal(p, mode, node) {
  return put(p, mode, node, { revealed: true });
}

export function setDraft(p, mode, node, draft) {
  return put(p, mode, node, { draft: String(draft).slice(0, MAX_CODE) });
}

/** The first node in `order` neither solved nor revealed (null when all are). */
export function firstOpen(p, mode, order) {
  return order.find((n) => !unlocked(p, mode, n)) || null;
}

/** The first node of `order` whose last attempt was wrong: the graph marks it. */
export function firstWrong(p, mode, order) {
  return order.find((n) => status(p, mode, n) === 'failing') || null;
}

/** How the learner got through `order`: without hints, with hints, revealed, still open. */
export function summary(p, mode, order) {
  const out = { clean: 0, hinted: 0, revealed: 0, open: 0, total: order.length, attempts: 0 };
  for (const n of order) {
    const e = entry(p, mode, n);
    out.attempts += e.attempts;
    if (e.revealed) out.revealed += 1;
    else if (e.solved && e.hints > 0) out.hinted += 1;
    else if (e.solved) out.clean += 1;
    else out.open += 1;
  }
  return out;
}

export function exportText(p) {
  return JSON.stringify({ ...p, exported: new Date().toISOString() }, null, 1);
}

const INT = (x) => Number.isInteger(x) && x >= 0 && x < 1e9;

/** Parse an exported file; throws an Error whose message says what is wrong. */
export function importText(text) {
  let data;
  try {
    data = JSON.parse(text);
  } catch (_) {
    throw new Error('This file is not a progress export: it is not JSON.');
  }
  if (!data || data.format !== FORMAT) throw new Error(`This file is not a progress export (no "format": "${FORMAT}").`);
  if (data.version !== VERSION) throw new Error(`This export has version ${data.version}; this page reads version ${VERSION}.`);
  if (!data.nodes || typeof data.nodes !== 'object') throw new Error('This export has no "nodes".');
  const nodes = {};
  for (const [k, e] of Object.entries(data.nodes)) {
    if (!/^(atomic|fused):\w{1,40}$/.test(k)) throw new Error(`Unknown node "${k}" in the export.`);
    if (!e || !INT(e.attempts) || !INT(e.hints)) throw new Error(`Node "${k}": attempts and hints must be counts.`);
    nodes[k] = {
      attempts: e.attempts, hints: e.hints, revealed: e.revealed === true, solved: e.solved === true,
      failing: e.failing === true, draft: typeof e.draft === 'string' ? e.draft.slice(0, MAX_CODE) : '',
      history: Array.isArray(e.history) ? e.history.filter((a) => a && typeof a.code === 'string')
        .slice(0, KEEP_ATTEMPTS).map((a) => ({
          code: a.code.slice(0, MAX_CODE), verdict: String(a.verdict), mistake: a.mistake ? String(a.mistake) : null,
          mistake_label: a.mistake_label ? String(a.mistake_label) : null,
          error: a.error ? String(a.error) : null, message: String(a.message || ''),
          diagnosis: a.diagnosis ? String(a.diagnosis) : null, at: String(a.at || ''),
          ...(a.source === 'cell' ? { source: 'cell' } : {}),
        })) : [],
    };
  }
  return { format: FORMAT, version: VERSION, nodes };
}

export function load(storage) {
  try {
    const text = storage.getItem(STORAGE_KEY);
    return text ? importText(text) : emptyProgress();
  } catch (_) {
    return emptyProgress(); // a damaged entry must not break the page
  }
}

export function save(storage, p) {
  try {
    storage.setItem(STORAGE_KEY, JSON.stringify(p));
    return true;
  } catch (_) {
    return false; // storage full or disabled: progress lasts until the page closes
  }
}
