// Train and watch: wiring. One state object (`st`) owned here; views are pure
// "state -> figure" functions drawn by a requestAnimationFrame loop that
// only runs when something new arrived, so the latest frame always wins.
//
// What "update U" shows, everywhere on this page: the batch update U trained
// on, its gradients, and the parameters around it. Live frames come from the
// trainer right after update U; a step on screen while paused (Step, or the
// history slider) is the server's frame at step U-1 with batch U drawn and
// backpropagated, which the next Play or Step then applies.
import { reportError, toast } from '../toast.js';
import { h, waited } from '../theme.js';
import { actFigure, actNotes, tanhMaps } from './activations.js';
import { createDrawLoop } from './drawloop.js';
import { bnFigure, bnNotes } from './batchnorm.js';
import { gradFigure, gradTable } from './gradients.js';
import { flowFigure } from './gradflow.js';
import { createScrub } from './history.js';
import { ApiError } from '../api.js';
import { lossFigure } from './losscurve.js';
import { paramsFigure, paramsNotes } from './params.js';
import { fmt, panelPlot } from './plots.js';
import { scheduleText } from './schedule.js';
import { createPresenter } from './present.js';
import { Series } from './series.js';
import { moving } from '../livefig.js';
import { bound } from '../configspec.js';
import { createActions } from './actions.js';
import { createRoom } from './room.js';
import { createSession } from './session.js';
import { readConfigForm, readUrl } from './settings.js';

const FUSED_NODES = 13; // nodes of the fused backward: the stepper's `pos` to show all of them

const st = {
  session: null, // {id, config}
  graph: null, // GraphPublic
  stream: null,
  playing: false,
  shown: null, // {frame, tensors, update, live} drawn in the panels
  view: null, // null: the newest step; a number: an update picked in the history
  pending: false, // the server holds a drawn, backpropagated batch (after seek or at load)
  branched: false, // the run was resumed from a past step or imported: no longer "seed + steps"
  status: { step: 0, loss: null, lr: null, speed: null, sat: null },
  series: new Series(),
  speed: { spf: 10, fps: 20, valEvery: 1000 },
  help: false,
};
// Counters for tests and the benchmark (window.__train.stats): the draw loop's, and frames received.
let stats = { frames: 0 };
let loop = null; // the draw loop, created with the views below
let ready = false;
const countFrame = () => { stats.frames += 1; };

// ---- one action at a time ------------------------------------------------------
let chain = Promise.resolve();
let actionsQueued = 0;
function run(fn) {
  if (room.follow) { room.refuse(); return chain; } // the teacher's run: not ours to drive
  actionsQueued += 1;
  document.body.classList.add('busy');
  chain = chain.then(fn).catch(report).finally(() => {
    actionsQueued -= 1;
    if (!actionsQueued) document.body.classList.remove('busy');
  });
  return chain;
}

const report = (err) => reportError(err, 'train');

// ---- the session and its stream (session.js) ---------------------------------------------
const session = createSession(st, { run, report, invalidate, countFrame });
const { attach, newRun } = session;
// presenter mode (present.js): every panel redraws with its type scaled
const presenter = createPresenter(() => invalidate());
// ---- rooms (room.js): the teacher's Teach card, or this page following a room -------------
const room = createRoom(st, { session, presenter, invalidate, countFrame, onReady: () => { ready = true; } });

// ---- actions (actions.js) ---------------------------------------------------------------
const { actions, scrubTo, setSpeed, startRun } = createActions(st, { run, invalidate, session, room, presenter, renderHelp });

// ---- views ---------------------------------------------------------------------------------
const $ = (sel) => document.querySelector(sel);
const plots = {};
for (const name of ['loss', 'flow', 'bn', 'act', 'grad', 'params']) {
  // moved while training (cheap, axes with room to grow); redrawn when paused,
  // so a still figure has Plotly's own tight axes
  const move = () => st.playing;
  plots[name] = panelPlot($(`[data-plot=${name}]`),
    name === 'loss' ? { move, onClick: (ev) => ev.points && ev.points.length && scrubTo(ev.points[0].x) } : { move });
}
const scrub = createScrub($('[data-testid=scrub]'), {
  onScrub: scrubTo, onPrev: actions.scrubPrev, onNext: actions.scrubNext, onLatest: actions.latest,
});

const isOpen = (name) => { const p = $(`[data-panel=${name}]`); return p.tagName !== 'DETAILS' || p.open; };

// ---- the draw loop (drawloop.js): what each panel is drawn from --------------------------
const REDRAW_FPS = 20; // redraws a second at most while training (more if more frames are asked for)
// While training, drawing may take at most this share of the page's time: on a
// small machine the trainer needs the CPU more than the page needs 20 redraws.
const DUTY_PLAYING = 0.45;
const frameOf = () => (st.shown && showsView() ? st.shown.frame : null);
const mapsOf = memoLast((tensors) => tanhMaps(tensors && tensors['h.value']));
const plotEl = (name) => $(`[data-plot=${name}]`);
loop = createDrawLoop({
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
  canDraw: () => Boolean(st.session && ready),
  before: () => { renderStatus(); scrub.render(st); renderLink(); for (const fn of room.teachers) fn(st); },
});
stats = Object.assign(loop.stats, { frames: 0 });

function invalidate() {
  if (loop) loop.invalidate();
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
function showsView() {
  return st.view === null || (st.shown && st.shown.update === st.view);
}

function renderStatus() {
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

/** "Open this step in the stepper": the stepper rebuilds a run from its URL (seed, sizes, step). */
function renderLink() {
  const a = $('[data-testid=link-step]');
  const note = $('[data-field=link-note]');
  const sh = st.shown;
  if (!st.session || !sh || room.follow) { a.hidden = true; note.textContent = room.follow ? '' : 'Train a step first.'; return; }
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
function renderHelp() {
  const root = $('#help');
  if (!root.firstChild) {
    root.append(h('div', { class: 'help-card', role: 'document' },
      h('div', { class: 'help-head' }, h('h2', { id: 'help-title' }, 'Keyboard'),
        h('button', { type: 'button', class: 'icon', 'aria-label': 'Close help', onclick: actions.closeHelp }, '×')),
      h('table', { class: 'keys' }, h('tbody', {}, KEYS.map(([k, what]) => h('tr', {},
        h('td', {}, ...k.split(' ').map((x) => h('kbd', {}, x))), h('td', {}, what))))),
      h('p', { class: 'help-foot' }, 'The address bar names this run’s session: reload and the page picks it up where it was.')));
    root.addEventListener('click', (ev) => { if (ev.target === root) actions.closeHelp(); });
  }
  root.hidden = !st.help;
}

// ---- wiring -------------------------------------------------------------------------------------
$('[data-action=togglePlay]').addEventListener('click', actions.togglePlay);
$('[data-action=step]').addEventListener('click', actions.step);
$('[data-top-action=toggleHelp], [data-action=toggleHelp]').addEventListener('click', actions.toggleHelp);
$('select[name=spf]').addEventListener('change', (ev) => setSpeed({ spf: Number(ev.target.value) }));
$('select[name=fps]').addEventListener('change', (ev) => setSpeed({ fps: Number(ev.target.value) }));
$('input[name=val_every]').addEventListener('change', (ev) => {
  const v = Math.max(0, Math.min(1_000_000, Math.round(Number(ev.target.value) || 0)));
  ev.target.value = v;
  setSpeed({ valEvery: v });
});
bound($('form.config')); // min/max as the server allows them
$('form.config').addEventListener('submit', (ev) => {
  ev.preventDefault();
  startRun(readConfigForm());
});
for (const btn of document.querySelectorAll('[data-png]')) {
  btn.addEventListener('click', (ev) => {
    ev.preventDefault(); // a button inside <summary> must not fold its panel
    ev.stopPropagation();
    const name = btn.dataset.png;
    plots[name].png(`${name}-step${st.shown ? st.shown.update : st.status.step}`).catch(report);
  });
}
for (const d of document.querySelectorAll('details[data-panel]')) {
  d.addEventListener('toggle', () => { if (d.open) invalidate(); });
}
window.addEventListener('keydown', (ev) => {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const tag = ev.target && ev.target.tagName;
  if (tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA') {
    if (ev.key === 'Escape') ev.target.blur();
    return;
  }
  const map = { ' ': 'togglePlay', s: 'step', ArrowLeft: 'scrubPrev', ArrowRight: 'scrubNext', l: 'latest', p: 'togglePresent', '?': 'toggleHelp', Escape: 'closeHelp' };
  const action = map[ev.key.length === 1 ? ev.key.toLowerCase() : ev.key] || (ev.key === '?' ? 'toggleHelp' : null);
  if (!action) return;
  ev.preventDefault();
  if (ev.repeat && !['scrubPrev', 'scrubNext'].includes(action)) return;
  actions[action]();
});

// Test and benchmark hook: read-only views of the state and the counters.
window.__train = {
  get ready() { return ready; },
  get idle() { return ready && actionsQueued === 0; },
  get state() { return st; },
  get stats() { return stats; },
  /** per panel: figures moved (numbers only) and redrawn (Plotly.react) */
  get plotStats() { return Object.fromEntries(Object.entries(plots).map(([k, p]) => [k, { ...p.stats }])); },
  actions,
  setDrawing(on) { loop.setEnabled(on); },
  setMoving(on) { moving.on = on; },
};

if (room.follow) room.follow.start();
else run(async () => {
  // a reload may restore the form fields: the speed follows what they show
  st.speed = {
    spf: Number($('select[name=spf]').value), fps: Number($('select[name=fps]').value),
    valEvery: Math.max(0, Math.round(Number($('input[name=val_every]').value) || 0)),
  };
  const { cfg, session } = readUrl();
  if (session) {
    try {
      await attach(session);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
      toast('That session is gone (server restarted?): starting a new run.', true);
      await newRun(cfg);
    }
  } else {
    await newRun(cfg);
  }
  ready = true;
  invalidate();
});
