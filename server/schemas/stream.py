"""The WebSocket stream (/api/sessions/{id}/stream): the commands a client
sends, the replies and progress it gets, and the binary frame layout."""
from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, Field

from .common import MAX_REPLAY_STEPS, Mode, NodeName, Strict
from .sessions import (BackwardRequest, BackwardResult, ForwardResult, SeekRequest, SessionState, TrainRequest,
                       TrainResult, UpdateResult)

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
    # (an earlier or a concurrent replay of it, server/sessions/trajectories.py), not again for this one
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
