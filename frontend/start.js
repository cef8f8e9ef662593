// A view's server half, started at once: its word list, graph and session,
// the session's stream and the replay that brings it to the view's step
// (server/sessions/replay.py). index.html loads this module on its own, ahead of the
// page's other modules (its imports are three small ones), so a shared
// link's replay is running on the server while the page's modules,
// plotly.js and the first drawing load (sent after them, it went out
// 0.8-1.0 s after navigation; now 0.4-0.6 s, benchmarks/replay_bench.py on
// a loaded 2-core machine, most of it the navigation itself). app.js takes this
// first build over (`first`) and starts every later one (Reset, Apply, a
// word list) with `startBuild` too.
import { ApiError, Stream, UNREACHABLE, api } from './api.js';
import { followCode } from './followbar.js';
import { DEFAULT_CONFIG, fromQuery } from './store.js';

/**
 * Send what building `view` takes, without waiting for any answer it does
 * not need: each part is a promise, awaited (and its error reported) by
 * whoever takes the build over. `progress(f)` hands the replay's progress
 * to `f`, the latest at once if some came before.
 */
export function startBuild(view) {
  const config = { ...DEFAULT_CONFIG, ...view.config };
  const mode = view.mode || 'atomic';
  const steps = view.step || 0;
  // pos absent: no batch drawn at that step yet (a page opened bare draws one)
  const pos = view.pos !== undefined || view.empty ? view.pos || 0 : null;
  let latest = null;
  let listener = null;
  // the session first and alone: the replay waits for it, and the server
  // answers it sooner when nothing else is asked at the same time
  const session = api.createSession(config);
  const stream = session.then(async (s) => {
    const st = new Stream(s.id);
    if (!(await st.open())) throw new ApiError(0, UNREACHABLE, 'stream');
    return st;
  });
  const onProgress = (p) => { latest = p; if (listener) listener(p); };
  const replayed = stream.then((st) => st.send({ cmd: 'replay', steps, mode, pos }, { onProgress }));
  // the rest once the replay is on its way (or the session was refused, say for its word list)
  const sent = stream.catch(() => null);
  const dataset = sent.then(() => api.dataset(config.dataset));
  const graph = sent.then(() => api.graph(config));
  const state = Promise.all([session, sent]).then(([s]) => api.state(s.id));
  // a link whose word list is gone fails all but `dataset`: the notice says so, nothing else must
  for (const p of [dataset, graph, session, state, stream, replayed]) p.catch(() => {});
  return {
    view, config, mode, steps, pos, dataset, graph, session, state, stream, replayed,
    progress(f) { listener = f; if (latest) f(latest); },
    /** A build that failed on the page's side: its stream and session go (the page keeps its old ones). */
    cancel() {
      stream.then((st) => st.close(), () => {});
      session.then((s) => api.dropSession(s.id), () => {});
    },
  };
}

/** The page's own address, started as soon as this module runs (a follower's page has no session of its own). */
export const first = followCode() ? null : startBuild(fromQuery(window.location.search));
