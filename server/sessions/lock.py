"""A session's lock, and the guards every Session method runs under.

A request takes the lock through `SessionLock.request()`, which turns away
more than MAX_WAITERS at once; the server's own work (a pause, a delete, a
replay's end) always waits. The guards (`locked`, `mutating`, ...) settle a
player that died before the method runs, and refuse what live training or a
shared link's rebuild would make wrong."""
from __future__ import annotations

import contextlib
import functools
import threading

from ..errors import Conflict, TooMany

# requests that may wait for one session at once; more are refused (429) at
# once: each waiter holds one of the server's ~40 worker threads, and 80
# queued /train calls on one session once kept /api/health waiting 50 s.
# The page asks for up to ~5 things at once (a step's tensors, its stream
# command), so 8 leaves it room while keeping most threads free
MAX_WAITERS = 8


class SessionLock:
    """A lock that counts its waiters. Requests take it through `request()`,
    which turns away more than MAX_WAITERS; the server's own work (a pause,
    a delete) always waits."""

    def __init__(self):
        self._lock = threading.Lock()
        self._count = threading.Lock()
        self.waiting = 0

    def __enter__(self):
        return self._enter(capped=False)

    def _enter(self, capped: bool):
        with self._count:
            if capped and self.waiting >= MAX_WAITERS:
                raise TooMany(f"session is busy: {self.waiting} requests already wait for it, the most "
                              "allowed; retry once they are answered")
            self.waiting += 1
        self._lock.acquire()
        with self._count:
            self.waiting -= 1
        return self

    @contextlib.contextmanager
    def request(self):
        self._enter(capped=True)
        try:
            yield self
        finally:
            self._lock.release()

    def __exit__(self, *exc):
        self._lock.release()

    release = __exit__


def _guard(catch_up: bool = False, idle: bool = False, rebuild: bool = False):
    """A method run under the session's lock, after a player that died has
    been settled; `catch_up`: with the model as the server last saw it while it
    trains live; `idle`: refused while live training, or a shared link's
    rebuild (`rebuild`: unless it is a step of that rebuild), owns the model."""
    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(self, *args, **kwargs):
            with self.lock.request():
                self._touch()
                self.settle()
                if idle and self.playing:
                    raise Conflict(f"session is training live: pause it first, then {fn.__name__}")
                if idle and self.rebuilding and not rebuild:
                    raise Conflict(f"session is rebuilding a shared link: wait for its replay's reply, then {fn.__name__}")
                if catch_up:
                    self.catch_up()
                return fn(self, *args, **kwargs)
        return wrapper
    return decorate


locked = _guard(catch_up=True)  # reads the model
reads_history = _guard()  # reads the history only: the model may lag while training live
mutating = _guard(idle=True)  # changes the model
rebuild_step = _guard(idle=True, rebuild=True)  # a step of a shared link's rebuild (replay.py)
