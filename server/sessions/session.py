"""One session: a `model.MLP`, its history, and the lock that serialises
everything done to it (HTTP requests, stream commands, live training).

Every public method takes the lock and returns a schema object; errors are
`ApiError`s whose text names what was wrong and what is allowed."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

from backprop_ninja.model import MLP
from backprop_ninja.model.diagnostics import tanh_stats
from backprop_ninja.model.graph import BY_NAME, PARAMS

from ..derive import attempts
from ..errors import Conflict, NotFound, Unprocessable
from ..live import stepping
from ..live.pool import LivePlayer
from ..schemas.common import MAX_TRAIN_STEPS, ConfigPublic
from ..schemas.sessions import BackwardResult, ForwardResult, SessionState, TensorPublic, TrainResult, UpdateResult
from ..settings import Settings
from ..stream import frames, inspected
from .history import History
from .lock import SessionLock, locked, mutating, reads_history, rebuild_step
from .trajectories import link_key


# steps x batch_size x n_hidden one train request may do: the schema's
# 20,000 steps at batch 32 and the lecture's 200 hidden units (~20 s here)
TRAIN_WORK = MAX_TRAIN_STEPS * 32 * 200
# at most this much batch x hidden units x steps trained in one run of
# MLP.fused_steps (their batches drawn together): 25 steps at the lecture's
# size (~5 ms here, and a snapshot's interval), fewer for a bigger model; a
# replay's slice looks at the clock after each run
CHUNK_WORK = 25 * 32 * 64
FRAME_TIMEOUT = 30.0  # seconds a request waits for a live frame


class Session:
    def __init__(self, sid: str, mlp: MLP, dataset_id: str, settings: Settings, pool):
        self.id, self.mlp, self.dataset_id, self.settings = sid, mlp, dataset_id, settings
        self.pool = pool  # a live.pool.Pool to train live on
        self.lock = SessionLock()
        # play and pause one at a time: two connections racing must never
        # leave a player running that the session no longer knows
        self.control = threading.Lock()
        # one "Derive it" attempt at a time: a learner who sends many at once (or
        # many endless loops) waits for their own, and holds one sandbox child at most
        self.derive_lock = threading.Lock()
        self.history = History(settings.history_max_points, settings.history_full_steps,
                               settings.history_max_bytes)
        self.last_loss: float | None = None
        self.last_used = time.monotonic()
        self.connections = 0  # open streams: a watched session never expires
        self.player = None  # a live.pool.LivePlayer while training live
        self.closed = False
        # True when the generator moved since the last snapshot other than by a
        # fused step (a forward, a seek): replay from that snapshot would differ
        self._dirty = False
        # True until anything but a link's fused training moves the model (a
        # forward, a seek, an import): until then its training is the link's (trajectories.py)
        self.pristine = True
        # True while a shared link's fused replay runs: it owns the model (replay.py)
        self.rebuilding = False
        # the last fused step (step, loss, lr, cache, grads): `MLP.train_step`
        # clears `mlp.values`, so paused frames are built from this; only the
        # newest step is kept, and anything else that moves the model drops it
        self._trained: tuple | None = None
        # set by seek(n): the next update, if nothing else moves the model
        # first, is update n+1 again (same parameters, same batch)
        self._replays: int | None = None
        # the last frame's summaries: a key press changes one tensor, not all (frames.py)
        self.summaries = frames.SummaryCache()
        self.history.add_snapshot(mlp.step, self.light_state())

    # ---- bookkeeping ------------------------------------------------------
    def model_changed(self) -> None:
        """Forget the last fused step's tensors: the model moved another way
        (forward, update, seek, import); the caller holds the lock."""
        self.pristine = False
        self._trained = None
        self._replays = None

    def catch_up(self) -> None:
        """Take on the newest state the worker sent: the step of the last
        frame a client was shown, or its last checkpoint (worker.CHECKPOINT
        seconds at most). The caller holds the lock."""
        cp = self.player.checkpoint if self.player is not None else None
        if cp is not None and cp[0] > self.mlp.step:
            self.model_changed()
            self.mlp.load_state_dict(cp[1])
            self.last_loss = cp[2] if cp[2] is not None else self.last_loss

    def take_remote(self, payload: dict) -> None:
        """The worker's state of this session, at a pause."""
        self.model_changed()
        self.mlp.load_state_dict(payload["state"])
        if payload["loss"] is not None:
            self.last_loss = payload["loss"]
        for step, state in payload.get("snapshots", ()):
            self.history.add_snapshot(step, state)
        self._trained = payload.get("trained")  # paused frames show the last step, if there is one

    def settle(self, payload: dict | None = None, stopped: bool = False) -> None:
        """Forget a player that failed (its worker died, or training raised)
        or was `stopped`: take on `payload` (a pause: the worker's state as
        it is now) or else the newest state the player sent, and forget
        every step after it. The caller holds the lock."""
        player = self.player
        if player is None or (player.error is None and not stopped):
            return
        player.final()  # no frame shown from here on is of a step after the one taken in
        if payload is not None:
            self.player = None
            self.take_remote(payload)
            return
        self.catch_up()
        self.player = None
        if player.checkpoint is not None and player.checkpoint[0] == self.mlp.step:
            self.history.add_snapshot(self.mlp.step, player.checkpoint[1])
        self.history.truncate_after(self.mlp.step)  # the history never lists a step it cannot show

    @reads_history
    def settled(self) -> None:
        """Take on what a player that stopped by itself left (the guard's settle())."""

    def play(self, val_every: int = 0) -> None:
        """Start live training on the least-loaded worker (a no-op when it runs)."""
        with self.control:
            with self.lock:
                self._touch()
                self.settle()
                if self.playing:
                    return
            w = self.pool.place(self.id)  # may wait for a worker that is starting
            self.pool.forget(self.id, keep=w)  # it moved: the worker it left forgets it
            with self.lock:
                if self.rebuilding:  # checked here, not before the wait: a replay may begin meanwhile
                    raise Conflict("session is rebuilding a shared link: wait for its replay's reply, then play")
                player = LivePlayer(self, w, val_every)
                try:
                    player.start()
                except RuntimeError as err:
                    raise Conflict(f"live training could not start: {err}; try again") from None
                self.player = player

    def pause(self) -> str | None:
        """Stop live training; returns why it had stopped, if it failed. The
        lock is held throughout: no request sees the model half handed back
        (the worker's reader thread never waits for it)."""
        with self.control:
            player = self.player
            if player is None:  # (only play sets it, under the same control lock)
                return None
            with self.lock:
                self.settle(player.stop(), stopped=True)
            return player.error

    def _touch(self) -> None:
        if self.closed:
            raise NotFound(f"session {self.id} was deleted")
        self.last_used = time.monotonic()

    @property
    def playing(self) -> bool:
        return self.player is not None and self.player.alive

    def idle_for(self, now: float) -> float:
        return 0.0 if self.playing or self.connections else now - self.last_used

    def light_state(self) -> dict:
        return stepping.light_state(self.mlp)

    def config(self) -> ConfigPublic:
        return ConfigPublic(**{k: v for k, v in self.mlp.cfg.to_dict().items() if k in ConfigPublic.model_fields},
                            dataset=self.dataset_id, vocab_size=self.mlp.vocab.size)

    def _need_forward(self) -> None:
        if self.mlp.stepper is None:
            raise Conflict(f"there is no batch to backprop through: POST /api/sessions/{self.id}/forward first")

    def _state(self) -> SessionState:
        m = self.mlp
        rem = m.remaining
        return SessionState(id=self.id, config=self.config(), step=m.step, loss=self.last_loss, mode=m.mode,
                            computed=m.computed, remaining=rem, next=rem[0] if rem else None,
                            vocab=list(m.vocab.chars), n_params=m.n_params, playing=self.playing)

    @locked
    def state(self) -> SessionState:
        return self._state()

    # ---- stepping through one batch ----------------------------------------
    @mutating
    def forward(self) -> ForwardResult:
        self.model_changed()
        self.last_loss = self.mlp.forward()
        self._dirty = True
        return ForwardResult(step=self.mlp.step, loss=self.last_loss)

    def _backward_result(self) -> BackwardResult:
        m = self.mlp
        checks = m.checks() if m.computed else {}
        return BackwardResult(mode=m.mode, computed=m.computed, remaining=m.remaining,
                              checks={k: c.to_dict() for k, c in checks.items()})

    @mutating
    def backward(self, mode: str = "atomic", nodes: int | None = None) -> BackwardResult:
        self._need_forward()
        self.mlp.backward(nodes, mode)
        return self._backward_result()

    @mutating
    def back(self) -> BackwardResult:
        self._need_forward()
        self.mlp.back()
        return self._backward_result()

    @mutating
    def update(self) -> UpdateResult:
        self._need_forward()
        m = self.mlp
        missing = [p for p in PARAMS if p not in m.grads]
        if missing:
            raise Conflict(f"backward is not complete: no gradient yet for {', '.join(missing)}; "
                           f"{len(m.remaining)} nodes remain (POST /api/sessions/{self.id}/backward)")
        lr = m.lr_at(m.step)
        sat = tanh_stats(m.values["h"])["saturated"]
        ratios, loss = stepping.update_ratios(m.params, m.grads, lr), float(m.values["loss"])
        replayed = self._replays == m.step + 1
        self.model_changed()
        m.update()
        self.history.add_point(m.step, loss, lr, sat, ratios, replayed=replayed)
        self.history.add_snapshot(m.step, self.light_state())
        self._dirty = False
        return UpdateResult(step=m.step)

    # ---- training -------------------------------------------------------------
    def train_steps(self, steps: int, until: float | None = None,
                    keep: Callable[[int, dict], None] | None = None) -> int:
        """Up to `steps` fused SGD steps, recorded in the history as a step at
        a time records them (the same points and snapshots, in the same
        order); `until`: stopping once time.monotonic() has passed it. The
        caller holds the lock; the steps taken. They go in runs of
        MLP.fused_steps (batches drawn together) that end on each snapshot's
        step, the generator being snapshotted as that step leaves it, and
        hold CHUNK_WORK at most. `keep(step, state)`: called with each snapshot
        (a shared link's replay keeps some, trajectories.py)."""
        m, st = self.mlp, self.settings
        most = max(1, CHUNK_WORK // (m.cfg.batch_size * m.cfg.n_hidden))
        self.before_training()
        points, done, n = [], 0, 0

        def record(loss, cache, grads, lr):
            points.append(stepping.point(m, loss, cache, grads, lr, st.stats_every))
            if len(points) == n:  # a run's last step: a paused frame shows it
                self._trained = (m.step, loss, lr, cache, grads)

        while done < steps and (until is None or not done or time.monotonic() < until):
            n = min(steps - done, most, st.snapshot_every - m.step % st.snapshot_every)
            self._trained = None  # the last run's tensors go before this run allocates its own
            try:
                m.fused_steps(n, record)
            finally:  # a step that failed midway: the steps before it are recorded all the same
                self.history.add_points(points)
                points.clear()
            done += n
            if m.step % st.snapshot_every == 0:
                state = self.light_state()
                self.history.add_snapshot(m.step, state)
                if keep is not None:
                    keep(m.step, state)
        if done:
            self.last_loss = self._trained[1]
        return done

    def before_training(self) -> None:
        """Snapshot a step that replay could not rebuild; the caller holds the lock."""
        if self._dirty:
            self.history.add_snapshot(self.mlp.step, self.light_state())
            self._dirty = False

    @mutating
    def train(self, steps: int) -> TrainResult:
        c = self.mlp.cfg
        most = max(1, TRAIN_WORK // (c.batch_size * c.n_hidden))
        if steps > most:  # one request must not hold the session (and a thread) for minutes
            raise Unprocessable(f"steps: at most {most} a request for batch_size {c.batch_size} and n_hidden "
                                f"{c.n_hidden} ({MAX_TRAIN_STEPS} at the lecture's size); send several "
                                "requests, or train live with play")
        self.train_steps(steps)
        return TrainResult(step=self.mlp.step, loss=self.last_loss)

    @rebuild_step
    def train_for(self, steps: int, seconds: float, keep: Callable[[int, dict], None] | None = None) -> int:
        """Up to `steps` steps as train() takes them, stopping at the end of
        the run (train_steps) in which `seconds` have passed: one slice of a
        replay (server/sessions/replay.py). The steps taken."""
        return self.train_steps(steps, time.monotonic() + seconds, keep)

    @rebuild_step
    def rebuild(self) -> tuple[str, dict] | None:
        """Begin a shared link's fused replay, which refuses other changes
        until rebuilt() (a moved model must not be kept as the link's
        training): (the key of the training it does, its first state) while
        the session is as created, else None."""
        if self.rebuilding:
            raise Conflict("session is rebuilding a shared link already: wait for that replay's reply")
        self.rebuilding = True
        m = self.mlp
        if not self.pristine or m.step or len(self.history.steps):
            return None
        return link_key(self.dataset_id, m.cfg.to_dict()), self.light_state()

    def rebuilt(self) -> None:
        """End a shared link's fused replay (its `finally`): the server's own
        work, so never turned away by the request cap nor refused while
        training live, which would leave the session rebuilding for good."""
        with self.lock:
            self.rebuilding = False

    @rebuild_step
    def resume(self, state: dict, points: list[tuple], snapshots: list[tuple[int, dict]]) -> None:
        """Take on a state that a replay of this same link trained (trajectories.py),
        with the points before it and the snapshots a replay keeps to there."""
        self.model_changed()
        self.mlp.load_state_dict(state)
        self.history.add_points(points)
        for step, snap in snapshots:
            self.history.add_snapshot(step, snap)

    @mutating
    def seek(self, step: int) -> SessionState:
        kept = self.history.full_steps_list()
        where = (f"steps {kept[0]}..{kept[-1]} are kept in full (the last "
                 f"{self.settings.history_full_steps} at most)")
        if step > kept[-1]:
            raise NotFound(f"step {step} has not happened: this session's history ends at step {kept[-1]}; {where}")
        found = self.history.locate(step) if step >= kept[0] else None
        if found is None:
            raise Conflict(f"step {step} is no longer kept; {where}")
        m = self.mlp
        self.model_changed()
        m.load_state_dict(found[1])
        for _ in range(step - found[0]):  # only fused steps lie between snapshots
            m.train_step("fused")
        # show that step whole: the batch it would train on, and every gradient
        self.last_loss = m.forward()
        m.backward()
        self._dirty = True
        self._replays = step + 1
        return self._state()

    # ---- derive it yourself (issue 16) ---------------------------------------
    @locked
    def derive_inputs(self):
        """The current batch's tensors and true gradients, and a second
        batch's, for the sandbox (server/derive/attempts.py); nothing moves."""
        self._need_forward()
        return attempts.inputs(self.mlp)

    # ---- looking inside -----------------------------------------------------------
    @locked
    def tensor(self, name: str, reference: bool = False) -> TensorPublic:
        """GET /tensors/{name}: the inspector's entries of the node (inspected.tensor)."""
        m = self.mlp
        if name not in BY_NAME:
            raise NotFound(f"no node {name!r}; nodes are: {', '.join(BY_NAME)}")
        got = inspected.tensor(m, name, reference)
        if got is None:
            raise Conflict(f"{name} has no value yet: run forward first (POST /api/sessions/{self.id}/forward)")
        return got

    def _source(self) -> frames.FrameSource:
        m = self.mlp
        t = self._trained
        if t is not None and not m.values and t[0] == m.step:
            # paused after training: show the step just taken, as live frames do
            return stepping.live_source(m, t, self.playing)
        return frames.stepper_source(m, self.last_loss, self.playing)

    def frame(self, nodes=(), fmt: str = "json", inspect=None) -> str | bytes:
        """The current frame; while training live, of the worker's newest
        step (a step at most to wait for, and the frame's build). `inspect`
        (an InspectSpec) adds the inspector's tensors to a paused frame."""
        self._touch()
        player = self.player
        if player is not None and player.alive:
            try:  # a step at most, and the frame's build: seconds only for a huge model
                got = player.request_frame(0, nodes, fmt).result(FRAME_TIMEOUT)
            except TimeoutError:
                got = None  # a frame of the model as the server last saw it, not none at all
            if got is not None:
                return got[1]
        with self.lock.request():
            self.settle()
            seen = inspected.entries(self.mlp, inspect) if inspect is not None else None
            return frames.build(self._source(), nodes, fmt, inspected=seen, cache=self.summaries)
