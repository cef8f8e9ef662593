"""The compute graph of the lecture, with shapes and texts for a given config."""
from __future__ import annotations

from functools import lru_cache

from fastapi import APIRouter, Depends, Query, Request
from latex2mathml.converter import convert as latex_to_mathml

from model.atomic import LECTURE_ORDER
from model.derivations import DERIVATIONS, FOR_NODE
from model.graph import BACKWARD_ORDER, BY_NAME, NODES, Dims, branches, sources
from model.mlp import FUSED_ORDER, MODES
from model.texts import FUSED_GROUPS, NodeText, fill, float_note, group_text, node_text

from ..datasets import DatasetStore
from ..schemas import (MAX_BATCH, MAX_BLOCK, MAX_N_EMBD, MAX_N_HIDDEN, DerivationPublic, DerivationStepPublic,
                       DType, FusedGroupPublic, GraphPublic, HealthPublic, NodePublic, NodeTextPublic,
                       TapeItemPublic)
from . import deps

router = APIRouter(prefix="/api", tags=["graph"])


@router.get("/health", response_model=HealthPublic)
def health(request: Request) -> HealthPublic:
    return HealthPublic(training=request.app.state.sessions.trainer.where)


def _text(t: NodeText) -> NodeTextPublic:
    return NodeTextPublic(used_by=t.used_by, backward=t.backward, explain=list(t.explain),
                          upstream=list(t.upstream), rounding=t.rounding)


@lru_cache(maxsize=1)
def _derivations() -> list[DerivationPublic]:
    # MathML, which Chromium draws natively: no script and no font to serve
    return [DerivationPublic(id=d.id, title=d.title, steps=[
        DerivationStepPublic(text=s.text, math=latex_to_mathml(s.latex, display="block") if s.latex else "")
        for s in d.steps]) for d in DERIVATIONS]


@router.get("/graph", response_model=GraphPublic, responses=deps.errors(404, 422))
def graph(n_hidden: int = Query(64, ge=1, le=MAX_N_HIDDEN), n_embd: int = Query(10, ge=1, le=MAX_N_EMBD),
          block_size: int = Query(3, ge=1, le=MAX_BLOCK), batch_size: int = Query(32, ge=2, le=MAX_BATCH),
          dtype: DType = Query("float32", description="the texts say what is true in this dtype"),
          dataset: str = Query("default", description='"default" or an id from POST /api/datasets'),
          store: DatasetStore = Depends(deps.datasets)) -> GraphPublic:
    dims = Dims(n=batch_size, block=block_size, embd=n_embd, hidden=n_hidden, vocab=store.vocab(dataset).size)
    return _graph(dims, dtype)


@lru_cache(maxsize=64)
def _graph(dims: Dims, dtype: str) -> GraphPublic:
    """Pure in its arguments, so built once per config (~30 ms of texts; pages reuse few configs)."""
    # the atomic and lecture views differ only in the tape's order: they share their texts
    views = {mode: mode if mode != "lecture" else "atomic" for mode in MODES}
    nodes = [NodePublic(name=n.name, kind=n.kind, inputs=list(n.inputs), consumers=list(sources(n.name)),
                        shape=list(n.shape(dims)), forward=n.forward, backward=n.backward,
                        branches=branches(n.name), explain=fill(n.explain, dims, dtype),
                        views={m: _text(node_text(n.name, v, dims, dtype)) for m, v in views.items()},
                        derivation=FOR_NODE.get(n.name)) for n in NODES]
    groups = [FusedGroupPublic(name=g.name, members=list(g.members), output=g.output,
                               shape=list(BY_NAME[g.members[-1]].shape(dims)), text=_text(group_text(g, dims, dtype)))
              for g in FUSED_GROUPS]
    return GraphPublic(nodes=nodes, backward_order=list(BACKWARD_ORDER), fused_order=list(FUSED_ORDER),
                       fused_groups=groups, float_note=float_note(dtype), derivations=_derivations(),
                       lecture_order=[TapeItemPublic(node=n, branch=b) for n, b in LECTURE_ORDER])
