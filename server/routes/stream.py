"""WebSocket /api/sessions/{id}/stream: the HTTP commands plus live training.

Per connection: a receive loop runs commands one at a time (each answered by
a StreamReply, then a frame), and a sender task that, while the session
trains live, sends a frame whenever one is due: at most `fps` a second and
`steps_per_frame` steps apart. A frame is built only when due, from the
worker's latest step (latest wins); at most one send is in flight, so a
slow client slows only itself and nothing queues. While a command runs the
sender sends nothing, and it drops a frame asked for before the command
began: a command's reply comes before any frame it causes, and no frame of
a training that a pause ended follows the pause's reply.

A subscription names the tensors every frame carries (`nodes`) and, for
the stepper's inspector, `inspect`: the pinned node or the one the backward
pass reached, with its parts and autograd gap (server/stream/inspected.py), so a
key press costs one message each way. "replay" (server/sessions/replay.py) rebuilds a
shared view in slices, sending StreamProgress between them.

While live training runs, frames show mode "fused" (the training pass) and
the HTTP/stream commands that change the model answer 409 until "pause"."""
from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, WebSocket
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect, WebSocketState

from ..errors import ApiError, sendable
from ..guards import bodies
from ..guards.budget import frame_cost
from ..schemas.stream import (FrameResult, PauseResult, PlayResult, StreamCommand, StreamError, StreamProgress,
                              StreamReply, SubscribeResult)
from ..sessions import replay
from ..stream import frames

router = APIRouter()
log = logging.getLogger(__name__)
COMMANDS = TypeAdapter(StreamCommand)
CMD_NAMES = ("forward", "backward", "back", "update", "train", "play", "pause", "seek", "subscribe", "frame",
             "replay")
IDLE_POLL = 0.05  # seconds between checks for live training started elsewhere


def _taken(task: asyncio.Task) -> None:
    """Take a background task's outcome: a send that failed because the client
    left is the receive loop's to see (as a disconnect), not a log line at
    exit; anything else is a bug, logged."""
    err = None if task.cancelled() else task.exception()
    if err is not None and not isinstance(err, WebSocketDisconnect):
        log.error("stream task failed", exc_info=err)


class Connection:
    def __init__(self, ws: WebSocket, session):
        self.ws, self.s = ws, session
        self.budget = ws.app.state.budget
        self.nodes: list[str] = []
        self.fmt = "binary"
        self.inspect = None  # an InspectSpec: the inspector's tensors in every command's frame
        self.fps, self.spf = 30.0, 10
        self.sent_step: int | None = None
        self.send_lock = asyncio.Lock()
        # bumped when a command starts and when it is answered: a live frame
        # asked for under another count is not sent (it may predate the reply)
        self.epoch = 0
        self.busy = False
        self.reported = None  # the last player whose failure this client was told of

    async def send(self, *messages) -> None:
        async with self.send_lock:  # a reply and its frame go out together
            try:
                for m in messages:
                    await (self.ws.send_bytes(m) if isinstance(m, bytes) else self.ws.send_text(m))
            except RuntimeError:
                # the client left during another send (a live frame in flight when a
                # command came, the client closing after it): Starlette then refuses
                # every send with a RuntimeError, which is the client leaving too
                if self.ws.application_state != WebSocketState.DISCONNECTED:
                    raise
                raise WebSocketDisconnect(code=1006) from None

    async def error(self, message: str, cmd: str | None = None) -> None:
        # the "cmd" and the sentence may echo what was sent, a lone surrogate too
        await self.send(StreamError(message=sendable(message), cmd=None if cmd is None else sendable(cmd))
                        .model_dump_json())

    def parse(self, msg: dict):
        """(the "cmd" it names, if any; the command, or a string saying what is wrong with it)."""
        try:  # within a size and a depth: 60,000 '[' is an error frame, not a RecursionError
            obj = bodies.message(msg)
        except ValueError as err:
            return None, str(err)
        name = str(obj["cmd"])[:40] if isinstance(obj, dict) and "cmd" in obj else None
        if not isinstance(obj, dict) or obj.get("cmd") not in CMD_NAMES:
            got = obj.get("cmd") if isinstance(obj, dict) else obj
            return name, f"unknown command {repr(got)[:40]}: send an object with \"cmd\" one of {', '.join(CMD_NAMES)}"
        try:
            return name, COMMANDS.validate_python(obj)
        except ValidationError as err:
            return name, f"{name}: {bodies.problem(err)}"

    async def run(self) -> None:
        sender = asyncio.create_task(self.sender())
        sender.add_done_callback(_taken)  # it ends with the send that found the client gone
        try:
            while True:
                msg = await self.ws.receive()
                if msg["type"] == "websocket.disconnect":
                    return
                name, cmd = self.parse(msg)
                if isinstance(cmd, str):
                    await self.error(cmd, name)
                    continue
                self.busy, self.epoch = True, self.epoch + 1
                try:
                    if not await self.answer(cmd):
                        return
                finally:
                    self.busy, self.epoch = False, self.epoch + 1
        finally:
            sender.cancel()
            self.budget.release(("stream", id(self)))

    async def answer(self, cmd) -> bool:
        """Run one command; send its reply and then its frame (or an error). False when the session is gone."""
        try:
            result = await self.execute(cmd)
        except WebSocketDisconnect:
            raise  # the client left (a replay's progress could not be sent)
        except ApiError as err:
            await self.error(err.message, cmd.cmd)
            return not self.s.closed
        except Exception as err:  # noqa: BLE001 - a bug must not kill the connection
            log.exception("stream command %s failed", cmd.cmd)
            await self.error(f"internal error in {cmd.cmd}: {type(err).__name__}: {err}", cmd.cmd)
            return True
        reply = StreamReply(cmd=cmd.cmd, result=result).model_dump_json()
        try:
            frame = await run_in_threadpool(self.s.frame, self.nodes, self.fmt, self.inspect)
        except ApiError as err:  # done, but no frame (the session busy, or deleted): its reply, then why
            await self.send(reply, StreamError(message=err.message, cmd=cmd.cmd).model_dump_json())
            return not self.s.closed
        await self.send(reply, frame)
        return True

    async def execute(self, cmd):
        s, name = self.s, cmd.cmd
        if name in ("forward", "backward", "back", "update", "train", "seek"):
            # the Session method of that name, its arguments the command's fields (mode, nodes; steps; step)
            return await run_in_threadpool(getattr(s, name), **cmd.model_dump(exclude={"cmd"}))
        if name == "replay":
            async def progress(done: int, total: int, shared: bool = False) -> None:
                await self.send(StreamProgress(cmd=name, done=done, total=total, shared=shared).model_dump_json())
            return await replay.replay(s, cmd, progress, self.ws.app.state.links)
        if name == "play":
            self.fps, self.spf, self.sent_step = cmd.fps, cmd.steps_per_frame, None
            await run_in_threadpool(s.play, cmd.val_every)
            return PlayResult(fps=cmd.fps, steps_per_frame=cmd.steps_per_frame)
        if name == "pause":
            self.reported = s.player  # this reply says why it stopped, if it failed
            err = await run_in_threadpool(s.pause)
            return PauseResult(step=s.mlp.step, error=err)
        if name == "subscribe":
            wanted = [*cmd.nodes, *([cmd.inspect.node] if cmd.inspect and cmd.inspect.node else [])]
            unknown = [n for n in wanted if n not in frames.BY_NAME]
            if unknown:
                raise ApiError(f"unknown nodes {', '.join(map(repr, unknown))}; nodes are: "
                               f"{', '.join(frames.BY_NAME)}")
            nodes = list(dict.fromkeys(cmd.nodes))
            # its frames count against the memory budget while it streams
            cost = frame_cost(s.mlp.cfg, s.mlp.vocab.size, nodes, inspect=cmd.inspect is not None)
            what = f"a stream frame with the tensors of {len(nodes)} nodes{' and the inspector' * bool(cmd.inspect)}"
            self.budget.charge(("stream", id(self)), cost, what)
            self.nodes, self.fmt, self.inspect = nodes, cmd.format, cmd.inspect
            return SubscribeResult(nodes=self.nodes, format=self.fmt, inspect=self.inspect)
        return FrameResult()  # "frame": the frame follows the reply

    async def report(self, player) -> None:
        """Tell this client, once, that live training stopped by itself."""
        if player is not None and player.error and self.reported is not player:
            self.reported = player
            try:
                await run_in_threadpool(self.s.settled)
            except ApiError:
                if self.s.closed:
                    return  # the session was deleted meanwhile: nothing left to tell of
                # busy: the next request takes in what the player left; the client is told now
            await self.error(player.error, "play")

    async def sender(self) -> None:
        """While the session trains live, ask for a frame whenever one is due,
        and send it while the next one is built (see the module's docstring)."""
        loop = asyncio.get_running_loop()
        last, sending = 0.0, None
        # the player this stream last found training: if it fails, this client is told even when
        # another request (the page's history poll) took it in first and left the session without one
        watched = None
        try:
            while True:
                player = self.s.player
                if player is None or not player.alive or self.busy:
                    await self.report(player if player is not None else watched)
                    await asyncio.sleep(IDLE_POLL)
                    continue
                watched = player
                now, period = loop.time(), 1.0 / self.fps
                if now < last + period:
                    await asyncio.sleep(last + period - now)
                    continue
                # a fixed rate, not "period after the last wake-up": timer
                # overshoot then does not add up, and a late frame is not
                # followed by a burst (at most one period is caught up)
                last = max(last + period, now - period)
                min_step = 0 if self.sent_step is None else self.sent_step + self.spf
                epoch = self.epoch
                try:
                    got = await asyncio.wrap_future(player.request_frame(min_step, self.nodes, self.fmt))
                except Exception as err:  # noqa: BLE001 - a frame that failed must not end the stream
                    log.exception("live frame failed")
                    await self.error(f"a live frame could not be built: {type(err).__name__}: {err}", "play")
                    await asyncio.sleep(IDLE_POLL)
                    continue
                if got is None or epoch != self.epoch:
                    continue  # training stopped, the worker died, or a command came between: ask again
                if sending is not None:
                    await sending
                if epoch != self.epoch:
                    continue
                self.sent_step = got[0]
                sending = asyncio.create_task(self.send(got[1]))
                sending.add_done_callback(_taken)
        finally:
            if sending is not None:
                sending.cancel()


@router.websocket("/api/sessions/{sid}/stream")
async def stream(ws: WebSocket, sid: str) -> None:
    # Host, Origin and token were checked by security.Guard before this
    await ws.accept()
    try:
        s = ws.app.state.sessions.get(sid)
    except ApiError as err:
        await ws.send_text(StreamError(message=err.message).model_dump_json())
        await ws.close(code=1008)
        return
    s.connections += 1
    try:
        await Connection(ws, s).run()
    except WebSocketDisconnect:
        pass
    finally:
        s.connections -= 1
        if s.connections == 0:  # nobody watches: stop burning CPU
            await run_in_threadpool(s.pause)
