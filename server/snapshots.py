"""Snapshots: a session as JSON (SnapshotPublic) and back, bit-identically.

Floats go out as Python floats (tolist): float32 values as the doubles
they are, float64 values as the shortest repr that reads back exactly."""
from __future__ import annotations

import base64

import torch

from model.graph import PARAMS

from .history import History
from .schemas import SnapshotPublic
from .session import Session, locked


@locked
def export(s: Session, words: list[str] | None) -> SnapshotPublic:
    m = s.mlp
    gen = base64.b64encode(m.g.get_state().numpy().tobytes()).decode()
    return SnapshotPublic(
        config=s.config(), step=m.step, vocab=list(m.vocab.chars),
        params={k: t.tolist() for k, t in m.params.items()},
        running_mean=m.running_mean.tolist(), running_var=m.running_var.tolist(),
        calibration=None if m.calibration is None else [t.tolist() for t in m.calibration],
        generator=gen, dataset_words=words)


@locked
def restore(s: Session, snap: SnapshotPublic) -> None:
    """Resume from a snapshot (ValueError/RuntimeError/TypeError if it does not fit)."""
    dt = s.mlp.cfg.torch_dtype
    gen = torch.frombuffer(bytearray(base64.b64decode(snap.generator, validate=True)), dtype=torch.uint8)
    cal = snap.calibration
    state = {"step": snap.step, "vocab": "".join(snap.vocab),
             "params": {k: torch.tensor(snap.params[k], dtype=dt) for k in PARAMS},
             "running_mean": torch.tensor(snap.running_mean, dtype=dt),
             "running_var": torch.tensor(snap.running_var, dtype=dt),
             "calibration": None if cal is None else [torch.tensor(t, dtype=dt) for t in cal],
             "generator": gen}
    s.model_changed()
    s.mlp.load_state_dict(state)
    cfg = s.settings
    s.history = History(cfg.history_max_points, cfg.history_full_steps, cfg.history_max_bytes)
    s.history.add_snapshot(snap.step, s.light_state())
