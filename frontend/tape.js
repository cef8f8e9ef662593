// The backward "tape": every node of the backward order as a button, with
// its status and its check against autograd. Pure model + a DOM mount.
import { badgeText } from './graph.js';
import { h } from './theme.js';

/** The current view's tape: [{node, branch}] (branch: the one part a step adds, or null). */
export function tapeOrder(state) {
  const g = state.graph;
  if (!g) return [];
  if (state.mode === 'lecture') return g.lecture_order;
  return (state.mode === 'fused' ? g.fused_order : g.backward_order).map((node) => ({ node, branch: null }));
}

/** [{key, name, label, status, badge, check}] for the current view's tape. */
export function tapeModel(state) {
  const order = tapeOrder(state);
  if (!order.length) return [];
  // steps done: the tape's length less what remains (a half-finished node is in both lists)
  const pos = state.remaining.length || state.computed.length ? order.length - state.remaining.length : 0;
  const node = (name) => state.graph.nodes.find((n) => n.name === name);
  return order.map((it, i) => {
    const { node: name, branch } = it;
    const check = state.checks[name] || null;
    let status = 'pending';
    if (i === pos - 1) status = 'current';
    else if (i < pos) status = 'done';
    else if (i === pos) status = 'next';
    let verdict = '';
    if (check) verdict = check.exact ? 'exact' : check.approx ? 'approx' : 'fail';
    const second = branch && node(name).consumers[1] === branch;
    const label = branch ? `d${name} ${second ? '+=' : '='}` : `d${name}`;
    // a node's badge sits on its latest chip done: the one whose gradient the check judged
    const judged = i < pos && (!branch || order.slice(i + 1, pos).every((o) => o.node !== name));
    const title = branch ? `d${name}: the part from ${branch} (${second ? 'added with +=' : 'assigned with ='}); click to inspect` : `d${name}: inspect this node`;
    return { key: branch ? `${name}:${branch}` : name, name, label, title, status, check, verdict: judged ? verdict : '',
      badge: judged ? badgeText(check) : '' };
  });
}

export function createTapeView(el, { onSelect }) {
  let orderKey = '';
  const chips = new Map();
  let shown = [];
  let centred = null;
  return {
    render(state) {
      // only a change of what the tape shows touches the DOM (a render can change nothing here)
      const input = [state.graph, state.mode, state.computed, state.remaining, state.checks, state.selected];
      if (input.every((v, i) => v === shown[i])) return;
      shown = input;
      const model = tapeModel(state);
      const key = model.map((m) => m.key).join(',');
      if (key !== orderKey) {
        el.replaceChildren();
        chips.clear();
        model.forEach((m, i) => {
          const id = m.key.replace(':', '-');
          const badge = h('span', { class: 'badge', 'data-testid': `badge-${id}` });
          const chip = h('button', {
            type: 'button', class: 'chip', 'data-node': m.name, 'data-testid': `chip-${id}`,
            title: m.title, onclick: () => onSelect(m.name),
          }, h('span', { class: 'chip-i' }, String(i + 1)), h('span', { class: 'chip-name' }, m.label), badge);
          chips.set(m.key, { chip, badge });
          el.append(chip);
        });
        orderKey = key;
        centred = null;
      }
      let current = null;
      for (const m of model) {
        const { chip, badge } = chips.get(m.key);
        const cls = `chip ${m.status}${m.verdict ? ` ${m.verdict}` : ''}${state.selected === m.name ? ' selected' : ''}`;
        if (chip.className !== cls) chip.className = cls;
        const pressed = state.selected === m.name ? 'true' : 'false';
        if (chip.getAttribute('aria-pressed') !== pressed) chip.setAttribute('aria-pressed', pressed);
        if (badge.textContent !== m.badge) badge.textContent = m.badge;
        if (m.status === 'current') current = chip;
      }
      if (current === centred) return;
      centred = current;
      // measured in the next frame, with the layout the browser does anyway:
      // read here, after the writes above, it forced one more on every press
      requestAnimationFrame(() => {
        if (!current || current !== centred || el.scrollWidth <= el.clientWidth) return;
        el.scrollLeft = Math.max(0, current.offsetLeft - el.clientWidth / 2);
      });
    },
  };
}
