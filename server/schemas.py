"""The wire format: every request, response and stream frame, and nothing else.

These pydantic models are the single definition of what crosses the wire;
the front end, the tests and /docs all read them from here. Names follow the
direction of travel: `...Create` / `...Request` come in, `...Public` and
`...Result` go out.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

# ---- limits (also enforced by the validators below) ------------------------
MAX_N_HIDDEN = 1024
MAX_N_EMBD = 64
MAX_BLOCK = 16
MAX_BATCH = 4096
MAX_TRAIN_STEPS = 20_000  # per request; live training has no such limit
MAX_DATASET_BYTES = 5 * 1024 * 1024
MAX_SAMPLES = 200
MAX_WS_MESSAGE = 64 * 1024  # bytes of one client message on the stream
MAX_STEP = 10**12  # a step count: ~30 years at 1000 steps/s, and exact in a JavaScript number

NodeName = str
Kind = Literal["data", "param", "activation", "loss"]
Mode = Literal["atomic", "fused"]
DType = Literal["float32", "float64"]
Nested = Any  # nested lists of floats (or ints for Xb/Yb), shaped like the tensor


class Strict(BaseModel):
    # unknown fields are an error naming them, not silently ignored; strict:
    # an integer is an integer (not true, "5" or 5.0), a string a string
    model_config = ConfigDict(extra="forbid", strict=True)


class HealthPublic(BaseModel):
    status: Literal["ok"] = "ok"
    training: Literal["process", "starting", "thread"] = Field(
        "thread", description="where live training runs: in its own process, in a thread of the server "
        "while that process starts (~1.5 s after launch), or in a thread (turned off, or it died)")


class ErrorPublic(BaseModel):
    detail: str | list[Any]


# ---- the graph ---------------------------------------------------------------
class NodePublic(BaseModel):
    name: NodeName
    kind: Kind
    inputs: list[NodeName]
    consumers: list[NodeName]  # where this node's gradient comes from
    shape: list[int]  # for the requested config
    forward: str  # the forward line, lecture style
    backward: str  # the hand-written backward line(s); "" for data
    branches: int  # 2 for counts, logits, bndiff, hprebn: their gradient is a sum
    explain: str  # the local rule in one or two plain sentences


class GraphPublic(BaseModel):
    nodes: list[NodePublic]  # forward order: leaves first, then the lecture's lines
    backward_order: list[NodeName]  # atomic (exercise 1), one node a step
    fused_order: list[NodeName]  # exercises 2 and 3: the nodes the fused backward computes


# ---- data sets and sessions ------------------------------------------------
class DatasetPublic(BaseModel):
    id: str
    words: int  # how many words
    vocab: list[str]  # '.' first, then the characters in sorted order


class SessionCreate(Strict):
    seed: int = Field(2147483647, ge=0, le=2**63 - 1)
    n_embd: int = Field(10, ge=1, le=MAX_N_EMBD)
    n_hidden: int = Field(64, ge=1, le=MAX_N_HIDDEN)
    block_size: int = Field(3, ge=1, le=MAX_BLOCK)
    batch_size: int = Field(32, ge=2, le=MAX_BATCH)
    lr: float = Field(0.1, gt=0, le=10)
    lr_decay_step: int | None = Field(None, ge=0, le=MAX_STEP, description="lr drops to lr/10 from this step on")
    dtype: DType = "float32"
    dataset: str = Field("default", description='"default" (US census first names) or an id from POST /api/datasets')


class ConfigPublic(BaseModel):
    model_config = ConfigDict(strict=True)  # read back in snapshots: true is no n_hidden
    seed: int
    n_embd: int
    n_hidden: int
    block_size: int
    batch_size: int
    lr: float
    lr_decay_step: int | None
    dtype: DType
    dataset: str
    vocab_size: int


class SessionPublic(BaseModel):
    id: str
    config: ConfigPublic


class SessionState(BaseModel):
    """Where a session is: enough for a page to redraw itself after a reload."""
    id: str
    config: ConfigPublic
    step: int  # parameter updates done
    loss: float | None  # of the current batch, None before the first forward
    mode: Mode
    computed: list[NodeName]  # gradients known, in order
    remaining: list[NodeName]
    next: NodeName | None
    vocab: list[str]
    n_params: int
    playing: bool


# ---- commands (HTTP bodies; the stream sends the same with a "cmd") -------
class BackwardRequest(Strict):
    mode: Mode = "atomic"
    nodes: int | None = Field(None, ge=0, le=1000, description="how many more gradients; null = all")


class TrainRequest(Strict):
    steps: int = Field(..., ge=1, le=MAX_TRAIN_STEPS)


class SeekRequest(Strict):
    """Go back to step S (one of HistoryPublic.full_steps).

    The parameters become exactly those after S updates (step S). The session
    then runs a forward and a full atomic backward on the batch that update
    S+1 draws in the original run, so the state and frame show: step S, the
    loss of the step-S parameters on that batch (not HistoryPoint S's loss,
    which is update S's batch before update S), and its gradients. POST
    /update then applies update S+1 to that very batch; train or play instead
    draw the batch after it, and the history from S+1 on is replaced."""
    step: int = Field(..., ge=0, description="parameter updates done at the target: the params after update S")


class SamplesRequest(Strict):
    k: int = Field(10, ge=1, le=MAX_SAMPLES)
    seed: int | None = Field(None, ge=0, le=2**63 - 1)


class CheckPublic(BaseModel):
    exact: bool  # bit-equal to autograd
    approx: bool  # torch.allclose
    maxdiff: float  # max |manual - autograd|


class ForwardResult(BaseModel):
    step: int
    loss: float


class BackwardResult(BaseModel):
    mode: Mode
    computed: list[NodeName]  # all gradients known so far (not only this call's)
    remaining: list[NodeName]
    checks: dict[NodeName, CheckPublic]  # for every computed node


class UpdateResult(BaseModel):
    step: int


class TrainResult(BaseModel):
    step: int
    loss: float  # of the last batch


class TensorPublic(BaseModel):
    name: NodeName
    shape: list[int]
    value: Nested
    grad: Nested | None  # None until the backward reaches the node
    reference: Nested | None = None  # autograd's gradient, with ?reference=true
    contributions: dict[NodeName, Nested] | None = None  # per consumer, for branches == 2


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
    norm: float  # Frobenius norm of the contribution
    mean: float


class TanhStats(BaseModel):
    mean: float
    std: float
    saturated: float  # share of |h| > 0.97


class BatchNormStats(BaseModel):
    batch_mean: list[float] | None
    batch_var: list[float] | None  # unbiased (Bessel)
    running_mean: list[float]
    running_var: list[float]


class ParamStats(BaseModel):
    data_std: float
    grad_std: float | None
    grad_data: float | None
    update_data_log10: float | None


class FramePublic(BaseModel):
    """The state of a session at one moment, summaries of every node.

    `step` is the number of parameter updates done: the parameters shown
    (params, W1, ...) are those after update `step`. What the activations and
    gradients are depends on `mode`:
      * "fused" (while training live, and when paused after train/play): the
        batch update `step` used, its forward with the parameters before that
        update (step - 1), the gradients it applied, and `loss`/`lr` those of
        update `step`, the same as HistoryPoint `step`.
      * "atomic" or "fused" after forward/backward or seek: the batch of the
        *next* update (step + 1), its forward with the current (step)
        parameters and the gradients computed so far; `lr` is the lr update
        step + 1 will use. After seek S this is the batch update S+1 drew.
    """
    type: Literal["frame"] = "frame"
    step: int
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
    tensors: list["TensorRef"] = []


class TensorRef(BaseModel):
    name: NodeName
    field: Literal["value", "grad"]
    shape: list[int]
    offset: int | None = None  # in float32 elements from the start of the buffer (binary)
    length: int | None = None  # elements
    data: Nested | None = None  # JSON frames only


FramePublic.model_rebuild()


# ---- history, evaluation, samples, snapshots --------------------------------
class HistoryPoint(BaseModel):
    """One parameter update, named by the step it produced: point S is update S,
    which took the parameters from step S-1 to step S."""
    step: int
    loss: float  # of update S's batch, with the parameters before it (step S-1)
    lr: float  # the lr update S applied: lr until lr_decay_step, so the first lr/10 is at point lr_decay_step + 1
    saturated: float | None
    update_data_log10: dict[NodeName, float | None]
    val_loss: float | None = None  # evaluated every N steps while playing, with the params after update S


class HistoryPublic(BaseModel):
    points: list[HistoryPoint]
    full_steps: list[int]  # steps whose full tensors are kept: seek works there
    lr_changes: list[int]  # kept points whose lr differs from the kept point before (not limited by since/until)


class SplitLossesPublic(BaseModel):
    step: int
    stats: Literal["calibrated", "running"]
    train: float
    val: float
    test: float


class SamplePublic(BaseModel):
    word: str
    seen: bool  # in the training words


class SamplesPublic(BaseModel):
    samples: list[SamplePublic]


class SnapshotPublic(BaseModel):
    """Everything to resume training at the same step with the same parameters."""
    model_config = ConfigDict(strict=True)  # checked further by snapshots.check
    format: Literal["backprop-ninja-snapshot/1"] = "backprop-ninja-snapshot/1"
    config: ConfigPublic
    step: int
    vocab: list[str]
    params: dict[NodeName, Nested]
    running_mean: Nested
    running_var: Nested
    calibration: list[Nested] | None
    generator: str  # base64 of the torch generator state
    dataset_words: list[str] | None  # None for the built-in default


# ---- the stream ---------------------------------------------------------------
# WebSocket /api/sessions/{id}/stream. The client sends JSON text messages, one
# StreamCommand each. The server sends:
#   * text messages: StreamReply, StreamError, or a FramePublic in JSON (when
#     the client subscribed with format "json"): tensors carry `data`;
#   * binary messages: one FramePublic each, laid out as
#       [uint32 little-endian L][L bytes UTF-8 JSON of FramePublic][0-3 zero
#        bytes padding to a multiple of 4][float32 little-endian buffer]
#     where each TensorRef's offset/length (in float32 elements) point into
#     the buffer, row-major in `shape`.
FRAME_HEADER_BYTES = 4
FRAME_ALIGN = 4

# ---- the stream: client commands -------------------------------------------
class CmdForward(Strict):
    cmd: Literal["forward"]


class CmdBackward(BackwardRequest):
    cmd: Literal["backward"]


class CmdBack(Strict):
    cmd: Literal["back"]


class CmdUpdate(Strict):
    cmd: Literal["update"]


class CmdTrain(TrainRequest):
    cmd: Literal["train"]


class CmdPlay(Strict):
    cmd: Literal["play"]
    steps_per_frame: int = Field(10, ge=1, le=10_000, description="training steps between two frames sent")
    fps: float = Field(30, gt=0, le=240, description="cap on frames sent per second")
    val_every: int = Field(500, ge=0, le=1_000_000, description="val loss every N steps; 0 = never")


class CmdPause(Strict):
    cmd: Literal["pause"]


class CmdSeek(SeekRequest):
    cmd: Literal["seek"]


class CmdSubscribe(Strict):
    cmd: Literal["subscribe"]
    nodes: list[NodeName] = Field(default_factory=list, max_length=64)
    format: Literal["binary", "json"] = "binary"


class CmdFrame(Strict):
    """Ask for one frame now (e.g. after subscribing)."""
    cmd: Literal["frame"]


StreamCommand = Annotated[
    Union[CmdForward, CmdBackward, CmdBack, CmdUpdate, CmdTrain, CmdPlay, CmdPause,
          CmdSeek, CmdSubscribe, CmdFrame],
    Field(discriminator="cmd"),
]


class StreamReply(BaseModel):
    """The answer to one command, sent before the frame it causes."""
    type: Literal["reply"] = "reply"
    cmd: str
    result: dict[str, Any]


class StreamError(BaseModel):
    type: Literal["error"] = "error"
    message: str  # names what was wrong and what is allowed
    cmd: str | None = None
