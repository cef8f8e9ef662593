"""Word lists by id: the default one and those uploaded through the API.

A `model.Dataset` depends on block_size (the context length), so built
datasets are cached per (id, block_size); they are immutable and shared by
every session that uses them."""
from __future__ import annotations

import secrets
import threading
from collections import OrderedDict

from model.config import Config
from model.data import DataError, Dataset, Vocab, decode_bytes, load_words, parse_words

from .errors import NotFound, TooLarge, TooMany, Unprocessable
from .schemas import MAX_DATASET_BYTES

DEFAULT = "default"
BUILT_CACHE = 8  # built datasets kept; a 5 MB list at block 16 is ~1 GB of examples


class DatasetStore:
    def __init__(self, default_path=None, max_datasets: int = 32):
        # load_words raises DataError for a bad --data file: the CLI reports it
        self._words: dict[str, tuple[str, ...]] = {DEFAULT: tuple(load_words(default_path))}
        self._built: OrderedDict[tuple[str, int], Dataset] = OrderedDict()
        self._max = max_datasets
        self._lock = threading.Lock()

    def add_bytes(self, data: bytes) -> str:
        """Check and store an uploaded word list; returns its new id."""
        if len(data) > MAX_DATASET_BYTES:
            raise TooLarge(f"word list of {len(data)} bytes; at most {MAX_DATASET_BYTES} are allowed")
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
            self._words[ds_id] = tuple(words)
        return ds_id

    def remove(self, ds_id: str) -> None:
        """Forget an uploaded list (an import that failed after storing it)."""
        with self._lock:
            self._words.pop(ds_id, None)
            for key in [k for k in self._built if k[0] == ds_id]:
                del self._built[key]

    def words(self, ds_id: str) -> tuple[str, ...]:
        try:
            return self._words[ds_id]
        except KeyError:
            raise NotFound(f"no data set {ds_id!r}: use \"default\" or an id returned by "
                           "POST /api/datasets") from None

    def vocab(self, ds_id: str) -> Vocab:
        return Vocab.from_words(list(self.words(ds_id)))

    def get(self, ds_id: str, block_size: int) -> Dataset:
        key = (ds_id, block_size)
        with self._lock:
            if key in self._built:
                self._built.move_to_end(key)
                return self._built[key]
        words = self.words(ds_id)
        # built outside the lock: ~0.2 s for the default list, seconds for 5 MB
        ds = Dataset.from_words(list(words), block_size, Config().split_seed)
        with self._lock:
            self._built[key] = ds
            while len(self._built) > BUILT_CACHE:
                self._built.popitem(last=False)
        return ds
