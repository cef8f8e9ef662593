"""FramePublic: the state of a session at one moment, and the statistics
every frame carries (summaries, edge flows, tanh, BatchNorm, parameters)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from .common import Mode, Nested, NodeName
from .sessions import CheckPublic


# ---- statistics: what every frame carries ---------------------------------
class Histogram(BaseModel):
    counts: list[int]
    edges: list[float]  # len(counts) + 1, over the actual finite range


class Summary(BaseModel):
    numel: int
    mean: float | None  # None when no element is finite
    std: float | None
    min: float | None
    max: float | None
    norm: float | None
    nan: int  # never dropped: counted here
    inf: int
    hist: Histogram


class NodeSummary(BaseModel):
    value: Summary | None
    grad: Summary | None


class EdgeFlow(BaseModel):
    """Gradient flowing backward along the edge src -> dst of the forward."""
    src: NodeName  # the input, which receives the gradient
    dst: NodeName  # the consumer it comes from
    norm: float | None  # Frobenius norm of the contribution; None: not finite
    mean: float | None


class TanhStats(BaseModel):
    mean: float | None  # None: not finite (NaN activations)
    std: float | None
    saturated: float  # share of |h| > 0.97


class BatchNormStats(BaseModel):
    # an entry is None where it is not finite
    batch_mean: list[float | None] | None
    batch_var: list[float | None] | None  # unbiased (Bessel)
    running_mean: list[float | None]
    running_var: list[float | None]


class ParamStats(BaseModel):
    data_std: float | None  # None: not finite
    grad_std: float | None
    grad_data: float | None
    update_data_log10: float | None


class TensorRef(BaseModel):
    name: NodeName
    # value, grad: of a subscribed or the inspected node. Of the inspected
    # node only: absdiff = |grad - autograd's grad| (computed in the
    # session's dtype, so a float64 gap survives the float32 buffer), and
    # contribution = the part of grad that comes from consumer `branch`
    field: Literal["value", "grad", "absdiff", "contribution"]
    shape: list[int]
    offset: int | None = None  # in float32 elements from the start of the buffer (binary)
    length: int | None = None  # elements
    data: Nested | None = None  # JSON frames only
    branch: NodeName | None = None  # the consumer of a "contribution"


class FramePublic(BaseModel):
    """The state of a session at one moment, summaries of every node.

    `step` is the number of parameter updates done: the parameters shown
    (params, W1, ...) are those after update `step`. What the activations and
    gradients are depends on `mode`:
      * "fused" (while training live, and when paused after train/play): the
        batch update `step` used, its forward with the parameters before that
        update (step - 1), the gradients it applied, and `loss`/`lr` those of
        update `step`, the same as HistoryPoint `step`.
      * "atomic", "lecture" or "fused" after forward/backward or seek: the batch of the
        *next* update (step + 1), its forward with the current (step)
        parameters and the gradients computed so far; `lr` is the lr update
        step + 1 will use. After seek S this is the batch update S+1 drew.
    `shows` says which of the two a frame is, so no page has to infer it.
    """
    type: Literal["frame"] = "frame"
    step: int
    shows: Literal["update", "next"]  # the batch of update `step`, or of the next update (step + 1)
    loss: float | None
    lr: float
    mode: Mode
    playing: bool
    computed: list[NodeName]
    remaining: list[NodeName]
    next: NodeName | None
    checks: dict[NodeName, CheckPublic]
    nodes: dict[NodeName, NodeSummary]
    edges: list[EdgeFlow]
    tanh: TanhStats | None
    batchnorm: BatchNormStats
    params: dict[NodeName, ParamStats]
    steps_per_sec: float | None  # live training speed, None when paused
    # full tensors of subscribed nodes; in binary frames each entry points into
    # the float32 buffer that follows the header, in JSON frames it holds data
    tensors: list[TensorRef] = []
    # the node whose inspector tensors (InspectSpec) this frame carries; None
    # when the subscription asks for none or the frame is a live one
    inspected: NodeName | None = None
