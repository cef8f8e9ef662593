"""The stream's "replay": rebuild the view a shared link describes, with
progress.

A link far into training replays every update since step 0. It runs in
slices of ~SLICE seconds, each under the session's lock, and reports how far
it has come after each one; between slices the lock is free (a health check
or another request of the session is answered) and a client that left is
noticed at the next progress message, which ends the replay. The training
itself is POST /train's (`Session.train_for`: the same step, the same
history and snapshots), so a link costs what training to its step costs."""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool

from .schemas import EXACT_REPLAY_MAX, CmdReplay, SessionState

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


async def replay(s, cmd: CmdReplay, progress: Callable[[int, int], Awaitable[None]]) -> SessionState:
    total, done = cmd.steps, 0
    exact = total <= EXACT_REPLAY_MAX
    while done < total:
        if exact:
            done += await run_in_threadpool(_step_exactly, s, cmd.mode, total - done, SLICE)
        else:
            done += await run_in_threadpool(s.train_for, total - done, SLICE)
        if done < total:
            await progress(done, total)
    if cmd.pos is not None:
        await run_in_threadpool(s.forward)
        await run_in_threadpool(s.backward, cmd.mode, cmd.pos)
    return await run_in_threadpool(s.state)
