"""Frames: the summary of a session at one moment (FramePublic), and the
binary layout that carries subscribed tensors to the browser as float32.

Binary frame (also documented in schemas/stream.py):
    [uint32 LE header length L][L bytes UTF-8 JSON][0-3 zero bytes][float32 LE buffer]
The padding puts the buffer on a 4-byte boundary so the browser can view it
as a Float32Array without copying."""
from __future__ import annotations

import dataclasses
import json
import math
import pickle
import struct
from dataclasses import dataclass, field

import numpy as np
import torch

from backprop_ninja.model.check import Check
from backprop_ninja.model.diagnostics import bn_stats, param_stats, tanh_stats
from backprop_ninja.model.graph import BY_NAME, PARAMS, Tensors, consumers

from ..schemas.stream import FRAME_ALIGN, FRAME_HEADER_BYTES
from .summaries import Summaries, Summary, SummaryCache, finite

# In fused mode a two-branch node's gradient is not split by branch: draw it
# along the branch that carries (nearly) all of it.
FUSED_EDGE = {"logits": "norm_logits", "hprebn": "bndiff"}


@dataclass
class FrameSource:
    """What a frame is built from; tensors are read, never written."""
    step: int
    loss: float | None
    lr: float
    mode: str
    playing: bool
    computed: list[str]
    remaining: list[str]
    values: Tensors  # parameters, Xb, Yb and the activations known now
    grads: Tensors
    params: Tensors
    running_mean: torch.Tensor
    running_var: torch.Tensor
    checks: dict[str, Check] = field(default_factory=dict)
    contributions: dict[str, Tensors] | None = None  # atomic mode: per consumer
    steps_per_sec: float | None = None
    shows: str = "next"  # FramePublic.shows: "update" for a step just trained


def stepper_source(m, loss: float | None, playing: bool) -> FrameSource:
    """The stepper's frame source (an MLP): the current batch, its forward and
    the gradients computed so far; `loss` the session's last."""
    atomic = m.mode != "fused" and m.stepper is not None  # "lecture" too: the atomic stepper
    return FrameSource(
        step=m.step, loss=loss, lr=m.lr_at(m.step), mode=m.mode, playing=playing,
        computed=m.computed, remaining=m.remaining, values={**m.params, **m.values},
        grads=dict(m.grads), params=m.params, running_mean=m.running_mean,
        running_var=m.running_var, checks=m.checks() if m.computed else {},
        contributions=m.stepper.contributions if atomic else None)


class _Stats:
    """Summaries of every tensor a frame shows, those not in `cache` computed in one batch."""

    def __init__(self, src: FrameSource, cache: SummaryCache | None = None):
        parts = [t for p in (src.contributions or {}).values() for t in p.values()]
        # each tensor once (a parameter is a value too), in the order first seen
        ts = list({id(t): t for t in [*src.values.values(), *src.grads.values(), *parts]}.values())
        self.rec = {id(t): cache.get(t) for t in ts} if cache is not None else {}  # None: not in the cache
        missing = [t for t in ts if self.rec.get(id(t)) is None]
        if missing:
            s = Summaries(missing)
            self.rec.update({id(t): Summary.of(s, i) for i, t in enumerate(missing)})
        if cache is not None:
            cache.keep([(t, self.rec[id(t)]) for t in ts])

    def plain(self, *tables: Tensors) -> bool:
        """True when every tensor of the tables went the fast, finite way."""
        return not any(self.rec[id(t)].slow for table in tables for t in table.values())

    def json(self, t: torch.Tensor | None) -> str:
        return "null" if t is None else self.rec[id(t)].json

    def std(self, t: torch.Tensor) -> float:
        return self.rec[id(t)].std

    def norm_mean(self, t: torch.Tensor) -> tuple[float, float]:
        r = self.rec[id(t)]
        return (math.nan, math.nan) if r.mean is None else (r.norm, r.mean)


def _param_stats(src: FrameSource, st: _Stats) -> dict[str, dict]:
    """model.diagnostics.param_stats, from the frame's batched standard deviations."""
    out = {}
    for name in PARAMS:
        data_std = st.std(src.params[name])
        g = src.grads.get(name)
        if g is None:
            out[name] = {"data_std": data_std, "grad_std": None, "grad_data": None, "update_data_log10": None}
            continue
        grad_std = st.std(g)
        ratio = grad_std / data_std if data_std > 0 else math.inf
        upd = src.lr * ratio
        out[name] = {"data_std": data_std, "grad_std": grad_std, "grad_data": ratio,
                     "update_data_log10": math.log10(upd) if 0 < upd < math.inf else None}
    return out


def _nodes_json(src: FrameSource, st: _Stats) -> str:
    # every node in every frame: null where it holds nothing yet
    return "{" + ",".join('"%s":{"value":%s,"grad":%s}' % (
        name, st.json(src.values.get(name)), st.json(src.grads.get(name))) for name in BY_NAME) + "}"


def _edges(src: FrameSource, st: _Stats) -> list[dict]:
    out = []
    for name in src.computed:
        if src.contributions is not None:
            parts = src.contributions.get(name, {})
        else:
            cons = consumers(name)
            parts = {FUSED_EDGE.get(name, cons[0] if cons else ""): src.grads[name]}
        for dst, t in parts.items():
            if dst:  # the loss has no consumer: its "edge" is the start of backprop
                norm, mean = st.norm_mean(t)
                out.append({"src": name, "dst": dst, "norm": norm, "mean": mean})
    return out


NODES_SLOT = "\0nodes\0"  # replaced by the nodes' JSON, written apart for speed


def frame_dict(src: FrameSource, cache: SummaryCache | None = None) -> tuple[dict, str]:
    """FramePublic as plain data without tensors, and its "nodes" as JSON text.
    `cache`: the summaries of the previous frame of the same session."""
    st = _Stats(src, cache)
    d = {
        "type": "frame", "step": src.step, "shows": src.shows, "loss": src.loss, "lr": src.lr, "mode": src.mode,
        "playing": src.playing, "computed": src.computed, "remaining": src.remaining,
        "next": src.remaining[0] if src.remaining else None,
        "checks": {k: c.to_dict() for k, c in src.checks.items()},
        "nodes": NODES_SLOT,
        "edges": _edges(src, st),
        "tanh": tanh_stats(src.values["h"]) if "h" in src.values else None,
        "batchnorm": bn_stats(src.values, src.running_mean, src.running_var),
        "params": _param_stats(src, st) if st.plain(src.params, src.grads) else
        param_stats(src.params, src.grads, src.lr),
        "steps_per_sec": src.steps_per_sec,
        "inspected": None,
    }
    return d, _nodes_json(src, st)


# (name, field, branch, tensor): one TensorRef of a frame and what it holds
Entry = tuple[str, str, "str | None", torch.Tensor]


def _tensor_list(src: FrameSource, nodes: list[str]) -> list[Entry]:
    out = []
    for name in nodes:
        for fld, table in (("value", src.values), ("grad", src.grads)):
            t = table.get(name)
            if t is not None:
                out.append((name, fld, None, t))
    return out


def build(src: FrameSource, nodes: list[str] = (), fmt: str = "json", record=None,
          inspected: tuple[str, list[Entry]] | None = None, cache: SummaryCache | None = None) -> str | bytes:
    """One frame, ready to send: JSON text, or bytes in the binary layout.
    `record(d)`, if given, sees the frame's data first (live training keeps
    its statistics in the history). `inspected`: (node, its entries) for the
    stepper's inspector (server/stream/inspected.py), sent after the subscribed ones.
    `cache`: a SummaryCache the session keeps from frame to frame."""
    d, nodes_json = frame_dict(src, cache)
    if record is not None:
        record(d)
    tensors = _tensor_list(src, list(nodes))
    if inspected is not None:
        d["inspected"] = inspected[0]
        tensors += inspected[1]
    if fmt == "json":
        d["tensors"] = [{"name": n, "field": f, "shape": list(t.shape), "offset": None, "length": None,
                         "data": t.tolist(), "branch": b} for n, f, b, t in tensors]
        return to_json(d, nodes_json)
    refs, chunks, offset = [], [], 0
    for n, f, b, t in tensors:
        flat = t.detach().reshape(-1).to(torch.float32)
        refs.append({"name": n, "field": f, "shape": list(t.shape), "offset": offset, "length": flat.numel(),
                     "data": None, "branch": b})
        chunks.append(flat)
        offset += flat.numel()
    d["tensors"] = refs
    header = to_json(d, nodes_json).encode()
    buf = torch.cat(chunks).numpy().astype("<f4", copy=False).tobytes() if chunks else b""
    return encode_binary(header, buf)


def to_json(d: dict, nodes_json: str) -> str:
    """JSON of a frame dict shaped like FramePublic (the tests validate it).
    Validating with pydantic here would cost ~2 ms a frame; NaN and Inf, not
    JSON, become null as pydantic would make them (rarely: only diverged runs)."""
    text = json.dumps(d, separators=(",", ":"))
    if "NaN" in text or "Infinity" in text:
        text = json.dumps(finite(d), separators=(",", ":"))
    return text.replace(json.dumps(NODES_SLOT), nodes_json, 1)


def encode_binary(header: bytes, buffer: bytes) -> bytes:
    pad = (-(FRAME_HEADER_BYTES + len(header))) % FRAME_ALIGN
    return struct.pack("<I", len(header)) + header + b"\0" * pad + buffer


def decode_binary(data: bytes) -> tuple[dict, np.ndarray]:
    """(FramePublic as a dict, the float32 buffer): for tests and scripts."""
    (n,) = struct.unpack_from("<I", data, 0)
    header = json.loads(data[FRAME_HEADER_BYTES:FRAME_HEADER_BYTES + n])
    start = FRAME_HEADER_BYTES + n + (-(FRAME_HEADER_BYTES + n)) % FRAME_ALIGN
    return header, np.frombuffer(data, dtype="<f4", offset=start)


def tensor_from_frame(header: dict, buf: np.ndarray, name: str, fld: str = "value",
                      branch: str | None = None) -> np.ndarray | None:
    for ref in header["tensors"]:
        if ref["name"] == name and ref["field"] == fld and ref.get("branch") == branch:
            return buf[ref["offset"]:ref["offset"] + ref["length"]].reshape(ref["shape"])
    return None


# ---- a live step's source, packed to cross from a worker to the server ------
def nbytes(src: FrameSource) -> int:
    """The bytes of every tensor a frame of `src` summarises."""
    seen = {id(t): t for table in (src.values, src.grads) for t in table.values()}
    return sum(t.numel() * t.element_size() for t in seen.values())


_TABLES = ("values", "grads", "params")


def pack(src: FrameSource, nodes: list[str], fmt: str, generator: torch.Tensor) -> bytes:
    """A live FrameSource as one message, with the generator's state: with
    the parameters and running statistics it carries, the server can resume
    from any step it showed. Its tensors go as numpy arrays (~0.17 ms at the
    lecture's size; pickling torch tensors costs ~10x more), and a tensor
    shared by several names (a parameter is in `values` and `params`) goes
    once: pickle sends an object it has already sent as a reference."""
    arrays: dict[int, np.ndarray] = {}

    def array(t: torch.Tensor) -> np.ndarray:
        return arrays.setdefault(id(t), t.detach().numpy())
    tables = {f: {k: array(t) for k, t in getattr(src, f).items()} for f in _TABLES}
    packed = dataclasses.replace(src, **tables, running_mean=array(src.running_mean), running_var=array(src.running_var))
    return pickle.dumps((packed, list(nodes), fmt, generator.numpy()), protocol=pickle.HIGHEST_PROTOCOL)


def unpack(message: bytes) -> tuple[FrameSource, list[str], str, torch.Tensor]:
    """(source, nodes, fmt, generator state) of a packed live step, its shared tensors shared again."""
    packed, nodes, fmt, generator = pickle.loads(message)
    tensors: dict[int, torch.Tensor] = {}

    def tensor(a: np.ndarray) -> torch.Tensor:
        return tensors.setdefault(id(a), torch.from_numpy(a))  # unpickled arrays are writable: no copy
    tables = {f: {k: tensor(a) for k, a in getattr(packed, f).items()} for f in _TABLES}
    src = dataclasses.replace(packed, **tables, running_mean=tensor(packed.running_mean),
                              running_var=tensor(packed.running_var))
    return src, nodes, fmt, torch.from_numpy(generator)


def frame_stats(d: dict) -> tuple[float | None, dict[str, float | None]]:
    """What the history keeps of a live frame: saturation and update:data ratios."""
    sat = d["tanh"]["saturated"] if d["tanh"] else None
    return sat, {k: v["update_data_log10"] for k, v in d["params"].items()}
