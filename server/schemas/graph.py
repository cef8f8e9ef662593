"""The lecture's compute graph as GET /api/graph sends it: nodes, shapes and
the texts each view shows (filled for a config by server/lecture.py)."""
from __future__ import annotations

from pydantic import BaseModel

from .common import Kind, Mode, NodeName


# ---- the graph ---------------------------------------------------------------
class MomentPublic(BaseModel):
    """A moment of the lecture's video (model/moments.py): a link only, nothing is loaded from it."""
    seconds: int  # from the start of the video
    label: str  # what the lecture does there
    url: str  # the video's address with &t=<seconds>s


class NodeTextPublic(BaseModel):
    """What the inspector says about a node in one view (model/texts.py)."""
    used_by: str  # the forward line(s) that USE the node ("\n"-joined; "" for the loss): what the rule differentiates
    made_by: str  # the node's own forward line: how it was made
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
    moment: MomentPublic | None = None  # where exercise 1 derives this node's gradient (None for data and loss)


class FusedGroupPublic(BaseModel):
    name: str  # cross_entropy, batchnorm
    members: list[NodeName]  # the atomic nodes it stands for, forward order
    output: NodeName  # the gradient its backward produces in one expression
    shape: list[int]
    text: NodeTextPublic
    moment: MomentPublic | None = None  # exercise 2 or 3 in the video


class DerivationStepPublic(BaseModel):
    text: str  # a plain sentence
    math: str  # the step's equation as MathML (converted from LaTeX on the server); "" for none


class DerivationPublic(BaseModel):
    id: str
    title: str
    steps: list[DerivationStepPublic]
    moment: MomentPublic | None = None  # where the lecture does it on paper


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
    chapters: list[MomentPublic]  # the video's chapters, in order
