"""A training-page room: the teacher's live training, computed once and fanned out.

The teacher's dashboard tells the room (a TeachView) when it plays, pauses,
steps or starts a new run; the room then publishes its RoomTrain (config,
play state, the history so far) and the session's current frame. While the
teacher's session trains live, `live_loop` asks the session's LivePlayer for
a frame at the room's own rate, the way a stream connection does, and
publishes each one once: followers get it through their latest-wins slots
(server/rooms/hub.py), so a slow follower skips frames and the teacher's own
stream never waits for the room."""
from __future__ import annotations

import asyncio
import logging

from starlette.concurrency import run_in_threadpool

from ..errors import ApiError
from ..schemas.rooms import ROOM_HISTORY_POINTS, RoomTrain, TeachView
from ..sessions import evaluate
from ..sessions.session import Session

log = logging.getLogger(__name__)
NODES = ("h", "bnvar_inv", "bngain", "bnbias")  # the tensors the dashboard's panels draw (frontend/train/app.js)
ROOM_FPS = 10.0  # live frames a second to followers: enough to watch, little for the worker
HISTORY_EVERY = 3.0  # seconds between RoomTrain messages while training (the curve's real points)
IDLE_POLL = 0.1  # seconds between looks at whether the teacher's session trains


def train_state(s: Session, view: TeachView, version: int) -> str:
    """The RoomTrain message as JSON text, once per room."""
    history = evaluate.history(s, -1, ROOM_HISTORY_POINTS)
    # playing as the teacher's page shows it (a pause clears it before the worker stops), and only while it trains
    return RoomTrain(version=version, config=s.config(), playing=view.playing and s.playing, present=view.present,
                     history=history).model_dump_json()


class TrainFeed:
    """What a training-page room publishes, besides the graph."""

    def __init__(self, teacher):
        self.teacher = teacher
        self.version = 0
        self.task = asyncio.create_task(self.live_loop())

    async def publish(self, s: Session, view: TeachView) -> None:
        """After the teacher's page changed: the run, then its frame."""
        bus, code = self.teacher.bus, self.teacher.code
        self.version += 1
        await bus.publish(code, "train", await run_in_threadpool(train_state, s, view, self.version))
        frame = await run_in_threadpool(s.frame, NODES, "binary")  # of the worker's newest step while live
        await bus.publish(code, "live", frame.decode("latin-1"))  # binary: a third of the JSON's bytes

    async def live_loop(self) -> None:
        loop = asyncio.get_running_loop()
        last, told, sent = 0.0, loop.time(), -1
        while True:
            try:
                s = self.teacher.store.get(self.teacher.session_id)
            except ApiError:  # a new run is being made: the teacher's next view names it
                await asyncio.sleep(IDLE_POLL)
                continue
            player = s.player
            if player is None or not player.alive:
                await asyncio.sleep(IDLE_POLL)
                continue
            now, period = loop.time(), 1.0 / ROOM_FPS
            if now < last + period:
                await asyncio.sleep(last + period - now)
                continue
            last = max(last + period, now - period)  # a fixed rate, as the stream's sender keeps
            if await self.teacher.bus.count(self.teacher.code, 0) <= 0:
                continue  # nobody follows: no frame to build (a late joiner's first comes a period later)
            try:
                got = await asyncio.wrap_future(player.request_frame(sent + 1, NODES, "binary"))
            except Exception:  # noqa: BLE001 - one frame that failed must not end the room
                log.exception("room %s: live frame failed", self.teacher.code)
                continue
            # a frame asked for before a pause is not published after it: the paused frame is the newest
            if got is None or s.player is not player or not player.alive:
                continue
            sent = got[0]
            await self.teacher.bus.publish(self.teacher.code, "live", got[1].decode("latin-1"))
            if loop.time() - told >= HISTORY_EVERY:
                told = loop.time()
                if self.teacher.view is not None:
                    self.version += 1
                    text = await run_in_threadpool(train_state, s, self.teacher.view, self.version)
                    # made while it trained: after a pause it would undo the paused run's message
                    # (playing again, at an older step, for good)
                    if s.player is player and player.alive:
                        await self.teacher.bus.publish(self.teacher.code, "train", text)

    def close(self) -> None:
        self.task.cancel()
