// The inspector's notes that depend on the checks of this batch, composed from
// the server's texts (model/texts.py): why a gradient is ≈ and not exact, and,
// in the lecture's order, that a gradient is still half finished. Pure.
import { sci } from './theme.js';

/** The view's texts for a drawn node: a fused group's, or the node's in this mode. */
export function nodeText(graph, name, mode) {
  const group = graph.fused_groups.find((g) => g.name === name);
  if (group) return group.text;
  const node = graph.nodes.find((n) => n.name === name);
  return node ? node.views[mode] || node.views.atomic : null;
}

/**
 * Why d<name> is not bit-equal to autograd's, told from what is true here:
 * this node's own rounding (when its rule rounds unlike autograd's), the
 * inexact gradients it starts from, and what the dtype means.
 */
export function floatNote(graph, name, mode, checks) {
  const check = checks[name];
  if (!check || check.exact || !check.approx) return null;
  const text = nodeText(graph, name, mode === 'fused' ? 'fused' : 'atomic');
  const out = ['Why ≈ and not exact?'];
  if (text && text.rounding) out.push(text.rounding);
  const above = ((text && text.upstream) || []).filter((u) => checks[u] && !checks[u].exact);
  if (above.length) {
    out.push(`It starts from ${above.map((u) => `d${u} (off by up to ${sci(checks[u].maxdiff)})`).join(' and ')}, `
      + 'which already differs from autograd\'s, and that gap travels on through this rule.');
  } else if (!text || !text.rounding) {
    out.push('Its rule is the same math as autograd\'s, but the library evaluates it with other roundings on this build.');
  }
  out.push(graph.float_note);
  return out.join(' ');
}

/** Lecture order: a gradient that has its first part only. */
export function halfNote(graph, name, mode, computed, remaining) {
  if (mode !== 'lecture' || !computed.includes(name) || !remaining.includes(name)) return null;
  const node = graph.nodes.find((n) => n.name === name);
  const [first, second] = node.consumers;
  const at = graph.lecture_order.findIndex((it) => it.node === name && it.branch === second) + 1;
  return `Half finished: d${name} holds only the part from ${first} so far. The part from ${second} is added `
    + `at step ${at} of the tape (the += line). Until then the check compares half a gradient with autograd's `
    + 'whole one and flags it, just as cmp did in the lecture.';
}
