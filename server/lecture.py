"""The lecture's compute graph and every text the pages show about it
(model/graph.py, texts.py, derivations.py), filled in for a config and a
dtype, as the wire sends it (GraphPublic): what GET /api/graph answers and
what a room sends its followers."""
from __future__ import annotations

from functools import lru_cache

from latex2mathml.converter import convert as latex_to_mathml

from backprop_ninja.model.atomic import LECTURE_ORDER
from backprop_ninja.model.derivations import DERIVATIONS, FOR_NODE
from backprop_ninja.model.graph import BACKWARD_ORDER, BY_NAME, NODES, Dims, branches, sources
from backprop_ninja.model import moments
from backprop_ninja.model.mlp import FUSED_ORDER, MODES
from backprop_ninja.model.texts import FUSED_GROUPS, NodeText, fill, float_note, group_text, node_text

from .schemas.graph import (DerivationPublic, DerivationStepPublic, FusedGroupPublic, GraphPublic, MomentPublic,
                            NodePublic, NodeTextPublic, TapeItemPublic)


def _moment(m: moments.Moment | None) -> MomentPublic | None:
    return None if m is None else MomentPublic(seconds=m.seconds, label=m.label, url=m.url())


def _text(t: NodeText) -> NodeTextPublic:
    return NodeTextPublic.model_validate(t, from_attributes=True)  # the same fields, tuples as lists


@lru_cache(maxsize=1)
def _derivations() -> list[DerivationPublic]:
    # MathML, which Chromium draws natively: no script and no font to serve
    return [DerivationPublic(id=d.id, title=d.title, moment=_moment(moments.DERIVATION.get(d.id)), steps=[
        DerivationStepPublic(text=s.text, math=latex_to_mathml(s.latex, display="block") if s.latex else "")
        for s in d.steps]) for d in DERIVATIONS]


@lru_cache(maxsize=64)
def graph(dims: Dims, dtype: str) -> GraphPublic:
    """Pure in its arguments, so built once per config (~30 ms of texts; pages reuse few configs)."""
    # the atomic and lecture views differ only in the tape's order: they share their texts
    views = {mode: mode if mode != "lecture" else "atomic" for mode in MODES}
    nodes = [NodePublic(name=n.name, kind=n.kind, inputs=list(n.inputs), consumers=list(sources(n.name)),
                        shape=list(n.shape(dims)), forward=n.forward, backward=n.backward,
                        branches=branches(n.name), explain=fill(n.explain, dims, dtype),
                        views={m: _text(node_text(n.name, v, dims, dtype)) for m, v in views.items()},
                        derivation=FOR_NODE.get(n.name), moment=_moment(moments.NODE.get(n.name))) for n in NODES]
    groups = [FusedGroupPublic(name=g.name, members=list(g.members), output=g.output,
                               shape=list(BY_NAME[g.members[-1]].shape(dims)), text=_text(group_text(g, dims, dtype)),
                               moment=_moment(moments.FUSED.get(g.output)))
              for g in FUSED_GROUPS]
    return GraphPublic(nodes=nodes, backward_order=list(BACKWARD_ORDER), fused_order=list(FUSED_ORDER),
                       fused_groups=groups, float_note=float_note(dtype), derivations=_derivations(),
                       lecture_order=[TapeItemPublic(node=n, branch=b) for n, b in LECTURE_ORDER],
                       chapters=[_moment(m) for m in moments.CHAPTERS])
