// Train and watch: the entry, which wires the page's parts. One state object
// (`st`) owned here and handed to each part: session.js (the session, its
// stream, the frames and the history it brings), actions.js (what the user
// does), render.js (the panels and their draw loop, the status line), room.js
// (Teach, or following a room); keyboard and buttons here. Views are pure
// "state -> figure" functions drawn by a requestAnimationFrame loop that only
// runs when something new arrived, so the latest frame always wins.
//
// What "update U" shows, everywhere on this page: the batch update U trained
// on, its gradients, and the parameters around it. Live frames come from the
// trainer right after update U; a step on screen while paused (Step, or the
// history slider) is the server's frame at step U-1 with batch U drawn and
// backpropagated, which the next Play or Step then applies.
import { reportError, toast } from '../toast.js';
import { ApiError } from '../api.js';
import { bound } from '../configspec.js';
import { moving } from '../livefig.js';
import { createActions } from './actions.js';
import { createScrub } from './history.js';
import { createPresenter } from './present.js';
import { createPanels, renderHelp, renderLink, renderStatus } from './render.js';
import { createRoom } from './room.js';
import { Series } from './series.js';
import { createSession } from './session.js';
import { readConfigForm, readUrl } from './settings.js';

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
let loop = null; // the draw loop (render.js), created below
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
// presenter mode (present.js): every panel redraws with its type scaled
const presenter = createPresenter(() => invalidate());
// ---- rooms (room.js): the teacher's Teach card, or this page following a room -------------
const room = createRoom(st, { session, presenter, invalidate, countFrame, onReady: () => { ready = true; } });

// ---- actions (actions.js) ---------------------------------------------------------------
const { actions, scrubTo, setSpeed, startRun } = createActions(st, {
  run, invalidate, session, room, presenter, renderHelp: () => renderHelp(st, actions.closeHelp),
});

// ---- what the page draws (render.js) ------------------------------------------------------
const $ = (sel) => document.querySelector(sel);
const scrub = createScrub($('[data-testid=scrub]'), {
  onScrub: scrubTo, onPrev: actions.scrubPrev, onNext: actions.scrubNext, onLatest: actions.latest,
});

const panels = createPanels(st, {
  presenter,
  onLossClick: scrubTo,
  canDraw: () => Boolean(st.session && ready),
  before: () => { renderStatus(st); scrub.render(st); renderLink(st, room.follow); for (const fn of room.teachers) fn(st); },
});
const { plots } = panels;
loop = panels.loop;
stats = Object.assign(loop.stats, { frames: 0 });

function invalidate() {
  if (loop) loop.invalidate();
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
  const { cfg, session: id } = readUrl();
  if (id) {
    try {
      await session.attach(id);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
      toast('That session is gone (server restarted?): starting a new run.', true);
      await session.newRun(cfg);
    }
  } else {
    await session.newRun(cfg);
  }
  ready = true;
  invalidate();
});
