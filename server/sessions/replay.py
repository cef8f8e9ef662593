"""The stream's "replay": rebuild the view a shared link describes, with
progress.

A link far into training replays every update since step 0. It runs in
slices of ~SLICE seconds, each under the session's lock, and reports how far
it has come after each one; between slices the lock is free (a health check
or another request of the session is answered) and a client that left is
noticed at the next progress message, which ends the replay. The training
itself is POST /train's (`Session.train_for`: the same step, the same
history and snapshots), and it is done once per link: a replay starts from
what earlier replays of the same link kept, or follows one under way
(trajectories.py)."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool

from ..schemas.common import EXACT_REPLAY_MAX
from ..schemas.sessions import SessionState
from ..schemas.stream import CmdReplay
from .trajectories import Trajectories

SLICE = 0.1  # seconds of training between two progress messages: ~10 updates of the bar a second


def _step_exactly(s, mode: str, steps: int, seconds: float) -> int:
    """Up to `steps` updates as the stepper makes them (forward, the whole
    backward in `mode`, update), stopping after `seconds`; the steps done."""
    end = time.monotonic() + seconds
    for k in range(1, steps + 1):
        s.forward()
        s.backward(mode, None)
        s.update()
        if time.monotonic() >= end:
            return k
    return steps


async def replay(s, cmd: CmdReplay, progress: Callable[..., Awaitable[None]], links: Trajectories) -> SessionState:
    total, done = cmd.steps, 0
    if total <= EXACT_REPLAY_MAX:
        while done < total:
            async with links.turns:
                done += await run_in_threadpool(_step_exactly, s, cmd.mode, total - done, SLICE)
            if done < total:
                await progress(done, total)
    else:
        await _train(s, total, progress, links)
    if cmd.pos is not None:
        await run_in_threadpool(s.forward)
        await run_in_threadpool(s.backward, cmd.mode, cmd.pos)
    return await run_in_threadpool(s.state)


async def _train(s, total: int, progress, links: Trajectories) -> None:
    """`total` fused updates from where the session was created, shared with
    the link's other replays; nothing else may move the session meanwhile."""
    start = await run_in_threadpool(s.rebuild)
    try:
        t = links.join(*start) if start else None
        done, keep = 0, None
        if t is not None:
            # from a kept state, the last full steps are trained again: the
            # session ends with the seek targets a whole replay leaves
            goal = max(0, total - s.settings.history_full_steps - s.settings.snapshot_every) // t.stride * t.stride
            # another replay of this link is training what this one needs: follow it
            while t.ahead(total, goal):
                await progress(min(t.end, goal), total, True)
                await asyncio.sleep(SLICE)
            done, *resumed = t.resume(total, goal)
            if done:
                await run_in_threadpool(s.resume, *resumed)
                await progress(done, total, True)
            if t.leader is None and t.growing and done == t.end:  # at the front of the link's training: lead it
                t.leader, t.beat, keep = total, time.monotonic(), links.keeper(t, s.history)
        try:
            while done < total:
                async with links.turns:
                    done += await run_in_threadpool(s.train_for, total - done, SLICE, keep)
                if done < total:
                    await progress(done, total)
            if t is not None:
                links.finish(t, total, await run_in_threadpool(s.history.ending, t.stride, t.end))
        finally:
            if keep is not None:
                t.leader = None
    finally:
        await run_in_threadpool(s.rebuilt)
