"""The lecture's compute graph and every text the pages show about it
(model/graph.py, texts.py, derivations.py), filled in for a config and a
dtype, as the wire sends it (GraphPublic): what GET /api/graph answers and
what a room sends its followers."""
from __future__ import annotations

from functools import lru_cache

from latex2mathml.converter import convert as latex_to_mathml

from backprop_ninja.model.derivations import DERIVATIONS, FOR_NODE
from backprop_ninja.model.graph import NODES, Dims
from backprop_ninja.model.graphdata import graph_data
from backprop_ninja.model import moments
from backprop_ninja.model.mlp import MODES
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
    # the structure (model/graphdata.py, which the notebook widget draws too), then the texts of this config
    base = graph_data(dims)
    nodes = [NodePublic(**d, explain=fill(n.explain, dims, dtype),
                        views={m: _text(node_text(n.name, v, dims, dtype)) for m, v in views.items()},
                        derivation=FOR_NODE.get(n.name), moment=_moment(moments.NODE.get(n.name)))
             for d, n in zip(base["nodes"], NODES)]
    groups = [FusedGroupPublic(**d, text=_text(group_text(g, dims, dtype)), moment=_moment(moments.FUSED.get(g.output)))
              for d, g in zip(base["fused_groups"], FUSED_GROUPS)]
    return GraphPublic(nodes=nodes, backward_order=base["backward_order"], fused_order=base["fused_order"],
                       fused_groups=groups, float_note=float_note(dtype), derivations=_derivations(),
                       lecture_order=[TapeItemPublic(**t) for t in base["lecture_order"]],
                       chapters=[_moment(m) for m in moments.CHAPTERS])
