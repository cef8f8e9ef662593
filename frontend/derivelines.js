// What "Derive it" shows around the editor, as pure functions of the graph
// (GET /api/graph) and of the learner's text: the line(s) that use the node
// (its gradient flows back from them), the line that made it, the moment of
// the lecture where it is derived, and the lines of a pasted cell that
// compute one node's gradient.

/** Derive it's two exercises: exercise 1 (atomic, in either tape order) or exercises 2-3 (fused). */
export const deriveMode = (viewMode) => (viewMode === 'fused' ? 'fused' : 'atomic');

const groupOf = (graph, name) => (graph.fused_groups || []).find((g) => g.output === name) || null;

/**
 * The texts around the editor for `name` in derive mode `mode`:
 * used: the forward line(s) that use the node ("" for the loss, which nothing uses),
 * lines: how many lines that is, made: the line that made the node.
 */
export function lineTexts(graph, name, mode) {
  const node = graph.nodes.find((n) => n.name === name);
  if (!node) return { used: '', lines: 0, made: '' };
  const view = node.views[mode] || node.views.atomic;
  const made = (view && view.made_by) || node.forward;
  const start = node.consumers.length === 0; // the loss: the backward pass starts at it
  const used = start ? '' : view.used_by;
  return { used, lines: used ? used.split('\n').length : 0, made };
}

/** The lecture's moment for `name`: exercise 2/3's (the fused group's) for logits and hprebn in fused mode. */
export function momentOf(graph, name, mode) {
  const group = mode === 'fused' ? groupOf(graph, name) : null;
  if (group && group.moment) return group.moment;
  const node = graph.nodes.find((n) => n.name === name);
  return (node && node.moment) || null;
}

/** Seconds as the video player writes them: 13:01, or 1:26:31 past the hour. */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds) || 0));
  const two = (x) => String(x).padStart(2, '0');
  const [hh, mm, ss] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  return hh ? `${hh}:${two(mm)}:${two(ss)}` : `${mm}:${two(ss)}`;
}

/** Only a link to the lecture's own video leaves the page (and opens in a new tab). */
export function safeMomentUrl(url) {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' && /(^|\.)youtube\.com$/.test(u.hostname) ? u.href : null;
  } catch (_) {
    return null;
  }
}

const depthChange = (line) => {
  let d = 0;
  let quote = null;
  for (const ch of line.replace(/#.*$/, '')) { // a comment's brackets do not count (nor, roughly, a string's)
    if (quote) { if (ch === quote) quote = null; continue; }
    if (ch === '"' || ch === "'") quote = ch;
    else if ('([{'.includes(ch)) d += 1;
    else if (')]}'.includes(ch)) d -= 1;
  }
  return d;
};

/**
 * A cell's top-level statements, each with its continuation: the indented
 * body of a `for`, lines inside open brackets, lines after a backslash.
 * Returns [{first: 0-based line index, text}].
 */
export function statements(code) {
  const out = [];
  let depth = 0;
  let cont = false;
  String(code).split('\n').forEach((line, i) => {
    const blank = !line.trim();
    const top = !blank && depth <= 0 && !cont && !/^\s/.test(line);
    if (top) out.push({ first: i, lines: [line] });
    else if (!blank && out.length) out[out.length - 1].lines.push(line);
    depth = Math.max(0, depth + (blank ? 0 : depthChange(line)));
    cont = /\\\s*$/.test(line);
  });
  return out.map((s) => ({ first: s.first, text: s.lines.join('\n') }));
}

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Does this text assign d<node> (=, +=, -=, *=, /=, an item of it, or one of several: dW2, db2 = ...)? */
export function assigns(text, node) {
  const re = new RegExp(`(^|[^\\w.])d${escape(node)}\\s*(\\[[^\\n]*?\\])?\\s*[-+*/@]?=(?!=)`, 'm');
  if (re.test(text)) return true;
  const tuple = text.match(/^\s*((?:\w+\s*,\s*)+\w+)\s*,?\s*=(?!=)/m);
  return Boolean(tuple) && tuple[1].split(',').map((x) => x.trim()).includes(`d${node}`);
}

/** The lines of a pasted cell that compute d<node>, in the cell's order ("" when none do). */
export function linesFor(code, node) {
  return statements(code).filter((s) => assigns(s.text, node)).map((s) => s.text).join('\n');
}

/** The statement of a cell that holds its line `index` (0-based), "" when none does. */
export function statementAt(code, index) {
  const all = statements(code);
  const s = all.filter((x) => x.first <= index).pop();
  return s && index < s.first + s.text.split('\n').length ? s.text : '';
}

/**
 * The lines of a cell for a node of its answer (CellNodePublic): those that
 * assign d<node>, else the statement at the line the server found (1-based).
 */
export function nodeLines(code, n) {
  return linesFor(code, n.node) || (Number.isInteger(n.line) && n.line > 0 ? statementAt(code, n.line - 1) : '');
}
