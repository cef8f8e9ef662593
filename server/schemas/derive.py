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
    mistake_label: str | None = Field(None, description="a short human label for the kind, e.g. 'missing 1/n' "
                                      "(model.mistakes.LABELS)")
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
    level: int = Field(description="1: the shape with its axes; 2: where the node is used and what flows back "
                       "from there; 3: the local derivative in words and symbols (never the answer's line)")
    levels: int
    text: str


class AnswerPublic(BaseModel):
    node: NodeName
    mode: DeriveMode
    code: str = Field(description="the lecture's own lines for d<node> (for dC its double loop)")
    alternative: str | None = Field(None, description="an equivalent one-call form that is not the lecture's "
                                    "(dC's index_add_)")
    alternative_label: str | None = Field(None, description="one sentence: whose form the alternative is")


class DeriveNodePublic(BaseModel):
    node: NodeName
    shape: list[int]
    axes: list[str]
    scope: list[str] = Field(description="true gradients in scope for this node (those upstream)")
    used_in: list[str] = Field(description="the forward lines that use the node: its gradient comes back "
                               "through them (two for a node used twice; none for the loss)")
    made_by: str = Field(description="the node's own forward line: how it was made")


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


# ---- a whole cell at once, and finite differences (issue 29) ----------------
CellStatus = Literal["correct", "wrong", "affected", "missing", "error"]
MAX_FD_SAMPLES = 20


class CellCreate(Strict):
    mode: DeriveMode = Field("atomic", description="atomic: exercise 1's cell; fused: exercise 2, 3 or 4's "
                             "backward lines")
    code: str = Field(max_length=MAX_CODE, description="the cell as pasted from the notebook; cmp(...) and "
                      "print(...) lines are ignored")


class CellNodePublic(BaseModel):
    node: NodeName
    status: CellStatus = Field(description="affected: wrong in the cell as written, right when its own lines run "
                               "with the true gradients upstream; missing: not assigned in the cell")
    message: str
    mistake: str | None = None
    mistake_label: str | None = None
    diagnosis: str | None = None
    exact: bool | None = Field(None, description="of the cell as written, as the notebook's cmp prints it")
    approx: bool | None = None
    maxdiff: float | None = None
    affected_by: list[NodeName] = Field(default_factory=list, description="for affected: the wrong gradients "
                                        "its lines read")
    line: int | None = Field(None, description="the first line of the cell that assigns d<node>")


class CellPublic(BaseModel):
    mode: DeriveMode
    nodes: list[CellNodePublic] = Field(description="every node of the mode's order, in lecture order")
    first_wrong: NodeName | None = Field(None, description="the first node whose own lines are wrong")
    solved: int
    total: int
    message: str = Field(description="the whole cell in a sentence")
    error: AttemptError | None = Field(None, description="why the cell did not run at all")
    error_message: str | None = None


class FiniteDiffCreate(Strict):
    mode: DeriveMode = "atomic"
    node: NodeName = Field(description="the node whose gradient is checked, e.g. W1 or probs")
    code: str | None = Field(None, max_length=MAX_CODE, description="the learner's lines for d<node> (optional): "
                             "their values are compared too")
    samples: int = Field(6, ge=1, le=MAX_FD_SAMPLES, description="how many entries to sample")


class FiniteDiffSample(BaseModel):
    index: list[int] = Field(description="the entry of the node, one index per axis")
    numeric: float = Field(description="(loss(x+eps) - loss(x-eps)) / 2eps")
    autograd: float
    yours: float | None = None


class FiniteDiffPublic(BaseModel):
    node: NodeName
    mode: DeriveMode
    eps: float
    tolerance: float = Field(description="the relative part of agreement: |value - numeric| <= atol + tolerance * |numeric|")
    atol: float = Field(description="the absolute part of agreement (most gradients here are far below 1)")
    dtype: Literal["float64"] = "float64"
    samples: list[FiniteDiffSample]
    agree: bool = Field(description="autograd agrees with the numeric derivative at every sample")
    yours_agree: bool | None = Field(None, description="your code's values agree too (when code was sent and ran)")
    message: str = Field(description="what was sampled, how, and the outcome")
