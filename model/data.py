"""Word lists, the character vocabulary and the (context -> next char) examples.

`load_words(None)` gives the built-in default: the US census first names that
ship inside the PyPI package `names`, lowercased. Any newline-separated word
list works too; every problem with one raises `DataError` with a message that
names the problem and says what is allowed.
"""
from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch

MARKER = "."  # index 0: starts every context and ends every word
MIN_WORDS = 10  # fewer cannot fill an 80/10/10 split
MAX_WORD_LEN = 64
MAX_VOCAB = 256


class DataError(ValueError):
    """A word list we cannot use; str(err) says why and what is allowed."""


@dataclass(frozen=True)
class Vocab:
    """'.' at index 0, then the characters of the words in sorted order."""

    chars: tuple[str, ...]

    @classmethod
    def from_words(cls, words: list[str]) -> "Vocab":
        return cls((MARKER,) + tuple(sorted(set("".join(words)))))

    @property
    def size(self) -> int:
        return len(self.chars)

    @property
    def stoi(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.chars)}

    def encode(self, word: str) -> list[int]:
        stoi = self.stoi
        return [stoi[c] for c in word]

    def decode(self, ix: list[int]) -> str:
        return "".join(self.chars[i] for i in ix)


def default_words() -> list[str]:
    """The built-in data set: male and female US census first names, lowercased."""
    pkg = resources.files("names")
    words: set[str] = set()
    for fname in ("dist.female.first", "dist.male.first"):
        for line in pkg.joinpath(fname).read_text(encoding="ascii").splitlines():
            if line.strip():
                words.add(line.split()[0].lower())
    return sorted(words)


def _check_char(ch: str, lineno: int, source: str) -> None:
    if ch == MARKER:
        raise DataError(f"{source}, line {lineno}: '.' is reserved as the start/end marker; "
                        "words may use any other printable character")
    if ch.isspace():
        raise DataError(f"{source}, line {lineno}: a word contains white space; "
                        "put one word on each line")
    if unicodedata.category(ch)[0] == "C":
        raise DataError(f"{source}, line {lineno}: control or unprintable character "
                        f"U+{ord(ch):04X}; only printable characters are allowed")


def parse_words(text: str, source: str = "word list") -> list[str]:
    """Split text into words, one a line; blank lines are skipped."""
    lines = text.splitlines()
    words = [w for w in (raw.strip() for raw in lines) if w]
    longest = max(words, key=len, default="")
    # each distinct character is checked once (a 300k-word list has ~30);
    # the line is looked for only to name it in the error
    for ch in sorted(set("".join(words))):
        try:
            _check_char(ch, 0, source)
        except DataError:
            lineno = next(i for i, raw in enumerate(lines, start=1) if ch in raw.strip())
            _check_char(ch, lineno, source)
    if len(longest) > MAX_WORD_LEN:
        lineno = next(i for i, raw in enumerate(lines, start=1) if len(raw.strip()) > MAX_WORD_LEN)
        raise DataError(f"{source}, line {lineno}: word of {len(lines[lineno - 1].strip())} characters; "
                        f"at most {MAX_WORD_LEN} are allowed")
    if not words:
        raise DataError(f"{source} has no usable words: expected one word a line")
    if len(words) < MIN_WORDS:
        raise DataError(f"{source} has {len(words)} words; at least {MIN_WORDS} are needed "
                        "to split it 80/10/10 into train, val and test")
    nchars = len(set("".join(words)))
    if nchars + 1 > MAX_VOCAB:
        raise DataError(f"{source} uses {nchars} distinct characters; at most "
                        f"{MAX_VOCAB - 1} are allowed")
    return words


def decode_bytes(data: bytes, source: str = "word list") -> str:
    """UTF-8 (a BOM is allowed); undecodable bytes are an error, not a guess."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataError(f"{source}, line {line}: bytes that are not UTF-8 text "
                        f"(byte {err.start}); save the file as UTF-8") from None


def load_words(path: str | Path | None = None) -> list[str]:
    """Words from a newline-separated file, or the built-in default for None."""
    if path is None:
        return default_words()
    p = Path(path)
    if not p.exists():
        raise DataError(f"word list not found: {p}")
    if not p.is_file():
        raise DataError(f"word list must be a file, but {p} is a directory or special file")
    try:
        data = p.read_bytes()
    except OSError as err:
        raise DataError(f"cannot read word list {p}: {err.strerror}") from None
    if not data.strip():
        raise DataError(f"word list {p} is empty: expected one word a line")
    return parse_words(decode_bytes(data, str(p)), str(p))


def build_examples(words: list[str], vocab: Vocab, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (context -> next index) pair; a word of length L gives L+1.

    The lecture's loop (a context list per character, slid along the word),
    done with tensor indexing: ~12x faster for a 300k-word list
    (benchmarks/dataset_bench.py), the same tensors (its test)."""
    stoi = vocab.stoi
    Y = torch.tensor([stoi[ch] for ch in "".join(w + MARKER for w in words)], dtype=torch.long)
    lengths = torch.tensor([len(w) + 1 for w in words], dtype=torch.long)
    pos = torch.arange(len(Y))
    at = pos - torch.repeat_interleave(torch.cumsum(lengths, 0) - lengths, lengths)  # place in its word
    X = torch.zeros((len(Y), block_size), dtype=torch.long)  # 0: the start marker, before the word
    # one column at a time: temporaries of one entry per example, not block_size
    for j in range(block_size):
        back = block_size - j  # slot j holds the character `back` places before the target
        X[:, j] = torch.where(at >= back, Y[(pos - back).clamp_(min=0)], 0)
    return X, Y


@dataclass(frozen=True)
class Dataset:
    """A word list split 80/10/10 after a seeded shuffle, as examples."""

    words: tuple[str, ...]
    vocab: Vocab
    block_size: int
    split_words: dict[str, tuple[str, ...]]
    splits: dict[str, tuple[torch.Tensor, torch.Tensor]]

    @classmethod
    def from_words(cls, words: list[str], block_size: int = 3, split_seed: int = 42) -> "Dataset":
        if len(words) < MIN_WORDS:
            raise DataError(f"{len(words)} words; at least {MIN_WORDS} are needed")
        vocab = Vocab.from_words(words)
        shuffled = list(words)
        random.Random(split_seed).shuffle(shuffled)
        n1, n2 = int(0.8 * len(shuffled)), int(0.9 * len(shuffled))
        parts = {"train": shuffled[:n1], "val": shuffled[n1:n2], "test": shuffled[n2:]}
        return cls(
            words=tuple(words),
            vocab=vocab,
            block_size=block_size,
            split_words={k: tuple(v) for k, v in parts.items()},
            splits={k: build_examples(v, vocab, block_size) for k, v in parts.items()},
        )
