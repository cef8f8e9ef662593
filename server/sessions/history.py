"""A session's past: a few numbers for every step, full state for the last K.

Every step costs three array entries (step, loss, lr: ~24 bytes, so a
200,000-step run is ~5 MB); the costlier statistics (saturation,
update:data ratios, val loss) are sampled, so they live in a dict by step.
A missing statistic goes out as null.

It has a lock of its own, apart from the session's: a worker's reader
thread adds live points here while a request may hold the session's lock
waiting for that same thread (pool.py)."""
from __future__ import annotations

import functools
import math
import threading
from array import array
from bisect import bisect_right
from collections import deque
from operator import itemgetter

from backprop_ninja.model.graph import PARAMS

from ..schemas.sessions import HistoryPoint

NO_RATIOS = dict.fromkeys(PARAMS)


def state_bytes(state: dict) -> int:
    """What a snapshot (stepping.light_state) holds: its parameters, and ~8 KB besides."""
    return sum(t.numel() * t.element_size() for t in state["params"].values()) + 8192


def _locked(fn):
    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        with self._lock:
            return fn(self, *args, **kwargs)
    return wrapper


class History:
    def __init__(self, max_points: int, full_steps: int, max_bytes: int):
        self.max_points, self.full_steps, self.max_bytes = max_points, full_steps, max_bytes
        self.steps, self.loss, self.lr = array("q"), array("d"), array("d")
        # step -> [saturated, {param: update:data log10}, val_loss], for sampled steps
        self.extra: dict[int, list] = {}
        # the kept steps whose lr differs from the previous kept step's, kept
        # up to date by add_point / truncate_after / _drop_points
        self._lr_changes: list[int] = []
        # (step, state_dict, bytes): the seek targets, oldest first
        self.snapshots: deque[tuple[int, dict, int]] = deque()
        self._snap_bytes = 0
        self._lock = threading.RLock()

    # ---- points ------------------------------------------------------------
    @_locked
    def add_point(self, step: int, loss: float, lr: float, saturated: float | None = None,
                  ratios: dict[str, float | None] | None = None, val_loss: float | None = None,
                  replayed: bool = False) -> None:
        # the hot path of live training: three appends unless statistics came along
        if self.steps and self.steps[-1] >= step:
            # a new step after a seek: the old future is gone. `replayed`: the
            # same update again (the page shows update n whole by seeking to
            # n-1 and applying n), so the val loss measured at n still holds.
            if replayed and val_loss is None:
                val_loss = self.extra.get(step, (None, None, None))[2]
            self.truncate_after(step - 1)
        if self.lr and self.lr[-1] != lr:
            self._lr_changes.append(step)
        self.steps.append(step)
        self.loss.append(loss)
        self.lr.append(lr)
        if saturated is not None or ratios is not None or val_loss is not None:
            self.extra[step] = [saturated, ratios, val_loss]
        if len(self.steps) > self.max_points:
            self._drop_points(len(self.steps) - self.max_points + self.max_points // 10)

    @_locked
    def add_points(self, points: list[tuple]) -> None:
        """Points of live training, /train or a replay: (step, loss, lr, saturated, ratios, val_loss) each."""
        for point in points:
            self.add_point(*point)

    @_locked
    def set_stats(self, step: int, saturated: float | None, ratios: dict[str, float | None]) -> None:
        """Fill in the costly statistics of `step`, if it is kept (a live
        frame computed them; it may arrive a few steps late)."""
        i = bisect_right(self.steps, step) - 1
        if i < 0 or self.steps[i] != step:
            return
        old = self.extra.get(step)
        self.extra[step] = [saturated, ratios, None if old is None else old[2]]

    def _drop_points(self, n: int) -> None:
        # in chunks of 10%: deleting from the front of an array is O(length)
        first = self.steps[n]
        for col in (self.steps, self.loss, self.lr):
            del col[:n]
        self.extra = {k: v for k, v in self.extra.items() if k >= first}
        # the first kept point has no predecessor left: it is no change
        del self._lr_changes[:bisect_right(self._lr_changes, first)]

    @_locked
    def points(self, since: int = -1, max_points: int | None = None,
               until: int | None = None) -> list[HistoryPoint]:
        """Points with since < step <= until (steps are sorted: bisect), thinned
        to at most `max_points`: the points that carry statistics (val loss,
        saturation, update ratios: sampled, so few) are kept, the rest evenly
        strided, and the newest of the range always."""
        lo = bisect_right(self.steps, since)
        hi = len(self.steps) if until is None else bisect_right(self.steps, until)
        idx: list[int] | range = range(lo, max(lo, hi))
        if max_points is not None and len(idx) > max_points:
            idx = self._thin(idx, max_points)
        out = []
        for i in idx:
            step = self.steps[i]
            sat, ratios, val = self.extra.get(step, (None, None, None))
            out.append(HistoryPoint(step=step, loss=self.loss[i], lr=self.lr[i], saturated=sat, val_loss=val,
                                    update_data_log10={**NO_RATIOS, **(ratios or {})}))
        return out

    @_locked
    def raw(self, since: int, until: int) -> list[tuple]:
        """Points with since < step <= until as add_points takes them."""
        lo, hi = bisect_right(self.steps, since), bisect_right(self.steps, until)
        return [(self.steps[i], self.loss[i], self.lr[i], *self.extra.get(self.steps[i], (None, None, None)))
                for i in range(lo, hi)]

    @_locked
    def ending(self, stride: int, most: int) -> tuple[int, list[tuple], list[tuple[int, dict]]]:
        """(base, the points after it, the kept snapshots as (step, state)):
        base the newest multiple of `stride`, `most` at most, before them all."""
        snaps = [(step, state) for step, state, _ in self.snapshots]
        base = min(most, snaps[0][0] // stride * stride)
        return base, self.raw(base, self.last_step), snaps

    def _thin(self, idx: range, max_points: int) -> list[int]:
        def even(seq, n):  # n of seq, evenly spread, its last one included
            if n <= 0:
                return []
            return seq[::-1][::math.ceil(len(seq) / n)][::-1] if len(seq) > n else seq
        first, last = self.steps[idx.start], self.steps[idx.stop - 1]
        # list(): live training adds to the dict meanwhile (one C call, atomic)
        sampled = sorted(bisect_right(self.steps, s) - 1 for s in list(self.extra) if first <= s <= last)
        sampled = even(sampled, max_points // 2)  # at most half the budget
        rest = even(idx, max_points - len(sampled))
        return sorted(set(rest).union(sampled))[-max_points:]

    @_locked
    def lr_changes(self) -> list[int]:
        """Kept steps whose lr differs from the kept step before."""
        return list(self._lr_changes)

    # ---- full snapshots -------------------------------------------------------
    # Live training snapshots only every few steps (a clone costs ~7% of a
    # step); any step after a snapshot is rebuilt exactly by replaying the
    # fused steps in between (deterministic on CPU). Steps that were not plain
    # fused steps (manual updates, training after a seek) are snapshotted.
    @property
    def last_step(self) -> int:
        newest = self.snapshots[-1][0] if self.snapshots else 0
        return max(newest, self.steps[-1]) if self.steps else newest

    @_locked
    def add_snapshot(self, step: int, state: dict) -> None:
        self._drop_snapshots_after(step - 1)
        size = state_bytes(state)
        self.snapshots.append((step, state, size))
        self._snap_bytes += size
        self._retain()

    def _retain(self) -> None:
        first_kept = self.last_step - self.full_steps + 1
        while len(self.snapshots) > 1 and (self.snapshots[1][0] <= first_kept
                                           or self._snap_bytes > self.max_bytes):
            self._snap_bytes -= self.snapshots.popleft()[2]

    @_locked
    def locate(self, step: int) -> tuple[int, dict] | None:
        """The newest snapshot at or before `step`, if `step` is kept."""
        i = bisect_right(self.snapshots, step, key=itemgetter(0))
        return self.snapshots[i - 1][:2] if i and step <= self.last_step else None

    @_locked
    def full_steps_list(self) -> list[int]:
        first = self.snapshots[0][0] if self.snapshots else 0
        return list(range(max(first, self.last_step - self.full_steps + 1), self.last_step + 1))

    @_locked
    def truncate_after(self, step: int) -> None:
        """Forget the future of `step` (a new step after a seek branches the timeline)."""
        keep = bisect_right(self.steps, step)
        for col in (self.steps, self.loss, self.lr):
            del col[keep:]
        self.extra = {k: v for k, v in self.extra.items() if k <= step}
        del self._lr_changes[bisect_right(self._lr_changes, step):]
        self._drop_snapshots_after(step)

    def _drop_snapshots_after(self, step: int) -> None:
        while self.snapshots and self.snapshots[-1][0] > step:
            self._snap_bytes -= self.snapshots.pop()[2]
