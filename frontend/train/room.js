// Rooms on the training page (../teach.js, ./follow.js): the teacher's Teach
// card, or this page following a room. A follower draws the teacher's run
// with its own panels and drives nothing: every action is refused (`refuse`).
import { toast } from '../toast.js';
import { createTeach } from '../teach.js';
import { createTrainFollow } from './follow.js';
import { Series } from './series.js';

/**
 * st: the page's state (app.js); session: session.js's (the frames go into
 * the state as the page's own do); presenter: present.js's; invalidate();
 * countFrame(): a live frame arrived; onReady(): the teacher's run is on the page.
 * Returns {follow (null on a teacher's page), refuse(), teachers}.
 */
export function createRoom(st, { session, presenter, invalidate, countFrame, onReady }) {
  const teachers = []; // told of the state at each redraw: the room hears of play, pause, a step, a new run
  const follow = createTrainFollow({
    graph: (g) => { st.graph = g; invalidate(); },
    train: followRun,
    frame: followFrame,
  });
  function refuse() {
    toast('You are following the teacher’s training: only the teacher plays, pauses, steps or starts a run. '
      + '“Train on my own” opens a run of yours.', true);
  }
  /** The teacher's run (RoomTrain): its config, play state and the history so far. */
  function followRun(m) {
    const series = new Series();
    series.addHistory(m.history);
    series.tail = st.series.tail.filter((p) => p.step > series.lastStep); // live points newer than the history
    Object.assign(st, { session: { id: null, config: m.config }, series, playing: m.playing, view: null });
    if (!st.playing || st.status.step > series.lastStep) st.status.step = series.lastStep; // a new run starts at 0
    if (presenter.on !== m.present) presenter.toggle();
    onReady();
    invalidate();
  }
  /** One of the room's frames: live ones while the teacher trains, else the paused one. */
  function followFrame(decoded) {
    const f = decoded.frame;
    if (!f.playing) { session.pausedFrame(decoded); return; }
    if (!st.playing) return; // one built just before the pause
    countFrame();
    session.setStatus(f);
    st.series.addFrame(f);
    session.show(f, decoded.tensors, f.step, true);
  }
  if (!follow) {
    createTeach(document.querySelector('[data-testid=teach]'), {
      store: { get: () => st, subscribe: (fn) => teachers.push(fn) },
      page: 'train',
      view: (s) => ({ session: s.session.id, playing: s.playing, present: presenter.on }),
      // while training the room takes frames itself: a view only when the play state or, paused, the step changes
      key: (s, v) => JSON.stringify(v) + (s.playing ? '' : `|${s.status.step}|${s.shown ? s.shown.update : ''}|${s.pending}`),
    });
  }
  return { follow, refuse, teachers };
}
