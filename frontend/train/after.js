// After training: loss on the whole splits (BatchNorm from running averages
// or calibrated now), sampled names marked new or seen, and the snapshot
// file that lets a run be resumed later. Effects are actions.js's; this module
// wires the buttons and draws the results.
import { h } from '../theme.js';
import { fmt } from './plots.js';

export function createAfter(root, { onEvaluate, onSample, onExport, onImport }) {
  const $ = (sel) => root.querySelector(sel);
  const table = $('[data-testid=split-table]');
  const list = $('[data-testid=samples]');
  const summary = $('[data-testid=samples-summary]');
  const snapInfo = $('[data-testid=snapshot-info]');
  $('[data-action=evaluate]').addEventListener('click', onEvaluate);
  $('[data-action=sample]').addEventListener('click', () => {
    const k = Math.max(1, Math.min(200, Number($('[data-testid=samples-k]').value) || 20));
    const seedText = $('[data-testid=samples-seed]').value;
    onSample(k, seedText === '' ? null : Number(seedText));
  });
  $('[data-action=exportSnapshot]').addEventListener('click', onExport);
  const file = $('[data-testid=import-file]');
  file.addEventListener('change', () => {
    if (file.files && file.files[0]) onImport(file.files[0]);
    file.value = '';
  });

  return {
    /** losses: {running, calibrated} SplitLossesPublic each. */
    showLosses({ running, calibrated }) {
      const row = (split, label) => h('tr', {},
        h('th', { scope: 'row' }, label),
        h('td', { 'data-testid': `loss-running-${split}` }, fmt(running[split], 4)),
        h('td', { 'data-testid': `loss-calibrated-${split}` }, fmt(calibrated[split], 4)));
      table.replaceChildren(
        h('caption', {}, `at step ${calibrated.step.toLocaleString('en-US')}`),
        h('thead', {}, h('tr', {}, h('th', {}, 'split'), h('th', {}, 'running stats'), h('th', {}, 'calibrated'))),
        h('tbody', {}, row('train', 'train'), row('val', 'val'), row('test', 'test')));
      table.hidden = false;
    },
    /** samples: SamplesPublic.samples */
    showSamples(samples) {
      const fresh = samples.filter((s) => !s.seen).length;
      summary.textContent = `${fresh} of ${samples.length} are new: not among the training words.`;
      list.replaceChildren(...samples.map((s) => h('li', { class: s.seen ? 'seen' : 'new', 'data-seen': String(s.seen) },
        h('span', { class: 'word mono' }, s.word || '(empty)'),
        h('span', { class: `mark ${s.seen ? 'seen' : 'new'}` }, s.seen ? 'seen' : 'new'))));
    },
    snapshotInfo(text) {
      snapInfo.textContent = text;
    },
  };
}
