// Wiring: the store, the server calls behind each action, the views, the
// keyboard and the URL. Views are pure state -> figure; this file owns effects.
import { reportError, toast } from './toast.js';
import { ApiError, Stream, UNREACHABLE, api, nested, tensorKey } from './api.js';
import { createControls } from './controls.js';
import { createDatasetView } from './datasets.js';
import { createDerive } from './derive.js';
import { createDlogitsView } from './dlogits.js';
import { createFollow } from './follow.js';
import { createGraphView, gradNameOf } from './graph.js';
import { actionFor, createHelpView } from './help.js';
import { createInspectorView, inspectedNode } from './inspector.js';
import { switchMessage } from './modes.js';
import { createQueue } from './queue.js';
import { createReplayView } from './replay.js';
import { first, startBuild } from './start.js';
import { DEFAULT_CONFIG, createStore, fromQuery, initialState, toQuery } from './store.js';
import { createTapeView } from './tape.js';
import { loadPlotly } from './theme.js';
import { createTeach } from './teach.js';

const PLAY_MS = 600;

const view0 = fromQuery(window.location.search);
const store = createStore(initialState(view0));
const get = store.get;
const NO_SESSION = 'Nothing to step yet: upload the word list again or use the built-in names (the notice at the top).';
const sid = () => {
  if (!get().session) throw new Error(NO_SESSION); // a link whose word list this server has not got
  return get().session.id;
};
let ready = false;
let playTimer = null;
let follow = null; // set below on a page opened with ?follow=CODE (follow.js)

// ---- serial actions (queue.js): in order, one server round trip at a time
const { run, press } = createQueue(store, {
  refused: () => {
    if (!follow || !follow.watching()) return false;
    follow.refuse(); // the teacher's session: not ours
    return true;
  },
  failed: async (err) => {
    report(err);
    if (err instanceof ApiError && err.status === 404 && /sessions/.test(err.message)) {
      try {
        await boot(fromQuery(window.location.search), 'The session was gone (server restarted?): rebuilt it from the address bar.');
      } catch (again) {
        report(again); // the chain must survive: later actions still run
      }
    }
  },
});

const report = (err) => reportError(err, 'backprop-ninja');

// ---- the stream: every stepping command goes over it, and each frame brings
// what the inspector and the dlogits panel show (server/schemas/ InspectSpec)
let stream = null;
const ROW_NODES = ['Xb', 'Yb', 'probs', 'logits']; // the dlogits panel: the batch, probs and dlogits

/** What the inspector asks of every frame: the pinned node, or follow the backward pass. */
function inspectSpec(s) {
  const node = s.pinned && s.selected && s.graph ? gradNameOf(s.graph, s.selected) : null;
  return { node, diff: Boolean(s.showDiff) };
}

async function openStream(id, spec) {
  if (stream) stream.close();
  const st = new Stream(id);
  if (!(await st.open())) throw new ApiError(0, UNREACHABLE, 'stream');
  stream = st;
  stream.spec = JSON.stringify(spec);
  return stream.send({ cmd: 'subscribe', nodes: ROW_NODES, format: 'binary', inspect: spec });
}

/** Send a command; the stream is opened again if it closed (a network blip). */
async function send(cmd, opts) {
  if (!stream || !stream.ok) await openStream(sid(), inspectSpec(get()));
  return stream.send(cmd, opts);
}

/** Run a command and show the frame it leads to (unless frame: false). */
async function command(cmd, patch = {}, { frame = true } = {}) {
  const { result, frame: f, tensors } = await send(cmd);
  if (frame) applyFrame(f, tensors, patch);
  return result;
}

/** Tell the server what the inspector shows now; its frame follows. */
async function resubscribe() {
  const spec = inspectSpec(get());
  if (stream && stream.ok && stream.spec === JSON.stringify(spec)) return;
  const { frame: f, tensors } = await send({ cmd: 'subscribe', nodes: ROW_NODES, format: 'binary', inspect: spec });
  stream.spec = JSON.stringify(spec);
  applyFrame(f, tensors);
}

function applyFrame(f, tensors, patch = {}) {
  const next = {
    frame: f, step: f.step, loss: f.loss, computed: f.computed, remaining: f.remaining,
    next: f.next, checks: f.checks, mode: f.mode, ...patch,
  };
  store.set({ ...next, ...inspected(f, tensors, next), ...rows(f, tensors, next) });
}

/** The inspector's tensor from a frame, the previous object while nothing it holds changed. */
function inspected(f, tensors, next) {
  const s = get();
  const name = f.inspected;
  const value = name && tensors[tensorKey(name, 'value')];
  if (!value) return { tensor: null, tensorKey: null };
  const grad = tensors[tensorKey(name, 'grad')];
  const diff = tensors[tensorKey(name, 'absdiff')];
  const batch = next.batch ?? s.batch;
  // a lecture-order node changes when its second part arrives: the place is part of the key
  const place = f.mode === 'lecture' ? f.remaining.length : '';
  const key = `${f.step}|${batch}|${f.mode}|${name}|${Boolean(grad)}|${Boolean(diff)}|${place}|${s.session && s.session.id}`;
  if (s.tensorKey === key && s.tensor) return {};
  const parts = Object.keys(tensors).filter((k) => k.startsWith(`${name}.contribution.`));
  // nested arrays only when a figure is built from them (not for a frame
  // that the next one replaces before anything is drawn)
  const once = (f) => { let done = false; let v; return () => { if (!done) { v = f(); done = true; } return v; }; };
  const val = once(() => nested(value));
  const gr = once(() => (grad ? nested(grad) : null));
  const df = once(() => (diff ? nested(diff) : null));
  const contributions = once(() => (parts.length
    ? Object.fromEntries(parts.map((k) => [k.split('.')[2], nested(tensors[k])])) : null));
  return {
    tensorKey: key,
    tensor: {
      name, shape: value.shape,
      get value() { return val(); }, get grad() { return gr(); }, get absdiff() { return df(); },
      get contributions() { return contributions(); },
    },
  };
}

/** The dlogits panel's batch, kept while the batch and dlogits' presence stay. */
function rows(f, tensors, next) {
  const s = get();
  const forwarded = next.forwarded ?? s.forwarded;
  if (!forwarded || !tensors['probs.value']) return s.rowData ? { rowData: null, rowKey: null } : {};
  const dl = tensors['logits.grad'];
  const batchKey = `${s.session && s.session.id}|${f.step}|${next.batch ?? s.batch}`;
  const key = `${batchKey}|${Boolean(dl)}`;
  if (s.rowKey === key && s.rowData) return {};
  const prev = s.rowData && s.rowData.batchKey === batchKey ? s.rowData : null;
  const Yb = prev ? prev.Yb : nested(tensors['Yb.value']);
  const row = next.row !== undefined ? next.row : s.row;
  return {
    rowKey: key,
    rowData: {
      Xb: prev ? prev.Xb : nested(tensors['Xb.value']), Yb, probs: prev ? prev.probs : nested(tensors['probs.value']),
      dlogits: dl ? nested(dl) : null, batchKey,
    },
    row: row !== null && row >= Yb.length ? null : row,
  };
}

// ---- boot: build (or rebuild) the view a URL describes --------------------
// The server's half of a build (session, stream, replay) is sent at once by
// start.js; the page's half waits for its answers here.
async function boot(view, message, started = startBuild(view)) {
  stopPlay();
  const dataset = await lookupDataset(started);
  if (!dataset) return; // the notice offers to upload it again or use the built-in names
  try {
    await build(started);
  } finally {
    ready = Boolean(get().session);
    if (get().replay) store.set({ replay: null });
    loadPlotly().catch(report); // (a failed build draws what it can)
  }
  store.set({ datasetInfo: dataset, datasetMissing: null });
  syncUrl();
  if (message) toast(message);
}

/** The build's word list as the server has it; null (and the notice shown) when it has not got it. */
async function lookupDataset(started) {
  try {
    return await started.dataset;
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404) throw err;
    store.set({ datasetMissing: { id: started.config.dataset, view: started.view } });
    return null;
  }
}

async function build(started) {
  ready = false;
  const old = get().session;
  const { view, config, mode, steps, pos } = started;
  // plotly.js is parsed while the server replays: asked for once the replay is on its way
  started.stream.then(() => loadPlotly().catch(report), () => {});
  // the graph is drawn meanwhile, under the replay's progress
  let parts;
  try {
    parts = await Promise.all([started.session, started.graph, started.state, started.stream]);
  } catch (err) {
    started.cancel(); // a refused config (say n_hidden out of range) leaves the old session in place
    throw err;
  }
  const [session, graph, st0, st] = parts;
  const id = session.id;
  if (stream) stream.close();
  stream = st;
  // the inspector's subscription goes after the replay: its frame is the one drawn
  const spec = { node: view.node ? gradNameOf(graph, view.node) : null, diff: false };
  stream.spec = JSON.stringify(spec);
  const subscribed = stream.send({ cmd: 'subscribe', nodes: ROW_NODES, format: 'binary', inspect: spec });
  store.set({
    ...initialState({ mode, node: view.node, row: view.row, present: view.present || get().present }),
    config: { ...config, ...pick(session.config, Object.keys(DEFAULT_CONFIG)) },
    session: { id, vocab: st0.vocab, n_params: st0.n_params },
    graph, mode, batch: get().batch + 1,
    selected: view.node || null, pinned: Boolean(view.node), row: view.row ?? null,
    help: get().help, replay: steps ? { done: 0, total: steps } : null,
    busy: get().busy, slow: get().slow, // the build is an action still under way (run)
  });
  if (old) api.dropSession(old.id); // only now: a failed rebuild keeps the old one
  started.progress((p) => store.set({ replay: { done: p.done, total: p.total, shared: p.shared } }));
  const [, { frame: f, tensors }] = await Promise.all([started.replayed, subscribed]);
  applyFrame(f, tensors, { mode, forwarded: pos !== null, replay: null });
}

// ---- rooms: a follower's own copy of the teacher's session (follow.js) ------------
async function adopt(session, patch) {
  const st = await api.state(session.id);
  store.set({ ...patch, session: { id: session.id, vocab: st.vocab, n_params: st.n_params }, playing: false });
  const { frame: f, tensors } = await openStream(session.id, inspectSpec(get()));
  applyFrame(f, tensors);
  ready = true;
}

function release() {
  stopPlay();
  ready = false;
  if (stream) { stream.close(); stream = null; }
  const s = get().session;
  if (s && s.id) api.dropSession(s.id);
}

function pick(o, keys) {
  return Object.fromEntries(keys.filter((k) => k in o).map((k) => [k, o[k]]));
}

// ---- actions -----------------------------------------------------------------
async function doForward() {
  const mode = get().mode; // the server hears of a mode only through backward
  const patch = { forwarded: true, batch: get().batch + 1 };
  const known = get().frame && get().frame.mode === mode;
  const r = await command({ cmd: 'forward' }, patch, { frame: known });
  if (!known) await command({ cmd: 'backward', mode, nodes: 0 }, { ...patch, loss: r.loss });
}

async function doNext(n = 1) {
  if (!get().forwarded) {
    await doForward(); // the first press draws the batch, the others step
    if (n === 1) return undefined;
    n -= 1;
  }
  const s = get();
  if (!s.remaining.length) {
    toast('Backward pass complete: press u to update the parameters.');
    return undefined;
  }
  // One redraw per press: the frame that follows carries the same checks.
  return command({ cmd: 'backward', mode: s.mode, nodes: n }, s.pinned ? {} : { selected: null });
}

async function doUpdate() {
  const s = get();
  if (!s.forwarded) {
    toast('Nothing to update: press f to draw a batch and run the forward pass first.');
    return;
  }
  if (s.remaining.length) await command({ cmd: 'backward', mode: s.mode, nodes: null }, {}, { frame: false });
  await command({ cmd: 'update' }, { forwarded: false });
}

const actions = {
  forward: () => run(async () => {
    if (get().forwarded) {
      toast('This batch is already drawn: step backward (→), or update (u) to move to the next batch.');
      return;
    }
    await doForward();
  }),
  next: () => press('next', doNext),
  back: () => press('back', async (n) => {
    // the server undoes one node a command: a run of presses is that many, in order
    for (let k = 0; k < n && get().computed.length; k += 1) await command({ cmd: 'back' });
  }),
  toEnd: () => run(() => doNext(null)),
  update: () => run(doUpdate),
  fullStep: () => run(async () => {
    if (!get().forwarded) await doForward();
    await doUpdate();
    await doForward();
  }),
  reset: () => run(async () => {
    stopPlay();
    const s = get();
    await boot({ config: s.config, mode: s.mode, step: 0, pos: 0, present: s.present });
  }),
  togglePlay: () => (get().playing ? stopPlay() : startPlay()),
  setMode: (mode) => run(async () => {
    const s = get();
    if (mode === s.mode) return;
    if (s.forwarded) {
      // nodes 0: the server keeps the place (what the old view finished) in the new view
      await command({ cmd: 'backward', mode, nodes: 0 }, { selected: s.pinned ? s.selected : null, pinned: s.pinned });
    } else {
      store.set({ mode });
    }
    toast(switchMessage(s, get()));
  }),
  toggleMode: () => actions.setMode(get().mode === 'atomic' ? 'fused' : 'atomic'),
  applyConfig: (cfg) => run(async () => {
    const s = get();
    await boot({ config: { ...s.config, ...cfg }, mode: s.mode, step: 0, pos: 0, present: s.present });
  }),
  upload: (file) => run(async () => {
    const ds = await datasetView.upload(file);
    const s = get();
    // the link's own list again: open the link as it is; another list: start on it
    const same = s.datasetMissing && s.datasetMissing.id === ds.id;
    const view = same ? s.datasetMissing.view
      : { config: { ...s.config, dataset: ds.id }, mode: s.mode, step: 0, pos: 0, present: s.present };
    datasetView.building(ds);
    try {
      await boot(view);
    } finally {
      datasetView.done();
    }
    const other = s.datasetMissing && !same ? ' (other words than the link\'s list: a fresh start)' : '';
    toast(`Loaded ${ds.name}: ${ds.words.toLocaleString('en-US')} words, ${ds.vocab.length} characters${other}.`);
  }),
  useDefault: () => actions.applyConfig({ dataset: 'default' }),
  select: (name) => {
    const s = get();
    if (s.selected === name && s.pinned) store.set({ selected: null, pinned: false });
    else store.set({ selected: name, pinned: true });
    run(resubscribe);
  },
  follow: () => { store.set({ selected: null, pinned: false }); run(resubscribe); },
  selectRow: (row) => store.set({ row }),
  moveRow: (ev) => {
    const s = get();
    if (!s.rowData) return;
    const n = s.rowData.Yb.length;
    const order = s.sortByLoss ? sortedRows(s.rowData) : [...Array(n).keys()];
    const at = s.row === null ? -1 : order.indexOf(s.row);
    const next = ev && ev.key === 'ArrowUp' ? Math.max(0, at - 1) : Math.min(n - 1, at + 1);
    store.set({ row: order[next] });
  },
  toggleSort: () => store.set({ sortByLoss: !get().sortByLoss }),
  toggleDiff: () => { store.set({ showDiff: !get().showDiff }); run(resubscribe); },
  togglePresent: () => { store.set({ present: !get().present }); window.dispatchEvent(new Event('resize')); },
  toggleHelp: () => store.set({ help: !get().help }),
  closeHelp: () => store.set({ help: false }),
  share: async () => {
    try {
      await navigator.clipboard.writeText(window.location.href);
      toast('Link copied: it reopens exactly this view.');
    } catch (_) {
      toast('Copy the address bar: it holds exactly this view.');
    }
  },
};

function sortedRows(rd) {
  const loss = rd.probs.map((p, i) => -Math.log(p[rd.Yb[i]]));
  return loss.map((l, i) => i).sort((a, b) => loss[b] - loss[a] || a - b);
}

// ---- play: one node every PLAY_MS; at the end update, forward, go on -------
function startPlay() {
  store.set({ playing: true });
  const tick = () => {
    if (!get().playing) return;
    run(async () => {
      const s = get();
      if (!s.forwarded) await doForward();
      else if (s.remaining.length) await doNext(1);
      else { await doUpdate(); await doForward(); }
    }).then(() => { if (get().playing) playTimer = setTimeout(tick, PLAY_MS); });
  };
  playTimer = setTimeout(tick, 0);
}

function stopPlay() {
  clearTimeout(playTimer);
  if (get().playing) store.set({ playing: false });
}

// ---- views -----------------------------------------------------------------------
const graphView = createGraphView(document.getElementById('graph'), document.getElementById('graph-labels'), {
  onSelect: (n) => actions.select(n),
});
const tapeView = createTapeView(document.getElementById('tape'), { onSelect: (n) => actions.select(n) });
const inspectorView = createInspectorView(document.getElementById('inspector'), {
  onFollow: actions.follow, onToggleDiff: actions.toggleDiff,
});
const dlogitsView = createDlogitsView(document.getElementById('dlogits'), { onRow: actions.selectRow });
const controls = createControls(document.getElementById('controls'), document.getElementById('status'), actions);
const datasetView = createDatasetView({
  label: document.querySelector('[data-testid=dataset-name]'),
  toDefault: document.querySelector('[data-testid=dataset-default]'),
  notice: document.querySelector('[data-testid=dataset-missing]'),
  bar: document.querySelector('[data-testid=upload-progress]'),
}, { onUpload: (file) => actions.upload(file), onDefault: () => actions.useDefault() });
const helpView = createHelpView(document.getElementById('help'), { onClose: actions.closeHelp });
const replayView = createReplayView(document.getElementById('replay'));
document.querySelector('#dlogits [data-action=sort]').addEventListener('click', actions.toggleSort);
createDerive(document.getElementById('derive'), document.getElementById('derive-toggle'), { store, actions });
createTeach(document.querySelector('[data-testid=teach]'), { store });
follow = createFollow({ store, adopt, release, select: actions.select });

// The graph and the inspector in one go: a key press waits for both (the
// inspected node's tensors come in the frame that moves the graph), and one
// task paints them together; drawing the inspector after the graph's paint
// had it wait for that frame too (~10 ms, more under load). The dlogits
// panel below follows once both are on screen, with the state as it is then.
let panelsQueued = false;
let rendered = null;
function render(state) {
  // a change of `busy` alone shows nothing (`slow` does): no render
  if (rendered && Object.keys(state).every((k) => k === 'busy' || state[k] === rendered[k])) return;
  rendered = state;
  controls.render(state);
  datasetView.render(state);
  helpView.render(state);
  replayView.render(state);
  tapeView.render(state);
  const drawn = Promise.all([graphView.render(state), inspectorView.render(state)]);
  if (!panelsQueued) {
    panelsQueued = true;
    drawn.then(afterPaint).then(() => {
      panelsQueued = false;
      dlogitsView.render(get());
    });
  }
  if (ready) syncUrlSoon();
}
store.subscribe(render);
// a callback of requestAnimationFrame runs before the paint, a timeout set there after it
const afterPaint = () => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
let resizeTimer = null;
window.addEventListener('resize', () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(() => { rendered = null; render(get()); }, 120); });

// ---- URL: the shareable part of the state, always current ---------------------
let urlTimer = null;
function syncUrl() {
  const q = follow ? follow.query() : toQuery(get());
  if (window.location.search.slice(1) !== q) window.history.replaceState(null, '', `?${q}`);
}
function syncUrlSoon() {
  clearTimeout(urlTimer);
  urlTimer = setTimeout(syncUrl, 60);
}

// ---- keyboard --------------------------------------------------------------------
window.addEventListener('keydown', (ev) => {
  const action = actionFor(ev);
  if (!action) return;
  if (action === 'blur') { ev.target.blur(); return; }
  ev.preventDefault(); // Space must not also click the focused button
  if (ev.repeat && !['next', 'back', 'moveRow'].includes(action)) return;
  actions[action](ev);
});

window.addEventListener('pagehide', () => {
  if (stream) stream.close();
  const s = get().session;
  if (s && s.id) api.dropSession(s.id);
});

// Test and console hook: read-only view of the state, and the actions.
window.__bpn = { get state() { return get(); }, actions, get ready() { return ready; } };

if (follow) {
  loadPlotly().catch(report); // the room's first state brings no command of ours to overlap with
  follow.start();
} else run(() => boot(view0, undefined, first));
