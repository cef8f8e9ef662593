// The follower's side of a room: the stepper opened with ?follow=CODE shows
// the teacher's session live instead of one of its own. Each RoomState from
// the room's socket becomes the store's state (the views draw it as they
// draw the teacher's own page); "Explore on my own" forks the teacher's
// session at its exact state into one of ours, which the stepper then drives
// as usual; "Back to the teacher" drops it and shows the room again.
import { api } from './api.js';
import { followRoom } from './followbar.js';
import * as P from './deriveprogress.js';
import { DEFAULT_CONFIG } from './store.js';
import { toast } from './toast.js';

const NICK_KEY = 'bpn-nickname';
const KIND = /^[a-z0-9_]{1,40}$/; // a mistake's kind as the room takes it (server/schemas/rooms.py)
const MAX_KINDS = 16;

/** This learner's "Derive it" progress in the page's mode, for the teacher's
 * class view: only the nodes touched (the rest count as not started). */
export function progressReport(progress, state) {
  const mode = state.mode === 'fused' ? 'fused' : 'atomic';
  const order = state.graph ? (mode === 'fused' ? state.graph.fused_order : state.graph.backward_order) : [];
  const nodes = {};
  for (const n of order) {
    const e = P.entry(progress, mode, n);
    if (!e.attempts && !e.hints && !e.revealed) continue;
    const last = e.history[0];
    // every wrong try counts, the first one too once the node is solved: the class view
    // tells the teacher what the class got wrong here, not only who is still stuck
    const wrong = e.history.filter((a) => a.verdict !== 'correct');
    nodes[n] = {
      status: P.status(progress, mode, n), hints: Math.min(e.hints, 9),
      mistake: e.failing && last && KIND.test(last.mistake || '') ? last.mistake : null,
      mistakes: [...new Set(wrong.map((a) => a.mistake).filter((k) => KIND.test(k || '')))].slice(0, MAX_KINDS),
      wrong: Math.min(wrong.length, 99),
    };
  }
  return { cmd: 'progress', mode, nodes };
}

/** A RoomState (and the room's graph) as a store patch. */
export function followState(m, graph) {
  const f = m.frame;
  const v = m.view;
  const config = Object.fromEntries(Object.keys(DEFAULT_CONFIG).map((k) => [k, m.config[k]]));
  return {
    config, graph, frame: f, step: f.step, loss: f.loss, computed: f.computed, remaining: f.remaining,
    next: f.next, checks: f.checks, mode: f.mode, forwarded: m.forwarded,
    session: { id: null, vocab: m.vocab, n_params: m.n_params },
    batch: m.version, selected: v.selected, pinned: v.pinned, tensor: m.tensor, tensorKey: null,
    rowData: m.rows ? { ...m.rows, batchKey: `room|${m.version}` } : null, rowKey: null,
    row: v.row, sortByLoss: v.sort_by_loss, showDiff: v.show_diff, present: v.present, playing: v.playing,
  };
}

/** The prompt a follower sees when the teacher turns "Derive it" on or off:
 * {text, tryIt}. derive: the teacher's Derive it; node: the
 * teacher's node; watching: this page shows the teacher's session. */
export function promptFor(derive, node, watching) {
  if (derive) {
    return {
      text: `Your teacher turned on Derive it at d${node}: write the gradient yourself, on your own copy of the session.`,
      tryIt: true,
    };
  }
  return { text: `Your teacher turned Derive it off${watching ? '' : '; your own copy and progress stay yours'}.`, tryIt: false };
}

export function createFollow({ store, adopt, release, select }) {
  let graph = null;
  let last = null; // the newest RoomState
  let watching = true;
  let busy = false;
  let reported = '';
  let teacherDerive = null; // the teacher's "Derive it" as last seen (null: no state yet)
  let prompt = false; // the prompt is up
  const room = followRoom(`
    <label class="follow-nick">your name <input data-testid="nickname" maxlength="24" placeholder="optional" autocomplete="nickname"></label>
    <span class="follow-actions">
      <button type="button" class="primary small" data-testid="explore" title="Your own copy of the teacher's session, to step yourself">Explore on my own</button>
      <button type="button" class="small" data-testid="back-to-teacher" hidden>Back to the teacher</button>
      <a class="button-link" href="/" data-testid="own-stepper" hidden>Open the stepper on your own</a>
    </span>
    <div class="follow-prompt" data-testid="derive-prompt" role="status" hidden>
      <p data-testid="derive-prompt-text"></p>
      <span class="follow-prompt-actions">
        <button type="button" class="primary" data-testid="try-it">Try it yourself</button>
        <button type="button" data-testid="prompt-dismiss">Not now</button>
      </span>
    </div>`, {
    what: () => `${watching ? 'Following the teacher' : 'Exploring on your own'} · room ${code}`,
    draw,
    message: (m) => {
      // graph and state come as binary UTF-8 JSON (the same bytes for every follower)
      if (m.type === 'graph') graph = m.graph;
      else if (m.type === 'state') { last = m; heed(m.view); showLast(); }
    },
    open: () => {
      if (nick.value.trim()) room.send({ cmd: 'nickname', nickname: nick.value.trim() });
      report(true); // a new socket: the server forgot this follower's progress
    },
  });
  if (!room) return null;
  const { code, el } = room;
  const nick = el('nickname');
  try { nick.value = window.localStorage.getItem(NICK_KEY) || ''; } catch (_) { /* no storage */ }

  // exploring with "Derive it" on: the teacher sees the class's progress (anonymously)
  function report(force = false) {
    const s = store.get();
    if (watching || !s.deriveOn || !s.graph) return;
    const msg = JSON.stringify(progressReport(s.deriveProgress || P.load(window.localStorage), s));
    if (msg === reported && !force) return;
    reported = msg;
    room.send(JSON.parse(msg));
  }
  let seen = null;
  store.subscribe((s) => {
    const key = [s.derive, s.deriveOn, s.mode, s.deriveProgress];
    if (seen && key.every((v, i) => v === seen[i])) return;
    seen = key;
    report();
  });
  nick.addEventListener('change', () => {
    try { window.localStorage.setItem(NICK_KEY, nick.value.trim()); } catch (_) { /* no storage */ }
    room.send({ cmd: 'nickname', nickname: nick.value.trim() });
  });

  // The teacher turned "Derive it" on or off: say so, once per change. A
  // late joiner's first state counts as a change to on (never to off).
  function heed(view) {
    const on = Boolean(view.derive);
    if (on === teacherDerive || (teacherDerive === null && !on)) { teacherDerive = on; return; }
    teacherDerive = on;
    prompt = !room.ended;
  }

  function teacherNode() {
    return (last && (last.view.inspect || last.view.selected)) || 'loss';
  }

  function drawPrompt() {
    const box = el('derive-prompt');
    const p = prompt && !room.ended && last ? promptFor(teacherDerive, teacherNode(), watching) : null;
    box.hidden = !p;
    if (!p) return;
    el('derive-prompt-text').textContent = p.text;
    el('try-it').hidden = !p.tryIt;
    el('prompt-dismiss').textContent = p.tryIt ? 'Not now' : 'OK';
  }

  function draw() {
    const { ended } = room;
    drawPrompt();
    el('explore').hidden = !watching || !last || Boolean(ended);
    el('back-to-teacher').hidden = watching || Boolean(ended);
    el('own-stepper').hidden = !(watching && ended); // the room is over: the last state stays, read only
    nick.parentElement.hidden = Boolean(ended);
    document.body.classList.toggle('following', watching);
    store.set({ room: { code, watching, teacher: room.teacher, ended, version: last ? last.version : 0 } });
  }

  function showLast() {
    if (!watching || !last || !graph) return;
    const wasPresent = store.get().present;
    store.set(followState(last, graph));
    if (wasPresent !== last.view.present) window.dispatchEvent(new Event('resize'));
    keepInView(last.frame);
  }

  // On a phone the graph is wider than the screen (room.css): keep the
  // backward pass's place in view. It runs right to left, so the share of
  // nodes still to do is about where it is.
  function keepInView(f) {
    const wrap = document.querySelector('.graph-wrap');
    const spare = wrap ? wrap.scrollWidth - wrap.clientWidth : 0;
    if (spare <= 0) return;
    const total = f.computed.length + f.remaining.length;
    wrap.scrollLeft = total ? spare * (f.remaining.length / total) : spare;
  }

  /** Fork the teacher's session into one of ours (patch: more for the store); true once it is ours. */
  async function explore(patch = {}, said = 'This copy is yours: step it as you like. "Back to the teacher" returns to the room.') {
    if (busy) return false;
    busy = true;
    try {
      const forked = await api.forkRoom(code);
      watching = false;
      room.draw();
      await adopt(forked.session, { ...followState(last, graph), ...patch });
      toast(said);
      return true;
    } catch (err) {
      watching = true;
      toast(`Could not copy the teacher's session: ${err.detail || err.message}`, true);
      return false;
    } finally {
      busy = false;
      room.draw();
    }
  }

  // "Try it yourself": our own copy, Derive it on, at the node the teacher shows
  async function tryIt() {
    const node = teacherNode();
    prompt = false;
    room.draw();
    const at = { selected: node, pinned: true, deriveOn: true };
    if (watching) {
      if (!await explore(at, `Your own copy, at the teacher's step: write d${node}, then Check.`)) return;
    } else {
      const s = store.get();
      if (!s.deriveOn) store.set({ deriveOn: true });
      if (!(s.selected === node && s.pinned)) select(node); // (select of the pinned node would unpin it)
    }
    toEditor();
  }

  // on a phone the editor is far below the graph: bring it up, clear of the sticky bar
  function toEditor() {
    const panel = document.getElementById('derive');
    if (!panel || panel.hidden) return;
    const bar = el('follow-state').parentElement;
    window.scrollTo({ top: panel.getBoundingClientRect().top + window.scrollY - bar.offsetHeight - 8 });
  }

  el('explore').addEventListener('click', () => explore());
  el('back-to-teacher').addEventListener('click', () => {
    release();
    watching = true;
    room.draw();
    showLast();
  });
  el('try-it').addEventListener('click', tryIt);
  el('prompt-dismiss').addEventListener('click', () => { prompt = false; room.draw(); });

  return {
    code,
    start: room.start,
    /** True while the page shows the teacher's session: nothing may drive it. */
    watching: () => watching,
    refuse: () => toast('You are following the teacher: press "Explore on my own" to step a copy yourself.'),
    /** The address keeps the room, so a reload follows again. */
    query: () => `follow=${encodeURIComponent(code)}`,
  };
}
