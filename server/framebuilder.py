"""Live frames built in a helper process, so that they cost training a copy.

Why a process: a frame is ~40 small torch ops plus ~1 ms of text
formatting, ~2 ms in all. Built by the training thread it took 4-9% of the
training speed at 20-60 frames/s; built by another thread of the server it
is worse, as the two threads then trade the GIL on every torch op. A
process has its own GIL: the trainer only packs the frame's tensors into
one buffer per dtype (~0.1 ms), and the frame is summarised on the other
core while training goes on.

Protocol, over the helper's stdin/stdout: [uint32 LE length][pickle] each
way. A job is (meta, {dtype: bytes}); an answer is ("ok", frame, stats) or
("error", text). Jobs are answered in order. The helper is started on the
first live frame; until it answers (~1-2 s, importing torch), and if it ever
dies, frames are built in-process as before: same bytes, only slower."""
from __future__ import annotations

import logging
import pickle
import sys
import threading
from collections import deque
from concurrent.futures import Future

import torch

from . import frames, pipes

log = logging.getLogger("server.framebuilder")
MAX_IN_FLIGHT = 2  # jobs queued at the helper: more would only make frames late


# ---- packing: a FrameSource <-> (meta, buffers) ---------------------------
def pack(src: frames.FrameSource, nodes: list[str], fmt: str) -> bytes:
    """A live FrameSource as one message. Tensors shared by several names
    (a parameter is in `values` and `params`) are sent once, so the helper's
    summaries batch them exactly as the in-process build does."""
    tables = {"values": src.values, "grads": src.grads, "params": src.params,
              "bn": {"running_mean": src.running_mean, "running_var": src.running_var}}
    slot: dict[int, int] = {}  # id(tensor) -> index in `tensors`
    tensors: list[torch.Tensor] = []
    refs = {}
    for tname, table in tables.items():
        refs[tname] = {}
        for name, t in table.items():
            if id(t) not in slot:
                slot[id(t)] = len(tensors)
                tensors.append(t.detach())
            refs[tname][name] = slot[id(t)]
    layout, by_dtype, ends = [], {}, {}
    for t in tensors:
        key = str(t.dtype).removeprefix("torch.")
        by_dtype.setdefault(key, []).append(t)
        offset = ends.get(key, 0)
        ends[key] = offset + t.numel()
        layout.append((key, tuple(t.shape), offset, t.numel()))
    bufs = {k: torch.cat([x.reshape(-1) for x in g]).numpy().tobytes() for k, g in by_dtype.items()}
    meta = {"step": src.step, "loss": src.loss, "lr": src.lr, "mode": src.mode, "playing": src.playing,
            "computed": src.computed, "remaining": src.remaining, "steps_per_sec": src.steps_per_sec,
            "layout": layout, "refs": refs, "nodes": list(nodes), "fmt": fmt}
    return pickle.dumps((meta, bufs), protocol=pickle.HIGHEST_PROTOCOL)


def unpack(message: bytes) -> tuple[frames.FrameSource, list[str], str]:
    meta, bufs = pickle.loads(message)
    flat = {k: torch.frombuffer(bytearray(b), dtype=getattr(torch, k)) if b else None for k, b in bufs.items()}
    tensors = [flat[k][off:off + n].view(shape) for k, shape, off, n in meta["layout"]]
    table = {tname: {name: tensors[i] for name, i in refs.items()} for tname, refs in meta["refs"].items()}
    src = frames.FrameSource(
        step=meta["step"], loss=meta["loss"], lr=meta["lr"], mode=meta["mode"], playing=meta["playing"],
        computed=meta["computed"], remaining=meta["remaining"], values=table["values"], grads=table["grads"],
        params=table["params"], running_mean=table["bn"]["running_mean"],
        running_var=table["bn"]["running_var"], steps_per_sec=meta["steps_per_sec"])
    return src, meta["nodes"], meta["fmt"]


def frame_stats(d: dict) -> tuple[float | None, dict[str, float | None]]:
    """What the history keeps of a live frame: saturation and update:data ratios."""
    sat = d["tanh"]["saturated"] if d["tanh"] else None
    return sat, {k: v["update_data_log10"] for k, v in d["params"].items()}


# ---- the helper process ----------------------------------------------------
def helper_main() -> None:
    torch.set_num_threads(1)
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but answers may reach the pipe
    pipes.write(out, pickle.dumps(("ready",)))
    while (msg := pipes.read(inp)) is not None:
        stats = []
        try:
            src, nodes, fmt = unpack(msg)
            frame = frames.build(src, nodes, fmt, lambda d: stats.append(frame_stats(d)))
            answer = ("ok", frame, stats[0])
        except Exception as err:  # noqa: BLE001 - goes back to the one who asked
            answer = ("error", f"{type(err).__name__}: {err}")
        pipes.write(out, pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))


# ---- the server's side -------------------------------------------------------
class FrameBuilder:
    """One helper process for the whole server, started on first use.

    `submit` returns a Future of (frame, stats), or None when the helper
    cannot take the job now (not started yet, busy, or dead): the caller
    then builds in-process or waits for a later step."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._proc: subprocess.Popen | None = None
        self._ready = threading.Event()
        # the reader never waits for a writer: a writer may block on a full
        # pipe until the helper reads, and the helper may be blocked writing
        # an answer until the reader reads
        self._wlock = threading.Lock()  # held while writing a job
        self._lock = threading.Lock()  # guards _pending and _dead; never held across I/O
        self._pending: deque[Future] = deque()
        self._dead = False
        self.error: str | None = None  # why the helper stopped, if it did
        self.built = 0  # frames the helper has built

    @property
    def alive(self) -> bool:
        return self._ready.is_set() and not self._dead

    def start(self) -> None:
        """Start the helper (returns at once; a no-op when started)."""
        with self._wlock:
            if not self.enabled or self._proc is not None:
                return
            self._proc = pipes.spawn("server.framebuilder")
        threading.Thread(target=self._reader, name="frame-builder-reader", daemon=True).start()

    def submit(self, src: frames.FrameSource, nodes: list[str], fmt: str) -> Future | None:
        if not self.alive:
            self.start()
            return None
        if len(self._pending) >= MAX_IN_FLIGHT:
            return None
        # packed outside the lock: trainers of other sessions go on
        return self.submit_packed(pack(src, nodes, fmt))

    def submit_packed(self, job: bytes) -> Future | None:
        """As submit, for a job packed already (by the training process)."""
        if not self.alive:
            self.start()
            return None
        if len(self._pending) >= MAX_IN_FLIGHT:
            return None
        fut: Future = Future()
        with self._wlock:
            with self._lock:  # queued before it is sent: the answer may come at once
                if self._dead:
                    return None
                self._pending.append(fut)
            try:
                pipes.write(self._proc.stdin, job)
            except (OSError, ValueError) as err:  # the helper is gone
                self._die(f"sending a job failed: {err}")
                return None
        return fut

    def _reader(self) -> None:
        out = self._proc.stdout
        first = pipes.read(out)
        if first is None:
            self._die("it exited while starting")
            return
        self._ready.set()
        while (msg := pipes.read(out)) is not None:
            answer = pickle.loads(msg)
            with self._lock:
                fut = self._pending.popleft()
            if answer[0] == "ok":
                self.built += 1
                fut.set_result(answer[1:])
            else:
                fut.set_exception(RuntimeError(f"frame helper: {answer[1]}"))
        self._die(f"it exited with code {self._proc.poll()}")

    def _die(self, why: str) -> None:
        """Waiting jobs fail; later ones are built in-process."""
        with self._lock:
            if not self._dead:
                log.warning("frame helper stopped (%s): frames are built in the server process", why)
            self._dead, self.error = True, why
            waiting, self._pending = list(self._pending), deque()
        for fut in waiting:
            fut.set_exception(RuntimeError(f"frame helper stopped: {why}"))

    def close(self) -> None:
        with self._lock:
            self._dead = True
        pipes.end(self._proc)


if __name__ == "__main__":
    helper_main()
