// The training page's actions: play, pause, one step, the history slider,
// the after-training panel (evaluate, sample, export and import a snapshot)
// and the speed. Each goes through `run`, one at a time; a follower's are
// refused (room.js). Every call to the server is api.js's, on the session's
// stream (session.js) or by HTTP.
import { toast } from '../toast.js';
import { h } from '../theme.js';
import { api } from '../api.js';
import { createAfter } from './after.js';

/**
 * st: the page's state (app.js); run(fn): one action at a time; invalidate();
 * session: session.js's; room: room.js's; presenter: present.js's;
 * renderHelp(): draws the help overlay for st.help.
 * Returns {actions (by name, for the keys and buttons), scrubTo(u), setSpeed(patch), startRun(cfg)}.
 */
export function createActions(st, { run, invalidate, session, room, presenter, renderHelp }) {
  // the after-training panel (after.js): its buttons are four of these actions
  const after = createAfter(document.querySelector('[data-panel=after]'), {
    onEvaluate: () => run(doEvaluate),
    onSample: (k, seed) => run(() => doSample(k, seed)),
    onExport: () => run(doExport),
    onImport: (file) => run(() => doImport(file)),
  });

  async function doPlay() {
    if (st.playing) return;
    await session.applyPending();
    st.view = null;
    const r = await session.cmd({ cmd: 'play', steps_per_frame: st.speed.spf, fps: st.speed.fps, val_every: st.speed.valEvery });
    st.playing = true;
    session.pausedFrame(r);
    session.startPolling();
    invalidate();
  }

  /** Stop training. `exact`: then show the newest update whole (the live frame
   *  on screen is a few steps old). */
  async function doPause({ exact = true } = {}) {
    if (!st.playing) return;
    st.playing = false;
    session.stopPolling();
    const r = await session.cmd({ cmd: 'pause' });
    if (r.result.error) toast(r.result.error, true);
    session.pausedFrame(r);
    await session.poll();
    if (exact && !r.frame.tanh) await session.showNewest(r.frame.step);
    invalidate();
  }

  /** One update, shown with its batch: draw it, backprop it (fused), show, apply. */
  async function doStep() {
    await doPause({ exact: false });
    await session.applyPending();
    st.view = null;
    await session.cmd({ cmd: 'forward' });
    const r = await session.cmd({ cmd: 'backward', mode: 'fused', nodes: null });
    st.pending = true;
    session.pausedFrame(r);
    const u = await session.cmd({ cmd: 'update' });
    st.pending = false;
    st.status.step = u.result.step;
    if (st.shown) st.shown.update = u.result.step; // the frame is the batch of this update
    await session.poll();
    invalidate();
  }

  // The slider: seek to the newest value asked for, one request at a time.
  let scrubTarget = null;
  let scrubbing = false;
  function scrubTo(u) {
    if (room.follow) { room.refuse(); return; }
    if (!st.session) return;
    const last = st.series.lastStep;
    scrubTarget = Math.max(Math.min(1, last), Math.min(last, Math.round(u)));
    st.view = scrubTarget;
    invalidate();
    if (!scrubbing) run(scrubLoop);
  }

  async function scrubLoop() {
    scrubbing = true;
    try {
      await doPause({ exact: false });
      while (scrubTarget !== null) {
        const u = scrubTarget;
        scrubTarget = null;
        const [k0, k1] = st.series.fullSteps;
        if (u - 1 < k0 || u - 1 > k1 || u < 1) { invalidate(); continue; } // summary only
        const r = await session.cmd({ cmd: 'seek', step: u - 1 });
        st.pending = true;
        session.pausedFrame(r);
        if (st.view !== u && scrubTarget === null) scrubTarget = st.view;
      }
    } finally {
      scrubbing = false;
    }
  }

  function scrubBy(d) {
    const base = st.view ?? (st.shown ? st.shown.update : st.series.lastStep);
    scrubTo(base + d);
  }

  function doLatest() {
    const last = st.series.lastStep;
    if (st.playing || last < 1) return;
    scrubTo(last);
    run(async () => {
      if (st.view === last) st.view = null; // the newest step, not a point in the past
      invalidate();
    });
  }

  async function doEvaluate() {
    const id = st.session.id;
    const btn = document.querySelector('[data-action=evaluate]');
    btn.disabled = true;
    try {
      const running = await api.losses(id, 'running');
      const calibrated = await api.losses(id, 'calibrated');
      after.showLosses({ running, calibrated });
    } finally {
      btn.disabled = false;
    }
  }

  async function doSample(k, seed) {
    const r = await api.samples(st.session.id, k, seed);
    after.showSamples(r.samples);
  }

  async function doExport() {
    const snap = await api.snapshot(st.session.id);
    const blob = new Blob([JSON.stringify(snap)], { type: 'application/json' });
    const a = h('a', { href: URL.createObjectURL(blob), download: `backprop-ninja-step${snap.step}.json` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    const note = st.pending ? ' (the batch on screen is not in it: the file holds the step before its update)' : '';
    after.snapshotInfo(`Exported step ${snap.step.toLocaleString('en-US')}: ${Object.keys(snap.params).length} parameter tensors${note}.`);
  }

  async function doImport(file) {
    let snap;
    try {
      snap = JSON.parse(await file.text());
    } catch (err) {
      throw new Error(`${file.name} is not JSON: ${err.message}`);
    }
    await doPause({ exact: false });
    const created = await api.importSnapshot(snap);
    await session.attach(created.id, { branched: true });
    after.snapshotInfo(`Imported ${file.name}: resumed at step ${st.status.step.toLocaleString('en-US')} in a new session.`);
    toast(`Resumed at step ${st.status.step.toLocaleString('en-US')}.`);
  }

  function setSpeed(patch) {
    Object.assign(st.speed, patch);
    if (!st.playing) return;
    // fps and steps/frame apply at once; the val interval belongs to the trainer: restart it
    run(async () => {
      if ('valEvery' in patch) await doPause({ exact: false });
      st.playing = false;
      await doPlay();
    });
  }

  const actions = {
    togglePlay: () => run(() => (st.playing ? doPause() : doPlay())),
    step: () => run(doStep),
    scrubPrev: () => scrubBy(-1),
    scrubNext: () => scrubBy(1),
    latest: doLatest,
    toggleHelp: () => { st.help = !st.help; renderHelp(); },
    closeHelp: () => { st.help = false; renderHelp(); },
    togglePresent: () => presenter.toggle(),
  };

  /** A new run from the settings form's config. */
  function startRun(cfg) {
    run(async () => { await doPause({ exact: false }); await session.newRun(cfg); toast('New run: fresh parameters from the seed.'); });
  }

  return { actions, scrubTo, setSpeed, startRun };
}
