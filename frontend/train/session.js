// The training page's session and its stream: attach a session (any state:
// fresh, trained, imported), open its stream and open it again when it is
// lost, start a new run; the frames the stream brings into the page's state;
// the history polled while training. Every call to the server is api.js's.
import { toast } from '../toast.js';
import { ApiError, Stream, UNREACHABLE, api, retryDelay } from '../api.js';
import { Series } from './series.js';
import { DEFAULTS, fillConfigForm, syncUrl } from './settings.js';

const SUBSCRIBE = ['h', 'bnvar_inv', 'bngain', 'bnbias']; // full tensors each frame (binary)
const POLL_MS = 1000; // history while playing
const FIRST_LOAD_POINTS = 20000; // a long run's history is thinned on load...
const RECENT_FULL = 400; // ...but its newest steps come at full resolution

/**
 * st: the page's state (app.js); run(fn): one action at a time; report(err);
 * invalidate(): something to redraw; countFrame(): a live frame arrived.
 */
export function createSession(st, { run, report, invalidate, countFrame }) {
  /** Drop everything of the old session and show `id` (any state: fresh, trained, imported). */
  async function attach(id, { branched = false } = {}) {
    stopPolling();
    if (st.stream) st.stream.close();
    st.stream = null;
    const state = await api.state(id);
    const config = state.config;
    const same = st.session && ['n_hidden', 'n_embd', 'block_size', 'batch_size', 'dataset'].every((k) => st.session.config[k] === config[k]);
    if (!same || !st.graph) st.graph = await api.graph(config);
    Object.assign(st, {
      session: { id, config }, playing: false, shown: null, view: null, branched,
      pending: state.computed.length > 0 && state.remaining.length === 0,
      status: { step: state.step, loss: state.loss, lr: null, speed: null, sat: null },
    });
    st.series = new Series();
    await loadHistory();
    fillConfigForm(config);
    syncUrl(st.session);
    await connect();
    invalidate();
  }

  async function loadHistory() {
    const id = st.session.id;
    const first = await api.history(id, -1, FIRST_LOAD_POINTS);
    st.series.addHistory(first);
    const last = first.points.length ? first.points[first.points.length - 1].step : 0;
    if (first.points.length >= FIRST_LOAD_POINTS && last > FIRST_LOAD_POINTS) {
      st.series.addHistory(await api.history(id, last - RECENT_FULL));
    }
  }

  let reconnects = 0; // tries since a stream last opened
  async function connect() {
    const stream = new Stream(st.session.id, { frame: liveFrame, error: streamError, close: () => lost(stream) });
    if (!(await stream.open())) throw new ApiError(0, UNREACHABLE, 'stream');
    const r = await stream.send({ cmd: 'subscribe', nodes: SUBSCRIBE, format: 'binary' });
    st.stream = stream; // only now: one that closed before this was never ours
    reconnects = 0;
    pausedFrame(r);
    if (!r.frame.tanh && !st.pending && !r.frame.computed.length) await showNewest(r.frame.step);
  }

  /** News from the stream that answers no command: live training stopped on an error. */
  function streamError(err) {
    if (st.playing) { // training stopped by itself (its worker died, ...)
      st.playing = false;
      stopPolling();
      run(resumed);
      invalidate();
    }
    report(err);
  }

  /** After training stopped by itself: the session resumes at the last step
   *  the server saw, which may be a little before the last one drawn here. */
  async function resumed() {
    const state = await api.state(st.session.id);
    st.series.truncateAfter(state.step);
    st.status.step = state.step;
    await poll();
  }

  /** The stream closed under us: open a new one, again and again while the
   *  server is away (a restart can take a while); a server that is back
   *  without the session: a new run. */
  function lost(stream) {
    if (stream !== st.stream) return;
    st.playing = false;
    stopPolling();
    invalidate();
    // a few quick tries, then the sentence that says what to do (trying goes on)
    if (reconnects < 3) toast('Connection lost: reconnecting…', true);
    else toast(UNREACHABLE, true, 60000);
    setTimeout(() => run(async () => {
      try { await connect(); } catch (err) {
        if (!(err instanceof ApiError) || ![0, 404].includes(err.status)) throw err;
        if (err.status === 0) { lost(stream); return; } // still away
        toast('The session is gone (server restarted?): starting a new run.', true);
        await newRun(st.session.config);
      }
    }), retryDelay(reconnects++));
  }

  async function newRun(cfg) {
    const body = { ...DEFAULTS, ...cfg };
    delete body.vocab_size;
    const created = await api.createSession(body);
    const old = st.session;
    await attach(created.id);
    if (old && old.id !== created.id) api.dropSession(old.id);
  }

  // ---- frames ------------------------------------------------------------------------------
  function show(frame, tensors, update, live) {
    st.shown = { frame, tensors, update, live };
    invalidate();
  }

  function setStatus(frame) {
    const s = st.status;
    s.step = Math.max(frame.step, s.step);
    s.loss = frame.loss;
    s.lr = frame.lr;
    s.speed = frame.steps_per_sec;
    if (frame.tanh) s.sat = frame.tanh.saturated;
  }

  /** A frame pushed by live training: the newest wins. */
  function liveFrame({ frame, tensors }) {
    if (!st.playing || !frame.playing) return; // one sent before a pause was answered
    countFrame();
    setStatus(frame);
    st.series.addFrame(frame);
    show(frame, tensors, frame.step, true);
    invalidate();
  }

  /** The frame answering a command while paused. */
  function pausedFrame({ frame, tensors }) {
    st.status.step = frame.step;
    st.status.lr = frame.lr;
    st.status.speed = null;
    if (frame.tanh) {
      st.status.loss = frame.loss;
      st.status.sat = frame.tanh.saturated;
      // the frame says whose batch it shows: the next update's, or the one just made
      show(frame, tensors, frame.shows === 'next' ? frame.step + 1 : frame.step, frame.shows === 'update');
    }
    invalidate();
  }

  // ---- history polling while playing ------------------------------------------------------
  let pollTimer = null;
  let polling = false;
  function startPolling() {
    stopPolling();
    pollTimer = setInterval(() => { if (!polling) poll(); }, POLL_MS);
  }
  function stopPolling() {
    clearInterval(pollTimer);
    pollTimer = null;
  }
  async function poll() {
    if (!st.session) return;
    polling = true;
    const id = st.session.id;
    try {
      const hist = await api.history(id, st.series.polledUntil);
      if (st.session.id === id) {
        st.series.addHistory(hist);
        invalidate();
      }
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) report(err);
    } finally {
      polling = false;
    }
  }

  // ---- the server's step and the one on screen ---------------------------------------------
  const cmd = (msg) => st.stream.send(msg);

  /** Apply the update whose batch is on screen (after the slider or at load). */
  async function applyPending() {
    if (!st.pending) return;
    const from = st.status.step; // the server sits at this step with the next batch drawn
    if (from + 1 < st.series.lastStep) st.branched = true; // a past step: its future is replaced
    st.series.truncateAfter(from);
    const r = await cmd({ cmd: 'update' });
    st.pending = false;
    st.status.step = r.result.step;
  }

  /** Show update n whole: seek to the step before it, which draws its batch
   *  again and backprops it, then apply it again. The generator ends where
   *  training left it, so Play, Step and a snapshot go on unchanged. */
  async function showNewest(n) {
    const [k0, k1] = st.series.fullSteps;
    if (n < 1 || n - 1 < k0 || n - 1 > k1) return;
    const seek = await cmd({ cmd: 'seek', step: n - 1 });
    st.pending = true;
    pausedFrame(seek);
    await applyPending();
    await poll();
  }

  return { attach, newRun, cmd, applyPending, showNewest, show, setStatus, pausedFrame, poll, startPolling, stopPolling };
}
