// The keyboard: one table drives both the key handler and the help overlay.
import { h } from './theme.js';

/** [keys shown, KeyboardEvent.key values, action name, what it does] */
export const KEYMAP = [
  ['→', ['ArrowRight'], 'next', 'next backward node'],
  ['←', ['ArrowLeft'], 'back', 'back one node (undo)'],
  ['Space', [' '], 'togglePlay', 'play / pause: one node every 0.6 s, then update and a new batch'],
  ['f', ['f'], 'forward', 'forward: draw a batch and run the forward pass'],
  ['b', ['b'], 'toEnd', 'backward to the end'],
  ['u', ['u'], 'update', 'update the parameters (finishes the backward first)'],
  ['s', ['s'], 'fullStep', 'one full step: backward, update, forward'],
  ['r', ['r'], 'reset', 'reset: fresh parameters from the seed'],
  ['m', ['m'], 'toggleMode', 'atomic / fused view (the Lecture order button: exercise 1 as the notebook orders it)'],
  ['↑ ↓', ['ArrowUp', 'ArrowDown'], 'moveRow', 'previous / next dlogits row'],
  ['w', ['w'], 'toggleSort', 'dlogits: worst rows first'],
  ['d', ['d'], 'toggleDiff', 'show |manual − autograd| for the inspected node'],
  ['p', ['p'], 'togglePresent', 'presenter mode: large type, controls hidden'],
  ['? h', ['?', 'h'], 'toggleHelp', 'this help'],
  ['Esc', ['Escape'], 'closeHelp', 'close this help'],
];

const BY_KEY = new Map();
for (const [, keys, action] of KEYMAP) for (const k of keys) BY_KEY.set(k, action);

/** The action for a key press, or null (typing in a form field is left alone). */
export function actionFor(ev) {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return null;
  const t = ev.target;
  const tag = t && t.tagName;
  if (tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA' || (t && t.isContentEditable)) {
    return ev.key === 'Escape' ? 'blur' : null;
  }
  // in a panel of forms (Derive it), Space and Enter press the focused button, as everywhere on the web
  if ((ev.key === ' ' || ev.key === 'Enter') && t && t.closest && t.closest('[data-native-keys] :is(button, a)')) return null;
  const key = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
  return BY_KEY.get(key === '/' && ev.shiftKey ? '?' : key) || BY_KEY.get(ev.key) || null;
}

export function createHelpView(root, { onClose }) {
  const rows = KEYMAP.map(([label, , , what]) => h('tr', {},
    h('td', {}, ...label.split(' ').map((k) => h('kbd', {}, k))), h('td', {}, what)));
  root.replaceChildren(h('div', { class: 'help-card', role: 'document' },
    h('div', { class: 'help-head' },
      h('h2', { id: 'help-title' }, 'Keyboard'),
      h('button', { type: 'button', class: 'icon', 'aria-label': 'Close help', onclick: onClose }, '×')),
    h('table', { class: 'keys' }, h('tbody', {}, rows)),
    h('p', { class: 'help-foot' },
      'Click a node (or a chip of the backward tape) to inspect it; click a dlogits row to see its forces. ',
      'The address bar always holds the current view: copy it to share exactly this picture.')));
  root.addEventListener('click', (ev) => { if (ev.target === root) onClose(); });
  return {
    render(state) {
      root.hidden = !state.help;
    },
  };
}
