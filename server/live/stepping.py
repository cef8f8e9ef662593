"""A fused training step and what the history records of it (`point`),
shared by the training workers (worker.py: a step at a time) and by POST
/train and the replay (session.py: many at once, `MLP.fused_steps`), so all
train and record exactly alike. Imports no web code."""
from __future__ import annotations

from backprop_ninja.model import MLP
from backprop_ninja.model.diagnostics import param_stats, tanh_stats
from backprop_ninja.model.mlp import FUSED_ORDER

from ..stream import frames

# (step, loss, lr, saturated, {param: update:data log10}, val_loss): History.add_point's arguments
Point = tuple


def update_ratios(params, grads, lr) -> dict[str, float | None]:
    return {k: v["update_data_log10"] for k, v in param_stats(params, grads, lr).items()}


def light_state(m: MLP) -> dict:
    """What `MLP.load_state_dict` needs, cloned: a seek target (~10 us)."""
    return {"step": m.step, "params": {k: t.clone() for k, t in m.params.items()},
            "running_mean": m.running_mean.clone(), "running_var": m.running_var.clone(),
            "calibration": None, "generator": m.g.get_state(), "vocab": "".join(m.vocab.chars)}


def point(m: MLP, loss: float, cache, grads, lr: float, stats_every: int, val_every: int = 0) -> Point:
    """What the history records of the fused step just taken. Saturation and
    update:data ratios cost ~30% of a step, so they are sampled every
    `stats_every` steps; the val loss every `val_every` (0: never)."""
    sat = ratios = val = None
    if m.step % stats_every == 0:
        sat = tanh_stats(cache["h"])["saturated"]
        ratios = update_ratios(m.params, grads, lr)
    if val_every and m.step % val_every == 0:
        val = m.split_loss("val", "running")
    return (m.step, loss, lr, sat, ratios, val)


def train_step(m: MLP, stats_every: int, val_every: int = 0):
    """One fused SGD step, inside the caller's torch.inference_mode() block
    (MLP.fused_step): (loss, cache, grads, lr, point)."""
    lr = m.lr_at(m.step)
    loss, cache, grads = m.fused_step(lr)
    return loss, cache, grads, lr, point(m, loss, cache, grads, lr, stats_every, val_every)


def live_source(m: MLP, trained: tuple, playing: bool, steps_per_sec: float | None = None) -> frames.FrameSource:
    """A frame source for a fused step just taken: trained = (step, loss, lr, cache, grads)."""
    step, loss, lr, cache, grads = trained
    return frames.FrameSource(
        step=step, loss=loss, lr=lr, mode="fused", playing=playing, computed=list(FUSED_ORDER),
        remaining=[], values={**m.params, **cache}, grads=grads, params=m.params,
        running_mean=m.running_mean, running_var=m.running_var, steps_per_sec=steps_per_sec, shows="update")
