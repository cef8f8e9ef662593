"""A shared link's training, done once for everyone who opens it.

Training from step 0 is deterministic: the same word list (its id is its
content) and the same config give the same parameters, batches and history
at every step, whichever session trains them. So a replay (replay.py) keeps
what it trains, a copy of the model every `stride` updates and the history's
points up to it, and a later replay of the same link starts from the newest
copy it can use instead of from step 0. A class opening a teacher's link
waits for one replay, not for thirty.

A replay that finds another one of the same link ahead of it waits for that
one (and reports its progress) rather than training the same updates beside
it, unless that one has stopped training (its client stopped reading, say).
From a kept state it trains the last `history_full_steps + snapshot_every`
updates again, so that its session ends with the seek targets a whole
replay leaves; to a step an earlier replay ended on, it takes that one's
seek targets too and trains only the updates after the last of them.

Kept in memory, counted against the server's budget, under
`replay_cache_mb`; the least recently used link goes first."""
from __future__ import annotations

import asyncio
import json
import math
import threading
import time

import torch

from .budget import Budget
from .errors import ApiError

STRIDE_STEPS = 1000  # about the updates one copy saves at least: ~0.2 s at the lecture's size
STALL = 5.0  # seconds without a snapshot after which a replay stops waiting for the one leading
POINT_BYTES = 200  # a kept history point: a tuple of Python numbers and its list slot


def state_bytes(state: dict) -> int:
    return sum(t.numel() * t.element_size() for t in state["params"].values()) + 8192


class Trajectory:
    """One link's training so far: states[k * stride] for k = 0, 1, ...;
    chunks[k]: the history points of the updates k*stride+1 .. (k+1)*stride;
    and how each replay of it ended, by its total (`ends`)."""

    def __init__(self, start: dict, stride: int):
        self.stride = stride
        self.states = [start]
        self.chunks: list[list[tuple]] = []
        # total -> (base, the points of base+1 .. total, the seek snapshots a replay to total ends with)
        self.ends: dict[int, tuple[int, list[tuple], list[tuple[int, dict]]]] = {}
        self.bytes = state_bytes(start)
        self.leader: int | None = None  # the total of the replay extending it, while one does
        self.beat = time.monotonic()  # when the leader last took a snapshot
        self.growing = True  # False once the cap stopped it
        self.used = time.monotonic()

    @property
    def end(self) -> int:
        return (len(self.states) - 1) * self.stride

    def ahead(self, total: int, goal: int) -> bool:
        """Whether a replay of `total` updates should wait: one is training this link, and not stalled, and
        has yet to keep the state at `goal` (or, of the same total, its end)."""
        return (self.leader is not None and self.growing and time.monotonic() - self.beat < STALL
                and (self.end < goal or self.leader == total and total not in self.ends))

    def resume(self, total: int, goal: int) -> tuple[int, dict, list[tuple], list[tuple[int, dict]]]:
        """Where a replay of `total` updates starts: (step, state, the points
        up to it, the snapshots to keep). From a replay that ended at `total`
        before: its newest snapshot short of it (an update or more is left to
        train, for the frame of the last one). Otherwise from the newest
        state kept at or before `goal` (step 0: the start)."""
        if total in self.ends:
            base, tail, snaps = self.ends[total]
            step, state = max((x for x in snaps if x[0] < total), key=lambda x: x[0])
            before = [p for chunk in self.chunks[:base // self.stride] for p in chunk]
            return step, state, before + [p for p in tail if p[0] <= step], [x for x in snaps if x[0] <= step]
        k = min(goal, self.end) // self.stride
        return k * self.stride, self.states[k], [p for chunk in self.chunks[:k] for p in chunk], \
            [(k * self.stride, self.states[k])]


class Trajectories:
    def __init__(self, max_bytes: int, snapshot_every: int, budget: Budget):
        self.max_bytes, self.budget = max_bytes, budget
        # a multiple of the snapshot interval: training runs end on those steps (Session.train_steps)
        self.stride = snapshot_every * math.ceil(STRIDE_STEPS / snapshot_every)
        self._links: dict[str, Trajectory] = {}
        self._lock = threading.Lock()
        # one replay's slice trains at a time: beside each other, threads only
        # fight for the GIL (30 replays at once took ~2.5x as long in all)
        self.turns = asyncio.Semaphore(1)

    def join(self, key: str, start: dict) -> Trajectory | None:
        """The training of the link `key`, kept so far, for a replay starting at
        `start` (a session as created: step 0); None if it could not share it."""
        with self._lock:
            t = self._links.get(key)
            if t is None:
                if not self._fit(state_bytes(start), t):
                    return None
                t = self._links[key] = Trajectory(start, self.stride)
                self._charge()
            elif not torch.equal(t.states[0]["generator"], start["generator"]):
                return None  # not the same start after all: train it apart
            t.used = time.monotonic()
            return t

    def extend(self, t: Trajectory, state: dict, points: list[tuple]) -> None:
        """Keep the next stride of `t`: its end state and its points."""
        with self._lock:
            cost = state_bytes(state) + POINT_BYTES * len(points)
            if t not in self._links.values() or not self._fit(cost, t):
                t.growing = False  # dropped meanwhile, or no room: the link is kept as far as it got
                return
            t.states.append(state)
            t.chunks.append(points)
            t.bytes += cost
            self._charge()

    def finish(self, t: Trajectory, total: int, ending: tuple[int, list[tuple], list[tuple[int, dict]]]) -> None:
        """Keep how a replay of `total` updates ended (History.ending): its
        seek snapshots, and the points since the kept state before them."""
        with self._lock:
            base, tail, snaps = ending
            cost = sum(state_bytes(x) for _, x in snaps) + POINT_BYTES * len(tail)
            if total in t.ends or t not in self._links.values() or not self._fit(cost, t):
                return
            t.ends[total] = (base, tail, snaps)
            t.bytes += cost
            self._charge()

    def _fit(self, cost: int, keep: Trajectory | None) -> bool:
        """Make room for `cost` more bytes, dropping least recently used links other than `keep`."""
        others = sorted((t.used, key) for key, t in self._links.items() if t is not keep)
        while others and self._total() + cost > self.max_bytes:
            del self._links[others.pop(0)[1]]
        return self._total() + cost <= self.max_bytes

    def _total(self) -> int:
        return sum(t.bytes for t in self._links.values())

    def _charge(self) -> None:
        while True:
            try:
                return self.budget.charge("replays", self._total(), "the shared links' kept training")
            except ApiError:  # sessions come first: keep what fits beside them
                if not self._links:
                    return self.budget.release("replays")
                del self._links[min(self._links, key=lambda k: self._links[k].used)]

def link_key(dataset_id: str, config: dict) -> str:
    return json.dumps([dataset_id, config], sort_keys=True)
