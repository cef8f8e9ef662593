"""What a room sends, built from the teacher's session once per change (not
once per follower): the state message, the graph message, and a fork (the
session's exact state, for a follower who explores on their own).

Plain functions run in the thread pool; each reads the session under its lock."""
from __future__ import annotations

import json

import numpy as np
import torch

from backprop_ninja.model.graph import BY_NAME, Dims

from .. import lecture
from ..errors import Conflict
from ..schemas.frames import FramePublic
from ..schemas.rooms import RoomFork, RoomGraph, RoomRows, RoomState, RoomTensor, RoomViewPublic, TeachView
from ..schemas.stream import InspectSpec
from ..sessions import snapshots
from ..sessions.lock import locked, mutating
from ..sessions.session import Session
from ..stream import inspected

SHOWN_DIGITS = 5  # significant digits of the tensors followers see: what a plot or hover shows, at half the bytes
MAX_SHOWN = 65_536  # elements of one tensor sent to followers; beyond, the inspector shows none (a huge config)


def short(v):
    """Floats at SHOWN_DIGITS, in nested lists and dicts: a lecture-size state
    goes from ~100 KB to ~40 KB, for every follower (a class's Wi-Fi carries
    it N times)."""
    if isinstance(v, list):
        return [short(x) for x in v]
    if isinstance(v, dict):
        return {k: short(x) for k, x in v.items()}
    return float(f"{v:.{SHOWN_DIGITS}g}") if isinstance(v, float) else v


def short_array(v):
    """short() for a tensor's nested lists, in numpy: ~20x faster on a batch-size tensor."""
    if v is None:
        return None
    a = np.asarray(v, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        mag = np.floor(np.log10(np.abs(a)))
        scale = 10.0 ** (SHOWN_DIGITS - 1 - np.where(np.isfinite(mag), mag, 0))
        r = np.round(a * scale) / scale
    return np.where(np.isfinite(r), r, a).tolist()  # 0, inf and nan as they were


@locked
def _parts(s: Session, view: RoomViewPublic):
    m = s.mlp
    forwarded = "Xb" in m.values
    tensor = None
    if view.inspect in BY_NAME and (forwarded or view.inspect in m.params):
        # the same entries the teacher's stream frame carries for its inspector
        name, got = inspected.entries(m, InspectSpec(node=view.inspect, diff=view.show_diff))
        if got and got[0][3].numel() <= MAX_SHOWN:
            by = {(fld, branch): short_array(t.tolist()) for _, fld, branch, t in got}
            parts = {branch: v for (fld, branch), v in by.items() if fld == "contribution"}
            tensor = RoomTensor(name=name, shape=list(got[0][3].shape), value=by[("value", None)],
                                grad=by.get(("grad", None)), absdiff=by.get(("absdiff", None)),
                                contributions=parts or None)
    rows = None
    if forwarded and m.values["probs"].numel() <= MAX_SHOWN:
        dl = m.grad("logits")
        rows = RoomRows(Xb=m.values["Xb"].tolist(), Yb=m.values["Yb"].tolist(),
                        probs=short_array(m.values["probs"].tolist()),
                        dlogits=None if dl is None else short_array(dl.tolist()))
    return forwarded, tensor, rows, s._state()


def state(s: Session, view: TeachView, version: int) -> str:
    """The RoomState message as JSON text: encoded here, once per room."""
    public = RoomViewPublic(**view.model_dump(exclude={"session"}))
    frame = json.loads(s.frame((), "json"))
    for summaries in frame["nodes"].values():
        for summary in summaries.values():
            if summary is not None:  # the stepper's views draw no histograms: two thirds of a frame's bytes
                summary["hist"] = {"counts": [], "edges": []}
    frame = FramePublic.model_validate(short(frame))
    forwarded, tensor, rows, st = _parts(s, public)
    return RoomState(version=version, config=st.config, vocab=st.vocab, n_params=st.n_params,
                     forwarded=forwarded, view=public, frame=frame, tensor=tensor, rows=rows).model_dump_json()


def graph(s: Session) -> str:
    c = s.config()
    return RoomGraph(graph=lecture.graph(Dims.of(c, s.mlp.vocab.size), c.dtype)).model_dump_json()


@locked
def _batch(s: Session):
    m = s.mlp
    if "Xb" not in m.values:
        return None, None, m.mode, 0
    return m.values["Xb"].tolist(), m.values["Yb"].tolist(), m.mode, len(m.order) - len(m.remaining)


def fork(s: Session, words: list[str] | None) -> RoomFork:
    """The teacher's session as it is now (a snapshot takes the parameters and
    the generator; the batch is given back to forward, so no draw differs)."""
    Xb, Yb, mode, pos = _batch(s)
    return RoomFork(snapshot=snapshots.export(s, words), Xb=Xb, Yb=Yb, mode=mode, pos=pos)


@mutating
def _replay(s: Session, f: RoomFork) -> None:
    s.model_changed()
    if f.Xb is None:
        s.mlp.mode = f.mode
        return
    s.last_loss = s.mlp.forward(torch.tensor(f.Xb), torch.tensor(f.Yb))
    s._dirty = True  # as after any forward: the generator is not where a snapshot's replay would put it
    s.mlp.backward(f.pos, f.mode)


def adopt(store, f: RoomFork) -> Session:
    """A new session of the follower's, at the fork's exact state."""
    s = store.import_snapshot(f.snapshot)
    try:
        _replay(s, f)
    except Exception:
        store.delete(s.id)
        raise Conflict("the teacher's state could not be copied: ask again") from None
    return s
