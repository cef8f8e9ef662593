"""With the lecture's seed, the parameters and batches are the notebook's.

The notebook's procedure is written out here on its own (seeding, shuffle,
80/10/10 split, its build_dataset, the five draws from `g`, then one
torch.randint per batch from `g`) and compared with what the model does. The
notebook draws bngain and bnbias from torch's global generator: those two
cannot be compared with anything the notebook did, so they are checked
against their documented source, a second generator with the same seed."""
import random

import torch

from backprop_ninja.model import MLP, Config
from backprop_ninja.model.data import default_words

SEED = 2147483647


def _notebook(words: list[str], n_embd: int = 10, n_hidden: int = 64, block_size: int = 3,
              batch_size: int = 32, batches: int = 100):
    chars = sorted(set("".join(words)))
    stoi = {ch: i + 1 for i, ch in enumerate(chars)}
    stoi["."] = 0
    vocab_size = len(stoi)

    def build_dataset(ws):
        X, Y = [], []
        for w in ws:
            context = [0] * block_size
            for ch in w + ".":
                ix = stoi[ch]
                X.append(context)
                Y.append(ix)
                context = context[1:] + [ix]
        return torch.tensor(X), torch.tensor(Y)

    words = list(words)
    random.seed(42)
    random.shuffle(words)
    n1, n2 = int(0.8 * len(words)), int(0.9 * len(words))
    Xtr, Ytr = build_dataset(words[:n1])
    Xdev, Ydev = build_dataset(words[n1:n2])
    g = torch.Generator().manual_seed(SEED)
    params = {
        "C": torch.randn((vocab_size, n_embd), generator=g),
        "W1": torch.randn((n_embd * block_size, n_hidden), generator=g) * (5 / 3) / ((n_embd * block_size) ** 0.5),
        "b1": torch.randn(n_hidden, generator=g) * 0.1,
        "W2": torch.randn((n_hidden, vocab_size), generator=g) * 0.1,
        "b2": torch.randn(vocab_size, generator=g) * 0.1,
    }
    ixs = [torch.randint(0, Xtr.shape[0], (batch_size,), generator=g) for _ in range(batches)]
    return params, (Xtr, Ytr), (Xdev, Ydev), ixs


def test_parameters_and_first_100_batches_are_the_notebooks():
    words = default_words()
    params, (Xtr, Ytr), (Xdev, Ydev), ixs = _notebook(words)
    m = MLP(Config(), words)
    assert torch.equal(m.data.splits["train"][0], Xtr) and torch.equal(m.data.splits["train"][1], Ytr)
    assert torch.equal(m.data.splits["val"][0], Xdev) and torch.equal(m.data.splits["val"][1], Ydev)
    for name, want in params.items():
        assert torch.equal(m.params[name], want), name
    bn_g = torch.Generator().manual_seed(SEED)
    assert torch.equal(m.params["bngain"], torch.randn((1, 64), generator=bn_g) * 0.1 + 1.0)
    assert torch.equal(m.params["bnbias"], torch.randn((1, 64), generator=bn_g) * 0.1)
    # the first batch through the stepper's forward, the other 99 as drawn by training
    m.forward()
    assert torch.equal(m.values["Xb"], Xtr[ixs[0]]) and torch.equal(m.values["Yb"], Ytr[ixs[0]])
    for k, want in enumerate(ixs[1:], start=1):
        assert torch.equal(m.batch_indices(), want), f"batch {k}"


def test_training_draws_only_the_batches_from_g():
    # exercise 4's loop draws nothing else from g: after 5 steps, g is where
    # the notebook's is after 5 batches
    words = default_words()
    _, _, _, ixs = _notebook(words, batches=6)
    m = MLP(Config(), words)
    m.train(5)
    assert torch.equal(m.batch_indices(), ixs[5])


def test_other_sizes_follow_the_same_procedure():
    words = default_words()[:3000]
    params, _, _, ixs = _notebook(words, n_embd=4, n_hidden=9, batch_size=7, batches=3)
    m = MLP(Config(n_embd=4, n_hidden=9, batch_size=7), words)
    for name, want in params.items():
        assert torch.equal(m.params[name], want), name
    assert [m.batch_indices().tolist() for _ in range(3)] == [ix.tolist() for ix in ixs]
