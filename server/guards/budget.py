"""The server's memory budget: one number every session, data set, request
body, large response and stream subscription is counted against before it
is built.

Costs are estimated from shapes before anything is allocated, with factors
measured on this code (tests/server/guards/test_budget.py checks them against RSS):
a session's nodes in the atomic backward with its autograd check take ~5.7x
the bytes of one copy of every node's tensor (value, gradient, the per-branch
contributions, autograd's own forward and backward), fused training ~1.7x.
A request that would take the server past its budget is refused with a 4xx
naming the budget and the cost: 413 when it could never fit, 429 when it
would after other sessions go."""
from __future__ import annotations

import ctypes
import gc
import math
import os
import threading
from contextlib import contextmanager, suppress
from pathlib import Path

from backprop_ninja.model.graph import BY_NAME, NODES, PARAMS, Dims, branches

from ..errors import TooLarge, TooMany
from ..settings import Settings

NODE_FACTOR = 6  # x one copy of every node (~5.7 measured), in the server
TRAINER_FACTOR = 2  # x one copy, the session's model where it trains live (~1.7 measured)
SESSION_OVERHEAD = 4 * 2**20  # the MLP, its history's arrays, a frame's summaries
POINT_BYTES = 32  # a history point: three array entries and the sampled statistics
# a built data set: int64 contexts and targets, and while they are built
# (model.data.build_examples) the text, its indices as a Python list and a
# few index columns: ~60 bytes an example; 200 (what the list-per-example
# build took) keeps a margin
EXAMPLE_BUILD = 200
WORD_BYTES = 64  # a stored word: a str object and its slot in the tuple
BODY_FACTOR = 12  # a JSON body parsed into Python lists of floats, measured ~10x
NUMBER_BYTES = 80  # one number of a JSON response: a float object, its list slot, its text (~75 measured)


def size_text(n: float) -> str:
    """Bytes for people: "5 MB", "64 KB", "1.2 GB"."""
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} bytes"


def machine_memory() -> int:
    """Physical memory, or the container's limit if that is lower."""
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    for limit in (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes")):
        try:
            text = limit.read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def resident() -> int:
    """This process's resident memory, in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def give_back() -> None:
    """Return freed memory to the system. glibc keeps freed heap pages (a
    deleted max-config session left ~210 MB of 230 MB resident), so ask it
    to trim after a session goes."""
    gc.collect()
    with suppress(OSError, AttributeError):  # not glibc: its allocator decides
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class Budget:
    def __init__(self, limit: int):
        self.limit = limit
        self._held: dict[object, tuple[int, str]] = {}
        self._lock = threading.Lock()
        # what gives its memory back when a charge would not fit (a cache: trajectories.py)
        self.reclaimers: list = []

    @classmethod
    def from_settings(cls, settings: Settings) -> "Budget":
        """The budget, with the server itself (torch, the app: ~250 MB) counted first."""
        mb = settings.memory_budget_mb
        budget = cls(mb * 2**20 if mb is not None else machine_memory() // 2)
        budget._held["server"] = (resident(), "the server itself")
        return budget

    @property
    def used(self) -> int:
        return sum(cost for cost, _ in self._held.values())

    def charge(self, key: object, cost: int, what: str, reclaim: bool = True) -> None:
        """Count `cost` bytes under `key` (instead of what it had) until
        `release(key)`; refuse if it does not fit, after the reclaimers gave
        theirs back (`reclaim`), leaving `key` as it was."""
        for may_reclaim in (reclaim and bool(self.reclaimers), False):
            with self._lock:
                used = sum(c for k, (c, _) in self._held.items() if k != key)
                if used + cost <= self.limit:
                    self._held[key] = (cost, what)
                    return
                if not may_reclaim:
                    raise self._refusal(cost, what, used)
            for reclaimer in self.reclaimers:  # outside the lock: they release what they hold
                reclaimer()

    def release(self, key: object) -> None:
        with self._lock:
            self._held.pop(key, None)

    @contextmanager
    def hold(self, cost: int, what: str):
        """Count `cost` bytes for the duration of a block (a request's transient memory)."""
        key = ("transient", object())  # a key no other block has: no counter to keep under the lock
        self.charge(key, cost, what)
        try:
            yield
        finally:
            self.release(key)

    def _refusal(self, cost: int, what: str, used: int):
        budget = f"the server's memory budget of {size_text(self.limit)} (BPN_MEMORY_BUDGET_MB)"
        base = self._held.get("server", (0, ""))[0]
        if cost > self.limit - base:  # more than all there is beside the server itself
            return TooLarge(f"{what} would take ~{size_text(cost)}, more than {budget} leaves beside the "
                            f"server itself ({size_text(base)}): choose a smaller config or ask for less")
        return TooMany(f"{what} would take ~{size_text(cost)}, and {size_text(self.limit - used)} of "
                       f"{budget} are free: delete a session (DELETE /api/sessions/{{id}}) or wait for "
                       "idle ones to expire")


# ---- what things cost ----------------------------------------------------------
def _every_node(cfg, dims: Dims) -> int:
    """Bytes of one copy of every node's tensor."""
    return sum(math.prod(n.shape(dims)) for n in NODES) * (4 if cfg.dtype == "float32" else 8)


def describe(cfg) -> str:
    return (f"a session of n_hidden {cfg.n_hidden}, batch_size {cfg.batch_size}, block_size {cfg.block_size}, "
            f"n_embd {cfg.n_embd} ({cfg.dtype})")


def session_cost(cfg, vocab_size: int, settings: Settings) -> int:
    """A session at its largest: every node in the atomic backward with its
    check, its history at its caps, and its model where it trains live."""
    nodes = _every_node(cfg, Dims.of(cfg, vocab_size))
    trainer = TRAINER_FACTOR * nodes  # the training worker's copy, while it plays
    history = settings.history_max_bytes + settings.history_max_points * POINT_BYTES
    return NODE_FACTOR * nodes + trainer + history + SESSION_OVERHEAD


def words_cost(n_words: int, n_bytes: int) -> int:
    return n_words * WORD_BYTES + n_bytes


def examples_cost(n_examples: int, block_size: int, building: bool = False) -> int:
    """Bytes of a built data set; `building`: at its peak, while built."""
    kept = n_examples * (block_size + 1) * 8
    return kept + n_examples * (EXAMPLE_BUILD + 8 * block_size) if building else kept


def body_cost(n_bytes: int) -> int:
    return n_bytes * BODY_FACTOR


def tensor_cost(cfg, vocab_size: int, name: str, reference: bool) -> int:
    """A GET /tensors/{name} answer: value, gradient, autograd's gradient,
    the per-branch contributions, as Python lists and then JSON text."""
    dims = Dims.of(cfg, vocab_size)
    numel = math.prod(BY_NAME[name].shape(dims))
    copies = 2 + (1 if reference else 0) + (2 if branches(name) == 2 else 0)
    # with reference, autograd's whole forward and backward are built too
    autograd = 2 * _every_node(cfg, dims) if reference else 0
    return numel * copies * NUMBER_BYTES + autograd


def frame_cost(cfg, vocab_size: int, nodes: list[str], inspect: bool = False) -> int:
    """A stream frame with these nodes' tensors: values and gradients in
    float32, built in a helper, passed to the server and sent (~3 copies).
    `inspect`: plus the inspector's node, the largest one can be: value,
    grad, two parts and |grad - autograd| (server/stream/inspected.py)."""
    dims = Dims.of(cfg, vocab_size)
    each = sum(math.prod(BY_NAME[n].shape(dims)) for n in nodes if n in BY_NAME)
    if inspect:
        each += 5 / 2 * max(math.prod(node.shape(dims)) for node in BY_NAME.values())
    return int(3 * 2 * 4 * each)


def snapshot_cost(cfg, vocab_size: int, n_words: int) -> int:
    """A GET /snapshot answer: every parameter as numbers, the words as text."""
    dims = Dims.of(cfg, vocab_size)
    numbers = sum(math.prod(BY_NAME[p].shape(dims)) for p in PARAMS)
    return (numbers + 4 * cfg.n_hidden) * NUMBER_BYTES + n_words * 2 * WORD_BYTES
