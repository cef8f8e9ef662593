"""All sessions of the server: unguessable ids, a cap, idle expiry."""
from __future__ import annotations

import secrets
import threading
import time

from model import MLP
from model.data import DataError, parse_words

from . import snapshots
from .datasets import DEFAULT, DatasetStore
from .errors import NotFound, TooMany, Unprocessable
from .pool import Pool
from .schemas import SessionCreate, SnapshotPublic
from .session import Session
from .settings import Settings


class SessionStore:
    def __init__(self, settings: Settings, datasets: DatasetStore):
        self.settings, self.datasets = settings, datasets
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        # live training runs in a pool of worker processes (pool.py)
        self.pool = Pool(settings.workers)

    def start_workers(self) -> None:
        """Start the training workers now (~2 s to be ready), so that the
        first play finds them running."""
        self.pool.start()

    def __len__(self) -> int:
        return len(self._sessions)

    def expire(self) -> int:
        """Drop sessions idle for longer than the TTL; returns how many."""
        now = time.monotonic()
        with self._lock:
            old = [s for s in self._sessions.values() if s.idle_for(now) > self.settings.idle_ttl]
            for s in old:
                del self._sessions[s.id]
        for s in old:
            self._close(s)
        return len(old)

    def get(self, sid: str) -> Session:
        self.expire()
        s = self._sessions.get(sid)
        if s is None:
            raise NotFound(f"no session {sid!r}: it never existed, was deleted, or expired after "
                           f"{self.settings.idle_ttl:g} s unused; create one with POST /api/sessions")
        return s

    def create(self, body: SessionCreate) -> Session:
        self.expire()
        cap = self.settings.max_sessions
        if len(self._sessions) >= cap:  # checked early, before the costly build
            raise TooMany(f"the server holds {cap} sessions, its limit: delete one "
                          f"(DELETE /api/sessions/{{id}}) or wait for idle ones to expire")
        data = self.datasets.get(body.dataset, body.block_size)
        cfg = body.to_config()
        sid = secrets.token_urlsafe(16)
        session = Session(sid, MLP(cfg, data), body.dataset, self.settings, self.pool)
        with self._lock:
            if len(self._sessions) >= cap:
                raise TooMany(f"the server holds {cap} sessions, its limit")
            self._sessions[sid] = session
        return session

    def delete(self, sid: str) -> None:
        with self._lock:
            s = self._sessions.pop(sid, None)
        if s is None:
            raise NotFound(f"no session {sid!r} to delete")
        self._close(s)

    def _close(self, s: Session) -> None:
        s.pause()
        s.closed = True
        self.pool.forget(s.id)  # the workers forget its model

    def close_all(self) -> None:
        with self._lock:
            all_ = list(self._sessions.values())
            self._sessions.clear()
        for s in all_:
            self._close(s)
        self.pool.close()

    def words_of(self, s: Session) -> list[str] | None:
        """The session's word list for a snapshot; None for the default one."""
        return None if s.dataset_id == DEFAULT else list(self.datasets.words(s.dataset_id))

    def import_snapshot(self, snap: SnapshotPublic) -> Session:
        c = snap.config
        dataset = DEFAULT
        if snap.dataset_words is not None:
            try:
                dataset = self.datasets.add_words(parse_words("\n".join(snap.dataset_words), "snapshot words"))
            except DataError as err:
                raise Unprocessable(str(err)) from None
        # ConfigPublic has SessionCreate's bounds: the request's validation checked them
        session = self.create(SessionCreate(**c.model_dump(exclude={"vocab_size", "dataset"}), dataset=dataset))
        try:
            snapshots.restore(session, snap)
        except (ValueError, RuntimeError, TypeError) as err:
            self.delete(session.id)
            raise Unprocessable(f"snapshot does not fit its config: {err}") from None
        return session
