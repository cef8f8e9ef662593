// Wiring: the store, the server calls behind each action, the views, the
// keyboard and the URL. Views are pure state -> figure; this file owns effects.
import { reportError, toast } from './toast.js';
import { ApiError, Stream, api } from './api.js';
import { createControls } from './controls.js';
import { createDerive } from './derive.js';
import { createDlogitsView } from './dlogits.js';
import { createFollow } from './follow.js';
import { createGraphView, gradNameOf } from './graph.js';
import { actionFor, createHelpView } from './help.js';
import { createInspectorView, inspectedNode } from './inspector.js';
import { switchMessage } from './modes.js';
import { DEFAULT_CONFIG, createStore, fromQuery, initialState, toQuery } from './store.js';
import { createTapeView } from './tape.js';
import { createTeach } from './teach.js';

const PLAY_MS = 600;
const EXACT_REPLAY_MAX = 100; // replay steps one by one up to here, then /train

const view0 = fromQuery(window.location.search);
const store = createStore(initialState(view0));
const get = store.get;
const sid = () => get().session.id;
let ready = false;
let playTimer = null;
let follow = null; // set below on a page opened with ?follow=CODE (follow.js)

// ---- serial actions: key presses run in order, one server round trip at a time
let chain = Promise.resolve();
let queued = 0;
function run(fn, { drop = false } = {}) {
  if (follow && follow.watching()) { follow.refuse(); return chain; } // the teacher's session: not ours
  if (drop && queued > 2) return chain;
  queued += 1;
  chain = chain.then(async () => {
    store.set({ busy: true });
    try {
      await fn();
    } catch (err) {
      report(err);
      if (err instanceof ApiError && err.status === 404 && /sessions/.test(err.message)) {
        try {
          await boot(fromQuery(window.location.search), 'The session was gone (server restarted?): rebuilt it from the address bar.');
        } catch (again) {
          report(again); // the chain must survive: later actions still run
        }
      }
    } finally {
      queued -= 1;
      store.set({ busy: queued > 0 });
    }
  });
  return chain;
}

const report = (err) => reportError(err, 'backprop-ninja');

// ---- commands: over the session's stream when it is open (reply and frame in
// one round trip), else over HTTP (command, then GET /frame)
let stream = null;

function http(cmd) {
  const id = sid();
  if (cmd.cmd === 'forward') return api.forward(id);
  if (cmd.cmd === 'backward') return api.backward(id, cmd.mode, cmd.nodes);
  if (cmd.cmd === 'back') return api.back(id);
  if (cmd.cmd === 'update') return api.update(id);
  throw new Error(`no HTTP route for ${cmd.cmd}`);
}

/** Run a command and show the frame it leads to (unless frame: false). */
async function command(cmd, patch = {}, { frame = true } = {}) {
  if (stream && stream.ok) {
    try {
      const { result, frame: f } = await stream.send(cmd);
      if (frame) applyFrame(f, patch);
      return result;
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 0) throw err;
      // the stream closed under us: carry on over HTTP
    }
  }
  const result = await http(cmd);
  if (frame) await refreshFrame(patch);
  return result;
}

async function openStream(id) {
  if (stream) stream.close();
  stream = typeof WebSocket === 'undefined' ? null : new Stream(id);
  if (stream && !(await stream.open())) stream = null;
}

async function refreshFrame(patch = {}) {
  applyFrame(await api.frame(sid()), patch);
}

function applyFrame(f, patch = {}) {
  store.set({
    frame: f, step: f.step, loss: f.loss, computed: f.computed, remaining: f.remaining,
    next: f.next, checks: f.checks, mode: f.mode, ...patch,
  });
  afterChange();
}

/** Load what the visible panels need, without holding up the graph. */
function afterChange() {
  loadRowData();
  loadTensor();
}

async function loadTensor() {
  const s = get();
  if (!s.session || !s.session.id) return; // following: the room sends the tensor
  const shown = inspectedNode(s);
  const name = s.graph ? gradNameOf(s.graph, shown) : shown;
  const node = s.graph && s.graph.nodes.find((n) => n.name === name);
  if (!node) return;
  if (!s.forwarded && node.kind !== 'param') {
    if (s.tensor) store.set({ tensor: null });
    return;
  }
  const hasGrad = s.computed.includes(name);
  // autograd's gradient only while |manual - autograd| is shown: a third less to send per step
  const withRef = hasGrad && s.showDiff && node.kind !== 'data';
  const key = `${s.session.id}|${s.step}|${s.batch}|${s.mode}|${name}|${hasGrad}|${withRef}`;
  if (s.tensorKey === key) return;
  store.set({ tensorKey: key });
  try {
    const t = await api.tensor(s.session.id, name, withRef);
    if (get().tensorKey === key) store.set({ tensor: t });
  } catch (err) {
    if (get().tensorKey === key) report(err);
  }
}

async function loadRowData() {
  const s = get();
  if (!s.session || !s.session.id) return; // following: the room sends the rows
  if (!s.forwarded) {
    if (s.rowData) store.set({ rowData: null });
    return;
  }
  const hasGrad = s.computed.includes('logits');
  const key = `${s.session.id}|${s.step}|${s.batch}|${s.mode}|${hasGrad}`;
  if (s.rowKey === key) return;
  const prev = s.rowData && s.rowData.batchKey === `${s.session.id}|${s.step}|${s.batch}` ? s.rowData : null;
  store.set({ rowKey: key });
  try {
    const [Xb, Yb, probs] = prev ? [prev.Xb, prev.Yb, prev.probs] : await Promise.all(
      ['Xb', 'Yb', 'probs'].map((n) => api.tensor(s.session.id, n).then((t) => t.value)));
    const dlogits = hasGrad ? (await api.tensor(s.session.id, 'logits')).grad : null;
    if (get().rowKey !== key) return;
    const row = get().row;
    store.set({
      rowData: { Xb, Yb, probs, dlogits, batchKey: `${s.session.id}|${s.step}|${s.batch}` },
      row: row !== null && row >= Yb.length ? null : row,
    });
  } catch (err) {
    if (get().rowKey === key) report(err);
  }
}

// ---- boot: build (or rebuild) the view a URL describes --------------------
async function boot(view, message) {
  stopPlay();
  try {
    await build(view);
  } finally {
    // a refused config (say n_hidden out of range) leaves the old session in place
    ready = Boolean(get().session);
  }
  syncUrl();
  if (message) toast(message);
}

async function build(view) {
  ready = false;
  const old = get().session;
  const config = { ...DEFAULT_CONFIG, ...view.config };
  const mode = view.mode || 'atomic';
  store.set({ busy: true });
  const [graph, session] = await Promise.all([api.graph(config), api.createSession(config)]);
  const id = session.id;
  const steps = view.step || 0;
  if (steps > EXACT_REPLAY_MAX) {
    // Long histories: the fused trainer draws the same batches; rounding may
    // differ from the stepped run in the last bits.
    for (let left = steps; left > 0; left -= 20000) await api.train(id, Math.min(left, 20000));
  } else {
    for (let k = 0; k < steps; k += 1) {
      await api.forward(id);
      await api.backward(id, mode, null);
      await api.update(id);
    }
  }
  const forward = view.pos !== undefined || view.empty;
  let loss = null;
  if (forward) {
    loss = (await api.forward(id)).loss;
    await api.backward(id, mode, view.pos || 0);
  }
  const st = await api.state(id);
  await openStream(id);
  store.set({
    ...initialState({ mode, node: view.node, row: view.row, present: view.present || get().present }),
    config: { ...config, ...pick(session.config, Object.keys(DEFAULT_CONFIG)) },
    session: { id, vocab: st.vocab, n_params: st.n_params },
    graph, mode, forwarded: forward, loss, batch: get().batch + 1,
    selected: view.node || null, pinned: Boolean(view.node), row: view.row ?? null,
    help: get().help,
  });
  if (old) api.dropSession(old.id); // only now: a failed rebuild keeps the old one
  await refreshFrame({ mode });
}

// ---- rooms: a follower's own copy of the teacher's session (follow.js) ------------
async function adopt(session, patch) {
  const st = await api.state(session.id);
  await openStream(session.id);
  store.set({ ...patch, session: { id: session.id, vocab: st.vocab, n_params: st.n_params }, playing: false });
  await refreshFrame();
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
  const patch = { forwarded: true, batch: get().batch + 1, tensor: null, tensorKey: null };
  const known = get().frame && get().frame.mode === mode;
  const r = await command({ cmd: 'forward' }, patch, { frame: known });
  if (!known) await command({ cmd: 'backward', mode, nodes: 0 }, { ...patch, loss: r.loss });
}

async function doNext(n = 1) {
  const s = get();
  if (!s.forwarded) return doForward();
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
  await command({ cmd: 'update' }, {
    forwarded: false, rowData: null, rowKey: null, tensor: null, tensorKey: null,
  });
}

const actions = {
  forward: () => run(async () => {
    if (get().forwarded) {
      toast('This batch is already drawn: step backward (→), or update (u) to move to the next batch.');
      return;
    }
    await doForward();
  }),
  next: () => run(() => doNext(1), { drop: true }),
  back: () => run(async () => {
    if (!get().computed.length) return;
    await command({ cmd: 'back' });
  }, { drop: true }),
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
    const text = await file.text();
    const ds = await api.createDataset(text);
    const s = get();
    await boot({ config: { ...s.config, dataset: ds.id }, mode: s.mode, step: 0, pos: 0, present: s.present });
    toast(`Loaded ${ds.words.toLocaleString('en-US')} words, ${ds.vocab.length} characters.`);
  }),
  select: (name) => {
    const s = get();
    if (s.selected === name && s.pinned) store.set({ selected: null, pinned: false });
    else store.set({ selected: name, pinned: true });
    loadTensor();
  },
  follow: () => { store.set({ selected: null, pinned: false }); loadTensor(); },
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
  toggleDiff: () => { store.set({ showDiff: !get().showDiff }); loadTensor(); },
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
const helpView = createHelpView(document.getElementById('help'), { onClose: actions.closeHelp });
document.querySelector('#dlogits [data-action=sort]').addEventListener('click', actions.toggleSort);
createDerive(document.getElementById('derive'), document.getElementById('derive-toggle'), { store, actions });
createTeach(document.querySelector('[data-testid=teach]'), { store });
follow = createFollow({ store, adopt, release });

// The graph first: it is what a key press is waiting for. The panels below
// follow once it is on screen, with whatever the state is by then.
let panelsQueued = false;
function render(state) {
  controls.render(state);
  helpView.render(state);
  tapeView.render(state);
  const drawn = graphView.render(state);
  if (!panelsQueued) {
    panelsQueued = true;
    drawn.then(() => {
      panelsQueued = false;
      inspectorView.render(get());
      dlogitsView.render(get());
    });
  }
  if (ready) syncUrlSoon();
}
store.subscribe(render);
let resizeTimer = null;
window.addEventListener('resize', () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(() => render(get()), 120); });

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

if (follow) follow.start(); else run(() => boot(view0));
