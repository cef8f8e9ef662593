"""Derive it yourself: attempts at a node's gradient, hints, answers, and
exercise 4's training with the learner's own backward."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from .common import DeriveMode, NodeName, Strict

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
