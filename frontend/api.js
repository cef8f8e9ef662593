// Every call to the server, one function each, shaped by server/schemas/.
// Same origin only: the page never talks to another host.

export class ApiError extends Error {
  constructor(status, detail, path) {
    const text = typeof detail === 'string' ? detail : JSON.stringify(detail);
    super(`${status} ${path}: ${text}`);
    this.status = status;
    this.detail = detail;
  }
}

// The server refuses a request that changes state without this header
// (server/guards/security.py): other sites' pages cannot send it without asking the
// server first, which it never allows. Sent on every call, reads too.
const HEADERS = { 'X-Requested-With': 'backprop-ninja' };

// What a person can do when no answer comes at all (fetch says only "Failed to fetch").
export const UNREACHABLE = 'The server is not reachable: it has stopped or the network is down. '
  + 'Start it again (backprop-ninja, or bash scripts/run.sh) and reload this page.';

/** fetch as JSON; a non-2xx answer throws ApiError with the server's detail,
 *  no answer at all ApiError(0, UNREACHABLE). */
export async function request(method, path, { json, text } = {}) {
  const init = { method, headers: { ...HEADERS } };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers['content-type'] = 'application/json';
  } else if (text !== undefined) {
    init.body = text;
    init.headers['content-type'] = 'text/plain; charset=utf-8';
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (_) {
    throw new ApiError(0, UNREACHABLE, path);
  }
  if (res.status === 204) return null;
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, body && body.detail !== undefined ? body.detail : res.statusText, path);
  return body;
}

const s = (id) => `/api/sessions/${encodeURIComponent(id)}`;

/** Fire-and-forget delete when the page goes away (keepalive: it outlives the page). */
export function dropSession(id) {
  try {
    fetch(s(id), { method: 'DELETE', keepalive: true, headers: { ...HEADERS } }).catch(() => {});
  } catch (_) { /* page closing */ }
}

export const api = {
  health: () => request('GET', '/api/health'),
  /** ConfigSpecPublic: every config field's default and bounds. */
  config: () => request('GET', '/api/config'),
  /** GraphPublic for a config (shapes and texts depend on it). */
  graph: (cfg) => {
    const q = new URLSearchParams({
      n_hidden: cfg.n_hidden, n_embd: cfg.n_embd, block_size: cfg.block_size,
      batch_size: cfg.batch_size, dtype: cfg.dtype, dataset: cfg.dataset,
    });
    return request('GET', `/api/graph?${q}`);
  },
  /** DatasetPublic of a stored word list ("default": the built-in names); 404 when this server has not got it. */
  dataset: (id) => request('GET', `/api/datasets/${encodeURIComponent(id)}`),
  uploadDataset: (file, onProgress) => uploadDataset(file, onProgress),
  createSession: (cfg) => request('POST', '/api/sessions', { json: cfg }),
  state: (id) => request('GET', s(id)),
  deleteSession: (id) => request('DELETE', s(id)),
  forward: (id) => request('POST', `${s(id)}/forward`),
  /** nodes: how many more gradients (null = all that remain). */
  backward: (id, mode, nodes) => request('POST', `${s(id)}/backward`, { json: { mode, nodes } }),
  back: (id) => request('POST', `${s(id)}/back`),
  update: (id) => request('POST', `${s(id)}/update`),
  train: (id, steps) => request('POST', `${s(id)}/train`, { json: { steps } }),
  /** HistoryPublic; `since`: only steps after it; thinned beyond `maxPoints`. */
  history: (id, since = -1, maxPoints = null) => {
    const q = new URLSearchParams({ since: String(since) });
    if (maxPoints) q.set('max_points', String(maxPoints));
    return request('GET', `${s(id)}/history?${q}`);
  },
  losses: (id, stats) => request('GET', `${s(id)}/losses?stats=${stats}`),
  samples: (id, k, seed) => request('POST', `${s(id)}/samples`, { json: { k, seed } }),
  snapshot: (id) => request('GET', `${s(id)}/snapshot`),
  importSnapshot: (snap) => request('POST', '/api/sessions/import', { json: snap }),
  // derive it yourself: the learner's code for d<node>, checked in the server's sandbox
  attempt: (id, node, code, mode) => request('POST', `${s(id)}/attempts`, { json: { node, code, mode } }),
  deriveOverview: (id, mode) => request('GET', `${s(id)}/derive/${mode}`),
  hint: (id, mode, node, level) => request('GET', `${s(id)}/derive/${mode}/${encodeURIComponent(node)}/hints/${level}`),
  answer: (id, mode, node) => request('GET', `${s(id)}/derive/${mode}/${encodeURIComponent(node)}/answer`),
  deriveTrain: (id, steps, codes) => request('POST', `${s(id)}/derive/train`, { json: { steps, codes } }),
  /** CellPublic: a whole pasted cell, every node of the mode's order with its verdict. */
  cell: (id, mode, code) => request('POST', `${s(id)}/cells`, { json: { mode, code } }),
  /** FiniteDiffPublic: central differences in float64 on a few sampled entries of d<node>; `code`: the learner's, or null. */
  finiteDifferences: (id, mode, node, code = null, samples = 6) => request('POST', `${s(id)}/finite-differences`,
    { json: { mode, node, code, samples } }),
  /** Fire-and-forget delete when the page goes away. */
  dropSession: (id) => dropSession(id),
  // rooms: a teacher's session followed live (server/routes/rooms.py)
  /** page: 'stepper' or 'train', the page followers open. */
  createRoom: (session, page = 'stepper') => request('POST', '/api/rooms', { json: { session, page } }),
  forkRoom: (code) => request('POST', `${room(code)}/fork`),
  /** The room's socket, as the teacher ('teach') or a follower ('follow'). */
  roomSocket: (code, role) => {
    const proto = window.location.protocol === 'https:' ? 'wss' : 'ws';
    return new WebSocket(`${proto}://${window.location.host}${room(code)}/${role}`);
  },
};

const room = (code) => `/api/rooms/${encodeURIComponent(code)}`;

const RETRY_MS = [500, 1000, 2000, 4000]; // after a socket closed: how long to wait before try n, then every 4 s
/** How long to wait before opening a socket again, after `tries` tries. */
export const retryDelay = (tries) => RETRY_MS[Math.min(tries, RETRY_MS.length - 1)];

// ---- the stream: WebSocket /api/sessions/{id}/stream (server/routes/stream.py)

/** "name.field", and ".branch" for a per-consumer part: how frames' tensors are keyed. */
export const tensorKey = (name, field, branch) => `${name}.${field}${branch ? `.${branch}` : ''}`;

/**
 * POST a word-list file as it is (its bytes: the server checks that they are
 * UTF-8 and names the file in its answer, as the command line does), with
 * the file's name to show. XMLHttpRequest, not fetch: only it reports how
 * much of the body has gone, for the page's progress bar.
 */
export function uploadDataset(file, onProgress = () => {}) {
  return new Promise((resolve, reject) => {
    const path = `/api/datasets?${new URLSearchParams({ name: file.name })}`;
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    for (const [k, v] of Object.entries(HEADERS)) xhr.setRequestHeader(k, v);
    xhr.setRequestHeader('content-type', 'text/plain');
    xhr.upload.onprogress = (ev) => onProgress(ev.loaded, ev.lengthComputable ? ev.total : file.size);
    xhr.upload.onload = () => onProgress(file.size, file.size);
    xhr.onerror = () => reject(new ApiError(0, UNREACHABLE, path));
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON: use the status text */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new ApiError(xhr.status, body && body.detail !== undefined ? body.detail : xhr.statusText, path));
    };
    xhr.send(file);
  });
}

/**
 * Decode one binary frame (server/schemas/, "the stream"):
 *   [u32 LE header length L][L bytes JSON FramePublic][pad to 4][float32 LE buffer]
 * Returns {frame, tensors}, tensors keyed by tensorKey -> {shape, data: Float32Array}
 * (views into the buffer, no copy).
 */
export function decodeFrame(buf) {
  const L = new DataView(buf).getUint32(0, true);
  const frame = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, L)));
  const start = 4 + L + ((4 - ((4 + L) % 4)) % 4);
  const all = new Float32Array(buf, start, (buf.byteLength - start) >> 2);
  const tensors = {};
  for (const ref of frame.tensors || []) {
    tensors[tensorKey(ref.name, ref.field, ref.branch)] = { shape: ref.shape, data: all.subarray(ref.offset, ref.offset + ref.length) };
  }
  return { frame, tensors };
}

/** The same for a JSON text frame (format "json"): nested lists flattened to float32. */
export function jsonFrame(frame) {
  const tensors = {};
  for (const ref of frame.tensors || []) {
    tensors[tensorKey(ref.name, ref.field, ref.branch)] = { shape: ref.shape, data: Float32Array.from(ref.data.flat(Infinity)) };
  }
  return { frame, tensors };
}

/** A flat tensor as nested arrays shaped like it (what the figures take). */
export function nested({ shape, data }) {
  const build = (dim, at) => {
    if (dim === shape.length) return data[at];
    const stride = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
    const out = new Array(shape[dim]);
    for (let i = 0; i < shape[dim]; i += 1) out[i] = build(dim + 1, at + i * stride);
    return out;
  };
  if (shape.length === 0) return data[0];
  if (shape.length === 1) return Array.from(data);
  return build(0, 0);
}

/**
 * A session's stream, for both pages: one message out, and back the
 * command's reply followed by the frame it caused, carrying the tensors
 * subscribed to: one round trip a command. Commands are answered in the order
 * they were sent; a replay's progress goes to the command's `onProgress`.
 * What answers no command goes to `on`: frame({frame, tensors}) of live
 * training, error(ApiError) when it stopped by itself, close() when the
 * socket closed under us (the page decides whether to open a new one).
 */
export class Stream {
  constructor(id, on = {}) {
    this.id = id;
    this.on = on;
    this.ws = null;
    this.queue = []; // commands waiting for their reply and frame, in order
    this.ok = false;
    this.opening = null;
  }

  /** Resolves once open (true), or false if it could not be opened. */
  open(timeoutMs = 5000) {
    if (this.opening) return this.opening;
    this.opening = new Promise((resolve) => {
      const proto = window.location.protocol === 'https:' ? 'wss' : 'ws';
      const ws = new WebSocket(`${proto}://${window.location.host}${s(this.id)}/stream`);
      ws.binaryType = 'arraybuffer';
      this.ws = ws;
      const timer = setTimeout(() => { ws.close(); resolve(false); }, timeoutMs);
      ws.onmessage = (ev) => this.onMessage(ev);
      // closed under a command: the server stopped (or the network went)
      ws.onclose = () => {
        clearTimeout(timer);
        resolve(false);
        const was = this.ok;
        this.fail(new ApiError(0, UNREACHABLE, 'stream'));
        if (was && this.on.close) this.on.close();
      };
      ws.onerror = () => {};
      ws.onopen = () => { clearTimeout(timer); this.ok = true; resolve(true); };
    });
    return this.opening;
  }

  onMessage(ev) {
    let m;
    let tensors = {};
    if (typeof ev.data === 'string') {
      try { m = JSON.parse(ev.data); } catch (_) { return; }
      if (m.type === 'frame') ({ frame: m, tensors } = jsonFrame(m));
    } else {
      ({ frame: m, tensors } = decodeFrame(ev.data));
    }
    const head = this.queue[0];
    const waiting = head && !('result' in head); // its reply has not come yet
    if (m.type === 'error' && (m.cmd === null || m.cmd === undefined)) {
      // said at connect when the session is gone (then the server closes): a 404 like HTTP's
      this.fail(new ApiError(404, m.message, `${s(this.id)}/stream`));
    } else if (m.type === 'error' && waiting && m.cmd === head.cmd) {
      this.queue.shift();
      head.reject(new ApiError(409, m.message, `stream ${m.cmd}`));
    } else if (m.type === 'error') { // live training stopped by itself
      if (this.on.error) this.on.error(new ApiError(409, m.message, `stream ${m.cmd}`));
    } else if (m.type === 'progress') {
      if (head && head.onProgress) head.onProgress(m);
    } else if (m.type === 'reply') {
      if (waiting) head.result = m.result;
    } else if (m.type === 'frame' && head && !waiting) {
      this.queue.shift();
      head.resolve({ result: head.result, frame: m, tensors });
    } else if (m.type === 'frame' && this.on.frame) {
      this.on.frame({ frame: m, tensors }); // live training's, or one sent before a command's reply
    }
  }

  fail(err) {
    this.ok = false;
    for (const q of this.queue.splice(0)) q.reject(err);
  }

  /** Send a command; resolves to {result, frame, tensors}. */
  send(cmd, { onProgress } = {}) {
    return new Promise((resolve, reject) => {
      if (!this.ok) {
        reject(new ApiError(0, 'the stream is not open', 'stream'));
        return;
      }
      this.queue.push({ cmd: cmd.cmd, resolve, reject, onProgress });
      try { this.ws.send(JSON.stringify(cmd)); } catch (err) { this.fail(err); }
    });
  }

  close() {
    this.ok = false;
    if (this.ws) { this.ws.onclose = null; this.ws.close(); }
    this.fail(new ApiError(0, 'the stream closed', 'stream'));
  }
}
