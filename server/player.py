"""Live training in a thread of the server, at full speed: where sessions
train when the training process (trainer.py, remote.py) is turned off, not
ready yet, or dead. `play` and `pause` choose and stop either kind.

The worker steps the model under the session lock. Frames are made only
when a sender asks for one (its client is due a frame): the worker packs
the step's tensors between two steps and the frame helper process
(framebuilder.py) summarises them. Until the helper runs, the worker builds
the frame itself: building it in another thread of this process makes the
two threads hand the GIL back and forth on every torch op, which slowed
both ~4x when measured. Requests that need the lock
get it promptly: the worker checks for waiters after every step."""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future

from . import framebuilder, frames, stepping
from .remote import RemotePlayer

YIELD_SLEEP = 0.0005  # seconds the worker waits for a waiter to take the lock
SPEED_WINDOW = 0.5  # seconds over which steps/s is measured


class Player:
    def __init__(self, session, val_every: int = 0):
        self.session, self.val_every = session, val_every
        self._stop = threading.Event()
        self.steps_per_sec: float | None = None
        self.error: str | None = None
        # frame requests: (min_step, nodes, fmt, future of (step, frame) or None)
        self._requests: list[tuple[int, list, str, Future]] = []
        self._req_lock = threading.Lock()
        self._done = False
        self._thread = threading.Thread(target=self._run, name=f"train-{session.id[:6]}", daemon=True)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the worker to finish its step and wait for it (not from the worker)."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join()

    def _run(self) -> None:
        s = self.session
        lock = s.lock
        t0, n0 = time.perf_counter(), 0
        try:
            while not self._stop.is_set():
                lock.acquire_quiet()
                try:
                    while not self._stop.is_set() and not lock.waiting:
                        loss, cache, grads, lr = s.train_one(self.val_every)
                        if self._requests:
                            self._serve((s.mlp.step, loss, lr, cache, grads))
                        # drop this step's tensors now, not after the next step:
                        # the allocator then reuses the same (cached) memory
                        del cache, grads
                        n0 += 1
                        now = time.perf_counter()
                        if now - t0 >= SPEED_WINDOW:
                            self.steps_per_sec, t0, n0 = n0 / (now - t0), now, 0
                finally:
                    lock.release()
                if lock.waiting:
                    time.sleep(YIELD_SLEEP)
        except Exception as err:  # noqa: BLE001 - reported to the client, never lost
            self.error = f"live training stopped: {type(err).__name__}: {err}"
            self._stop.set()
        finally:
            with self._req_lock:
                self._done, pending, self._requests = True, self._requests, []
            for *_, fut in pending:  # the sender falls back to a frame of the paused state
                if fut.set_running_or_notify_cancel():
                    fut.set_result(None)

    def request_frame(self, min_step: int, nodes, fmt: str) -> Future:
        """A frame built after a step >= min_step; resolves to (step, frame),
        or to None when training stops first or the frame is lost (the helper
        died with it): the sender then asks again."""
        fut: Future = Future()
        with self._req_lock:
            if self._done:
                fut.set_result(None)
            else:
                self._requests.append((min_step, list(nodes), fmt, fut))
        return fut

    def _serve(self, latest: tuple) -> None:
        step = latest[0]
        with self._req_lock:
            ready = [r for r in self._requests if step >= r[0]]
        builder, src = self.session.builder, self.source(latest)
        for req in ready:
            _, nodes, fmt, fut = req
            job = None if builder is None else builder.submit(src, nodes, fmt)
            if job is None and builder is not None and builder.alive:
                continue  # the helper is busy: serve this request after a later step
            with self._req_lock:
                self._requests.remove(req)
            if job is not None:
                job.add_done_callback(lambda j, fut=fut: self._finish(fut, step, j))
                continue
            if not fut.set_running_or_notify_cancel():
                continue  # its connection closed meanwhile
            try:  # no helper (yet): build here, between two steps
                fut.set_result((step, frames.build(src, nodes, fmt, self._record)))
            except Exception as err:  # noqa: BLE001 - goes to the one who asked
                fut.set_exception(err)

    def _finish(self, fut: Future, step: int, job: Future) -> None:
        """A frame from the helper process: hand it on, keep its statistics."""
        if not fut.set_running_or_notify_cancel():
            return
        if job.exception() is not None:  # the helper died with it: the sender asks again
            fut.set_result(None)
            return
        frame, (sat, ratios) = job.result()
        self.session.history.set_stats(step, sat, ratios)
        fut.set_result((step, frame))

    def _record(self, d: dict) -> None:
        # the frame computed what the history samples every stats_every steps: keep it
        self.session.history.set_stats(d["step"], *framebuilder.frame_stats(d))

    def source(self, latest: tuple) -> frames.FrameSource:
        """A frame source for the step just taken: (step, loss, lr, cache, grads)."""
        return stepping.live_source(self.session.mlp, latest, self.alive, self.steps_per_sec)


def play(session, val_every: int = 0) -> None:
    """Start live training (a no-op when it already runs): in the training
    process when it runs (remote.py), else in a thread of this one."""
    with session.lock:
        session._touch()
        session.drain()
        if session.playing:
            return
        proc = session.trainer
        if proc is not None and proc.alive:
            session.player = RemotePlayer(session, proc, val_every)
            try:
                session.player.start()
                return
            except RuntimeError:  # it died just now: train here
                pass
        session.player = Player(session, val_every)
        session.player.start()


def pause(session) -> str | None:
    """Stop live training; returns the worker's error, if it died of one.
    Must not hold the session lock: the worker needs it to finish its step."""
    player = session.player
    if player is None:
        return None
    player.stop()
    session.player = None
    return player.error
