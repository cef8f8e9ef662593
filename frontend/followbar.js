// What both follower pages share (follow.js for the stepper, train/follow.js
// for the training page): the ?follow= room code, the bar at the top, and
// the room's socket, opened again whenever it drops until the room ends; the
// room's status and errors are handled here, the page's own messages there.
import { api, decodeFrame, retryDelay } from './api.js';
import { toast } from './toast.js';

/** The room code this page's address follows (?follow=), or null: not a follower page, or not a code. */
export function followCode() {
  const code = new URLSearchParams(window.location.search).get('follow');
  return code && /^[\w -]{1,40}$/.test(code) ? code : null;
}

/**
 * Follow the room of this page's address (null when it names none): the bar
 * (the room's state, the teacher's, then the page's own `extra` HTML) and
 * the socket. on: what() the bar says while the room lasts; message(m) the
 * room's JSON messages for the page; frame({frame, tensors}) its binary
 * stream frames; open() a new socket opened; draw() after every change.
 */
export function followRoom(extra, on) {
  const code = followCode();
  if (!code) return null;
  const bar = document.createElement('div');
  bar.className = 'follow-bar';
  bar.dataset.testid = 'follow-bar';
  bar.innerHTML = `
    <span class="follow-what" data-testid="follow-state" aria-live="polite"></span>
    <span class="follow-teacher" data-testid="teacher-state"></span>${extra}`;
  document.body.prepend(bar);
  document.body.classList.add('following');
  const el = (id) => bar.querySelector(`[data-testid=${id}]`);
  let teacher = false;
  let ended = null;
  let ws = null;
  let tries = 0;
  const utf8 = new TextDecoder();

  const room = {
    code,
    el,
    get teacher() { return teacher; },
    get ended() { return ended; },
    send(msg) { if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg)); },
    draw() {
      el('follow-state').textContent = ended ? `Room ${code} has ended: ${ended}.` : on.what();
      el('teacher-state').textContent = ended ? '' : teacher ? '● teacher connected' : '○ teacher away';
      el('teacher-state').classList.toggle('away', !teacher);
      if (on.draw) on.draw();
    },
    start() { room.draw(); connect(); },
  };

  function onMessage(ev) {
    // binary: a stream frame (its first 4 bytes the header's length, under 16 MB: byte 3 is 0) or
    // UTF-8 JSON (byte 3 a letter of '{"type"'); the same bytes for every follower
    if (typeof ev.data !== 'string' && new Uint8Array(ev.data, 0, 4)[3] === 0) {
      on.frame(decodeFrame(ev.data));
      return;
    }
    const m = JSON.parse(typeof ev.data === 'string' ? ev.data : utf8.decode(ev.data));
    if (m.type === 'status') {
      teacher = m.teacher_connected;
      if (m.ended) { ended = m.reason || 'the teacher ended it'; ws.close(); }
    } else if (m.type === 'error') {
      toast(m.message, true);
      // said of no command: the room refused this socket (no such room, the server
      // restarted without it, too many guesses) and closes it
      if (m.cmd === null) ended = m.message.replace(/[.:]$/, '');
    } else on.message(m);
    room.draw();
  }

  function connect() {
    ws = api.roomSocket(code, 'follow');
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      tries = 0;
      if (on.open) on.open();
    };
    ws.onmessage = onMessage;
    ws.onclose = () => {
      if (ended) return;
      teacher = false;
      room.draw();
      setTimeout(connect, retryDelay(tries));
      tries += 1;
    };
  }
  return room;
}
