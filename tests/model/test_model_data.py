"""Word lists: the built-in names, custom lists, and every way a file can be bad."""
from __future__ import annotations

import pytest
import torch

from backprop_ninja.model.config import Config
from backprop_ninja.model.data import MAX_WORD_LEN, DataError, Dataset, Vocab, build_examples, load_words, parse_words
from backprop_ninja.model.mlp import MLP

TEN = ["anna", "bob", "carl", "dora", "emil", "fay", "gus", "hana", "ivo", "jo"]


def _file(tmp_path, content, name="words.txt"):
    p = tmp_path / name
    if isinstance(content, str):
        p.write_text(content, encoding="utf-8")
    else:
        p.write_bytes(content)
    return p


def test_builtin_names_are_lowercase_letters():
    words = load_words(None)
    assert len(words) > 5000 and len(set(words)) == len(words)
    vocab = Vocab.from_words(words)
    assert vocab.chars == (".",) + tuple("abcdefghijklmnopqrstuvwxyz") and vocab.size == 27


def test_examples_follow_the_lecture():
    vocab = Vocab.from_words(["emma"])
    X, Y = build_examples(["emma"], vocab, 3)
    e, m, a = vocab.stoi["e"], vocab.stoi["m"], vocab.stoi["a"]
    assert X.tolist() == [[0, 0, 0], [0, 0, e], [0, e, m], [e, m, m], [m, m, a]]
    assert Y.tolist() == [e, m, m, a, 0]  # a word of length L gives L+1 examples


def test_split_is_80_10_10_and_seeded():
    words = [f"w{'abcdefghij'[i % 10]}{'abcdefghij'[i // 10]}" for i in range(100)]
    d = Dataset.from_words(words, 3, split_seed=42)
    assert [len(d.split_words[s]) for s in ("train", "val", "test")] == [80, 10, 10]
    assert sorted(sum(d.split_words.values(), ())) == sorted(words)
    assert Dataset.from_words(words, 3, 42).split_words == d.split_words
    assert Dataset.from_words(words, 3, 43).split_words != d.split_words


@pytest.mark.parametrize("content,expected", [
    ("", "empty"),
    ("\n\n   \n", "empty"),
    ("\u00a0\n\u00a0\n", "no usable words"),  # only (non-ASCII) blank lines
    ("\n".join(TEN[:5] + ["a.b"] + TEN[5:]), r"line 6: '\.' is reserved"),
    ("\n".join(TEN + ["anna marie"]), "line 11: a word contains white space"),
    ("\n".join(TEN[:2] + ["ab\x07c"] + TEN[2:]), "line 3: control or unprintable character U\\+0007"),
    ("\n".join(TEN + ["x" * (MAX_WORD_LEN + 1)]), f"line 11: word of {MAX_WORD_LEN + 1} characters"),
    ("\n".join(TEN[:4]), "has 4 words; at least 10"),
])
def test_bad_word_lists_say_what_is_wrong(tmp_path, content, expected):
    with pytest.raises(DataError, match=expected):
        load_words(_file(tmp_path, content))


def test_undecodable_bytes_name_the_line(tmp_path):
    data = "\n".join(TEN[:3]).encode() + b"\nzo\xeb\n" + "\n".join(TEN[3:]).encode()
    with pytest.raises(DataError, match=r"line 4: bytes that are not UTF-8"):
        load_words(_file(tmp_path, data))


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_words(tmp_path / "nope.txt")
    with pytest.raises(DataError, match="directory"):
        load_words(tmp_path)


def test_dataset_refuses_too_few_words():
    with pytest.raises(DataError, match="at least 10"):
        Dataset.from_words(TEN[:9])


def test_blank_lines_bom_and_crlf_are_fine(tmp_path):
    text = "\ufeff" + "\r\n".join(TEN[:5]) + "\r\n\r\n  \r\n" + "\r\n".join(TEN[5:]) + "\r\n"
    assert load_words(_file(tmp_path, text.encode("utf-8"))) == TEN
    assert parse_words("  anna  \n" + "\n".join(TEN[1:])) == TEN


def test_custom_word_list_end_to_end(tmp_path):
    words = ["Zoë", "zoë", "Émile", "anna", "Bob", "chloé", "dmitri", "eve", "fiona", "gus", "ida", "jürgen"]
    path = _file(tmp_path, "\n".join(words) + "\n")
    m = MLP(Config(n_hidden=16, batch_size=8, seed=3), path)
    assert m.vocab.chars[0] == "." and set(m.vocab.chars[1:]) == set("".join(words))
    assert list(m.vocab.chars[1:]) == sorted(m.vocab.chars[1:])
    assert {"Z", "ë", "É", "ü"} <= set(m.vocab.chars)
    assert m.params["C"].shape[0] == m.vocab.size == m.params["W2"].shape[1]
    losses = m.train(200)
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-20:]) / 20 < losses[0]
    m.calibrate()
    for w in m.sample_names(5):
        assert set(w) <= set(m.vocab.chars[1:])


def lecture_examples(words, vocab, block_size):
    """The lecture's own loop, as the oracle for the vectorised build."""
    X, Y = [], []
    for w in words:
        context = [0] * block_size
        for ch in w + ".":
            ix = vocab.stoi[ch]
            X.append(context)
            Y.append(ix)
            context = context[1:] + [ix]
    return torch.tensor(X).view(-1, block_size), torch.tensor(Y)


@pytest.mark.parametrize("block_size", [1, 3, 8, 16])
def test_examples_are_the_lectures_loop(block_size):
    words = load_words(None)[:700] + ["x", "ab", "éçü", "abcdefghijklmnopqrstu"]
    vocab = Vocab.from_words(words)
    X, Y = build_examples(words, vocab, block_size)
    Xr, Yr = lecture_examples(words, vocab, block_size)
    assert X.dtype == Xr.dtype == torch.long and torch.equal(X, Xr) and torch.equal(Y, Yr)
