// What the training page draws: the panels and the draw loop that redraws
// them (drawloop.js: what each panel is drawn from), the status line, the
// link to the stepper and the help overlay. Every figure comes from a view's
// pure "state -> figure" function (activations.js, batchnorm.js, ...); here
// they are given the page's state and mounted.
import { h, waited } from '../theme.js';
import { actFigure, actNotes, tanhMaps } from './activations.js';
import { createDrawLoop } from './drawloop.js';
import { bnFigure, bnNotes } from './batchnorm.js';
import { gradFigure, gradTable } from './gradients.js';
import { flowFigure } from './gradflow.js';
import { lossFigure } from './losscurve.js';
import { paramsFigure, paramsNotes } from './params.js';
import { fmt, panelPlot } from './plots.js';
import { scheduleText } from './schedule.js';

const FUSED_NODES = 13; // nodes of the fused backward: the stepper's `pos` to show all of them
const REDRAW_FPS = 20; // redraws a second at most while training (more if more frames are asked for)
// While training, drawing may take at most this share of the page's time: on a
// small machine the trainer needs the CPU more than the page needs 20 redraws.
const DUTY_PLAYING = 0.45;
const $ = (sel) => document.querySelector(sel);

/**
 * The panels' plots and the draw loop over them. st: the page's state
 * (app.js); presenter: present.js's; onLossClick(step): a click on the loss
 * curve; canDraw(); before(): the cheap DOM updates of each redraw.
 * Returns {plots, loop}.
 */
export function createPanels(st, { presenter, onLossClick, canDraw, before }) {
  const plots = {};
  for (const name of ['loss', 'flow', 'bn', 'act', 'grad', 'params']) {
    // moved while training (cheap, axes with room to grow); redrawn when paused,
    // so a still figure has Plotly's own tight axes
    const move = () => st.playing;
    plots[name] = panelPlot($(`[data-plot=${name}]`),
      name === 'loss' ? { move, onClick: (ev) => ev.points && ev.points.length && onLossClick(ev.points[0].x) } : { move });
  }
  const isOpen = (name) => { const p = $(`[data-panel=${name}]`); return p.tagName !== 'DETAILS' || p.open; };

  const frameOf = () => (st.shown && showsView(st) ? st.shown.frame : null);
  const mapsOf = memoLast((tensors) => tanhMaps(tensors && tensors['h.value']));
  const plotEl = (name) => $(`[data-plot=${name}]`);
  const loop = createDrawLoop({
    loss: {
      el: plotEl('loss'),
      inputs: () => [st.series, st.series.version, st.view, presenter.on],
      draw: () => plots.loss.show(lossFigure(st.series, st.view, st.session.config.vocab_size)),
    },
    flow: {
      el: plotEl('flow'),
      inputs: () => [frameOf(), st.graph, presenter.on],
      draw: (frame, graph) => plots.flow.show(flowFigure(frame, graph ? graph.backward_order : [])),
    },
    bn: {
      el: plotEl('bn'),
      inputs: () => [frameOf(), presenter.on],
      draw: (frame) => {
        $('[data-field=bn-notes]').replaceChildren(...bnNotes(frame, st.session.config));
        return plots.bn.show(bnFigure(frame, frame && st.shown.tensors));
      },
    },
    act: {
      el: plotEl('act'),
      inputs: () => [frameOf(), presenter.on],
      draw: (frame) => {
        const maps = frame ? mapsOf(st.shown.tensors) : null;
        $('[data-field=act-notes]').replaceChildren(...actNotes(frame, maps));
        return plots.act.show(actFigure(frame, maps));
      },
    },
    grad: {
      el: plotEl('grad'),
      inputs: () => [frameOf(), presenter.on],
      draw: (frame) => {
        $('[data-testid=grad-table]').replaceChildren(...gradTable(frame));
        return plots.grad.show(gradFigure(frame));
      },
    },
    params: {
      el: plotEl('params'),
      inputs: () => [frameOf(), st.series, st.series.version, presenter.on],
      draw: (frame) => {
        $('[data-field=params-notes]').replaceChildren(...paramsNotes(frame));
        return plots.params.show(paramsFigure(frame, st.series));
      },
    },
  }, {
    busy: () => st.playing,
    maxFps: () => Math.max(REDRAW_FPS, st.speed.fps),
    duty: DUTY_PLAYING,
    idleMs: () => waited.ms,
    isOpen,
    canDraw,
    before,
  });
  return { plots, loop };
}

function memoLast(fn) {
  let arg;
  let out;
  let has = false;
  return (a) => {
    if (!has || a !== arg) { arg = a; out = fn(a); has = true; }
    return out;
  };
}

/** The panels show the frame unless the slider points at a step whose tensors are not kept. */
function showsView(st) {
  return st.view === null || (st.shown && st.shown.update === st.view);
}

export function renderStatus(st) {
  const s = st.status;
  const set = (id, text) => { const e = $(`[data-testid=${id}]`); if (e.textContent !== text) e.textContent = text; };
  set('status-step', s.step.toLocaleString('en-US'));
  set('status-loss', fmt(s.loss, 4));
  set('status-lr', fmt(s.lr, 3));
  set('lr-schedule', scheduleText(st.session && st.session.config));
  set('status-speed', st.playing && s.speed ? Math.round(s.speed).toLocaleString('en-US') : '–');
  set('status-sat', s.sat === null || s.sat === undefined ? '–' : `${(100 * s.sat).toFixed(1)}%`);
  const sh = st.shown;
  let view = '–';
  if (st.view !== null && !(sh && sh.update === st.view)) view = `update ${st.view} (summary)`;
  else if (sh) view = `${st.playing && sh.live ? 'live · ' : ''}update ${sh.update.toLocaleString('en-US')}`;
  set('status-view', view);
  $('[data-testid=status-loss]').dataset.value = String(s.loss);
  const play = $('[data-testid=btn-play]');
  play.setAttribute('aria-pressed', String(st.playing));
  play.querySelector('[data-field=play-label]').textContent = st.playing ? 'Pause' : 'Play';
  document.body.classList.toggle('playing', st.playing);
}

/** "Open this step in the stepper": the stepper rebuilds a run from its URL (seed, sizes, step).
 *  following: this page follows a room (no run of its own to open). */
export function renderLink(st, following) {
  const a = $('[data-testid=link-step]');
  const note = $('[data-field=link-note]');
  const sh = st.shown;
  if (!st.session || !sh || following) { a.hidden = true; note.textContent = following ? '' : 'Train a step first.'; return; }
  a.hidden = false;
  const c = st.session.config;
  const step = sh.update - 1;
  const q = new URLSearchParams({ seed: c.seed, dtype: c.dtype, n_hidden: c.n_hidden, batch: c.batch_size, mode: 'fused',
    step, pos: FUSED_NODES, session: st.session.id });
  if (c.dataset !== 'default') q.set('dataset', c.dataset);
  const href = `/?${q}`;
  if (a.getAttribute('href') !== href) a.setAttribute('href', href);
  const problems = [];
  if (c.n_embd !== 10 || c.block_size !== 3 || c.lr !== 0.1) problems.push('it uses n_embd 10, block 3, lr 0.1');
  if (c.lr_decay_step !== null && step >= c.lr_decay_step) problems.push('it trains without the lr drop');
  if (st.branched) problems.push('this run was resumed from a past step or a file, which the stepper cannot replay');
  const text = problems.length ? `Approximate: ${problems.join('; ')}.` : `It replays the same ${step.toLocaleString('en-US')} steps from the seed, then shows update ${sh.update}’s batch.`;
  if (note.textContent !== text) note.textContent = text;
}

// ---- help ------------------------------------------------------------------------------------
const KEYS = [
  ['Space', 'play / pause'], ['s', 'one update, shown with its batch'], ['← →', 'previous / next update in the history'],
  ['l', 'back to the newest step'], ['p', 'presenter mode: large type, settings hidden'], ['?', 'this help'], ['Esc', 'close'],
];
/** onClose(): the overlay's close button, or a click beside its card. */
export function renderHelp(st, onClose) {
  const root = $('#help');
  if (!root.firstChild) {
    root.append(h('div', { class: 'help-card', role: 'document' },
      h('div', { class: 'help-head' }, h('h2', { id: 'help-title' }, 'Keyboard'),
        h('button', { type: 'button', class: 'icon', 'aria-label': 'Close help', onclick: onClose }, '×')),
      h('table', { class: 'keys' }, h('tbody', {}, KEYS.map(([k, what]) => h('tr', {},
        h('td', {}, ...k.split(' ').map((x) => h('kbd', {}, x))), h('td', {}, what))))),
      h('p', { class: 'help-foot' }, 'The address bar names this run’s session: reload and the page picks it up where it was.')));
    root.addEventListener('click', (ev) => { if (ev.target === root) onClose(); });
  }
  root.hidden = !st.help;
}
