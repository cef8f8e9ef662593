"""How rooms reach across server processes: `LocalBus` keeps them in this
process; `RedisBus` (BPN_REDIS_URL set) keeps each room's meta and newest
messages in Redis and publishes every message on the room's channel, so a
follower on any process that uses the same Redis follows. Each process
subscribes once per room it has followers for, and hands what comes to its
own followers' slots (hub.Rooms.deliver).

A fork needs the teacher's session, which lives in the process that made the
room: the asking process publishes a reply key on the room's fork channel,
that process pushes the fork's JSON there, the asker pops it."""
from __future__ import annotations

import asyncio
import logging
import secrets

from ..errors import NotFound
from .hub import KINDS, Meta

log = logging.getLogger(__name__)
TTL = 24 * 3600  # seconds Redis keeps a room's keys after its last change: no leak if every process dies
FORK_WAIT = 15  # seconds a fork waits for the teacher's process


class LocalBus:
    """Rooms of this process only: what it stores, it keeps in dicts; what it
    publishes, it hands to this process's slots at once."""

    def __init__(self):
        self.meta: dict[str, str] = {}
        self.last: dict[str, dict[str, str]] = {}
        self.counts: dict[str, int] = {}
        self.records: dict[str, dict[str, str]] = {}  # code -> follower -> its class-view record
        self.forks: dict[str, object] = {}  # code -> async () -> RoomFork JSON, of this process's teachers
        self.deliver = None  # set by Rooms: (code, kind, text) -> None

    async def _nothing(self, *_) -> None:
        """No connection to open or close, no channel to (un)subscribe: every message is here already."""

    start = close = listen = unlisten = _nothing

    async def put_meta(self, meta: Meta) -> None:
        self.meta[meta.code] = meta.model_dump_json()

    async def get_meta(self, code: str) -> Meta | None:
        text = self.meta.get(code)
        return None if text is None else Meta.model_validate_json(text)

    async def publish(self, code: str, kind: str, text: str) -> None:
        if kind in KINDS:  # not the class view's "progress changed" pings
            self.last.setdefault(code, {})[kind] = text
        self.deliver(code, kind, text)

    async def get_last(self, code: str) -> dict[str, str]:
        return dict(self.last.get(code, {}))

    async def count(self, code: str, delta: int) -> int:
        self.counts[code] = self.counts.get(code, 0) + delta
        return self.counts[code]

    async def drop(self, code: str) -> None:
        self.meta.pop(code, None)
        self.last.pop(code, None)
        self.counts.pop(code, None)
        self.records.pop(code, None)

    async def put_record(self, code: str, follower: str, text: str | None) -> None:
        if text is None:
            self.records.get(code, {}).pop(follower, None)
        else:
            self.records.setdefault(code, {})[follower] = text

    async def get_records(self, code: str) -> list[str]:
        return list(self.records.get(code, {}).values())

    # forks: the teacher's session is in this process
    async def serve_forks(self, code: str, build) -> None:
        self.forks[code] = build

    async def stop_forks(self, code: str) -> None:
        self.forks.pop(code, None)

    async def ask_fork(self, code: str) -> str:
        build = self.forks.get(code)
        if build is None:
            raise NotFound("the teacher's session cannot be copied now: the room is ending")
        return await build()


class RedisBus:
    def __init__(self, url: str):
        self.url = url
        self.r = None
        self.pubsub = None
        self.reader: asyncio.Task | None = None
        self.forks: dict[str, object] = {}
        self.listening: set[str] = set()
        self.deliver = None

    @staticmethod
    def key(code: str, part: str = "") -> str:
        return f"bpn:room:{code}{part}"

    async def start(self) -> None:
        import redis.asyncio as redis  # only servers with BPN_REDIS_URL need it loaded
        self.r = redis.from_url(self.url, decode_responses=True)
        await self.r.ping()  # a wrong URL fails at start, not at the first room
        self.pubsub = self.r.pubsub()
        await self.pubsub.subscribe("bpn:rooms")  # always subscribed: listen() has something to wait on
        self.reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        if self.reader:
            self.reader.cancel()
        if self.pubsub is not None:
            await self.pubsub.aclose()
        if self.r is not None:
            await self.r.aclose()

    async def _read(self) -> None:
        async for m in self.pubsub.listen():
            if m.get("type") != "message":
                continue
            channel, data = m["channel"], m["data"]
            try:
                if channel.startswith("bpn:fork:"):
                    asyncio.create_task(self._answer_fork(channel[len("bpn:fork:"):], data))
                elif channel.startswith("bpn:room:"):
                    kind, _, text = data.partition("\n")
                    self.deliver(channel[len("bpn:room:"):], kind, text)
            except Exception:  # noqa: BLE001 - one bad message must not stop the reader
                log.exception("room message on %s", channel)

    async def put_meta(self, meta: Meta) -> None:
        await self.r.set(self.key(meta.code), meta.model_dump_json(), ex=TTL)

    async def get_meta(self, code: str) -> Meta | None:
        text = await self.r.get(self.key(code))
        return None if text is None else Meta.model_validate_json(text)

    async def publish(self, code: str, kind: str, text: str) -> None:
        last = self.key(code, ":last")
        async with self.r.pipeline(transaction=False) as p:
            if kind in KINDS:  # not the class view's "progress changed" pings
                p.hset(last, kind, text)
                p.expire(last, TTL)
            p.publish(self.key(code), f"{kind}\n{text}")
            await p.execute()

    async def get_last(self, code: str) -> dict[str, str]:
        return await self.r.hgetall(self.key(code, ":last"))

    async def count(self, code: str, delta: int) -> int:
        n = self.key(code, ":n")
        if delta == 0:
            return int(await self.r.get(n) or 0)
        async with self.r.pipeline(transaction=False) as p:
            p.incrby(n, delta)
            p.expire(n, TTL)
            got, _ = await p.execute()
        return int(got)

    async def drop(self, code: str) -> None:
        await self.r.delete(self.key(code), self.key(code, ":last"), self.key(code, ":n"), self.key(code, ":class"))

    async def put_record(self, code: str, follower: str, text: str | None) -> None:
        key = self.key(code, ":class")
        if text is None:
            await self.r.hdel(key, follower)
            return
        async with self.r.pipeline(transaction=False) as p:
            p.hset(key, follower, text)
            p.expire(key, TTL)
            await p.execute()

    async def get_records(self, code: str) -> list[str]:
        return list((await self.r.hgetall(self.key(code, ":class"))).values())

    async def listen(self, code: str) -> None:
        if code not in self.listening:
            self.listening.add(code)
            await self.pubsub.subscribe(self.key(code))

    async def unlisten(self, code: str) -> None:
        if code in self.listening:
            self.listening.discard(code)
            await self.pubsub.unsubscribe(self.key(code))

    async def serve_forks(self, code: str, build) -> None:
        self.forks[code] = build
        await self.pubsub.subscribe(f"bpn:fork:{code}")

    async def stop_forks(self, code: str) -> None:
        if self.forks.pop(code, None) is not None:
            await self.pubsub.unsubscribe(f"bpn:fork:{code}")

    async def _answer_fork(self, code: str, reply: str) -> None:
        build = self.forks.get(code)
        if build is None or not reply.startswith("bpn:reply:"):
            return
        try:
            text = await build()
        except Exception as err:  # noqa: BLE001 - the asker is told, in a sentence
            text = "!" + (getattr(err, "message", None) or f"{type(err).__name__}: {err}")
        async with self.r.pipeline(transaction=False) as p:
            p.rpush(reply, text)
            p.expire(reply, FORK_WAIT * 2)
            await p.execute()

    async def ask_fork(self, code: str) -> str:
        reply = f"bpn:reply:{secrets.token_urlsafe(12)}"
        if await self.r.publish(f"bpn:fork:{code}", reply) == 0:
            raise NotFound("the teacher's server is not reachable now, so their session cannot be copied")
        got = await self.r.blpop([reply], timeout=FORK_WAIT)
        if got is None:
            raise NotFound(f"the teacher's server did not answer within {FORK_WAIT} s: try again")
        text = got[1]
        if text.startswith("!"):
            raise NotFound(f"the teacher's session could not be copied: {text[1:]}")
        return text
