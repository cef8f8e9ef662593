"""Training (exercise 4): determinism, snapshots, learning, calibration, sampling."""
from __future__ import annotations

import math

import pytest
import torch

from backprop_ninja.model.graph import PARAMS

DTYPES = ("float32", "float64")


def _same_params(a, b) -> bool:
    return all(torch.equal(a.params[k], b.params[k]) for k in PARAMS)


@pytest.mark.parametrize("dtype", DTYPES)
def test_same_seed_same_run_bit_for_bit(make_mlp, dtype):
    a, b = make_mlp(seed=11, dtype=dtype), make_mlp(seed=11, dtype=dtype)
    assert _same_params(a, b)
    assert a.train(30) == b.train(30)
    assert _same_params(a, b)
    assert torch.equal(a.running_mean, b.running_mean) and torch.equal(a.running_var, b.running_var)


@pytest.mark.parametrize("dtype", DTYPES)
def test_other_seed_other_run(make_mlp, dtype):
    a, b = make_mlp(seed=11, dtype=dtype), make_mlp(seed=12, dtype=dtype)
    for k in PARAMS:  # bngain and bnbias too: every parameter comes from the seed
        assert not torch.equal(a.params[k], b.params[k]), k
    assert a.train(5) != b.train(5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_steps_at_once_are_train_steps_one_by_one_bit_for_bit(make_mlp, dtype):
    # the server trains /train and replays this way; live training (and the
    # notebook) a step at a time: a shared link must land on the very same bits.
    # Across the lr drop, at a batch size of its own
    cfg = dict(seed=5, dtype=dtype, batch_size=7, lr_decay_step=40)
    a, b = make_mlp(**cfg), make_mlp(**cfg)
    seen = []
    a.fused_steps(25, lambda *got: seen.append(got))
    a.fused_steps(50, lambda *got: seen.append(got))
    assert a.step == 75 and len(seen) == 75
    for loss, cache, grads, lr in seen:
        want_lr = b.lr_at(b.step)
        want_loss, want_cache, want_grads = b.train_step("fused")
        assert (loss, lr) == (want_loss, want_lr)
        assert all(torch.equal(cache[k], want_cache[k]) for k in ("Xb", "Yb", "h", "logits"))
        assert all(torch.equal(grads[k], want_grads[k]) for k in PARAMS)
    assert _same_params(a, b)
    assert torch.equal(a.running_mean, b.running_mean) and torch.equal(a.running_var, b.running_var)
    assert torch.equal(a.g.get_state(), b.g.get_state())  # and the batches after them alike
    assert a.train(3) == b.train(3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_step_in_one_block_is_train_step_bit_for_bit(make_mlp, dtype):
    # a training worker takes a slice of steps inside one inference-mode block
    cfg = dict(seed=8, dtype=dtype, batch_size=9, lr_decay_step=12)
    a, b = make_mlp(**cfg), make_mlp(**cfg)
    with torch.inference_mode():
        got = [a.fused_step(a.lr_at(a.step)) for _ in range(20)]
    for loss, cache, grads in got:
        want_loss, want_cache, want_grads = b.train_step("fused")
        assert loss == want_loss
        assert all(torch.equal(cache[k], want_cache[k]) for k in ("Xb", "h", "logits"))
        assert all(torch.equal(grads[k], want_grads[k]) for k in PARAMS)
    assert _same_params(a, b) and torch.equal(a.g.get_state(), b.g.get_state())


def test_fused_step_outside_inference_mode_says_where_it_runs(make_mlp):
    m = make_mlp()
    with pytest.raises(RuntimeError, match="inside torch.inference_mode"):
        m.fused_step()
    assert m.step == 0  # refused before the batch draw


def test_state_dict_round_trip_resumes_bit_identically(make_mlp):
    a = make_mlp(seed=5, lr_decay_step=15)
    a.train(10)
    state = a.state_dict()
    rest = a.train(10)
    b = make_mlp(seed=99, lr_decay_step=15)  # other init and generator: all overwritten
    b.load_state_dict(state)
    assert b.step == 10
    assert b.train(10) == rest
    assert _same_params(a, b)
    assert torch.equal(a.running_var, b.running_var)


def test_state_dict_rejects_another_shape(make_mlp):
    state = make_mlp(n_hidden=20).state_dict()
    with pytest.raises(ValueError, match="shape"):
        make_mlp(n_hidden=21).load_state_dict(state)


def test_training_lowers_the_loss(make_mlp):
    m = make_mlp()
    losses = m.train(1500)
    assert losses[0] > 3.0  # ~ln(27) = 3.3 at init
    assert sum(losses[-100:]) / 100 < 2.6
    assert m.step == 1500


@pytest.mark.parametrize("dtype,atol", [("float64", 1e-12), ("float32", 1e-5)])
def test_fused_atomic_autograd_train_alike(make_mlp, dtype, atol):
    runs = {}
    for backward in ("fused", "atomic", "autograd", "literal"):
        m = make_mlp(seed=21, dtype=dtype)
        runs[backward] = (m.train(5, backward=backward), m)
    for backward, (losses, m) in runs.items():
        ref_losses, ref = runs["autograd"]
        assert losses == pytest.approx(ref_losses, abs=atol * 10)
        for k in PARAMS:
            assert torch.allclose(m.params[k], ref.params[k], rtol=0, atol=atol), (backward, k)


def test_unknown_backward_leaves_the_model_untouched(make_mlp):
    m = make_mlp()
    state = m.g.get_state()
    with pytest.raises(ValueError, match="backward"):
        m.train_step("sideways")
    assert torch.equal(m.g.get_state(), state) and m.step == 0


def test_lr_drops_tenfold_at_the_decay_step(make_mlp):
    m = make_mlp(lr=0.1, lr_decay_step=100)
    assert m.lr_at(0) == 0.1 and m.lr_at(99) == 0.1
    assert m.lr_at(100) == pytest.approx(0.01)


def test_calibration_is_the_train_set_mean_and_unbiased_var(make_mlp):
    m = make_mlp(dtype="float64", seed=3)
    m.train(300)
    m.calibrate()
    X, _ = m.data.splits["train"]
    p = m.params
    hprebn = torch.cat([p["C"][X[:, j]] for j in range(X.shape[1])], 1) @ p["W1"] + p["b1"]
    n = hprebn.shape[0]
    mean = hprebn.sum(0, keepdim=True) / n
    var = ((hprebn - mean) ** 2).sum(0, keepdim=True) / (n - 1)
    assert torch.allclose(m.calibration[0], mean, rtol=1e-10, atol=1e-12)
    assert torch.allclose(m.calibration[1], var, rtol=1e-10, atol=1e-12)


def test_calibrated_split_loss_improves_with_training(make_mlp):
    m = make_mlp()
    before = m.split_loss("val")
    assert math.isfinite(before) and before > 3.0
    m.train(1000)
    m.calibrate()
    after = {s: m.split_loss(s) for s in ("train", "val", "test")}
    assert all(math.isfinite(v) and v < before - 0.3 for v in after.values()), after
    assert math.isfinite(m.split_loss("val", stats="running"))


def test_sampling_words_of_the_vocabulary(make_mlp):
    m = make_mlp()
    m.train(500)
    words = m.sample_names(20, seed=1)
    assert len(words) == 20
    letters = set(m.vocab.chars[1:])
    for w in words:
        assert "." not in w and set(w) <= letters
    assert m.sample_names(20, seed=1) == words
    assert m.sample_names(20, seed=2) != words
    assert m.sample_names(3) == m.sample_names(3)  # default seed is fixed too


def test_sampling_a_diverged_model_says_why(make_mlp):
    m = make_mlp(n_hidden=8)
    m.params["W2"][0, 0] = float("nan")
    assert not m.is_finite()
    with pytest.raises(RuntimeError, match="not finite"):
        m.sample_names(1)
