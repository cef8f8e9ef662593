// A follower of a training-page room: train.html?follow=CODE shows the
// teacher's live training instead of a run of its own. The room's socket
// (server/routes/rooms.py) sends the run (RoomTrain: config, play state, the
// history so far), then its frames (binary stream frames, as the page's own
// stream sends: a FramePublic header and float32 tensors), which the page draws
// as it draws its own; nothing here sends a command to the teacher's session.
import { api, decodeFrame } from '../api.js';
import { followCode, mountFollowBar } from '../followbar.js';

const RETRY_MS = [500, 1000, 2000, 4000]; // reconnects, then every 4 s

/** handlers: {graph(GraphPublic), train(RoomTrain), frame({frame, tensors}), status()} */
export function createTrainFollow(handlers) {
  const code = followCode();
  if (!code) return null;
  const el = mountFollowBar(`
    <span class="follow-playing" data-testid="follow-playing"></span>
    <span class="follow-actions">
      <a class="button-link" href="/static/train.html" data-testid="own-train" target="_blank" rel="noopener"
        title="A run of your own, in a new tab: this one keeps following">Train on my own ↗</a>
    </span>`);
  let teacher = false;
  let ended = null;
  let playing = null; // the teacher's, once the room said
  let ws = null;
  let tries = 0;

  function draw() {
    el('follow-state').textContent = ended ? `Room ${code} has ended: ${ended}.` : `Following the teacher's training · room ${code}`;
    el('teacher-state').textContent = ended ? '' : teacher ? '● teacher connected' : '○ teacher away';
    el('teacher-state').classList.toggle('away', !teacher);
    el('follow-playing').textContent = ended || playing === null ? '' : playing ? '▶ training' : '❚❚ paused';
  }

  const utf8 = new TextDecoder();
  function onMessage(ev) {
    // binary: a stream frame (its first 4 bytes the header's length, under 16 MB: byte 3 is 0) or the
    // graph and the run as UTF-8 JSON (byte 3 a letter of '{"type"'); the same bytes for every follower
    if (typeof ev.data !== 'string' && new Uint8Array(ev.data, 0, 4)[3] === 0) {
      handlers.frame(decodeFrame(ev.data));
      return;
    }
    const m = JSON.parse(typeof ev.data === 'string' ? ev.data : utf8.decode(ev.data));
    if (m.type === 'graph') handlers.graph(m.graph);
    else if (m.type === 'train') { playing = m.playing; handlers.train(m); } else if (m.type === 'status') {
      teacher = m.teacher_connected;
      if (m.ended) { ended = m.reason || 'the teacher ended it'; ws.close(); }
    } else if (m.type === 'error') {
      handlers.error(m.message);
      if (playing === null) ended = m.message.replace(/[.:]$/, ''); // no such room, or too many guesses
    }
    draw();
  }

  function connect() {
    ws = api.roomSocket(code, 'follow');
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => { tries = 0; };
    ws.onmessage = onMessage;
    ws.onclose = () => {
      if (ended) return;
      teacher = false;
      draw();
      setTimeout(connect, RETRY_MS[Math.min(tries, RETRY_MS.length - 1)]);
      tries += 1;
    };
  }

  return {
    code,
    start() { draw(); connect(); },
    get ended() { return ended; },
  };
}
