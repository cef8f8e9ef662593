"""Word lists by id: the default one and those uploaded through the API.

A `model.Dataset` depends on block_size (the context length), so built
datasets are kept per (id, block_size) while a session uses them (the
default list's always: small, and wanted by most sessions); they are
immutable and shared. Each counts against the memory budget until freed."""
from __future__ import annotations

import secrets
import threading
import weakref

from model.config import Config
from model.data import DataError, Dataset, Vocab, decode_bytes, load_words, parse_words

from .budget import Budget, examples_cost, size_text, words_cost
from .errors import NotFound, TooLarge, TooMany, Unprocessable
from .schemas import MAX_DATASET_BYTES

DEFAULT = "default"


class DatasetStore:
    def __init__(self, default_path=None, max_datasets: int = 32, budget: Budget | None = None):
        # load_words raises DataError for a bad --data file: the CLI reports it
        self._words: dict[str, tuple[str, ...]] = {DEFAULT: tuple(load_words(default_path))}
        self._vocab: dict[str, Vocab] = {}
        # a 5 MB list at block 16 is ~0.7 GB of examples: kept only while used
        self._built: weakref.WeakValueDictionary[tuple[str, int], Dataset] = weakref.WeakValueDictionary()
        self._default: dict[int, Dataset] = {}  # by block_size
        self._max = max_datasets
        self._lock = threading.Lock()
        self.budget = budget or Budget(1 << 62)

    def add_bytes(self, data: bytes) -> str:
        """Check and store an uploaded word list; returns its new id."""
        if len(data) > MAX_DATASET_BYTES:
            raise TooLarge(f"word list of {len(data)} bytes; at most {MAX_DATASET_BYTES} are allowed")
        # while parsed: the text, its lines and the words, ~2x what is kept
        with self.budget.hold(2 * words_cost(data.count(b"\n") + 1, len(data)),
                              f"reading a word list of {size_text(len(data))}"):
            try:
                words = parse_words(decode_bytes(data, "uploaded word list"), "uploaded word list")
            except DataError as err:
                raise Unprocessable(str(err)) from None
            return self.add_words(words)

    def add_words(self, words: list[str]) -> str:
        with self._lock:
            if len(self._words) > self._max:
                raise TooMany(f"the server holds {self._max} uploaded word lists, its limit; "
                              "restart it or reuse an existing id")
            ds_id = secrets.token_urlsafe(12)
            self.budget.charge(("words", ds_id), words_cost(len(words), sum(map(len, words))),
                               f"a word list of {len(words)} words")
            self._words[ds_id] = tuple(words)
        return ds_id

    def remove(self, ds_id: str) -> None:
        """Forget an uploaded list (an import that failed after storing it)."""
        with self._lock:
            self._words.pop(ds_id, None)
            self._vocab.pop(ds_id, None)
        self.budget.release(("words", ds_id))

    def words(self, ds_id: str) -> tuple[str, ...]:
        try:
            return self._words[ds_id]
        except KeyError:
            raise NotFound(f"no data set {ds_id!r}: use \"default\" or an id returned by "
                           "POST /api/datasets") from None

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
