"""Live training in a process of its own (`python -m server.trainer WAKE_FD CPU`).

Why: torch hands the GIL back on every op, so a training thread inside the
server pays for whatever else the server does (the event loop, sends, the
frame helper's answers), ~1 ms a frame and more, measured. In this process
training shares its GIL with nothing: one thread, which steps every playing
session in turn. It looks at its pipe only when the server has counted a
message in a shared 8-byte word ("wake"): a select() between steps was
measured to cost ~5% of the training speed, reading the word costs nothing.

The server's side is remote.py. The server keeps the truth between plays;
a play sends the session's state here, a pause sends it back (with the last
step's tensors and the seek snapshots taken meanwhile). While playing, the
steps' history points go back in batches every FLUSH seconds, and a frame
request is answered with the step's tensors packed (framebuilder.pack): the
server summarises them, not this process. The val loss, every val_every
steps, is computed beside it, in one more process (valloss.py, see there
why); a point waits for its val loss before it is sent (a few ms), so the
server, and the pages that poll its history, get every point whole.

Protocol, both ways: [uint32 LE length][pickle] (pipes.py).
  server -> here: ("play", sid, init | None, state, opts) (init: the model's config,
                  data set id and Dataset, on a session's first play), ("pause", rid, sid),
                  ("sync", rid, sid), ("frame", rid, sid, min_step, nodes, fmt), ("drop", sid)
  here -> server: ("ready",), ("reply", rid, payload), ("points", sid, [Point], steps/s),
                  ("error", sid, text)"""
from __future__ import annotations

import dataclasses
import mmap
import os
import pickle
import select
import sys
import time
import weakref
from collections import deque

import torch

from model import MLP

from . import pipes, stepping, valloss
from .framebuilder import pack
from .pipes import LEN

FLUSH = 0.05  # seconds between batches of history points
SPEED_WINDOW = 0.5  # seconds over which steps/s is measured
AWAY: set[int] = set()  # the CPUs off the pinned training core (pin() sets them)
NICE = 0  # the server's nice value, before prioritise()


class Pipe:
    """Framed messages over two file descriptors, and the wake counter the
    server bumps before and after writing each message (before: so a long
    one is read while it is written; after: so none is left unread)."""

    def __init__(self, fd_in: int, fd_out: int, wake_fd: int | None):
        self.fd_in, self.fd_out, self._buf = fd_in, fd_out, bytearray()
        self.wake = None  # none on the pipe to the val loss process
        if wake_fd is not None:
            self._wake = mmap.mmap(wake_fd, 8)
            self.wake = memoryview(self._wake).cast("Q")
        self.seen = 0

    def pending(self) -> bool:
        """Is something there, or on its way? (half a message counts). An
        odd count: the server is writing now. Looked at between its count
        and its first byte, the pipe is empty; without the odd count this
        would then never look again, and a message bigger than the pipe (a
        play's data set) would leave the server blocked for good."""
        count = self.wake[0]
        return count != self.seen or bool(count & 1) or bool(self._buf)

    def send(self, msg) -> None:
        body = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
        data = memoryview(LEN.pack(len(body)) + body)
        while data:
            data = data[os.write(self.fd_out, data):]

    def receive(self, block: bool) -> list | None:
        """The messages that arrived (waiting for one if `block`); None at EOF."""
        if self.wake is not None:
            self.seen = self.wake[0]
        ready, _, _ = select.select([self.fd_in], [], [], None if block else 0)
        if ready:
            chunk = os.read(self.fd_in, 1 << 20)
            if not chunk:
                return None
            self._buf += chunk
        out = []
        while len(self._buf) >= LEN.size:
            (n,) = LEN.unpack_from(self._buf)
            if len(self._buf) < LEN.size + n:
                break
            out.append(pickle.loads(self._buf[LEN.size:LEN.size + n]))
            del self._buf[:LEN.size + n]
        return out


class ValLoss:
    """Val losses, computed by the val loss process (valloss.py), started
    with the trainer; inline, on the run's second model, when it cannot run."""

    def __init__(self):
        self.proc = None
        self.pipe: Pipe | None = None
        self.dead = False
        self.known: set[str] = set()  # sessions whose model the process has
        self.results: dict[tuple[str, int], float] = {}

    def start(self) -> None:
        """Start the process now, not at the first val loss: it takes a second
        or two to import torch, and training must not wait for that."""
        try:
            self.proc = pipes.spawn("server.valloss", ",".join(map(str, sorted(AWAY))), str(NICE))
            self.pipe = Pipe(self.proc.stdout.fileno(), self.proc.stdin.fileno(), None)
        except Exception as err:  # noqa: BLE001 - val losses are then computed inline
            self._die(repr(err))

    def _die(self, why: str) -> None:
        if not self.dead:
            print(f"training process: the val loss process stopped ({why}); val losses are computed inline",
                  file=sys.stderr)
        self.dead = True

    def submit(self, run: Run, step: int, state: dict) -> None:
        """Ask for the val loss of `run` at `step` (its light_state: `state`)."""
        try:
            if self.proc is None and not self.dead:
                self.start()
            if not self.dead:
                if run.sid not in self.known:
                    # the val split only: ~0.7 MB for the default data set, not ~5
                    val = dataclasses.replace(run.m.data, words=(), split_words={},
                                              splits={"val": run.m.data.splits["val"]})
                    self.pipe.send(("model", run.sid, run.m.cfg, val))
                    self.known.add(run.sid)
                self.pipe.send(("val", run.sid, step, state))
        except Exception as err:  # noqa: BLE001 - training goes on; take() computes it inline
            self._die(repr(err))

    def _collect(self, block: bool) -> None:
        msgs = self.pipe.receive(block)
        if msgs is None:
            self._die("it exited")
            return
        for msg in msgs:
            if msg[0] == "val":
                self.results[(msg[1], msg[2])] = msg[3]

    def take(self, run: Run, step: int, state: dict, wait: bool) -> float | None:
        """The val loss asked for, if it is there (`wait`: once it is)."""
        key = (run.sid, step)
        while key not in self.results and not self.dead and self.pipe is not None:
            self._collect(block=wait)
            if not wait:
                break
        if key in self.results:
            return self.results.pop(key)
        if self.dead or self.pipe is None:
            if run.shadow is None:
                run.shadow = MLP(run.m.cfg, run.m.data)
            return valloss.val_loss(run.shadow, state)
        return None

    def drop(self, sid: str) -> None:
        self.results = {k: v for k, v in self.results.items() if k[0] != sid}
        if sid in self.known:
            self.known.discard(sid)
            try:
                self.pipe.send(("drop", sid))
            except Exception as err:  # noqa: BLE001 - as in submit: val losses are then computed inline
                self._die(repr(err))


class Run:
    """One session's model in this process."""

    def __init__(self, sid: str, m: MLP, vals: ValLoss):
        self.sid, self.m, self.val_loss = sid, m, vals
        self.shadow: MLP | None = None  # a second model: the val loss, when computed inline
        self.vals: deque[tuple[int, dict]] = deque()  # (step, its light_state): val losses asked for
        self.playing = False
        self.requests: list[tuple] = []  # (rid, min_step, nodes, fmt)
        self.points: list[stepping.Point] = []
        self.snapshots: deque[tuple[int, dict]] = deque()
        self.trained: tuple | None = None  # (step, loss, lr, cache, grads) of the last step
        self.loss: float | None = None
        self.speed: float | None = None

    def play(self, state: dict, opts: dict) -> None:
        self.m.load_state_dict(state)
        self.opts, self.playing, self.trained, self.speed = opts, True, None, None
        self.snapshots.clear()
        self._t0, self._n0 = time.perf_counter(), self.m.step

    def step(self) -> None:
        m, o = self.m, self.opts
        self.trained = None  # free the last step's tensors before this one allocates
        loss, cache, grads, lr, point = stepping.train_step(m, o["stats_every"])
        self.trained, self.loss = (m.step, loss, lr, cache, grads), loss
        self.points.append(point)
        if o["val_every"] and m.step % o["val_every"] == 0:
            state = stepping.light_state(m)  # as this step left it (~10 us)
            self.vals.append((m.step, state))
            self.val_loss.submit(self, m.step, state)
        if m.step % o["snapshot_every"] == 0:
            # kept here until pause (seek needs them only then), as many as
            # the server's history keeps: the last full_steps steps
            self.snapshots.append((m.step, stepping.light_state(m)))
            while len(self.snapshots) > 1 and self.snapshots[1][0] <= m.step - o["full_steps"] + 1:
                self.snapshots.popleft()

    def measure(self, now: float) -> None:
        """Steps/s over the last SPEED_WINDOW seconds (at each flush, not each step)."""
        if now - self._t0 >= SPEED_WINDOW:
            self.speed, self._t0, self._n0 = (self.m.step - self._n0) / (now - self._t0), now, self.m.step

    def state(self) -> dict:
        return {"state": stepping.light_state(self.m), "loss": self.loss}

    def whole_points(self, wait: bool) -> list:
        """Take the points that are whole: all before the first whose val
        loss has not come back (`wait`: all, once it has)."""
        points = self.points
        while self.vals:
            step, state = self.vals[0]
            val = self.val_loss.take(self, step, state, wait)
            if val is None:
                break
            self.vals.popleft()
            i = step - points[0][0]  # one point per step, in order, since the last flush
            points[i] = (*points[i][:5], val)
        cut = self.vals[0][0] - points[0][0] if self.vals else len(points)
        self.points = points[cut:]
        return points[:cut]


class Trainer:
    def __init__(self, pipe: Pipe):
        self.pipe = pipe
        self.runs: dict[str, Run] = {}
        self.val_loss = ValLoss()
        self.datasets: weakref.WeakValueDictionary = weakref.WeakValueDictionary()  # kept alive by the runs' models
        self.parent = os.getppid()

    def flush(self, run: Run, wait: bool = False) -> None:
        """Send the run's new history points (`wait`: all, val losses included)."""
        points = run.whole_points(wait) if run.points else []
        if points:
            self.pipe.send(("points", run.sid, points, run.speed))

    def stop(self, run: Run) -> None:
        run.playing = False
        for rid, *_ in run.requests:
            self.pipe.send(("reply", rid, None))  # no frame: training stopped first
        run.requests = []
        self.flush(run, wait=True)

    def handle(self, msg: tuple) -> None:
        kind = msg[0]
        if kind == "play":
            _, sid, init, state, opts = msg
            if init is not None:  # (config, data set id, Dataset)
                cfg, key, data = init
                # sessions on one data set share one copy of it (~5 MB for the default)
                data = self.datasets.setdefault((key, cfg.block_size), data)
                self.val_loss.drop(sid)  # a new model (an import may change its size): sent again
                self.runs[sid] = Run(sid, MLP(cfg, data), self.val_loss)
            self.runs[sid].play(state, opts)
        elif kind == "drop":
            self.runs.pop(msg[1], None)
            self.val_loss.drop(msg[1])
        elif kind in ("pause", "sync"):
            _, rid, sid = msg
            run = self.runs.get(sid)
            if run is None:
                self.pipe.send(("reply", rid, None))
                return
            if kind == "pause":
                self.stop(run)
            else:
                self.flush(run, wait=True)  # a read while training: the history up to the state read
            payload = run.state()
            if kind == "pause":
                payload["trained"], payload["snapshots"] = run.trained, list(run.snapshots)
                run.trained = None
                run.snapshots.clear()
            self.pipe.send(("reply", rid, payload))
        elif kind == "frame":
            _, rid, sid, min_step, nodes, fmt = msg
            run = self.runs.get(sid)
            if run is None or not run.playing:
                self.pipe.send(("reply", rid, None))
            else:
                run.requests.append((rid, min_step, nodes, fmt))

    def refuse(self, msg: tuple, why: str) -> None:
        if msg[0] == "play":
            self.runs.pop(msg[1], None)  # half built: the next play sends it whole again
            self.pipe.send(("error", msg[1], f"live training could not start: {why}"))
        elif msg[0] in ("pause", "sync", "frame"):
            self.pipe.send(("reply", msg[1], None))

    def serve(self, run: Run) -> None:
        """Answer the frame requests this step satisfies: the step's tensors, packed."""
        step = run.m.step
        due = [r for r in run.requests if step >= r[1]]
        if not due:
            return
        run.requests = [r for r in run.requests if step < r[1]]
        self.flush(run)  # the server has the step's point before its frame's statistics
        src = stepping.live_source(run.m, run.trained, True, run.speed)
        for rid, _, nodes, fmt in due:
            self.pipe.send(("reply", rid, (step, pack(src, nodes, fmt))))

    def loop(self) -> None:
        # the hot path is the inner `for`: a step, and little else per step
        next_flush, playing = 0.0, []
        while True:
            if not playing or self.pipe.pending():
                msgs = self.pipe.receive(block=not playing)
                if msgs is None:
                    return  # the server closed the pipe
                for msg in msgs:
                    try:
                        self.handle(msg)
                    except Exception as err:  # noqa: BLE001 - a bad play must not end the others
                        self.refuse(msg, f"{type(err).__name__}: {err}")
                playing = [r for r in self.runs.values() if r.playing]
                if msgs:
                    continue
            failed = False
            for run in playing:
                try:
                    run.step()
                except Exception as err:  # noqa: BLE001 - reported to the session's clients
                    self.stop(run)
                    self.pipe.send(("error", run.sid, f"live training stopped: {type(err).__name__}: {err}"))
                    failed = True
                    continue
                if run.requests:
                    self.serve(run)
            if failed:
                playing = [r for r in playing if r.playing]
            now = time.perf_counter()
            if now >= next_flush:
                for run in playing:
                    run.measure(now)
                    self.flush(run)
                next_flush = now + FLUSH
                if os.getppid() != self.parent:
                    return  # the server was killed: its pipe may never close while we train


def pin(cpu: str) -> bool:
    """Keep this process on one CPU ("last": the last one it may use;
    "none": wherever the kernel likes). Moved between cores, training loses
    its warm caches: pinned, it ran ~5% faster with the server, a browser
    and the frame helper busy on the other core of a 2-core machine."""
    if cpu == "none" or not hasattr(os, "sched_setaffinity"):
        return False
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return False
    target = allowed[-1] if cpu == "last" else int(cpu)
    try:
        os.sched_setaffinity(0, {target})
    except OSError as err:
        print(f"training process: not pinned to CPU {target} ({err}); it may use {allowed}", file=sys.stderr)
        return False
    AWAY.update(set(allowed) - {target})
    return True


def prioritise(nice: int) -> None:
    """Run at this nice value: below 0, the scheduler gives the trainer's core
    back to it when other work (a browser drawing the dashboard) spills over
    from the other cores. Lowering it needs root, CAP_SYS_NICE or a high
    enough RLIMIT_NICE (docker-compose.yml sets one); without, keep ours."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except OSError as err:
        kept = os.getpriority(os.PRIO_PROCESS, 0)
        print(f"training process: nice {nice} not allowed ({err.strerror}; it needs root, CAP_SYS_NICE"
              f" or RLIMIT_NICE >= {20 - nice}); it keeps nice {kept}", file=sys.stderr)


def main() -> None:
    torch.set_num_threads(1)
    global NICE
    NICE = os.getpriority(os.PRIO_PROCESS, 0) if hasattr(os, "getpriority") else 0
    if pin(sys.argv[2] if len(sys.argv) > 2 else "none"):  # alone on a core: only then may it take priority
        prioritise(int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    pipe = Pipe(sys.stdin.fileno(), sys.stdout.fileno(), int(sys.argv[1]))
    sys.stdout = sys.stderr  # nothing but messages may reach the pipe
    trainer = Trainer(pipe)
    trainer.val_loss.start()
    pipe.send(("ready",))
    trainer.loop()


if __name__ == "__main__":
    main()
