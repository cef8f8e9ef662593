"""A shared link's training, done once for everyone who opens it.

Training from step 0 is deterministic: the same word list (its id is its
content) and the same config give the same parameters, batches and history
at every step, whichever session trains them. So a replay (replay.py) keeps
what it trains, a copy of the model every `stride` updates and the history's
points up to it, and a later replay of the same link starts from the newest
copy it can use instead of from step 0. A class opening a teacher's link
waits for one replay, not for thirty.

A replay that finds another one of the same link training ahead of it waits
for that one (and reports its progress) rather than training the same
updates beside it, unless that one has taken no snapshot for STALL seconds.
From a kept state it trains at least the last `history_full_steps +
snapshot_every` updates again (225 to 1224 by default), so that its session
ends with the seek targets a whole replay leaves; to a step an earlier
replay ended on, it takes that one's seek targets too and trains only the
updates after the last of them (for the frame of the last update).

Only a session as it was created, that nothing but its replay moves while
it runs (session.py refuses other changes then), trains a link's kept
training. Kept in memory under `replay_cache_mb`, counted in the server's
budget, which takes it back whenever a session would not fit otherwise;
the least recently used link goes first."""
from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections.abc import Callable

import torch

from ..errors import ApiError
from ..guards.budget import Budget
from .history import state_bytes

STRIDE_STEPS = 1000  # about the updates one kept state saves at least: ~0.2 s at the lecture's size
STALL = 5.0  # seconds without a snapshot after which a replay stops waiting for the one leading
POINT_BYTES = 200  # a kept history point: a tuple of Python numbers and its list slot


def same_start(a: dict, b: dict) -> bool:
    return (torch.equal(a["generator"], b["generator"]) and a["params"].keys() == b["params"].keys()
            and all(torch.equal(a["params"][k], b["params"][k]) for k in a["params"])
            and torch.equal(a["running_mean"], b["running_mean"]) and torch.equal(a["running_var"], b["running_var"]))


class Trajectory:
    """One link's training so far: states[k], the state at step k * stride;
    chunks[k], the history points of the updates k*stride+1 .. (k+1)*stride;
    and how each replay of it ended, by its total (`ends`)."""

    def __init__(self, start: dict, stride: int):
        self.stride = stride
        self.states = [start]
        self.chunks: list[list[tuple]] = []
        # total -> (base, the points of base+1 .. total, the seek snapshots a replay to total ends with)
        self.ends: dict[int, tuple[int, list[tuple], list[tuple[int, dict]]]] = {}
        self.bytes = 0  # counted as Trajectories keeps its parts
        self.leader: int | None = None  # the total of the replay extending it, while one does
        self.beat = time.monotonic()  # when the leader last took a snapshot
        self.growing = True  # False once the cap stopped it (or it was dropped)
        self.used = time.monotonic()

    @property
    def end(self) -> int:
        return (len(self.states) - 1) * self.stride

    def ahead(self, total: int, goal: int) -> bool:
        """Whether a replay of `total` updates should wait: none ended at
        `total` yet, and one is training this link (not stalled) that has yet
        to keep the state at `goal`, or is of this same total."""
        return (total not in self.ends and self.leader is not None and self.growing
                and time.monotonic() - self.beat < STALL and (self.end < goal or self.leader == total))

    def resume(self, total: int, goal: int) -> tuple[int, dict, list[tuple], list[tuple[int, dict]]]:
        """Where a replay of `total` updates starts: (step, state, the points
        up to it, the snapshots to keep). From a replay that ended at `total`
        before: its newest snapshot short of it. Otherwise from the newest
        state kept at or before `goal` (step 0: the start)."""
        if total in self.ends:
            base, tail, snaps = self.ends[total]
            step, state = [x for x in snaps if x[0] < total][-1]  # finish keeps only ends that have one
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
        budget.reclaimers.append(self.clear)  # sessions come first

    def join(self, key: str, start: dict) -> Trajectory | None:
        """The training of the link `key`, kept so far, for a replay starting at
        `start` (a session as created: step 0); None if it could not share it."""
        with self._lock:
            t = self._links.get(key)
            if t is None:
                t = Trajectory(start, self.stride)
                if not self._add(t, state_bytes(start), lambda: self._links.__setitem__(key, t)):
                    return None
            elif not same_start(t.states[0], start):
                return None  # not the same start after all: train it apart
            t.used = time.monotonic()
            return t

    def keeper(self, t: Trajectory, history) -> Callable[[int, dict], None]:
        """For Session.train_steps: keep `t`'s next stride as the replay leading it reaches it."""
        def keep(step: int, state: dict) -> None:  # in the training thread, the session's lock held
            t.beat = time.monotonic()
            if step == t.end + t.stride:
                self.extend(t, state, history.raw(t.end, step))
        return keep

    def extend(self, t: Trajectory, state: dict, points: list[tuple]) -> None:
        """Keep the next stride of `t`: its end state and its points (all of them, or nothing)."""
        with self._lock:
            if len(points) != t.stride or not self._add(t, state_bytes(state) + POINT_BYTES * len(points),
                                                       lambda: (t.chunks.append(points), t.states.append(state))):
                t.growing = False  # no room, or its history dropped points: kept as far as it got
            # (chunks before states: `end` is read without the lock, from the states)

    def finish(self, t: Trajectory, total: int, ending: tuple[int, list[tuple], list[tuple[int, dict]]]) -> None:
        """Keep how a replay of `total` updates ended (History.ending): its
        seek snapshots, and the points since the kept state before them."""
        base, tail, snaps = ending
        with self._lock:
            if (total in t.ends or len(tail) != total - base or not any(step < total for step, _ in snaps)
                    or base > t.end):
                return  # had, or not whole: its history dropped points, or kept one snapshot only
            cost = sum(state_bytes(x) for _, x in snaps) + POINT_BYTES * len(tail)
            self._add(t, cost, lambda: t.ends.__setitem__(total, (base, tail, snaps)))

    def clear(self) -> None:
        with self._lock:
            for t in self._links.values():
                t.growing = False
            self._links.clear()
            self.budget.release("replays")

    def _add(self, t: Trajectory, cost: int, put: Callable[[], object]) -> bool:
        """put() `cost` more bytes of `t` if they fit under the cap and in the
        budget, least recently used other links dropped to make room."""
        if not t.growing or t.bytes + cost > self.max_bytes:
            return False  # dropped meanwhile, or more than the cap holds: nothing else goes for it
        others = sorted((o.used, key) for key, o in self._links.items() if o is not t)
        while True:
            total = sum(o.bytes for o in self._links.values() if o is not t) + t.bytes + cost
            if total <= self.max_bytes:
                try:
                    self.budget.charge("replays", total, "the shared links' kept training", reclaim=False)
                    break
                except ApiError:  # the budget is short: sessions come first
                    pass
            if not others:
                return False
            self._links.pop(others.pop(0)[1]).growing = False
        put()
        t.bytes += cost
        return True


def link_key(dataset_id: str, config: dict) -> str:
    return json.dumps([dataset_id, config], sort_keys=True)
