// The teacher's side of a room: the "Teach" button makes a room for this
// page's session and shows its code, join link and QR code; from then on
// every change of what this page shows is sent to the room's socket as a
// small view (the server builds the followers' state from the session
// itself, once). The room survives a reload of this page: its code and
// secret are kept in sessionStorage, and the socket reconnects.
//
// The training page uses the same card and socket (createTeach with `page:
// 'train'`, its own `view` and `key`): its followers open the training page,
// and the server fans out the teacher's live frames itself.
import { api, retryDelay } from './api.js';
import { gradNameOf } from './graph.js';
import { inspectedNode } from './inspector.js';
import { toast } from './toast.js';

const KEEP = 'bpn-room'; // sessionStorage: {code, secret, join_url, qr_svg} (+ '-train' on the training page)

/** What followers see besides the session: from the stepper's state. */
export function teachView(state) {
  const shown = inspectedNode(state);
  return {
    session: state.session.id,
    selected: state.pinned ? state.selected : null,
    pinned: Boolean(state.pinned && state.selected),
    inspect: state.graph ? gradNameOf(state.graph, shown) : shown,
    row: state.row ?? null,
    sort_by_loss: Boolean(state.sortByLoss),
    show_diff: Boolean(state.showDiff),
    present: Boolean(state.present),
    playing: Boolean(state.playing),
    derive: Boolean(state.deriveOn), // followers are invited to derive `inspect` themselves
  };
}

const escape = (s) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const followers = (n) => (n === 1 ? '1 follower' : `${n} followers`);

/** The class view's line on mistakes at the teacher's node (a ClassPublic). */
export function mistakeLine(k) {
  if (k.mistake) {
    const name = escape(k.mistake_label || k.mistake.replace(/_/g, ' '));
    return `most common mistake here: <b>${name}</b> (${followers(k.mistake_count)})`;
  }
  if (k.wrong) return `${followers(k.wrong)} had a wrong attempt here, none of a kind the checker names`;
  return 'no wrong attempt here';
}

const stepperKey = (s, view) => JSON.stringify(view) + (s.frame ? `|${s.frame.step}|${s.frame.computed.length}|${s.frame.mode}` : '');

/**
 * store: {get() -> state with .session.id, subscribe(fn)}; page: 'stepper' or 'train' (what followers open);
 * view(state) -> TeachView; key(state, view) -> string: a view is sent when it changes.
 */
export function createTeach(button, { store, page = 'stepper', view: viewOf = teachView, key: keyOf = stepperKey }) {
  const card = document.createElement('aside');
  card.className = 'room-card';
  card.dataset.testid = 'room-card';
  card.hidden = true;
  card.setAttribute('aria-label', 'Your room');
  card.innerHTML = `
    <div class="room-head"><strong>Room</strong> <span class="room-code mono" data-testid="room-code"></span>
      <button type="button" class="small" data-room="fold" title="Fold this card (the room goes on)">–</button></div>
    <div class="room-body">
      <div class="room-qr" data-testid="room-qr" role="img" aria-label="QR code of the join link"></div>
      <p>Students open <a data-testid="follow-link" target="_blank" rel="noopener"></a></p>
      <p class="room-who" data-testid="room-followers" aria-live="polite">nobody follows yet</p>
      <section class="room-class" data-testid="class-view" hidden></section>
      <button type="button" class="small" data-room="end" data-testid="room-end">End the room</button>
    </div>`;
  document.body.append(card);
  const link = card.querySelector('[data-testid=follow-link]');
  const keep = page === 'stepper' ? KEEP : `${KEEP}-${page}`; // each page its own room
  let room = null;
  let ws = null;
  let sent = '';
  let retry = null;
  let tries = 0; // since the socket last opened
  let klass = null; // the newest ClassPublic
  const classEl = card.querySelector('[data-testid=class-view]');

  // "Derive it" on: how the class is doing at the node this page shows
  function drawClass() {
    const on = Boolean(store.get().deriveOn) && klass && klass.node;
    classEl.hidden = !on;
    if (!on) return;
    const k = klass;
    const fails = Object.entries(k.first_failing);
    const most = Math.max(1, ...fails.map(([, n]) => n));
    const bar = ([node, n]) => `<li><span class="mono">d${node}</span><span class="bar" style="width:${(n / most) * 100}%"></span><b>${n}</b></li>`;
    classEl.innerHTML = `
      <h3>Class at <span class="mono">d${k.node}</span> <small>(${k.reporting} deriving)</small></h3>
      <p class="class-counts" data-testid="class-counts"><b>${k.solved}</b> solved without hints · <b>${k.hinted}</b> with hints ·
        <b>${k.revealed}</b> revealed · <b>${k.trying}</b> still trying</p>
      <p class="class-label">first failing node</p>
      <ol class="class-fails" data-testid="class-fails">${fails.length ? fails.map(bar).join('') : '<li>none</li>'}</ol>
      <p data-testid="class-mistake">${mistakeLine(k)}</p>
      <p class="class-note">Followers were asked to try it on their own copy.</p>
      ${k.nicknames.length ? `<p class="class-names">here: ${k.nicknames.map(escape).join(', ')}</p>` : ''}`;
  }

  function show(r) {
    card.hidden = false;
    card.querySelector('[data-testid=room-code]').textContent = r.code;
    card.querySelector('[data-testid=room-qr]').innerHTML = r.qr_svg; // drawn by the server (segno)
    link.href = r.join_url;
    link.textContent = r.join_url.replace(/&token=[^&]*/, '');
    button.setAttribute('aria-pressed', 'true');
  }

  function publish() {
    const s = store.get();
    if (!ws || ws.readyState !== WebSocket.OPEN || !s.session || !s.session.id) return;
    // a new frame (any step) or a new view: the followers' state changes
    const view = viewOf(s);
    const key = keyOf(s, view);
    if (key === sent) return;
    sent = key;
    ws.send(JSON.stringify({ cmd: 'view', view }));
  }

  function connect() {
    clearTimeout(retry);
    ws = api.roomSocket(room.code, 'teach');
    ws.onopen = () => {
      tries = 0;
      ws.send(JSON.stringify({ cmd: 'hello', secret: room.secret }));
      sent = '';
      publish();
    };
    ws.onmessage = (ev) => {
      const m = JSON.parse(ev.data);
      if (m.type === 'status') {
        const who = card.querySelector('[data-testid=room-followers]');
        who.textContent = m.ended ? `ended: ${m.reason}` : m.followers === 1 ? '1 follower' : `${m.followers} followers`;
        if (m.ended) stop();
      } else if (m.type === 'class') {
        klass = m;
        drawClass();
      } else if (m.type === 'error') {
        toast(`Room: ${m.message}`, true);
        if (m.cmd === 'hello') stop(); // the room is gone (ended, expired, server restarted)
      }
    };
    ws.onclose = () => { if (room) retry = setTimeout(connect, retryDelay(tries++)); };
  }

  function stop() {
    room = null;
    sessionStorage.removeItem(keep);
    if (ws) { ws.onclose = null; ws.close(); ws = null; }
    card.hidden = true;
    button.setAttribute('aria-pressed', 'false');
  }

  async function start() {
    const s = store.get();
    if (room) { card.hidden = !card.hidden; return; }
    if (!s.session || !s.session.id) return;
    try {
      room = await api.createRoom(s.session.id, page);
    } catch (err) {
      toast(`Could not start a room: ${err.detail || err.message}`, true);
      return;
    }
    sessionStorage.setItem(keep, JSON.stringify(room));
    show(room);
    connect();
  }

  button.addEventListener('click', start);
  card.querySelector('[data-room=fold]').addEventListener('click', () => card.classList.toggle('folded'));
  card.querySelector('[data-room=end]').addEventListener('click', () => {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ cmd: 'end' }));
    stop();
    toast('The room has ended; your followers were told.');
  });
  store.subscribe(publish);
  let deriveWas = null;
  store.subscribe((s) => { if (s.deriveOn !== deriveWas) { deriveWas = s.deriveOn; drawClass(); } });
  const kept = sessionStorage.getItem(keep);
  if (kept) { // this page reloaded: the same room goes on
    room = JSON.parse(kept);
    show(room);
    connect();
  }
  return { get room() { return room; } };
}
