// The HTTP calls this page makes, one function each, shaped by server/schemas.py.
// Same origin only. Errors carry the server's readable `detail`.
import { ApiError, dropSession, request as baseRequest } from '../api.js';

const request = (method, path, json) => baseRequest(method, path, { json });

const s = (id) => `/api/sessions/${encodeURIComponent(id)}`;

export const http = {
  /** GraphPublic: node kinds and the backward order, for the graph strip. */
  graph: (cfg) => request('GET', `/api/graph?${new URLSearchParams({
    n_hidden: cfg.n_hidden, n_embd: cfg.n_embd, block_size: cfg.block_size,
    batch_size: cfg.batch_size, dataset: cfg.dataset,
  })}`),
  create: (cfg) => request('POST', '/api/sessions', cfg),
  state: (id) => request('GET', s(id)),
  frame: (id) => request('GET', `${s(id)}/frame`),
  /** HistoryPublic; `since`: only steps after it; thinned beyond `maxPoints`. */
  history: (id, since = -1, maxPoints = null) => {
    const q = new URLSearchParams({ since: String(since) });
    if (maxPoints) q.set('max_points', String(maxPoints));
    return request('GET', `${s(id)}/history?${q}`);
  },
  losses: (id, stats) => request('GET', `${s(id)}/losses?stats=${stats}`),
  samples: (id, k, seed) => request('POST', `${s(id)}/samples`, { k, seed }),
  snapshot: (id) => request('GET', `${s(id)}/snapshot`),
  importSnapshot: (snap) => request('POST', '/api/sessions/import', snap),
  drop: (id) => dropSession(id),
};

export { ApiError };
