"""Word lists by id: the default one and those uploaded through the API.

An uploaded list is stored on disk under the data directory
(`BPN_DATA_DIR`/datasets) as `<id>.txt`, one word a line, beside
`<id>.json` (its file name, its size). Its id is a hash of its words, so
the same list gets the same id on every server and after every restart: a
shared link that names it works wherever that list was uploaded once.
Disk use is capped (`BPN_DATASETS_MAX_MB`): past it, the lists used least
recently are deleted (a link to one then asks for the file again).

In memory: the default list, and up to `max_datasets` lists read recently
(the others are read again from disk when asked for). A `model.Dataset`
depends on block_size (the context length), so built datasets are kept per
(id, block_size) while a session uses them (the default list's always:
small, and wanted by most sessions); they are immutable and shared. Each
counts against the memory budget until freed."""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
import weakref
from collections import OrderedDict
from contextlib import suppress
from pathlib import Path

from backprop_ninja.model.config import Config
from backprop_ninja.model.data import DataError, Dataset, Vocab, decode_bytes, load_words, parse_words

from ..errors import NotFound, TooLarge, Unprocessable
from ..guards.budget import Budget, examples_cost, size_text, words_cost
from ..schemas.common import MAX_DATASET_BYTES

DEFAULT = "default"
DEFAULT_NAME = "US census first names (built in)"
ID = re.compile(r"^[0-9a-f]{32}$")  # checked before an id comes near a path
MAX_NAME = 120


def content_id(words: list[str] | tuple[str, ...]) -> str:
    """The id of a word list: its words' hash, whatever line endings or BOM the file had."""
    return hashlib.sha256(("\n".join(words) + "\n").encode()).hexdigest()[:32]


def clean_name(name: str | None) -> str:
    """A file name fit to show: its last part, printable, at most MAX_NAME characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()[:MAX_NAME]
    return base or "uploaded word list"


def _write(path: Path, data: bytes) -> None:
    """Whole or not at all: a crash or a second server never leaves half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class DatasetStore:
    def __init__(self, directory: Path, default_path=None, max_datasets: int = 32,
                 budget: Budget | None = None, max_disk_bytes: int = 256 << 20):
        # load_words raises DataError for a bad --data file: the CLI reports it
        default = tuple(load_words(default_path))
        self._dir = Path(directory) / "datasets"
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise DataError(f"data directory {directory}: cannot create it ({err.strerror}); "
                            "set BPN_DATA_DIR to a folder this user may write") from None
        self._words: OrderedDict[str, tuple[str, ...]] = OrderedDict({DEFAULT: default})
        self._vocab: dict[str, Vocab] = {}
        # a 5 MB list at block 16 is ~0.7 GB of examples: kept only while used
        self._built: weakref.WeakValueDictionary[tuple[str, int], Dataset] = weakref.WeakValueDictionary()
        self._default: dict[int, Dataset] = {}  # by block_size
        self._max = max_datasets
        self._max_disk = max_disk_bytes
        self._lock = threading.Lock()
        self.budget = budget or Budget(1 << 62)

    # ---- adding -----------------------------------------------------------------
    def add_bytes(self, data: bytes, name: str | None = None) -> str:
        """Check and store an uploaded file; returns its id. Errors name the file, as the CLI does."""
        name = clean_name(name)
        if len(data) > MAX_DATASET_BYTES:
            raise TooLarge(f"{name}: {len(data)} bytes; a word list may have at most {MAX_DATASET_BYTES} (5 MB)")
        # while parsed: the text, its lines and the words, ~2x what is kept
        with self.budget.hold(2 * words_cost(data.count(b"\n") + 1, len(data)),
                              f"reading a word list of {size_text(len(data))}"):
            try:
                words = parse_words(decode_bytes(data, name), name)
            except DataError as err:
                raise Unprocessable(str(err)) from None
            return self.add_words(words, name)[0]

    def add_words(self, words: list[str], name: str | None = None) -> tuple[str, bool]:
        """Store a checked list; returns (its id, whether it was new on this disk)."""
        ds_id = content_id(words)
        path = self._dir / f"{ds_id}.txt"
        new = not path.exists()
        if new:
            text = ("\n".join(words) + "\n").encode()
            if len(text) > self._max_disk:
                raise TooLarge(f"a word list of {size_text(len(text))} is more than the data directory may "
                               f"hold ({size_text(self._max_disk)}, BPN_DATASETS_MAX_MB)")
            _write(path, text)
        if new or name is not None:  # an import (no name) keeps the name of an earlier upload
            _write(self._dir / f"{ds_id}.json", json.dumps({"name": clean_name(name), "words": len(words)}).encode())
        self._keep(ds_id, tuple(words))
        self._trim_disk(keep=ds_id)
        return ds_id, new

    def remove(self, ds_id: str) -> None:
        """Forget a list stored by a request that then failed (an import over the cap)."""
        self._forget(ds_id)
        for ext in ("txt", "json"):
            (self._dir / f"{ds_id}.{ext}").unlink(missing_ok=True)

    # ---- reading -------------------------------------------------------------------
    def words(self, ds_id: str) -> tuple[str, ...]:
        with self._lock:
            if ds_id in self._words:
                self._words.move_to_end(ds_id)
                return self._words[ds_id]
        path = self._dir / f"{ds_id}.txt"
        try:
            if not ID.match(ds_id):
                raise FileNotFoundError
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"no data set {ds_id!r} on this server: upload the same word list again "
                           "(POST /api/datasets: the same words get the same id, so links to it work again), or use "
                           "\"default\" (the built-in names)") from None
        with self.budget.hold(2 * words_cost(data.count(b"\n") + 1, len(data)), "reading a stored word list"):
            words = tuple(parse_words(decode_bytes(data, path.name), path.name))
        os.utime(path)  # recently used: the last the disk cap deletes
        self._keep(ds_id, words)
        return words

    def name(self, ds_id: str) -> str:
        """The file name it was uploaded as (the latest upload's)."""
        if ds_id == DEFAULT:
            return DEFAULT_NAME
        self.words(ds_id)  # NotFound for an unknown id
        try:
            return clean_name(json.loads((self._dir / f"{ds_id}.json").read_text())["name"])
        except (OSError, ValueError, KeyError, TypeError):
            return clean_name(None)

    def vocab(self, ds_id: str) -> Vocab:
        words = self.words(ds_id)
        if ds_id not in self._vocab:
            self._vocab[ds_id] = Vocab.from_words(list(words))
        return self._vocab[ds_id]

    def get(self, ds_id: str, block_size: int) -> Dataset:
        key = (ds_id, block_size)
        with self._lock:
            ds = self._built.get(key)
            if ds is not None:
                return ds
        words = self.words(ds_id)
        n = sum(len(w) + 1 for w in words)  # examples: a word of length L gives L+1
        what = f"the {len(words)} words of data set {ds_id!r} as examples for block_size {block_size}"
        # built outside the lock: ~0.2 s for the default list, seconds for 5 MB
        with self.budget.hold(examples_cost(n, block_size, building=True), "building " + what):
            ds = Dataset.from_words(list(words), block_size, Config().split_seed)
        with self._lock:
            found = self._built.get(key)  # another request built it meanwhile
            if found is not None:
                return found
            self.budget.charge(("examples", id(ds)), examples_cost(n, block_size), what)
            weakref.finalize(ds, self.budget.release, ("examples", id(ds)))
            self._built[key] = ds
            if ds_id == DEFAULT:
                self._default[block_size] = ds
        return ds

    # ---- bounds ----------------------------------------------------------------------
    def _keep(self, ds_id: str, words: tuple[str, ...]) -> None:
        """Hold a list in memory (charged to the budget); beyond max_datasets, drop the
        least recently used (it is on disk: read again when asked for)."""
        with self._lock:
            if ds_id in self._words:
                self._words.move_to_end(ds_id)
                return
            self.budget.charge(("words", ds_id), words_cost(len(words), sum(map(len, words))),
                               f"a word list of {len(words)} words")
            self._words[ds_id] = words
            old = [k for k in self._words if k != DEFAULT][:-self._max] if len(self._words) > self._max + 1 else []
        for k in old:
            self._forget(k)

    def _forget(self, ds_id: str) -> None:
        with self._lock:
            self._words.pop(ds_id, None)
            self._vocab.pop(ds_id, None)
        self.budget.release(("words", ds_id))

    def _trim_disk(self, keep: str) -> None:
        """Delete the least recently used lists while the directory holds more than its cap."""
        stats = []
        for p in self._dir.glob("*.txt"):
            with suppress(FileNotFoundError):  # another server sharing the directory deleted it
                stats.append((p.stat().st_mtime, p.stat().st_size, p.stem))
        total = sum(size for _, size, _ in stats)
        for _, size, stem in sorted(stats):
            if total <= self._max_disk:
                break
            if stem != keep:
                total -= size
                self.remove(stem)
