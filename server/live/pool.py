"""The pool of training workers (worker.py), supervised, and the player that
trains one session live on one of them.

A play places the session on the worker with the fewest playing sessions.
Each worker has a reader thread here: it resolves the futures of requests
(pause, frame), adds history points as they come (under History's own
lock, not the session's: see history.py), and keeps each player's newest
checkpoint. A worker that dies is started again; its players report the
crash, and their sessions resume from their checkpoint (Session.settle).

Frames are summarised here, in one thread beside the event loop: the
worker only packs a step's tensors (~0.15 ms), so the summary's ~1.6 ms is
spent on the server's core, not on training's. A big model's frames are
built in its worker instead, where they cost less (worker.Worker.serve)."""
from __future__ import annotations

import itertools
import logging
import queue
import subprocess
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress

from .. import processes
from ..schemas.common import WorkerPublic
from ..stream import frames
from . import worker

log = logging.getLogger(__name__)
REPLY_TIMEOUT = 60.0  # seconds: a pause waits for one step (~0.3 ms here; the biggest model: ~2 s)
READY_TIMEOUT = 60.0  # seconds a play waits for a worker that is starting
QUICK_DEATH = 10.0  # seconds: a worker dead this soon after its start waits RESTART_PAUSE to restart
RESTART_PAUSE = 2.0


class WorkerProcess:
    """One worker, restarted whenever it dies (until the pool closes)."""

    def __init__(self, index: int, builder: ThreadPoolExecutor):
        self.index, self.builder = index, builder
        self.players: dict[str, LivePlayer] = {}  # by session id: where points and errors go
        self.known: set[str] = set()  # sessions whose model the worker holds
        self.restarts = 0
        self.pid: int | None = None
        self._ready = threading.Event()
        self._outbox: queue.SimpleQueue | None = None  # what the writer thread sends, in order
        self._rlock = threading.Lock()  # guards _replies; never held across I/O
        self._replies: dict[int, Future] = {}
        self._ids = itertools.count()
        self._closed = False
        self._proc = None

    @property
    def alive(self) -> bool:
        return self._ready.is_set()

    def start(self) -> None:
        proc, parent = processes.start(worker.__name__)
        self._proc, self.pid, self._started = proc, proc.pid, time.monotonic()
        self._outbox = outbox = queue.SimpleQueue()
        threading.Thread(target=self._reader, args=(parent, proc, outbox), name=f"worker-{self.index}-reader",
                         daemon=True).start()
        threading.Thread(target=self._writer, args=(parent, outbox), name=f"worker-{self.index}-writer",
                         daemon=True).start()

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    def send(self, msg: tuple) -> None:
        """Queue a message for the writer thread: no caller (the event loop
        least of all) waits for a worker busy with a long step to read."""
        if not self.alive:
            raise RuntimeError(f"training worker {self.index} is restarting")
        self._outbox.put(msg)

    @staticmethod
    def _writer(conn, outbox: queue.SimpleQueue) -> None:
        while (msg := outbox.get()) is not None:
            try:
                worker.send(conn, msg)
            except (OSError, ValueError):
                return  # the worker died: its reader says so

    def request(self, kind: str, *args) -> Future:
        """A message answered by ("reply", rid, payload): a Future of the payload."""
        fut: Future = Future()
        with self._rlock:
            rid = next(self._ids)
            self._replies[rid] = fut
        try:
            self.send((kind, rid, *args))
        except RuntimeError:
            with self._rlock:
                self._replies.pop(rid, None)
            raise
        return fut

    def _reader(self, conn, proc, outbox) -> None:
        try:
            worker.receive(conn)  # ("ready",)
            self._ready.set()
            while True:
                self._dispatch(worker.receive(conn))
        except (EOFError, OSError):
            pass
        outbox.put(None)  # its writer ends too
        self._died(proc)

    def _dispatch(self, msg: tuple) -> None:
        kind = msg[0]
        if kind == "reply":
            with self._rlock:
                fut = self._replies.pop(msg[1], None)
            if fut is not None:
                fut.set_result(msg[2])
        elif kind == "points":
            player = self.players.get(msg[1])
            if player is not None:
                player.on_points(*msg[2:])
        elif kind == "error":
            self.known.discard(msg[1])
            player = self.players.get(msg[1])
            if player is not None:
                player.error = msg[2]

    def _died(self, proc) -> None:
        """Waiting requests fail, players hear why, and a new worker starts."""
        self._ready.clear()
        with suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        with self._rlock:
            waiting, self._replies = list(self._replies.values()), {}
        players, self.players = list(self.players.values()), {}
        self.known.clear()
        why = f"exit code {proc.returncode}" if proc.returncode is not None else "its connection broke"
        if not self._closed:
            log.warning("training worker %d died (%s): starting it again", self.index, why)
            for player in players:  # before the futures fail: a pause waiting on one then knows why
                player.crashed(why)
        for fut in waiting:
            fut.set_exception(RuntimeError(f"training worker {self.index} died"))
        if self._closed:
            return
        self.restarts += 1
        if time.monotonic() - self._started < QUICK_DEATH:
            time.sleep(RESTART_PAUSE)  # not a tight loop of starts if it cannot run at all
        if not self._closed:
            self.start()

    def public(self) -> WorkerPublic:
        speeds = [p.steps_per_sec for p in list(self.players.values()) if p.alive]
        return WorkerPublic(index=self.index, alive=self.alive, pid=self.pid, restarts=self.restarts,
                            sessions=len(speeds), steps_per_sec=[round(v or 0.0, 1) for v in speeds])

    def close(self) -> None:
        self._closed = True
        if self._proc is not None:  # its reader then reads EOF, and ends
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


class Pool:
    def __init__(self, size: int):
        self.builder = ThreadPoolExecutor(1, thread_name_prefix="frames")
        self.workers = [WorkerProcess(i, self.builder) for i in range(size)]

    def start(self) -> None:
        for w in self.workers:
            w.start()

    def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        return all(w.wait_ready(max(0.0, deadline - time.monotonic())) for w in self.workers)

    def place(self, sid: str) -> WorkerProcess:
        """The running worker with the fewest playing sessions (the one that
        holds the session's model on a tie); waits for one that is starting."""
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            ready = [w for w in self.workers if w.alive]
            if ready:
                return min(ready, key=lambda w: (len(w.players), sid not in w.known, w.index))
            if time.monotonic() > deadline:
                raise RuntimeError(f"no training worker started in {READY_TIMEOUT:g} s")
            self.workers[0].wait_ready(0.1)

    def forget(self, sid: str, keep: WorkerProcess | None = None) -> None:
        """Workers other than `keep` drop the session's model."""
        for w in self.workers:
            if w is not keep and sid in w.known:
                w.known.discard(sid)
                with suppress(RuntimeError):  # restarting: it has forgotten already
                    w.send(("drop", sid))

    def public(self) -> list[WorkerPublic]:
        return [w.public() for w in self.workers]

    def close(self) -> None:
        for w in self.workers:
            w.close()
        self.builder.shutdown(wait=False, cancel_futures=True)


def _give(fut: Future, value) -> None:
    """Answer a frame request unless its asker gave up on it (a stream that
    closed cancels it): set_result on a cancelled future raises."""
    if fut.set_running_or_notify_cancel():
        fut.set_result(value)


class LivePlayer:
    """Live training of one session on one worker."""

    def __init__(self, session, w: WorkerProcess, val_every: int = 0):
        self.session, self.worker, self.val_every = session, w, val_every
        self.error: str | None = None
        self.steps_per_sec: float | None = None
        self.used = 0.0  # seconds of the worker's time this session has had
        # (step, light_state, loss): the newest state the worker sent, from a
        # checkpoint or a frame; the session resumes from it if the worker dies
        self.checkpoint: tuple[int, dict, float | None] | None = None
        self._stopped = False
        # set once the crash is heard of or the session takes the checkpoint in
        # (final()): a frame finished later is not shown, its step would be lost
        self._final = False
        self._cp_lock = threading.Lock()

    @property
    def alive(self) -> bool:
        return not self._stopped and self.error is None

    def start(self) -> None:
        """Send the session's state and start; the caller holds the session lock."""
        s, w, st = self.session, self.worker, self.session.settings
        s.before_training()
        s.model_changed()
        init = None if s.id in w.known else (s.mlp.cfg, s.dataset_id, s.mlp.data)
        opts = {"val_every": self.val_every, "stats_every": st.stats_every,
                "snapshot_every": st.snapshot_every, "full_steps": st.history_full_steps}
        w.players[s.id] = self
        try:
            w.send(("play", s.id, init, s.light_state(), opts))
        except RuntimeError:
            w.players.pop(s.id, None)
            raise
        w.known.add(s.id)

    # ---- the worker's reader thread ------------------------------------------------
    def on_points(self, points: list, speed: float | None, used: float, state: dict | None) -> None:
        self.steps_per_sec, self.used = speed, used
        s = self.session
        s.history.add_points(points)
        if points:
            s.last_loss = points[-1][1]
        if state is not None:
            for step, snap in state["snapshots"]:
                s.history.add_snapshot(step, snap)
            self._keep(state["state"]["step"], state["state"], state["loss"])

    def _keep(self, step: int, state: dict, loss: float | None) -> bool:
        """Keep a state a client is to be shown; False once the checkpoint is final (not to be shown)."""
        with self._cp_lock:
            if self._final:
                return False
            cp = self.checkpoint
            if cp is None or step > cp[0]:
                self.checkpoint = (step, state, loss)
            return True

    def final(self) -> tuple[int, dict, float | None] | None:
        """The checkpoint, never to move again: what the session resumes from."""
        with self._cp_lock:
            self._final = True
            return self.checkpoint

    def crashed(self, why: str) -> None:
        cp = self.final()
        step = cp[0] if cp else self.session.mlp.step
        self.error = (f"live training stopped: its worker process died ({why}) and was started again; "
                      f"the session resumes at step {step}, the last one the server saw (press play to go on)")

    # ---- requests ---------------------------------------------------------------------
    def request_frame(self, min_step: int, nodes, fmt: str) -> Future:
        """A frame of a step >= min_step: a Future of (step, frame), or of
        None when training stops first or the worker died (ask again)."""
        fut: Future = Future()
        try:
            job = self.worker.request("frame", self.session.id, min_step, list(nodes), fmt)
        except RuntimeError:
            fut.set_result(None)
            return fut
        job.add_done_callback(lambda j: self._packed(j, fut))
        return fut

    def _packed(self, job: Future, fut: Future) -> None:
        """The reader thread: the worker's answer, a built frame or a packed
        step to summarise here (see worker.Worker.serve)."""
        answer = None if job.exception() is not None else job.result()
        if answer is None:
            _give(fut, None)
        elif answer[0] == "built":
            _, step, frame, stats, state, loss = answer
            self.session.history.set_stats(step, *stats)
            _give(fut, (step, frame) if self._keep(step, state, loss) else None)
        else:
            try:
                self.worker.builder.submit(self._build, answer[1], fut)
            except RuntimeError:  # the server is closing
                _give(fut, None)

    def _build(self, blob: bytes, fut: Future) -> None:
        if not fut.set_running_or_notify_cancel():
            return  # its connection closed meanwhile
        try:
            src, nodes, fmt, generator = frames.unpack(blob)
            s, stats = self.session, []
            frame = frames.build(src, nodes, fmt, lambda d: stats.append(frames.frame_stats(d)))
            s.history.set_stats(src.step, *stats[0])
            state = {"step": src.step, "params": src.params, "running_mean": src.running_mean,
                     "running_var": src.running_var, "calibration": None, "generator": generator,
                     "vocab": "".join(s.mlp.vocab.chars)}
            # a step a client is shown is never lost: none after the checkpoint is final
            fut.set_result((src.step, frame) if self._keep(src.step, state, src.loss) else None)
        except Exception as err:  # noqa: BLE001 - goes to the one who asked
            fut.set_exception(err)

    def stop(self) -> dict | None:
        """Pause: the worker's state of the session, or None when it died."""
        self._stopped = True
        w, sid = self.worker, self.session.id
        try:
            payload = w.request("pause", sid).result(REPLY_TIMEOUT)
        except Exception:  # noqa: BLE001 - it died: the session resumes from the checkpoint
            payload = None
        if w.players.get(sid) is self:
            del w.players[sid]
        return payload
