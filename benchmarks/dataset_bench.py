"""A big word list, as the stepper's upload meets it: checking the words
(`parse_words`) and building the examples (`build_examples`) for 300,000
random words, against the lecture's own loop for the same examples in the
same run; then the two server calls the page makes (POST /api/datasets,
POST /api/sessions), in process. Prints ratios and seconds; asserts nothing.

    .venv/bin/python -m benchmarks.dataset_bench [--words 300000]
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from backprop_ninja.model.data import MARKER, Vocab, build_examples, parse_words  # noqa: E402


def lecture_loop(words, vocab, block_size):
    """The notebook's build_dataset: a Python context list per example."""
    X, Y = [], []
    for w in words:
        context = [0] * block_size
        for ch in w + MARKER:
            ix = vocab.stoi[ch]
            X.append(context)
            Y.append(ix)
            context = context[1:] + [ix]
    return torch.tensor(X), torch.tensor(Y)


def timed(f, *args):
    t = time.perf_counter()
    out = f(*args)
    return time.perf_counter() - t, out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--words", type=int, default=300_000)
    args = p.parse_args()
    torch.set_num_threads(1)
    rng = random.Random(1)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9)))
             for _ in range(args.words)]
    text = "\n".join(words) + "\n"
    t_parse, parsed = timed(parse_words, text)
    vocab = Vocab.from_words(parsed)
    print(f"{args.words:,} words, {len(text.encode()) / 1e6:.1f} MB: parse_words {t_parse:.2f} s")
    for block in (3, 16):
        t_loop, ref = timed(lecture_loop, parsed, vocab, block)
        t_new, got = timed(build_examples, parsed, vocab, block)
        same = torch.equal(ref[0], got[0]) and torch.equal(ref[1], got[1])
        print(f"block {block:2d}: lecture loop {t_loop:.2f} s, build_examples {t_new:.2f} s: "
              f"{t_loop / t_new:.1f}x faster, same examples: {same}")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    from backprop_ninja.server.app import create_app
    from backprop_ninja.server.settings import Settings
    with tempfile.TemporaryDirectory() as data:
        app = create_app(Settings(allowed_hosts=["testserver"], data_dir=data, workers=1))
        with TestClient(app, headers={"X-Requested-With": "bench"}) as c:
            t_up, r = timed(lambda: c.post("/api/datasets", content=text.encode()))
            ds = r.json()["id"]
            t_sess, r = timed(lambda: c.post("/api/sessions", json={"dataset": ds}))
            print(f"server: POST /api/datasets {t_up:.2f} s, POST /api/sessions on it {t_sess:.2f} s "
                  f"(status {r.status_code})")


if __name__ == "__main__":
    main()
