"""The server's side of the training process (trainer.py): one process for
the whole server, and a RemotePlayer per session playing in it.

A RemotePlayer has the interface of player.Player (alive, error,
steps_per_sec, request_frame, stop), so the stream and the session do not
care where training runs. What differs is that the session's model here is
a copy, brought up to date when a request reads it (`sync`) and at pause.
History points arrive in batches on the reader thread; it never waits for
a session lock (a request holding one may be waiting for it): it queues
them on the session and applies them only if the lock is free, otherwise
the lock's holder does (Session.drain)."""
from __future__ import annotations

import itertools
import logging
import mmap
import os
import pickle
import subprocess
import tempfile
import threading
from concurrent.futures import Future

from . import frames, pipes
from .framebuilder import frame_stats, unpack

log = logging.getLogger("server.remote")
REPLY_TIMEOUT = 60.0  # seconds: a pause waits at most one step (~0.3 ms here; a big model: ~1 s)


class TrainerProcess:
    """The training process, started with the server (~1.5 s to be ready).
    Until then, and if it ever dies, sessions train in a thread (player.py)."""

    def __init__(self, enabled: bool = True, cpu: str = "none", nice: int = 0):
        self.enabled, self.cpu, self.nice = enabled, cpu, nice  # see trainer.pin and trainer.prioritise
        self._proc: subprocess.Popen | None = None
        self._ready = threading.Event()
        # two locks, so that the reader thread never waits for a write: a
        # writer may block on a full pipe until the process reads, and the
        # process may be blocked writing until the reader reads
        self._wlock = threading.Lock()  # held while writing to the pipe
        self._rlock = threading.Lock()  # guards _replies and _dead; never held across I/O
        self._replies: dict[int, Future] = {}
        self._ids = itertools.count()
        self._dead = False
        self.error: str | None = None
        self.players: dict[str, RemotePlayer] = {}  # by session id: where points and errors go
        self.known: set[str] = set()  # sessions whose model the process holds

    @property
    def alive(self) -> bool:
        return self._ready.is_set() and not self._dead

    @property
    def where(self) -> str:
        """Where live training runs now: "process", "starting" or "thread"."""
        if self.alive:
            return "process"
        return "starting" if self.enabled and self._proc is not None and not self._dead else "thread"

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout) and not self._dead

    def start(self) -> None:
        with self._wlock:
            if not self.enabled or self._proc is not None:
                return
            # the wake counter (see trainer.py): shared memory; a file only
            # where memfd is missing (macOS), deleted at once
            if hasattr(os, "memfd_create"):
                fd = os.memfd_create("bpn-trainer-wake")
            else:
                with tempfile.NamedTemporaryFile(prefix="bpn-wake-") as f:
                    fd = os.dup(f.fileno())
            try:
                os.ftruncate(fd, 8)
                self._wake_map = mmap.mmap(fd, 8)
                self._wake = memoryview(self._wake_map).cast("Q")
                self._proc = pipes.spawn("server.trainer", str(fd), self.cpu, str(self.nice), pass_fds=(fd,))
            finally:
                os.close(fd)
        threading.Thread(target=self._reader, name="trainer-reader", daemon=True).start()

    def send(self, msg: tuple) -> None:
        if self._dead:
            raise RuntimeError(f"the training process has stopped ({self.error})")
        body = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            with self._wlock:
                self._wake[0] += 1
                pipes.write(self._proc.stdin, body)
                self._wake[0] += 1
        except (OSError, ValueError) as err:
            self._die(f"writing to it failed: {err}")
            raise RuntimeError(f"the training process has stopped ({self.error})") from None

    def request(self, kind: str, *args) -> Future:
        """A message answered by ("reply", rid, payload): a Future of the payload."""
        fut: Future = Future()
        with self._rlock:
            if self._dead:
                raise RuntimeError(f"the training process has stopped ({self.error})")
            rid = next(self._ids)
            self._replies[rid] = fut
        self.send((kind, rid, *args))
        return fut

    def _reader(self) -> None:
        out = self._proc.stdout
        if pipes.read(out) is None:
            self._die("it exited while starting")
            return
        self._ready.set()
        while (raw := pipes.read(out)) is not None:
            msg = pickle.loads(raw)
            kind = msg[0]
            if kind == "reply":
                with self._rlock:
                    fut = self._replies.pop(msg[1], None)
                if fut is not None:
                    fut.set_result(msg[2])
            elif kind == "points":
                player = self.players.get(msg[1])
                if player is not None:
                    player.on_points(msg[2], msg[3])
            elif kind == "error":
                self.known.discard(msg[1])
                player = self.players.get(msg[1])
                if player is not None:
                    player.error = msg[2]
        self._die(f"it exited with code {self._proc.poll()}")

    def _die(self, why: str) -> None:
        """Waiting requests fail; later plays train in a thread."""
        with self._rlock:
            if not self._dead:
                log.warning("training process stopped (%s): sessions train in a thread of the server", why)
            self._dead, self.error = True, self.error or why
            waiting, self._replies = list(self._replies.values()), {}
        for fut in waiting:
            fut.set_exception(RuntimeError(f"the training process stopped: {why}"))
        for player in list(self.players.values()):
            player.error = player.error or (f"live training stopped: the training process died ({why}); "
                                            f"the session is back at step {player.session.mlp.step}")

    def close(self) -> None:
        with self._rlock:
            self._dead = True
        pipes.end(self._proc)


class RemotePlayer:
    """Live training of one session in the training process."""

    def __init__(self, session, proc: TrainerProcess, val_every: int = 0):
        self.session, self.proc, self.val_every = session, proc, val_every
        self.error: str | None = None
        self.steps_per_sec: float | None = None
        self._stopped = False
        self._stop_lock = threading.Lock()

    @property
    def alive(self) -> bool:
        return not self._stopped and self.error is None and self.proc.alive

    def start(self) -> None:
        """Send the session's state and start; the caller holds the session lock."""
        s, p = self.session, self.proc
        st = s.settings
        s.before_training()
        s.model_changed()
        init = None if s.id in p.known else (s.mlp.cfg, s.dataset_id, s.mlp.data)
        opts = {"val_every": self.val_every, "stats_every": st.stats_every,
                "snapshot_every": st.snapshot_every, "full_steps": st.history_full_steps}
        p.players[s.id] = self
        p.send(("play", s.id, init, s.light_state(), opts))
        p.known.add(s.id)

    def on_points(self, points: list, speed: float | None) -> None:
        """The reader thread: a batch of history points."""
        self.steps_per_sec = speed
        self.session.post(("points", points))

    def sync(self) -> dict | None:
        """The model as it is now in the process (the caller holds the session lock)."""
        try:
            return self.proc.request("sync", self.session.id).result(REPLY_TIMEOUT)
        except Exception as err:  # noqa: BLE001 - the process died: keep what we have
            self.error = self.error or f"live training stopped: {err}"
            return None

    def request_frame(self, min_step: int, nodes, fmt: str) -> Future:
        """As Player.request_frame: a Future of (step, frame), or of None."""
        fut: Future = Future()
        if not self.alive:
            fut.set_result(None)
            return fut
        try:
            job = self.proc.request("frame", self.session.id, min_step, list(nodes), fmt)
        except RuntimeError:
            fut.set_result(None)
            return fut
        job.add_done_callback(lambda j: self._build(j, fut))
        return fut

    def _build(self, job: Future, fut: Future) -> None:
        """The reader thread: the step's tensors arrived; the frame helper
        summarises them, or, when it cannot take them now, this thread does."""
        if not fut.set_running_or_notify_cancel():
            return  # its connection closed meanwhile
        got = None if job.exception() is not None else job.result()
        if got is None:
            fut.set_result(None)
            return
        step, blob = got
        builder = self.session.builder
        built = builder.submit_packed(blob) if builder is not None else None
        if built is not None:
            built.add_done_callback(lambda b: self._built(b, fut, step))
            return
        try:
            stats = []
            src, nodes, fmt = unpack(blob)
            frame = frames.build(src, nodes, fmt, lambda d: stats.append(frame_stats(d)))
            self.session.post(("stats", step, *stats[0]))
            fut.set_result((step, frame))
        except Exception as err:  # noqa: BLE001 - goes to the one who asked
            fut.set_exception(err)

    def _built(self, built: Future, fut: Future, step: int) -> None:
        if built.exception() is not None:  # the helper died with it: the sender asks again
            fut.set_result(None)
            return
        frame, (sat, ratios) = built.result()
        self.session.post(("stats", step, sat, ratios))
        fut.set_result((step, frame))

    def stop(self) -> None:
        """Pause: the process sends back the session's state, which the
        session's model takes on. Not with the session lock held."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
            s, p = self.session, self.proc
            payload = None
            if p.alive:
                try:
                    payload = p.request("pause", s.id).result(REPLY_TIMEOUT)
                except Exception as err:  # noqa: BLE001 - the process died: keep what we have
                    self.error = self.error or f"live training stopped: {err}"
            if p.players.get(s.id) is self:
                del p.players[s.id]
            with s.lock:
                s.drain()
                if payload is not None:
                    s.take_remote(payload)
