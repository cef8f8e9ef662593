"""Sessions over HTTP: their state, the stepping commands and their
results, tensors, the history, evaluation, samples and snapshots."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .common import MAX_SAMPLES, MAX_TRAIN_STEPS, ConfigPublic, Mode, Nested, NodeName, Strict


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
