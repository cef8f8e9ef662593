"""Rooms: a teacher's session shown live to followers.

A room is a code (what followers type), a secret (held by the teacher's page:
only it may publish), the teacher's session id (never sent to followers), and
the newest message of each kind (graph, state, status), so a late joiner gets
the room at once. What crosses processes goes through a bus: `LocalBus` in
this process, or `bus.RedisBus` when BPN_REDIS_URL is set, so followers
on other server processes follow too.

Fan-out: a message is encoded once per room (by the teacher's process) and
handed, as the same string, to every follower's `Slot`: one place per kind
that the newest message overwrites. Each follower's own task sends what its
slot holds; a slow follower skips frames, and no one waits for it."""
from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections import defaultdict, deque
from contextlib import suppress

from pydantic import BaseModel

from ..errors import ApiError, NotFound, TooMany
from ..schemas.rooms import ROOM_CODE_LEN, RoomStatus

# sent in this order: a state's graph is there before it, a training run before its frame
# ("train" and "live": a training-page room, server/rooms/train.py)
KINDS = ("graph", "state", "train", "live", "status", "class")
FOLLOWER_KINDS = ("graph", "state", "train", "live", "status")  # "class" is the teacher's alone
BINARY = ("graph", "state", "train")  # big: sent as UTF-8 bytes encoded once per process, not once per follower
# a binary stream frame (server/stream/frames.py), carried through the bus as a latin-1 string (each byte one
# character: a str survives Redis and JSON-free hops unchanged) and sent as those bytes again
FRAMES = ("live",)


def wire(kind: str, text: str) -> str | bytes:
    """What a follower's socket is sent for a bus message: bytes or text, made once per process."""
    if kind in FRAMES:
        return text.encode("latin-1")
    return text.encode() if kind in BINARY else text
ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # 32 letters, none to misread (0/O, 1/I)
MAX_FOLLOWERS = 2000  # per room and process


class Forbidden(ApiError):
    status = 403


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(ROOM_CODE_LEN))


def normalise(code: str) -> str:
    """What a follower typed, as stored: case, spaces and dashes do not matter."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def shown(code: str) -> str:
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Meta(BaseModel):
    """A room as every process sees it (JSON in the bus: model_dump_json, model_validate_json)."""
    code: str
    session: str  # the teacher's session, in the teacher's process
    secret: str  # sha256 of the teacher's secret
    page: str = "stepper"  # or "train": the training dashboard's room (live training)
    teacher_connected: bool = False
    teacher_left: float = 0.0  # wall-clock time the teacher's page went away
    ended: str | None = None  # why, once ended


class Slot:
    """One follower's newest message of each kind: put never waits."""

    def __init__(self, kinds=FOLLOWER_KINDS):
        self.kinds = kinds
        self.pending: dict[str, str | bytes] = {}
        self.wake = asyncio.Event()
        self.dropped = 0

    def put(self, kind: str, text: str | bytes) -> None:
        if kind not in self.kinds:
            return
        if kind in self.pending:
            self.dropped += 1
        self.pending[kind] = text
        self.wake.set()

    async def take(self) -> list[str | bytes]:
        await self.wake.wait()
        self.wake.clear()
        return [self.pending.pop(k) for k in KINDS if k in self.pending]


class JoinLimit:
    """Unknown codes tried per client address over the last minute: guessing
    is then hopeless, while a class of 300 behind one address joins freely
    (a right code is never counted)."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self.misses: dict[str, deque] = defaultdict(deque)

    def check(self, client: str) -> None:
        q, now = self.misses[client], time.monotonic()
        while q and q[0] < now - 60:
            q.popleft()
        if not q:
            del self.misses[client]  # (a defaultdict: the next miss makes it again)
            return
        if len(q) >= self.per_minute:
            raise TooMany(f"too many unknown room codes from this address ({self.per_minute} a minute at most): "
                          f"check the code with your teacher and try again in {60 - (now - q[0]):.0f} s")

    def miss(self, client: str) -> None:
        self.misses[client].append(time.monotonic())


class Rooms:
    """This process's side of every room: the followers connected here, and
    the rooms whose teacher's session lives here."""

    def __init__(self, bus, timeout: float, misses_per_minute: int):
        self.bus, self.timeout = bus, timeout
        bus.deliver = self.deliver
        self.slots: dict[str, set[Slot]] = defaultdict(set)
        self.limit = JoinLimit(misses_per_minute)
        self.owned: dict[str, object] = {}  # code -> routes.rooms.Teacher, rooms made here
        self.told: set[str] = set()  # ended rooms whose followers here were told
        self._janitor: asyncio.Task | None = None

    async def start(self) -> None:
        await self.bus.start()
        self._janitor = asyncio.create_task(self._expire_loop())

    async def close(self) -> None:
        if self._janitor:
            self._janitor.cancel()
        await self.bus.close()

    # ---- the rooms -------------------------------------------------------
    async def create(self, session_id: str, page: str = "stepper") -> tuple[Meta, str]:
        secret = secrets.token_urlsafe(24)
        # away since now: a room whose teacher's page never connects times out like any other
        meta = Meta(code=new_code(), session=session_id, secret=digest(secret), page=page, teacher_left=time.time())
        await self.bus.put_meta(meta)
        return meta, secret

    async def find(self, code: str, client: str) -> Meta:
        """The room a follower asked for; unknown codes count against the client."""
        self.limit.check(client)
        code = normalise(code)
        meta = await self.bus.get_meta(code) if len(code) == ROOM_CODE_LEN else None
        if meta is None or meta.ended:
            self.limit.miss(client)
            raise NotFound(f"no room {shown(code) or '(empty)'}: check the code with your teacher "
                           f"(it has {ROOM_CODE_LEN} letters and digits), or the room has ended")
        return meta

    async def as_teacher(self, code: str, secret: str, client: str) -> Meta:
        meta = await self.find(code, client)
        if not secrets.compare_digest(digest(secret), meta.secret):
            self.limit.miss(client)
            raise Forbidden("wrong teacher secret: only the page that started this room may drive it")
        return meta

    async def status(self, code: str, followers: int | None = None) -> None:
        """Tell the room (followers, the teacher) who is there."""
        meta = await self.bus.get_meta(code)
        if meta is None:
            return
        n = await self.bus.count(code, 0) if followers is None else followers
        msg = RoomStatus(teacher_connected=meta.teacher_connected, followers=max(n, 0),
                         ended=meta.ended is not None, reason=meta.ended)
        await self.bus.publish(meta.code, "status", msg.model_dump_json())

    async def set_teacher(self, code: str, connected: bool) -> None:
        meta = await self.bus.get_meta(code)
        if meta is None or meta.ended:
            return
        meta.teacher_connected, meta.teacher_left = connected, (0.0 if connected else time.time())
        await self.bus.put_meta(meta)
        await self.status(code)

    async def end(self, code: str, reason: str) -> None:
        meta = await self.bus.get_meta(code)
        if meta is None or meta.ended:
            return
        meta.ended, meta.teacher_connected = reason, False
        await self.bus.put_meta(meta)
        await self.status(code)
        await self.bus.stop_forks(code)
        await self.bus.drop(code)
        self.told.add(code)
        teacher = self.owned.pop(code, None)
        if teacher is not None:
            teacher.close()

    # ---- followers in this process ------------------------------------------
    async def join(self, code: str, slot: Slot) -> None:
        if len(self.slots[code]) >= MAX_FOLLOWERS:
            raise TooMany(f"this room has {MAX_FOLLOWERS} followers on this server, its limit")
        first = not self.slots[code]
        self.slots[code].add(slot)
        if first:
            await self.bus.listen(code)
        for kind, text in (await self.bus.get_last(code)).items():  # a late joiner: the room as it is
            slot.put(kind, wire(kind, text))

    async def leave(self, code: str, slot: Slot) -> None:
        group = self.slots.get(code)
        if group is None:
            return
        group.discard(slot)
        if not group:
            del self.slots[code]
            await self.bus.unlisten(code)

    def deliver(self, code: str, kind: str, text: str) -> None:
        if kind == "progress":  # a follower's "Derive it" progress changed: the teacher's class view counts again
            teacher = self.owned.get(code)
            if teacher is not None:
                teacher.class_due.set()
            return
        data = wire(kind, text)
        for slot in tuple(self.slots.get(code, ())):
            slot.put(kind, data)

    # ---- timeouts ---------------------------------------------------------
    async def _expire_loop(self) -> None:
        while True:
            await asyncio.sleep(min(5.0, self.timeout / 4))
            with suppress(Exception):  # a bus hiccup must not stop the janitor
                await self.expire()

    async def expire(self) -> None:
        """End the rooms made here whose teacher has been away too long; tell
        followers here of rooms that are gone (ended elsewhere, or expired)."""
        now = time.time()
        for code in list(self.owned):
            meta = await self.bus.get_meta(code)
            if meta is not None and not meta.teacher_connected and now - meta.teacher_left > self.timeout:
                await self.end(code, f"the teacher was away for more than {self.timeout:g} s")
        for code in list(self.slots):
            if code not in self.told and await self.bus.get_meta(code) is None:
                self.told.add(code)
                gone = RoomStatus(teacher_connected=False, followers=0, ended=True, reason="the room has ended")
                self.deliver(code, "status", gone.model_dump_json())
