"""Rooms over HTTP and WebSocket (server/rooms/hub.py has the rooms themselves).

POST /api/rooms            the teacher makes a room for one of their sessions
GET  /api/rooms/{code}     is there such a room, is its teacher there
POST /api/rooms/{code}/fork  a follower's own copy of the teacher's session
WS   /api/rooms/{code}/teach   the teacher's page: hello (the secret), views, end
WS   /api/rooms/{code}/follow  a follower: the room's messages; it drives nothing

RoomGraph and RoomState go to followers as binary messages holding UTF-8
JSON (encoded once, the same bytes for every follower); RoomStatus,
ClassPublic and errors as text."""
from __future__ import annotations

import asyncio
import json
import logging
import secrets

import segno
from fastapi import APIRouter, Depends, Request, WebSocket
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect

from ..errors import ApiError, Conflict, TooMany
from ..guards import bodies
from ..guards.security import is_loopback
from ..rooms import classview, messages
from ..rooms.hub import Meta, Rooms, Slot, shown
from ..rooms.train import TrainFeed
from ..schemas.rooms import (FollowCommand, FollowNickname, RoomCreate, RoomCreated, RoomFork, RoomForked, RoomPublic,
                             RoomState, RoomViewPublic, TeachCommand, TeachHello, TeachView, TeachViewCmd)
from ..schemas.sessions import SessionPublic
from ..schemas.stream import StreamError
from ..sessions.store import SessionStore
from . import deps

router = APIRouter(prefix="/api/rooms", tags=["rooms"])
log = logging.getLogger(__name__)
TEACH = TypeAdapter(TeachCommand)
HELLO_TIMEOUT = 10.0  # seconds a teacher's socket may take to say who it is
CLASS_EVERY = 0.3  # seconds: progress reports arriving meanwhile are counted together
FOLLOW = TypeAdapter(FollowCommand)
MAX_ROOMS = 64  # rooms made by one process: each holds two small tasks and the newest messages
FOLLOWER_REFUSAL = ("followers watch the teacher's session and cannot drive it: only the teacher's page "
                    "steps, plays or seeks it. Press \"Explore on my own\" for a copy of your own to step")
TRAIN_REFUSAL = ("followers watch the teacher's training and cannot drive it: only the teacher's page plays, "
                 "pauses, steps or starts a new run. Open the training page on your own to train a run of yours")


def rooms(request: Request) -> Rooms:
    return request.app.state.rooms


def client_of(conn) -> str:
    return conn.client.host if conn.client else "?"


class Teacher:
    """A room made in this process: the teacher's newest view, and the task
    that turns it into the room's messages, one at a time (latest wins: views
    sent while one is being built are folded into the next)."""

    def __init__(self, app, meta: Meta):
        self.code = meta.code
        self.store: SessionStore = app.state.sessions
        self.bus = app.state.rooms.bus
        self.session_id = meta.session
        self.view: TeachView | None = None
        self.wake = asyncio.Event()
        self.version = 0
        self.graph_of: str | None = None  # the session whose graph followers have
        self.slots: set[Slot] = set()  # one per socket of the teacher's: statuses and the class view
        self.at: tuple[str | None, str] = (None, "atomic")  # the node and mode the class view counts at
        self.class_due = asyncio.Event()  # set: count the class view again (after CLASS_EVERY)
        self.task = asyncio.create_task(self.publish_loop())
        self.class_task = asyncio.create_task(self.class_loop())
        self.train = TrainFeed(self) if meta.page == "train" else None

    async def class_loop(self) -> None:
        while True:
            await self.class_due.wait()
            await asyncio.sleep(CLASS_EVERY)
            self.class_due.clear()
            try:
                records = [json.loads(r) for r in await self.bus.get_records(self.code)]
                text = classview.summarise(records, *self.at).model_dump_json()
            except Exception:  # noqa: BLE001 - a bad record must not end the class view
                log.exception("room %s: class view failed", self.code)
                continue
            for slot in tuple(self.slots):
                slot.put("class", text)

    def show(self, view: TeachView) -> None:
        self.view = view
        self.wake.set()

    async def publish_loop(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            view = self.view
            try:
                s = self.store.get(view.session)
                self.session_id = s.id
                if self.graph_of != s.id:
                    await self.bus.publish(self.code, "graph", await run_in_threadpool(messages.graph, s))
                    self.graph_of = s.id
                if self.train is not None:
                    await self.train.publish(s, view)
                    continue
                self.version += 1
                text = await run_in_threadpool(messages.state, s, view, self.version)
                await self.bus.publish(self.code, "state", text)
                at = (view.inspect, "fused" if s.mlp.mode == "fused" else "atomic")
                if at != self.at:  # the teacher shows another node: count there
                    self.at = at
                    self.class_due.set()
            except ApiError as err:  # the session went away (a reset makes a new one): the next view says
                log.info("room %s: %s", self.code, err.message)
            except Exception:  # noqa: BLE001 - a bug must not end the room
                log.exception("room %s: state failed", self.code)

    async def fork(self) -> str:
        s = self.store.get(self.session_id)
        f = await run_in_threadpool(messages.fork, s, self.store.words_of(s))
        return f.model_dump_json()

    def close(self) -> None:
        self.task.cancel()
        self.class_task.cancel()
        if self.train is not None:
            self.train.close()


def join_url(request: Request, code: str, page: str = "stepper") -> str:
    settings, access = request.app.state.settings, request.app.state.access
    base = str(request.base_url).rstrip("/")
    if is_loopback(request.url.hostname or "") and not is_loopback(settings.host.strip("[]")):
        # opened on the teacher's own machine: give phones an address they can reach
        base = access.urls(settings)[-1].split("/?")[0].rstrip("/")
    token = f"&token={access.token}" if access.token else ""
    path = "/static/train.html" if page == "train" else "/"
    return f"{base}{path}?follow={shown(code)}{token}"


@router.post("", status_code=201, response_model=RoomCreated, responses=deps.errors(404, 422, 429))
async def create(body: RoomCreate, request: Request, r: Rooms = Depends(rooms)) -> RoomCreated:
    """A room showing one of your sessions; keep `secret`: it alone drives the room."""
    s = request.app.state.sessions.get(body.session)
    if len(r.owned) >= MAX_ROOMS:
        raise TooMany(f"this server runs {MAX_ROOMS} rooms, its limit: end one (its teacher's \"End the room\") "
                      "or wait for rooms whose teacher left to time out")
    meta, secret = await r.create(s.id, body.page)
    teacher = Teacher(request.app, meta)
    r.owned[meta.code] = teacher
    await r.bus.serve_forks(meta.code, teacher.fork)
    await r.status(meta.code, 0)
    url = join_url(request, meta.code, meta.page)
    qr = segno.make(url, error="m").svg_inline(scale=1, omitsize=True, dark="#111", light="#fff")
    return RoomCreated(code=shown(meta.code), secret=secret, join_url=url, qr_svg=qr)


@router.get("/{code}", response_model=RoomPublic, responses=deps.errors(404, 429))
async def info(code: str, request: Request, r: Rooms = Depends(rooms)) -> RoomPublic:
    meta = await r.find(code, client_of(request))
    return RoomPublic(code=shown(meta.code), teacher_connected=meta.teacher_connected,
                      followers=max(await r.bus.count(meta.code, 0), 0), ended=meta.ended is not None)


@router.post("/{code}/fork", status_code=201, response_model=RoomForked, responses=deps.errors(404, 409, 429))
async def fork(code: str, request: Request, r: Rooms = Depends(rooms)) -> RoomForked:
    """A new session of yours at the teacher's exact state: same step, parameters,
    batch and backward position. The teacher's session does not change."""
    meta = await r.find(code, client_of(request))
    f = RoomFork.model_validate_json(await r.bus.ask_fork(meta.code))
    s = await run_in_threadpool(messages.adopt, request.app.state.sessions, f)
    last = (await r.bus.get_last(meta.code)).get("state")
    view = RoomState.model_validate_json(last).view if last else RoomViewPublic()
    return RoomForked(session=SessionPublic(id=s.id, config=s.config()), view=view)


# ---- the sockets ----------------------------------------------------------------
async def _error(ws: WebSocket, message: str, cmd: str | None = None) -> None:
    await ws.send_text(StreamError(message=message, cmd=cmd).model_dump_json())


async def _pump(ws: WebSocket, slot: Slot) -> None:
    """Send what the slot holds, one send in flight: while it is slow, newer
    messages replace older ones in the slot."""
    try:
        while True:
            for data in await slot.take():
                await (ws.send_bytes(data) if isinstance(data, bytes) else ws.send_text(data))
    except (WebSocketDisconnect, RuntimeError, OSError):
        return  # the socket closed: its receive loop ends the connection


async def _messages(ws: WebSocket):
    """The socket's messages as parsed JSON until it closes; one that is not
    JSON text is answered with an error frame and skipped."""
    while True:
        msg = await ws.receive()
        if msg["type"] == "websocket.disconnect":
            return
        try:
            yield bodies.message(msg)
        except ValueError as err:
            await _error(ws, str(err)[:400])


@router.websocket("/{code}/teach")
async def teach(ws: WebSocket, code: str) -> None:
    await ws.accept()
    r: Rooms = ws.app.state.rooms
    try:
        first = bodies.message(await asyncio.wait_for(ws.receive(), HELLO_TIMEOUT))
        hello = TEACH.validate_python(first)
        if not isinstance(hello, TeachHello):
            raise ValueError("say hello first: {\"cmd\": \"hello\", \"secret\": <the room's secret>}")
        meta = await r.as_teacher(code, hello.secret, client_of(ws))
        teacher = r.owned.get(meta.code)
        if teacher is None:
            raise Conflict("this room was made by another server process: connect the teacher's page to that one")
    except (ValueError, ValidationError, ApiError, asyncio.TimeoutError, KeyError) as err:
        message = getattr(err, "message", None) or (str(err) or "no hello in time")
        await _error(ws, message[:400], "hello")
        await ws.close(code=1008)
        return
    slot = Slot(kinds=("status", "class"))  # the teacher hears of followers, the class, the room's end
    try:
        await r.join(meta.code, slot)
    except ApiError as err:  # a full room: a slot counted as the teacher's would keep it "connected"
        await _error(ws, err.message[:400], "hello")
        await ws.close(code=1008)
        return
    teacher.slots.add(slot)
    teacher.class_due.set()
    await r.set_teacher(meta.code, True)
    pump = asyncio.create_task(_pump(ws, slot))
    try:
        async for obj in _messages(ws):
            try:
                cmd = TEACH.validate_python(obj)
            except ValidationError as err:
                await _error(ws, bodies.problem(err)[:400])
                continue
            if isinstance(cmd, TeachViewCmd):
                teacher.show(cmd.view)
            elif not isinstance(cmd, TeachHello):  # end
                await r.end(meta.code, "the teacher ended the room")
    except WebSocketDisconnect:
        pass
    finally:
        pump.cancel()
        teacher.slots.discard(slot)
        await r.leave(meta.code, slot)
        if not teacher.slots and meta.code in r.owned:  # the teacher's last socket closed
            await r.set_teacher(meta.code, False)


@router.websocket("/{code}/follow")
async def follow(ws: WebSocket, code: str) -> None:
    await ws.accept()
    r: Rooms = ws.app.state.rooms
    try:
        meta = await r.find(code, client_of(ws))
        slot = Slot()
        await r.join(meta.code, slot)
    except ApiError as err:
        await _error(ws, err.message)
        await ws.close(code=1008)
        return
    await r.status(meta.code, await r.bus.count(meta.code, +1))
    pump = asyncio.create_task(_pump(ws, slot))
    me, record = secrets.token_hex(8), {"nickname": None, "progress": None}  # anonymous: a name per socket
    try:
        async for obj in _messages(ws):
            name = obj.get("cmd") if isinstance(obj, dict) else None
            if name not in ("nickname", "progress"):
                refusal = TRAIN_REFUSAL if meta.page == "train" else FOLLOWER_REFUSAL
                await _error(ws, refusal, str(name)[:40] if name is not None else None)
                continue
            try:
                cmd = FOLLOW.validate_python(obj)
            except ValidationError as err:
                await _error(ws, f"{name}: {bodies.problem(err)[:400]}", name)
                continue
            if isinstance(cmd, FollowNickname):
                record["nickname"] = cmd.nickname.strip() or None
            else:
                problem = classview.check(cmd)
                if problem:
                    await _error(ws, problem, name)
                    continue
                record["progress"] = cmd.model_dump(exclude={"cmd"})
            await r.bus.put_record(meta.code, me, json.dumps(record))
            await r.bus.publish(meta.code, "progress", "")
    except WebSocketDisconnect:
        pass
    finally:
        pump.cancel()
        await r.leave(meta.code, slot)
        await r.status(meta.code, await r.bus.count(meta.code, -1))
        if record["nickname"] or record["progress"]:
            await r.bus.put_record(meta.code, me, None)
            await r.bus.publish(meta.code, "progress", "")
