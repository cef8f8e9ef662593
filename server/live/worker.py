"""One training worker: a process of the pool (pool.py) that steps every
playing session placed on it. Imports no web code.

Why a process: torch hands the GIL back on every op, so training in a thread
of the server pays for everything else the server does. Here training
shares its interpreter with nothing.

Fair by time, not by steps: the worker always steps the playing run that
has had the least training time so far (its `used` seconds), for a slice of
SLICE seconds (at least one step), then looks at its connection. A big
model's step may take a second; a small run beside it then gets as much
time as the big one, not one step per big step.

It looks at its connection after every step, so a frame asked for is built
after the very next step. The look is a poll object registered once (~0.5
us, against a ~250 us step at the lecture's size): `Connection.poll()`
builds a new selector each call, measured at 4-10 us, 1.5-4% of a step. The server keeps the
truth between plays: `play` brings the session's state here, `pause` sends
it back. While playing, history points go back every FLUSH seconds, with
the model's state every CHECKPOINT seconds, and every frame carries the
state of its step (frames.pack): if this process dies, the server resumes
from the newest of those, so no step a client was shown is lost.

Messages (pickled; `multiprocessing.connection` frames them):
  server -> here: ("play", sid, init | None, state, opts), ("pause", rid, sid),
                  ("frame", rid, sid, min_step, nodes, fmt), ("drop", sid)
  here -> server: ("ready",), ("reply", rid, payload), ("error", sid, text),
                  ("points", sid, [Point], steps/s, used s, state | None)"""
from __future__ import annotations

import pickle
import selectors
import time
import weakref
from collections import deque

import torch

from backprop_ninja.model import MLP

from .. import processes
from ..stream import frames
from . import stepping

SLICE = 0.002  # seconds one run trains before the worker reads messages and picks the next
FLUSH = 0.05  # seconds between batches of history points
CHECKPOINT = 1.0  # seconds between two states sent back: what a crash may lose at most
SPEED_WINDOW = 0.5  # seconds over which steps/s is measured
SHIP_BYTES = 2 << 20  # a step's tensors up to this size go to the server to be summarised (see serve)


def send(conn, msg) -> None:
    # plain pickle, not Connection.send: torch's multiprocessing reductions
    # would move every tensor into shared memory for a one-off message
    conn.send_bytes(pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL))


def receive(conn):
    return pickle.loads(conn.recv_bytes())


class Run:
    """One session's model in this worker."""

    def __init__(self, sid: str, m: MLP):
        self.sid, self.m = sid, m
        self.playing = False
        self.used = 0.0  # seconds of training: the fair share's measure
        self.requests: list[tuple] = []  # (rid, min_step, nodes, fmt)
        self.points: list[stepping.Point] = []
        self.snapshots: deque[tuple[int, dict]] = deque()
        self.trained: tuple | None = None  # (step, loss, lr, cache, grads) of the last step
        self.loss: float | None = None
        self.speed: float | None = None
        self.checkpointed = 0.0

    def play(self, state: dict, opts: dict, used: float) -> None:
        self.m.load_state_dict(state)
        self.opts, self.playing, self.trained, self.speed, self.used = opts, True, None, None, used
        self.snapshots.clear()
        self._t0, self._n0 = time.perf_counter(), self.m.step
        self.checkpointed = self._t0

    def step(self) -> None:
        m, o = self.m, self.opts
        self.trained = None  # free the last step's tensors before this one allocates
        loss, cache, grads, lr, point = stepping.train_step(m, o["stats_every"], o["val_every"])
        self.trained, self.loss = (m.step, loss, lr, cache, grads), loss
        self.points.append(point)
        if m.step % o["snapshot_every"] == 0:
            # seek targets, kept here until a checkpoint or the pause: the last full_steps steps
            self.snapshots.append((m.step, stepping.light_state(m)))
            while len(self.snapshots) > 1 and self.snapshots[1][0] <= m.step - o["full_steps"] + 1:
                self.snapshots.popleft()

    def measure(self, now: float) -> None:
        if now - self._t0 >= SPEED_WINDOW:
            self.speed, self._t0, self._n0 = (self.m.step - self._n0) / (now - self._t0), now, self.m.step

    def state(self, snapshots: bool) -> dict:
        out = {"state": stepping.light_state(self.m), "loss": self.loss}
        if snapshots:
            out["snapshots"] = list(self.snapshots)
            self.snapshots.clear()
        return out


class Worker:
    def __init__(self, conn):
        self.conn = conn
        self.inbox = selectors.DefaultSelector()
        self.inbox.register(conn, selectors.EVENT_READ)
        self.runs: dict[str, Run] = {}
        # sessions on one data set share one copy of it (~5 MB for the default),
        # kept alive by the runs' models
        self.datasets: weakref.WeakValueDictionary = weakref.WeakValueDictionary()

    def playing(self) -> list[Run]:
        return [r for r in self.runs.values() if r.playing]

    def flush(self, run: Run, state: dict | None = None) -> None:
        """Send the run's new points (and `state`, a checkpoint), if any."""
        if run.points or state is not None:
            send(self.conn, ("points", run.sid, run.points, run.speed, run.used, state))
            run.points = []

    def stop(self, run: Run) -> None:
        run.playing = False
        for rid, *_ in run.requests:
            send(self.conn, ("reply", rid, None))  # no frame: training stopped first
        run.requests = []
        self.flush(run)

    def handle(self, msg: tuple) -> None:
        kind = msg[0]
        if kind == "play":
            _, sid, init, state, opts = msg
            if init is not None:  # (config, data set key, Dataset)
                cfg, key, data = init
                data = self.datasets.setdefault((key, cfg.block_size), data)
                self.runs[sid] = Run(sid, MLP(cfg, data))
            others = [r.used for r in self.playing()]
            # a newcomer starts level with the least-served run, not ahead of every other
            self.runs[sid].play(state, opts, min(others, default=0.0))
        elif kind == "drop":
            self.runs.pop(msg[1], None)
        elif kind == "pause":
            _, rid, sid = msg
            run = self.runs.get(sid)
            if run is None:
                send(self.conn, ("reply", rid, None))
                return
            self.stop(run)
            payload = run.state(snapshots=True)
            payload["trained"], run.trained = run.trained, None
            send(self.conn, ("reply", rid, payload))
        elif kind == "frame":
            _, rid, sid, min_step, nodes, fmt = msg
            run = self.runs.get(sid)
            if run is None or not run.playing:
                send(self.conn, ("reply", rid, None))
            else:
                run.requests.append((rid, min_step, nodes, fmt))

    def refuse(self, msg: tuple, why: str) -> None:
        if msg[0] == "play":
            self.runs.pop(msg[1], None)  # half built: the next play sends it whole again
            send(self.conn, ("error", msg[1], f"live training could not start: {why}"))
        elif msg[0] in ("pause", "frame"):
            send(self.conn, ("reply", msg[1], None))

    def serve(self, run: Run) -> None:
        """Answer the frame requests this step satisfies, each the cheaper way
        for this process: the step's tensors packed, for the server to
        summarise (~0.15 ms at the lecture's size, where summarising costs
        ~1.6 ms), or, past SHIP_BYTES, the frame built here (packing ~4 ms
        a MB costs more than summarising ~3.3 ms a MB; 195 MB at the largest
        config: 0.8 s against 0.65 s), with the step's state."""
        step = run.m.step
        due = [r for r in run.requests if step >= r[1]]
        if not due:
            return
        run.requests = [r for r in run.requests if step < r[1]]
        self.flush(run)  # the server has the step's point before its frame's statistics
        src = stepping.live_source(run.m, run.trained, True, run.speed)
        ship = frames.nbytes(src) <= SHIP_BYTES
        state = None if ship else stepping.light_state(run.m)
        for rid, _, nodes, fmt in due:
            if ship:
                answer = ("packed", frames.pack(src, nodes, fmt, run.m.g.get_state()))
            else:
                stats = []
                frame = frames.build(src, nodes, fmt, lambda d: stats.append(frames.frame_stats(d)))
                answer = ("built", step, frame, stats[0], state, src.loss)
            send(self.conn, ("reply", rid, answer))

    def waiting(self) -> bool:
        """Whether a message has arrived (without waiting)."""
        return bool(self.inbox.select(0))

    def read(self, block: bool) -> bool:
        """Handle what arrived (waiting for a message if `block`); False once the server is gone."""
        try:
            while block or self.waiting():
                block = False
                msg = receive(self.conn)
                try:
                    self.handle(msg)
                except Exception as err:  # noqa: BLE001 - a bad play must not end the others
                    self.refuse(msg, f"{type(err).__name__}: {err}")
        except (EOFError, OSError):
            return False
        return True

    def train(self, run: Run, until: float) -> float:
        """Step `run` until `until` (at least once); returns the time then."""
        start = now = time.perf_counter()
        try:
            # one inference-mode block a slice, not one a step (MLP.fused_step):
            # 1.058 -> 1.028 of a bare train_step's instructions a step at the
            # lecture's size (benchmarks/worker_instructions.py)
            with torch.inference_mode():
                while True:
                    run.step()
                    if run.requests:
                        self.serve(run)
                    now = time.perf_counter()
                    if now >= until or self.waiting():  # a message: answer it now (a frame is waited for)
                        break
        except Exception as err:  # noqa: BLE001 - reported to the session's clients
            self.stop(run)
            send(self.conn, ("error", run.sid, f"live training stopped: {type(err).__name__}: {err}"))
            now = time.perf_counter()
        run.used += now - start
        return now

    def loop(self) -> None:
        next_flush = 0.0
        while True:
            if not self.read(block=not self.playing()):
                return
            playing = self.playing()  # after the read: a run it paused or dropped trains no more
            if not playing:
                continue
            run = min(playing, key=lambda r: r.used)
            now = self.train(run, time.perf_counter() + SLICE)
            if now >= next_flush:
                for r in self.playing():
                    r.measure(now)
                    due = now - r.checkpointed >= CHECKPOINT
                    if due:
                        r.checkpointed = now
                    self.flush(r, r.state(snapshots=True) if due else None)
                next_flush = now + FLUSH


def main(conn) -> None:
    torch.set_num_threads(1)
    send(conn, ("ready",))
    Worker(conn).loop()


if __name__ == "__main__":  # started by the pool (processes.start)
    main(processes.connection())
