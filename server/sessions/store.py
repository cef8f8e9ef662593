"""All sessions of the server: unguessable ids, a cap, idle expiry."""
from __future__ import annotations

import secrets
import threading
import time

from backprop_ninja.model import MLP

from ..errors import ApiError, NotFound, TooMany
from ..guards.budget import Budget, describe, give_back, session_cost
from ..live.pool import Pool
from ..schemas.common import SessionCreate
from ..schemas.sessions import SnapshotPublic
from ..settings import Settings
from . import snapshots
from .datasets import DEFAULT, DatasetStore
from .session import Session


class SessionStore:
    def __init__(self, settings: Settings, datasets: DatasetStore, budget: Budget):
        self.settings, self.datasets, self.budget = settings, datasets, budget
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        # live training runs in a pool of worker processes (pool.py)
        self.pool = Pool(settings.workers)

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
        if old:
            give_back()
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
        vocab = self.datasets.vocab(body.dataset)  # 404 for an unknown data set, before any cost
        cfg = body.to_config()
        sid = secrets.token_urlsafe(16)
        # counted before anything is built (budget.py); the data set counts its own
        self.budget.charge(("session", sid), session_cost(cfg, vocab.size, self.settings), describe(cfg))
        try:
            data = self.datasets.get(body.dataset, body.block_size)
            session = Session(sid, MLP(cfg, data), body.dataset, self.settings, self.pool)
            with self._lock:
                if len(self._sessions) >= cap:
                    raise TooMany(f"the server holds {cap} sessions, its limit")
                self._sessions[sid] = session
        except BaseException:
            self.budget.release(("session", sid))
            raise
        return session

    def delete(self, sid: str) -> None:
        with self._lock:
            s = self._sessions.pop(sid, None)
        if s is None:
            raise NotFound(f"no session {sid!r} to delete")
        self._close(s)
        del s
        give_back()  # its tensors are free now: return them to the system

    def _close(self, s: Session) -> None:
        s.closed = True  # first: a play after this is refused, one begun before ends in the pause
        s.pause()
        self.budget.release(("session", s.id))
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
        # checked whole first (snapshots.check): a bad one creates nothing
        checked = snapshots.check(snap, self.datasets.vocab(DEFAULT))
        dataset, new = (DEFAULT, False) if checked.words is None else self.datasets.add_words(checked.words)
        try:
            session = self.create(checked.body.model_copy(update={"dataset": dataset}))
        except ApiError:  # the cap, the budget: nothing is kept (a list stored before stays)
            if new:
                self.datasets.remove(dataset)
            raise
        snapshots.restore(session, checked.state)
        return session
