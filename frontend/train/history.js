// The history bar under the loss curve: a slider over every update the run
// made. Every step keeps its summary (loss, lr, ...); the server keeps full
// tensors for the last K only, and the slider's track shows which those are.
import { h } from '../theme.js';
import { fmt } from './plots.js';

export function createScrub(root, { onScrub, onPrev, onNext, onLatest }) {
  const range = root.querySelector('[data-testid=scrub-range]');
  const num = root.querySelector('[data-testid=scrub-input]');
  const info = root.querySelector('[data-testid=scrub-info]');
  range.addEventListener('input', () => onScrub(Number(range.value)));
  num.addEventListener('change', () => { if (num.value !== '') onScrub(Number(num.value)); });
  root.querySelector('[data-action=scrubPrev]').addEventListener('click', onPrev);
  root.querySelector('[data-action=scrubNext]').addEventListener('click', onNext);
  root.querySelector('[data-action=latest]').addEventListener('click', onLatest);
  let lastKey = '';

  return {
    /** s: {series, view, shown, playing, status} (see app.js). */
    render(s) {
      const last = s.series.lastStep;
      const [k0, k1] = s.series.fullSteps;
      const min = Math.min(1, last);
      const value = s.view ?? (s.shown ? s.shown.update : last);
      const key = `${min}|${last}|${k0}|${k1}|${value}|${s.view}|${s.shown && s.shown.frame.step}|${s.playing}|${s.series.version}`;
      if (key === lastKey) return;
      lastKey = key;
      range.min = String(min);
      range.max = String(Math.max(min, last));
      if (document.activeElement !== range) range.value = String(value);
      if (document.activeElement !== num) num.value = String(value);
      num.max = String(last);
      // the kept zone (seek works there) drawn on the track
      const span = Math.max(1, last - min);
      const a = Math.max(0, Math.min(100, (100 * (k0 + 1 - min)) / span));
      range.style.setProperty('--kept-from', `${a}%`);
      info.replaceChildren(...describe(s, value, k0, k1));
    },
  };
}

function describe(s, value, k0, k1) {
  const kept = k1 > k0 ? `Full tensors are kept for updates ${k0 + 1}–${k1} (the dark end of the track); every update’s loss is kept.` : '';
  if (s.view === null || s.view === undefined) {
    if (s.playing) return [h('span', {}, 'Live. Drag the slider (or press ←) to pause and look at a past update. '), kept];
    if (!s.shown) return [h('span', {}, 'Nothing trained yet. '), kept];
    return [h('span', {}, `Paused. `), kept];
  }
  const p = s.series.at(value);
  const f = s.shown && s.shown.update === value ? s.shown.frame : null;
  const out = [h('b', { 'data-testid': 'view-update', 'data-update': String(value) }, `Update ${value}`)];
  if (p) {
    out.push(' · batch loss ', h('span', { class: 'mono', 'data-testid': 'view-hist-loss', 'data-value': String(p.loss) }, fmt(p.loss, 5)));
    out.push(` · lr ${fmt(p.lr, 3)}`);
    if (p.val_loss !== null) out.push(` · val loss ${fmt(p.val_loss, 5)}`);
  }
  if (f) {
    out.push(h('span', { class: 'muted' }, ' — shown in full: the parameters it started from (step '),
      h('span', { class: 'mono', 'data-testid': 'view-frame-step', 'data-value': String(f.step) }, String(f.step)),
      h('span', { class: 'muted' }, '), the batch it trained on (loss '),
      h('span', { class: 'mono', 'data-testid': 'view-frame-loss', 'data-value': String(f.loss) }, fmt(f.loss, 5)),
      h('span', { class: 'muted' }, ') and every gradient. '));
    out.push(h('span', { class: 'muted' }, ' Play or Step continues from here (from a past update that starts a new branch: the later steps are replaced).'));
  } else if (value <= k0) {
    out.push(h('span', { class: 'warn' }, ` — only its summary is kept now; full tensors exist for updates ${k0 + 1}–${k1}.`));
  } else {
    out.push(h('span', { class: 'muted' }, ' — loading…'));
  }
  return out;
}
