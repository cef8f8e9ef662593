"""The batched summaries of frames agree with model.diagnostics.summary."""
from __future__ import annotations

import json
import math

import pytest
import torch

from backprop_ninja.model.diagnostics import summary
from backprop_ninja.server.stream.summaries import Summaries

torch.manual_seed(0)
CASES = [
    torch.randn(32, 64), torch.randn(27, 10, dtype=torch.float64) * 1e-9, torch.tensor(2.5),
    torch.zeros(3, 3), torch.full((5,), -2.0), torch.randint(0, 27, (32, 3)), torch.randn(1, 64) * 0.1 + 1,
    torch.tensor([1.0, float("nan"), float("inf"), 3.0]), torch.tensor([float("nan")]), torch.zeros(0),
    torch.tensor([-float("inf"), 1.0]), torch.randn(40000) * 1e3,
]


def close(a, b, rel=1e-6, scale=0.0):
    """Equal up to float32 rounding: the reference sums float32 in float32,
    so its mean is off by ~1e-7 of the data's scale, not of the mean."""
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=rel, abs_tol=max(1e-12, 1e-6 * scale))


@pytest.mark.parametrize("order", [1, -1])
def test_same_as_model_diagnostics(order):
    ts = CASES[::order]
    s = Summaries(ts)
    for i, t in enumerate(ts):
        got, want = s.dict(i), summary(t)
        assert json.loads(s.json(i))["numel"] == want["numel"]
        for k in ("numel", "nan", "inf"):
            assert got[k] == want[k], (i, k)
        scale = max(abs(want["min"]), abs(want["max"])) if want["min"] is not None else 0.0
        for k in ("mean", "std", "min", "max", "norm"):
            assert close(got[k], want[k], scale=scale), (i, k, got[k], want[k])
        hg, hw = got["hist"], want["hist"]
        assert len(hg["edges"]) == len(hw["edges"]) and len(hg["counts"]) == len(hw["counts"])
        assert all(close(a, b, 1e-12) for a, b in zip(hg["edges"], hw["edges"])), i
        assert sum(hg["counts"]) == sum(hw["counts"])
        # float64 vs histc's float32 binning may move an element at a bin edge
        assert sum(abs(a - b) for a, b in zip(hg["counts"], hw["counts"])) <= 2, i


def test_chunked_and_huge_tensors(monkeypatch):
    import backprop_ninja.server.stream.summaries as S
    monkeypatch.setattr(S, "CHUNK", 3000)  # several batches
    monkeypatch.setattr(S, "BIG", 20000)  # and some tensors alone
    ts = [torch.randn(50, 40), torch.randn(1000), torch.randn(25000), torch.randn(7, 300), torch.randn(3)]
    s = S.Summaries(ts)
    assert set(s.slow) == {2}
    for i, t in enumerate(ts):
        got, want = s.dict(i), summary(t)
        assert close(got["std"], want["std"]) and close(got["max"], want["max"]) and got["numel"] == t.numel()
        assert sum(got["hist"]["counts"]) == t.numel()


def test_json_is_valid_and_finite():
    s = Summaries(CASES)
    for i in range(len(CASES)):
        def refuse(token):
            raise AssertionError(f"{token} is not JSON")
        d = json.loads(s.json(i), parse_constant=refuse)
        assert d["nan"] == summary(CASES[i])["nan"]


WIDE = [([1e308, -1e308], "float64", 4), ([1e200, -3.0, 5.0], "float64", 4), ([1.2e39, 1.0], "float64", 4),
        ([-1.7e308, 1.7e308, 0.1e307, 8e307], "float64", 4), ([-2e38, 2e38, 0.3e38, 1.3e38], "float32", 4),
        ([1e38, 3.3e38, 2e38], "float32", 40), (torch.linspace(0, 1e37, 101).tolist(), "float32", 40)]


@pytest.mark.parametrize("values,dtype,bins", WIDE)
def test_wide_ranges_are_binned_right(values, dtype, bins):
    # a diverging run: past ~8e36 / bins histc's float32 arithmetic overflows,
    # past 3.4e38 (float32's largest) a float64 run's values do, past 1e154
    # x * x does and past ~9e307 hi - lo: every value still lands in its bin
    t = torch.tensor(values, dtype=getattr(torch, dtype))
    values = t.tolist()
    for with_nan in (False, True):  # a NaN sends the tensor the slow way
        x = torch.cat([t, torch.tensor([math.nan], dtype=t.dtype)]) if with_nan else t
        got = Summaries([x, torch.tensor([1.0, 2.0])], bins=bins)
        d, alone = got.dict(0), summary(x, bins)
        # (a float32 tensor's mean, std and norm: summary's overflow in float32 where the batch's float64 does not)
        assert (d["hist"], d["min"], d["max"]) == (alone["hist"], alone["min"], alone["max"])
        h = d["hist"]
        assert (d["min"], d["max"]) == (min(values), max(values)) and sum(h["counts"]) == len(values)
        assert h["counts"][0] >= 1 and h["counts"][-1] >= 1  # the min in the first bin, the max in the last
        assert all(math.isfinite(e) for e in h["edges"]) and h["edges"] == sorted(h["edges"])
        want = [sum(1 for v in values if v < e) for e in h["edges"][1:-1]]  # values below each inner edge
        assert want == [sum(h["counts"][:j + 1]) for j in range(bins - 1)]
        json.loads(got.json(0))  # non-finite statistics (an overflowing std) go out as null


def test_frame_param_stats_match_model_diagnostics():
    from backprop_ninja.model import MLP
    from backprop_ninja.model.diagnostics import param_stats
    from backprop_ninja.server.stream.frames import FrameSource, frame_dict

    m = MLP()
    loss, cache, grads = m.train_step()
    src = FrameSource(step=1, loss=loss, lr=0.1, mode="fused", playing=True, computed=list(grads), remaining=[],
                      values={**m.params, **cache}, grads=grads, params=m.params,
                      running_mean=m.running_mean, running_var=m.running_var)
    got, want = frame_dict(src)[0]["params"], param_stats(m.params, grads, 0.1)
    for name, w in want.items():
        for k, v in w.items():
            assert math.isclose(got[name][k], v, rel_tol=1e-5), (name, k)


def test_a_sessions_frames_reuse_summaries_only_of_tensors_that_did_not_change():
    """Frames built with the session's SummaryCache are the frames built from
    scratch, through a batch's backward, a step back (the undone gradient goes),
    an update (the parameters change in place) and the next batch."""
    from backprop_ninja.model import MLP
    from backprop_ninja.model.data import Dataset, default_words
    from backprop_ninja.server.sessions.session import Session
    from backprop_ninja.server.settings import Settings
    from backprop_ninja.server.stream import frames

    s = Session("t", MLP(data=Dataset.from_words(default_words())), "default", Settings(), None)

    def same() -> None:
        cached = json.loads(s.frame((), "json"))
        fresh = json.loads(frames.build(s._source(), (), "json"))
        assert cached == fresh

    same()
    s.forward()
    same()
    for _ in range(14):
        s.backward("lecture", 1)  # a += node's second part changes its gradient in place
        same()
    s.back()
    same()
    s.backward("atomic", None)
    same()
    s.update()
    same()
    s.forward()
    same()
    s.backward("atomic", 3)
    same()
    kept = len(s.summaries._kept)
    assert 0 < kept and all(ref() is not None for ref, _, _ in s.summaries._kept.values())
