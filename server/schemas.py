"""The wire format: every request, response and stream frame, and nothing else.

These pydantic models are the single definition of what crosses the wire;
the front end, the tests and /docs all read them from here. Names follow the
direction of travel: `...Create` / `...Request` come in, `...Public` and
`...Result` go out.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from model.config import Config

_LECTURE = Config()  # the defaults: the lecture's

# ---- limits (also enforced by the validators below) ------------------------
MAX_N_HIDDEN = 1024
MAX_N_EMBD = 64
MAX_BLOCK = 16
MAX_BATCH = 4096
MAX_TRAIN_STEPS = 20_000  # per request; live training has no such limit
MAX_DATASET_BYTES = 5 * 1024 * 1024
MAX_SAMPLES = 200
MAX_WS_MESSAGE = 64 * 1024  # bytes of one client message on the stream
MAX_REPLAY_STEPS = 1_000_000  # a shared link's step: ~4 min at the lecture's size
EXACT_REPLAY_MAX = 100  # a replay this short steps as the stepper did, bit for bit
MAX_STEP = 10**12  # a step count: ~30 years at 1000 steps/s, and exact in a JavaScript number

NodeName = str
Kind = Literal["data", "param", "activation", "loss"]
Mode = Literal["atomic", "lecture", "fused"]  # lecture: atomic in the notebook's line order
DeriveMode = Literal["atomic", "fused"]  # exercise 1 node by node; exercises 2 and 3
DType = Literal["float32", "float64"]
Nested = Any  # nested lists of floats (or ints for Xb/Yb), shaped like the tensor


class Strict(BaseModel):
    # unknown fields are an error naming them, not silently ignored; strict:
    # an integer is an integer (not true, "5" or 5.0), a string a string
    model_config = ConfigDict(extra="forbid", strict=True)


class WorkerPublic(BaseModel):
    """One training worker process of the pool."""
    index: int
    alive: bool  # False while it starts (~2 s after launch) or restarts after dying
    pid: int | None
    restarts: int  # times it died and was started again
    sessions: int  # sessions training live on it now
    steps_per_sec: list[float]  # of each of them, each measured over the last ~0.5 s


class HealthPublic(BaseModel):
    status: Literal["ok"] = "ok"
    workers: list[WorkerPublic]


class ErrorPublic(BaseModel):
    detail: str | list[Any]


# ---- the graph ---------------------------------------------------------------
class NodeTextPublic(BaseModel):
    """What the inspector says about a node in one view (model/texts.py)."""
    used_by: str  # the consumer's forward line(s): what the backward rule differentiates
    backward: str  # the backward code that runs in this view
    explain: list[str]  # paragraphs, sizes filled in from the config
    upstream: list[NodeName]  # the gradients the rule reads (an inexact one explains this one)
    rounding: str  # why this node's own rule rounds unlike autograd's; "" when it does not


class NodePublic(BaseModel):
    name: NodeName
    kind: Kind
    inputs: list[NodeName]
    consumers: list[NodeName]  # where this node's gradient comes from, in the order its code adds them
    shape: list[int]  # for the requested config
    forward: str  # the forward line, lecture style
    backward: str  # the hand-written backward line(s); "" for data
    branches: int  # 2 for counts, logits, bndiff, hprebn: their gradient is a sum
    explain: str  # the local rule in one or two plain sentences
    views: dict[Mode, NodeTextPublic]  # the inspector's texts, atomic and fused
    derivation: str | None = None  # id of a derivation in GraphPublic.derivations


class FusedGroupPublic(BaseModel):
    name: str  # cross_entropy, batchnorm
    members: list[NodeName]  # the atomic nodes it stands for, forward order
    output: NodeName  # the gradient its backward produces in one expression
    shape: list[int]
    text: NodeTextPublic


class DerivationStepPublic(BaseModel):
    text: str  # a plain sentence
    math: str  # the step's equation as MathML (converted from LaTeX on the server); "" for none


class DerivationPublic(BaseModel):
    id: str
    title: str
    steps: list[DerivationStepPublic]


class TapeItemPublic(BaseModel):
    node: NodeName
    branch: NodeName | None  # the one consumer this item adds, or None: the whole gradient


class GraphPublic(BaseModel):
    nodes: list[NodePublic]  # forward order: leaves first, then the lecture's lines
    backward_order: list[NodeName]  # atomic (exercise 1), one node a step
    fused_order: list[NodeName]  # exercises 2 and 3: the nodes the fused backward computes
    fused_groups: list[FusedGroupPublic]
    float_note: str  # for the requested dtype: why ≈ and not exact, and what float64 changes
    derivations: list[DerivationPublic]
    lecture_order: list[TapeItemPublic]  # the notebook's line order: a += node's first branch early


# ---- data sets and sessions ------------------------------------------------
class DatasetPublic(BaseModel):
    id: str  # "default", or a hash of the words: the same list has the same id on every server
    name: str  # the file name it was uploaded as, or the built-in list's
    words: int  # how many words
    vocab: list[str]  # '.' first, then the characters in sorted order


class ConfigBase(Strict):
    """The model's configuration as the wire carries it: its bounds are here,
    its defaults are model.Config's (the lecture's), defined there once.
    Pages read both from GET /api/config."""
    seed: int = Field(_LECTURE.seed, ge=0, le=2**63 - 1)
    n_embd: int = Field(_LECTURE.n_embd, ge=1, le=MAX_N_EMBD)
    n_hidden: int = Field(_LECTURE.n_hidden, ge=1, le=MAX_N_HIDDEN)
    block_size: int = Field(_LECTURE.block_size, ge=1, le=MAX_BLOCK)
    batch_size: int = Field(_LECTURE.batch_size, ge=2, le=MAX_BATCH)
    lr: float = Field(_LECTURE.lr, gt=0, le=10)
    lr_decay_step: int | None = Field(_LECTURE.lr_decay_step, ge=0, le=MAX_STEP,
                                      description="lr drops to lr/10 from this step on")
    dtype: DType = _LECTURE.dtype
    dataset: str = Field("default", description='"default" (US census first names) or an id from POST /api/datasets')

    def to_config(self) -> Config:
        return Config(**self.model_dump(exclude={"dataset", "vocab_size"}))


class SessionCreate(ConfigBase):
    """A new session: every field left out takes the lecture's value."""


class ConfigQuery(SessionCreate):
    """SessionCreate as query parameters (GET /api/graph): they arrive as text."""
    model_config = ConfigDict(strict=False)


class ConfigPublic(ConfigBase):
    vocab_size: int


class FieldSpec(BaseModel):
    """One config field: its default and what is allowed."""
    default: Any
    # int | float: an integer field's bound as the integer it is (as a float,
    # 2**63 - 1 went out as 2**63, and 64.0 is no value a strict int field takes)
    minimum: int | float | None = None  # inclusive
    exclusive_minimum: int | float | None = None
    maximum: int | float | None = None  # inclusive
    choices: list[str] | None = None  # for a field that takes one of a few strings
    nullable: bool = False


class ConfigSpecPublic(BaseModel):
    fields: dict[str, FieldSpec]


class SessionPublic(BaseModel):
    id: str
    config: ConfigPublic


class SessionState(SessionPublic):
    """Where a session is: enough for a page to redraw itself after a reload."""
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


# A number that a diverged run (a large lr, or an imported model that
# overflows) makes NaN or infinite is sent as null, JSON having neither:
# such fields are `float | None` below, None only then.
class CheckPublic(BaseModel):
    exact: bool  # bit-equal to autograd
    approx: bool  # torch.allclose
    maxdiff: float | None  # max |manual - autograd|; None: not finite


class UpdateResult(BaseModel):
    step: int


class ForwardResult(UpdateResult):
    loss: float | None  # None: not finite (diverged)


class TrainResult(ForwardResult):
    """`loss`: of the last batch."""


class BackwardResult(BaseModel):
    mode: Mode
    computed: list[NodeName]  # all gradients known so far (not only this call's), the latest last
    remaining: list[NodeName]  # the node of each step still to run; "lecture": a half-finished node is in both lists
    checks: dict[NodeName, CheckPublic]  # for every computed node (a half-finished one is checked as it stands)


class TensorBase(BaseModel):
    name: NodeName
    shape: list[int]
    value: Nested
    grad: Nested | None  # None until the backward reaches the node
    contributions: dict[NodeName, Nested] | None = None  # per consumer, for branches == 2


class TensorPublic(TensorBase):
    reference: Nested | None = None  # autograd's gradient, with ?reference=true


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


# ---- history, evaluation, samples, snapshots --------------------------------
class HistoryPoint(BaseModel):
    """One parameter update, named by the step it produced: point S is update S,
    which took the parameters from step S-1 to step S."""
    step: int
    loss: float | None  # of update S's batch, with the parameters before it (step S-1); None: not finite
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
    train: float | None  # None: not finite (diverged)
    val: float | None
    test: float | None


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
#   * text messages: StreamReply, StreamError, StreamProgress (while a replay
#     runs), or a FramePublic in JSON (when the client subscribed with format
#     "json"): tensors carry `data`;
#   * binary messages: one FramePublic each, laid out as
#       [uint32 little-endian L][L bytes UTF-8 JSON of FramePublic][0-3 zero
#        bytes padding to a multiple of 4][float32 little-endian buffer]
#     where each TensorRef's offset/length (in float32 elements) point into
#     the buffer, row-major in `shape`.
FRAME_HEADER_BYTES = 4
FRAME_ALIGN = 4

# ---- the stream: client commands -------------------------------------------
class CmdPlain(Strict):
    """A command without arguments: forward, back, update, pause, or frame
    (one frame now, e.g. after subscribing)."""
    cmd: Literal["forward", "back", "update", "pause", "frame"]


class CmdBackward(BackwardRequest):
    cmd: Literal["backward"]


class CmdTrain(TrainRequest):
    cmd: Literal["train"]


class CmdPlay(Strict):
    cmd: Literal["play"]
    steps_per_frame: int = Field(10, ge=1, le=10_000, description="training steps between two frames sent")
    fps: float = Field(30, gt=0, le=240, description="cap on frames sent per second")
    val_every: int = Field(500, ge=0, le=1_000_000, description="val loss every N steps; 0 = never")


class CmdSeek(SeekRequest):
    cmd: Literal["seek"]


class InspectSpec(Strict):
    """What the stepper's inspector shows, sent with every command's frame so
    a key press costs one message each way: the node's value and gradient,
    its per-consumer parts (a two-branch node in the atomic and lecture
    views) and, with `diff`, |grad - autograd's grad|."""
    node: NodeName | None = Field(None, description="a node; null: follow the backward pass (its newest "
                                  "gradient, else the next node, else loss)")
    diff: bool = Field(False, description="add absdiff, |manual - autograd|, once the gradient exists")


class CmdSubscribe(Strict):
    cmd: Literal["subscribe"]
    nodes: list[NodeName] = Field(default_factory=list, max_length=64)
    format: Literal["binary", "json"] = "binary"
    inspect: InspectSpec | None = None  # command frames only: live training frames carry `nodes` alone


class CmdReplay(Strict):
    """Rebuild a shared view: `steps` more updates, then (with `pos`) a
    forward and `pos` backward steps in `mode`. Up to EXACT_REPLAY_MAX steps
    go as the stepper went (forward, backward in `mode`, update: bit-equal
    to stepping by hand); more are trained with the fused backward, which
    draws the same batches but may round differently in the last bits.
    StreamProgress messages come while it runs, then the reply (SessionState)
    and the frame. Closing the stream stops it."""
    cmd: Literal["replay"]
    steps: int = Field(..., ge=0, le=MAX_REPLAY_STEPS)
    mode: Mode = "atomic"
    pos: int | None = Field(None, ge=0, le=1000, description="backward steps after the forward; null: no forward")


StreamCommand = Annotated[
    Union[CmdPlain, CmdBackward, CmdTrain, CmdPlay, CmdSeek, CmdSubscribe, CmdReplay],
    Field(discriminator="cmd"),
]


# ---- the stream: replies -------------------------------------------------------
# Every command is answered by one StreamReply (or a StreamError), sent before
# any frame the command causes: the frame of its result follows the reply at
# once, and after "play" the live frames follow it. Live frames come from the
# training worker: after "pause" no frame of the stopped training is sent.
class PlayResult(BaseModel):
    playing: Literal[True] = True
    fps: float
    steps_per_frame: int


class PauseResult(BaseModel):
    playing: Literal[False] = False
    step: int  # where the session stopped: the step the next frame shows
    error: str | None  # why training had stopped by itself, if it did (its worker died, ...)


class SubscribeResult(BaseModel):
    nodes: list[NodeName]
    format: Literal["binary", "json"]
    inspect: InspectSpec | None = None


class StreamProgress(BaseModel):
    """How far a long command (replay) has come, sent while it runs, a few times a second, before its reply."""
    type: Literal["progress"] = "progress"
    cmd: str
    done: int  # updates replayed so far
    total: int
    # True: these updates were trained once for everyone who opens this link
    # (an earlier or a concurrent replay of it, server/trajectories.py), not again for this one
    shared: bool = False


class FrameResult(BaseModel):
    """"frame": nothing to say; the frame follows."""


class StreamReply(BaseModel):
    """The answer to one command, sent before the frame it causes."""
    type: Literal["reply"] = "reply"
    cmd: str
    result: Union[ForwardResult, BackwardResult, UpdateResult, TrainResult, PlayResult, PauseResult,
                  SessionState, SubscribeResult, FrameResult]


class StreamError(BaseModel):
    type: Literal["error"] = "error"
    message: str  # names what was wrong and what is allowed
    cmd: str | None = None


# ---- derive it yourself (issue 16): attempts, hints, answers ---------------
# characters: room to paste a lecture-size tensor's numbers (which then fail the second batch),
# and twice over within a request body's 64 KB cap (bodies.MAX_BODY; exercise 4 sends two)
MAX_CODE = 30_000
AttemptError = Literal["syntax", "refused", "error", "memory", "timeout", "crash"]


class AttemptCreate(Strict):
    node: NodeName = Field(description="the lecture name of the node whose gradient the code computes, e.g. counts")
    code: str = Field(max_length=MAX_CODE, description="Python assigning d<node>, several lines allowed")
    mode: DeriveMode = "atomic"


class AttemptPublic(BaseModel):
    node: NodeName
    mode: DeriveMode
    verdict: Literal["correct", "wrong", "error"]
    message: str
    diagnosis: str | None = Field(None, description="the classic mistake recognised, and a hint")
    mistake: str | None = Field(None, description="its kind: one_branch, transposed, keepdim, wrong_axis, "
                                "broadcast, missing_1n, bessel, sign, no_local, hard_coded, ...")
    error: AttemptError | None = Field(None, description="why the code gave no result (verdict error)")
    shape_ok: bool | None = None
    exact: bool | None = None
    approx: bool | None = None
    maxdiff: float | None = None
    note: str | None = Field(None, description="e.g. a shape the lecture's cmp accepts by broadcasting")
    second_batch: bool | None = Field(None, description="the same code right on a batch not shown")
    shape: list[int] | None = Field(None, description="the shape of the learner's result")
    true_shape: list[int]
    absdiff: list[list[float]] | None = Field(None, description="|yours - true| per element, rows for a heatmap")


class HintPublic(BaseModel):
    node: NodeName
    mode: DeriveMode
    level: int = Field(description="1: the shape; 2: the tensors involved; 3: the local rule in words")
    levels: int
    text: str


class AnswerPublic(BaseModel):
    node: NodeName
    mode: DeriveMode
    code: str = Field(description="the lecture's lines for d<node>")
    idea: str | None = Field(None, description="the lecture's slower first version, when it wrote one (dC's loop)")


class DeriveNodePublic(BaseModel):
    node: NodeName
    shape: list[int]
    axes: list[str]
    scope: list[str] = Field(description="true gradients in scope for this node (those upstream)")


class DerivePublic(BaseModel):
    mode: DeriveMode
    nodes: list[DeriveNodePublic] = Field(description="in the order they are derived")
    names: list[str] = Field(description="what is always in scope: forward values, sizes, torch, F, builtins")


MAX_DERIVE_TRAIN_STEPS = 3000  # ~6 s in the sandbox at the lecture's size


class DeriveTrainCreate(Strict):
    steps: int = Field(500, ge=1, le=MAX_DERIVE_TRAIN_STEPS)
    codes: dict[NodeName, Annotated[str, Field(max_length=MAX_CODE)]] = Field(
        description="the learner's accepted fused expression for every node of the fused backward")


class DeriveTrainPublic(BaseModel):
    verdict: Literal["trained", "error"]
    message: str
    error: AttemptError | None = None
    steps: int
    losses: list[float] = Field(description="the batch loss of each step trained with the learner's backward")
    reference: list[float] = Field(description="the same steps with the lecture's fused backward, same seed")
    maxdiff: float | None = Field(None, description="max |yours - reference| over the steps both ran")


# ---- rooms (issue 17): a teacher drives, followers watch --------------------
# POST /api/rooms makes a room for one of the caller's sessions; the teacher's
# page holds the secret it returns. WebSocket /api/rooms/{code}/teach takes
# TeachCommand messages; WebSocket /api/rooms/{code}/follow sends RoomGraph,
# RoomState and RoomStatus messages (the newest of each kind: a slow follower
# skips frames) and refuses every command but FollowCommand.
ROOM_CODE_LEN = 10  # characters of a 32-letter alphabet: 2^50 codes
RoomPage = Literal["stepper", "train"]
ROOM_HISTORY_POINTS = 1500  # loss-curve points a training-page room sends (thinned, as the page's own first load)


class RoomCreate(Strict):
    session: str = Field(max_length=64, description="the id of the session to teach from (yours: ids are secret)")
    page: RoomPage = Field("stepper", description="the page teaching and followed: the stepper, or the training "
                                                 "dashboard (live training, its frames fanned out by the room)")


class RoomCreated(BaseModel):
    code: str = Field(description="what followers type, e.g. K7QM-2XD9-HP")
    secret: str = Field(description="the teacher's: drives the room, never shown to followers")
    join_url: str = Field(description="the page a follower opens (with the server's access token, if it has one)")
    qr_svg: str = Field(description="the join link as a QR code, an SVG drawn on the server")


class RoomPublic(BaseModel):
    code: str
    teacher_connected: bool
    followers: int
    ended: bool


class RoomViewPublic(Strict):
    """What the teacher's page shows besides the session: the same for every follower."""
    selected: NodeName | None = Field(None, max_length=40, description="the node the teacher picked, if pinned")
    pinned: bool = False
    inspect: NodeName | None = Field(None, max_length=40, description="the node whose tensors the inspector shows")
    row: int | None = Field(None, ge=0, le=MAX_BATCH, description="the dlogits row shown")
    sort_by_loss: bool = False
    show_diff: bool = False
    present: bool = False
    playing: bool = False  # the stepper's play (one node every 0.6 s) or live training


class TeachView(RoomViewPublic):
    session: str = Field(max_length=64, description="the teacher's current session (a reset makes a new one)")


class TeachHello(Strict):
    cmd: Literal["hello"]
    secret: str = Field(max_length=100)


class TeachViewCmd(Strict):
    cmd: Literal["view"]
    view: TeachView


class TeachEnd(Strict):
    cmd: Literal["end"]


TeachCommand = Annotated[Union[TeachHello, TeachViewCmd, TeachEnd], Field(discriminator="cmd")]


class FollowNickname(Strict):
    cmd: Literal["nickname"]
    nickname: str = Field(max_length=24, pattern=r"^[^<>&\x00-\x1f]*$")


DeriveStatus = Literal["solved", "revealed", "failing", "unsolved"]


class NodeProgress(Strict):
    status: DeriveStatus
    hints: int = Field(0, ge=0, le=9)
    mistake: str | None = Field(None, max_length=40, pattern=r"^[a-z0-9_]+$",
                                description="the kind of the last wrong attempt (AttemptPublic.mistake)")


class FollowProgress(Strict):
    """A follower's "Derive it" progress in one mode: what the class view counts."""
    cmd: Literal["progress"]
    mode: DeriveMode
    nodes: dict[NodeName, NodeProgress] = Field(max_length=40)


FollowCommand = Annotated[Union[FollowNickname, FollowProgress], Field(discriminator="cmd")]


class ClassPublic(BaseModel):
    """The teacher's class view: anonymous counts at the node the teacher shows."""
    type: Literal["class"] = "class"
    node: NodeName | None
    mode: DeriveMode
    reporting: int  # followers who sent progress in this mode
    solved: int  # without hints
    hinted: int  # solved after hints
    revealed: int
    trying: int  # last attempt wrong
    first_failing: dict[NodeName, int]  # each follower's first node whose last attempt is wrong
    mistake: str | None  # the most common kind of wrong attempt at `node`
    mistake_count: int
    nicknames: list[str]  # of the followers who gave one, sorted; never tied to their results


class RoomRows(BaseModel):
    """The dlogits panel's data: the batch, its probabilities, dlogits once known."""
    Xb: Nested
    Yb: list[int]
    probs: Nested
    dlogits: Nested | None


class RoomTensor(TensorBase):
    """The inspected node as the teacher's inspector shows it: the entries of
    the teacher's stream frame (server/inspected.py), as nested lists."""
    absdiff: Nested | None = None  # |grad - autograd's grad|, with the diff view on


class RoomState(BaseModel):
    type: Literal["state"] = "state"
    version: int  # counts the room's states: a follower can tell it has the newest
    config: ConfigPublic
    vocab: list[str]
    n_params: int
    forwarded: bool  # a batch is drawn at this step
    view: RoomViewPublic
    frame: FramePublic
    tensor: RoomTensor | None  # of view.inspect, when it has a value
    rows: RoomRows | None


class RoomTrain(BaseModel):
    """A training-page room's run as the teacher's dashboard has it: sent on
    each play, pause, step or new run, and every few seconds while training
    (the loss curve's real points). Its frames follow as binary stream frames
    (FramePublic header and float32 tensors, server/frames.py), built once per room."""
    type: Literal["train"] = "train"
    version: int
    config: ConfigPublic
    playing: bool  # the teacher's live training runs
    present: bool
    history: HistoryPublic  # thinned to at most ROOM_HISTORY_POINTS


class RoomGraph(BaseModel):
    type: Literal["graph"] = "graph"
    graph: GraphPublic  # for the teacher's session's config


class RoomStatus(BaseModel):
    type: Literal["status"] = "status"
    teacher_connected: bool
    followers: int
    ended: bool = False
    reason: str | None = None  # why it ended, in a sentence


class RoomFork(BaseModel):
    """Everything to rebuild the teacher's session exactly: its snapshot, and
    the batch drawn and the backward position reached since."""
    snapshot: SnapshotPublic
    Xb: Nested | None
    Yb: list[int] | None
    mode: Mode
    pos: int  # backward steps done in this batch


class RoomForked(BaseModel):
    session: SessionPublic
    view: RoomViewPublic
