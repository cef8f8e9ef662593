// The backward "tape": every node of the backward order as a button, with
// its status and its check against autograd. Pure model + a DOM mount.
import { badgeText } from './graph.js';
import { h } from './theme.js';

/** [{name, status, badge, check}] for the current mode's order. */
export function tapeModel(state) {
  if (!state.graph) return [];
  const order = state.mode === 'fused' ? state.graph.fused_order : state.graph.backward_order;
  const done = new Set(state.computed);
  const last = state.computed[state.computed.length - 1];
  return order.map((name) => {
    const check = state.checks[name] || null;
    let status = 'pending';
    if (name === last) status = 'current';
    else if (done.has(name)) status = 'done';
    else if (name === state.next) status = 'next';
    let verdict = '';
    if (check) verdict = check.exact ? 'exact' : check.approx ? 'approx' : 'fail';
    return { name, status, check, verdict, badge: done.has(name) ? badgeText(check) : '' };
  });
}

export function createTapeView(el, { onSelect }) {
  let orderKey = '';
  const chips = new Map();
  return {
    render(state) {
      const model = tapeModel(state);
      const key = model.map((m) => m.name).join(',');
      if (key !== orderKey) {
        el.replaceChildren();
        chips.clear();
        model.forEach((m, i) => {
          const badge = h('span', { class: 'badge', 'data-testid': `badge-${m.name}` });
          const chip = h('button', {
            type: 'button', class: 'chip', 'data-node': m.name, 'data-testid': `chip-${m.name}`,
            title: `d${m.name}: inspect this node`, onclick: () => onSelect(m.name),
          }, h('span', { class: 'chip-i' }, String(i + 1)), h('span', { class: 'chip-name' }, `d${m.name}`), badge);
          chips.set(m.name, { chip, badge });
          el.append(chip);
        });
        orderKey = key;
      }
      for (const m of model) {
        const { chip, badge } = chips.get(m.name);
        chip.className = `chip ${m.status}${m.verdict ? ` ${m.verdict}` : ''}${state.selected === m.name ? ' selected' : ''}`;
        chip.setAttribute('aria-pressed', state.selected === m.name ? 'true' : 'false');
        if (badge.textContent !== m.badge) badge.textContent = m.badge;
      }
      const cur = el.querySelector('.chip.current');
      if (cur && el.scrollWidth > el.clientWidth) {
        const left = cur.offsetLeft - el.clientWidth / 2;
        el.scrollLeft = Math.max(0, left);
      }
    },
  };
}
