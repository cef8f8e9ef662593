// Every call to the server, one function each, shaped by server/schemas.py.
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
// (server/security.py): other sites' pages cannot send it without asking the
// server first, which it never allows. Sent on every call, reads too.
const HEADERS = { 'X-Requested-With': 'backprop-ninja' };

/** fetch as JSON; a non-2xx answer throws ApiError with the server's detail. */
export async function request(method, path, { json, text } = {}) {
  const init = { method, headers: { ...HEADERS } };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers['content-type'] = 'application/json';
  } else if (text !== undefined) {
    init.body = text;
    init.headers['content-type'] = 'text/plain; charset=utf-8';
  }
  const res = await fetch(path, init);
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
  createDataset: (text) => request('POST', '/api/datasets', { text }),
  createSession: (cfg) => request('POST', '/api/sessions', { json: cfg }),
  state: (id) => request('GET', s(id)),
  deleteSession: (id) => request('DELETE', s(id)),
  forward: (id) => request('POST', `${s(id)}/forward`),
  /** nodes: how many more gradients (null = all that remain). */
  backward: (id, mode, nodes) => request('POST', `${s(id)}/backward`, { json: { mode, nodes } }),
  back: (id) => request('POST', `${s(id)}/back`),
  update: (id) => request('POST', `${s(id)}/update`),
  train: (id, steps) => request('POST', `${s(id)}/train`, { json: { steps } }),
  tensor: (id, name, reference = false) =>
    request('GET', `${s(id)}/tensors/${encodeURIComponent(name)}${reference ? '?reference=true' : ''}`),
  frame: (id) => request('GET', `${s(id)}/frame`),
  // derive it yourself: the learner's code for d<node>, checked in the server's sandbox
  attempt: (id, node, code, mode) => request('POST', `${s(id)}/attempts`, { json: { node, code, mode } }),
  deriveOverview: (id, mode) => request('GET', `${s(id)}/derive/${mode}`),
  hint: (id, mode, node, level) => request('GET', `${s(id)}/derive/${mode}/${encodeURIComponent(node)}/hints/${level}`),
  answer: (id, mode, node) => request('GET', `${s(id)}/derive/${mode}/${encodeURIComponent(node)}/answer`),
  deriveTrain: (id, steps, codes) => request('POST', `${s(id)}/derive/train`, { json: { steps, codes } }),
  /** Fire-and-forget delete when the page goes away. */
  dropSession: (id) => dropSession(id),
  // rooms: a teacher's session followed live (server/routes/rooms.py)
  createRoom: (session) => request('POST', '/api/rooms', { json: { session } }),
  forkRoom: (code) => request('POST', `${room(code)}/fork`),
  /** The room's socket, as the teacher ('teach') or a follower ('follow'). */
  roomSocket: (code, role) => {
    const proto = window.location.protocol === 'https:' ? 'wss' : 'ws';
    return new WebSocket(`${proto}://${window.location.host}${room(code)}/${role}`);
  },
};

const room = (code) => `/api/rooms/${encodeURIComponent(code)}`;

/**
 * The session's WebSocket, used for the stepper: one message out, and back the
 * command's reply followed by the frame it caused: one round trip instead of
 * two HTTP calls. Frames come as JSON (we subscribe to no tensors). Any
 * failure leaves `ok` false and the caller uses HTTP instead.
 */
export class Stream {
  constructor(id) {
    this.id = id;
    this.ws = null;
    this.queue = []; // commands waiting for their reply and frame, in order
    this.ok = false;
    this.opening = null;
  }

  open(timeoutMs = 3000) {
    if (this.opening) return this.opening;
    this.opening = new Promise((resolve) => {
      let ws;
      try {
        const proto = window.location.protocol === 'https:' ? 'wss' : 'ws';
        ws = new WebSocket(`${proto}://${window.location.host}${s(this.id)}/stream`);
      } catch (_) {
        resolve(false);
        return;
      }
      this.ws = ws;
      const timer = setTimeout(() => { ws.close(); resolve(false); }, timeoutMs);
      ws.onmessage = (ev) => this.onMessage(ev);
      ws.onclose = () => this.fail(new ApiError(0, 'stream closed', 'stream'));
      ws.onerror = () => {};
      ws.onopen = () => {
        this.send({ cmd: 'subscribe', nodes: [], format: 'json' }).then(() => {
          clearTimeout(timer);
          this.ok = true;
          resolve(true);
        }, () => { clearTimeout(timer); resolve(false); });
      };
    });
    return this.opening;
  }

  onMessage(ev) {
    if (typeof ev.data !== 'string') return; // binary frames: not subscribed to
    let m;
    try { m = JSON.parse(ev.data); } catch (_) { return; }
    const head = this.queue[0];
    if (!head) return; // e.g. frames of live training: not ours to wait for
    if (m.type === 'reply') head.result = m.result;
    else if (m.type === 'error') {
      this.queue.shift();
      head.reject(new ApiError(409, m.message, `stream ${m.cmd || ''}`));
    } else if (m.type === 'frame' && 'result' in head) {
      this.queue.shift();
      head.resolve({ result: head.result, frame: m });
    }
  }

  fail(err) {
    this.ok = false;
    for (const q of this.queue.splice(0)) q.reject(err);
  }

  /** Send a command; resolves to {result, frame}. */
  send(cmd) {
    return new Promise((resolve, reject) => {
      this.queue.push({ resolve, reject });
      try { this.ws.send(JSON.stringify(cmd)); } catch (err) { this.fail(err); }
    });
  }

  close() {
    this.ok = false;
    if (this.ws) { this.ws.onclose = null; this.ws.close(); }
    this.fail(new ApiError(0, 'stream closed', 'stream'));
  }
}
