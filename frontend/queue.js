// The stepper's actions, one at a time: key presses and clicks run in order,
// one server round trip at a time. Presses that come while one is in flight
// wait their turn, none is dropped; a run of the same step key waiting
// together goes as one command (→ x5 = backward 5 nodes), so a quick hand
// costs one round trip, not five.
//
// `busy` is true while an action is in flight (the tests' hook); the page
// shows it (buttons disabled, a waiting cursor) only once an action has taken
// SLOW_MS, as `slow`: a key press takes ~50 ms, and disabling every button
// for that long made them flicker, and cost a render and a paint of its own
// while the server was answering (~15 ms of the key -> inspector latency).
const SLOW_MS = 150;

/**
 * opts: refused() -> true when actions are not ours to run (a follower
 * watching the teacher; it says why itself); failed(err) -> what to do with
 * an action's error (awaited; the queue goes on whatever it does).
 */
export function createQueue(store, { refused, failed }) {
  let chain = Promise.resolve();
  let queued = 0;
  let tail = null; // the last queued job of step presses, not started yet: {kind, n, done}
  let slowTimer = null;
  const notSlow = () => {
    clearTimeout(slowTimer);
    slowTimer = null;
    if (store.get().slow) store.set({ slow: false });
  };

  function run(fn) {
    if (refused()) return chain;
    tail = null; // anything queued after a run of presses ends it
    queued += 1;
    chain = chain.then(async () => {
      store.set({ busy: true });
      slowTimer = setTimeout(() => store.set({ slow: true }), SLOW_MS);
      try {
        await fn();
      } catch (err) {
        await failed(err);
      } finally {
        queued -= 1;
        notSlow();
        store.set({ busy: queued > 0 });
      }
    });
    return chain;
  }

  /** Queue one press of a step key; joins the presses of the same key waiting before it. */
  function press(kind, fn) {
    if (tail && tail.kind === kind) {
      tail.n += 1;
      return tail.done;
    }
    const job = { kind, n: 1 };
    job.done = run(() => {
      if (tail === job) tail = null; // started: later presses queue anew
      return fn(job.n);
    });
    tail = job;
    return job.done;
  }

  return { run, press };
}
