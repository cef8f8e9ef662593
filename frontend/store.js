// The one store: a single state object, replaced (never mutated) on every
// change, and the shareable part of it as a URL query string.
import { allowed, defaults, intFrom } from './configspec.js';

// the config fields this page shows and keeps in its URL, at the lecture's values
const SHOWN = ['seed', 'dtype', 'n_hidden', 'n_embd', 'block_size', 'batch_size', 'dataset'];
const LECTURE = defaults();
export const DEFAULT_CONFIG = Object.freeze(Object.fromEntries(SHOWN.map((k) => [k, LECTURE[k]])));

export function initialState(view = {}) {
  return {
    config: { ...DEFAULT_CONFIG, ...(view.config || {}) },
    datasetInfo: null, // DatasetPublic of config.dataset: its file name, size, vocabulary
    datasetMissing: null, // {id, view}: a link's word list this server has not got (datasets.js)
    mode: view.mode || 'atomic', // 'atomic' (exercise 1), 'lecture' (the same in the notebook's order) or 'fused' (exercises 2, 3)
    session: null, // {id, vocab, n_params}
    graph: null, // GraphPublic for this config
    step: 0, // parameter updates done
    loss: null, // of the current batch
    forwarded: false, // a batch has been drawn at this step
    batch: 0, // counts forwards: keys the tensor caches
    computed: [], // gradients known, in backward order
    remaining: [],
    next: null,
    checks: {}, // name -> {exact, approx, maxdiff}
    frame: null, // FramePublic: per-node summaries and edge flows
    selected: view.node || null, // node shown in the inspector
    pinned: Boolean(view.node), // false: the inspector follows the backward pass
    tensor: null, // TensorPublic of the inspected node
    showDiff: false, // |manual - autograd| heatmap
    rowData: null, // {Xb, Yb, probs, dlogits, fromServer} for the dlogits panel
    row: view.row ?? null, // selected dlogits row (batch index)
    sortByLoss: false,
    playing: false,
    present: Boolean(view.present),
    help: false,
    replay: null, // {done, total} while a shared link's training is replayed
    busy: false, // an action is in flight
    slow: false, // ... and has been for a while: shown (app.js SLOW_MS)
    error: null,
    deriveProgress: null, // Derive it's progress (derive.js owns it; a follower's room reports it)
  };
}

export function createStore(initial) {
  let state = initial;
  const listeners = new Set();
  return {
    get: () => state,
    /** Merge a patch (or patch(state)) and notify once. */
    set(patch) {
      const p = typeof patch === 'function' ? patch(state) : patch;
      state = { ...state, ...p };
      for (const f of listeners) f(state);
      return state;
    },
    subscribe(f) {
      listeners.add(f);
      return () => listeners.delete(f);
    },
  };
}

const INT = /^\d+$/;

/** The URL's view of the page: config, position, selection. */
export function toQuery(state) {
  const q = new URLSearchParams();
  const c = state.config;
  q.set('seed', c.seed);
  q.set('dtype', c.dtype);
  q.set('n_hidden', c.n_hidden);
  q.set('batch', c.batch_size);
  if (c.dataset !== 'default') q.set('dataset', c.dataset);
  q.set('mode', state.mode);
  q.set('step', state.step);
  // pos: how many backward steps are done; absent = no batch drawn yet. In the
  // lecture's order a node used twice takes two steps, so count the tape.
  const lecture = state.mode === 'lecture' && state.graph;
  if (state.forwarded) q.set('pos', lecture ? state.graph.lecture_order.length - state.remaining.length : state.computed.length);
  if (state.selected && state.pinned) q.set('node', state.selected);
  if (state.row !== null && state.row !== undefined) q.set('row', state.row);
  // presenter mode belongs to the screen, not to the view: `?present=1` opens
  // a page in it, but the address bar (and so Share and a reload) drops it
  return q.toString();
}

function intParam(q, key, lo, hi) {
  const v = q.get(key);
  if (v === null || !INT.test(v)) return undefined;
  const n = Number(v);
  return n >= lo && n <= hi ? n : undefined;
}

/** Parse a query string; anything malformed falls back to the default. */
export function fromQuery(search) {
  const q = new URLSearchParams(search);
  const config = {};
  const set = (key, value) => { if (value !== undefined) config[key] = value; };
  set('seed', intFrom('seed', q.get('seed')));
  if (allowed('dtype', q.get('dtype'))) config.dtype = q.get('dtype');
  set('n_hidden', intFrom('n_hidden', q.get('n_hidden')));
  set('batch_size', intFrom('batch_size', q.get('batch')));
  const ds = q.get('dataset');
  if (ds && /^[\w-]{1,64}$/.test(ds)) config.dataset = ds;
  const mode = ['atomic', 'lecture', 'fused'].includes(q.get('mode')) ? q.get('mode') : undefined;
  return {
    config,
    mode,
    step: intParam(q, 'step', 0, 1_000_000),
    pos: intParam(q, 'pos', 0, 1000),
    node: q.get('node') && /^[\w]{1,40}$/.test(q.get('node')) ? q.get('node') : null,
    row: intParam(q, 'row', 0, (config.batch_size ?? DEFAULT_CONFIG.batch_size) - 1) ?? null,
    present: q.get('present') === '1',
    empty: [...q.keys()].length === 0,
  };
}
