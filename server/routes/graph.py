"""The compute graph of the lecture, with shapes and texts for a given config."""
from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from latex2mathml.converter import convert as latex_to_mathml

from model.atomic import LECTURE_ORDER
from model.derivations import DERIVATIONS, FOR_NODE
from model.graph import BACKWARD_ORDER, BY_NAME, NODES, Dims, branches, sources
from model.mlp import FUSED_ORDER, MODES
from model.texts import FUSED_GROUPS, NodeText, fill, float_note, group_text, node_text

from ..datasets import DatasetStore
from ..schemas import (ConfigQuery, ConfigSpecPublic, DerivationPublic, DerivationStepPublic, FieldSpec, FusedGroupPublic,
                       GraphPublic, HealthPublic, NodePublic, NodeTextPublic, SessionCreate, TapeItemPublic)
from . import deps

router = APIRouter(prefix="/api", tags=["graph"])


@router.get("/health", response_model=HealthPublic)
async def health(request: Request) -> HealthPublic:
    """Up, and where live training runs: each worker's sessions and their
    steps/s. Async: answered on the event loop, never behind busy worker threads."""
    return HealthPublic(workers=request.app.state.sessions.pool.public())


@router.get("/config", response_model=ConfigSpecPublic)
def config() -> ConfigSpecPublic:
    """Every config field's default and bounds, as SessionCreate checks them:
    the pages read them here instead of copying them."""
    out = {}
    for name, prop in SessionCreate.model_json_schema()["properties"].items():
        kinds = prop.get("anyOf", [prop])
        main = next(k for k in kinds if k.get("type") != "null")
        out[name] = FieldSpec(default=prop.get("default"), minimum=main.get("minimum"),
                              exclusive_minimum=main.get("exclusiveMinimum"), maximum=main.get("maximum"),
                              choices=main.get("enum"), nullable=len(kinds) > 1)
    return ConfigSpecPublic(fields=out)


def _text(t: NodeText) -> NodeTextPublic:
    return NodeTextPublic.model_validate(t, from_attributes=True)  # the same fields, tuples as lists


@lru_cache(maxsize=1)
def _derivations() -> list[DerivationPublic]:
    # MathML, which Chromium draws natively: no script and no font to serve
    return [DerivationPublic(id=d.id, title=d.title, steps=[
        DerivationStepPublic(text=s.text, math=latex_to_mathml(s.latex, display="block") if s.latex else "")
        for s in d.steps]) for d in DERIVATIONS]


@router.get("/graph", response_model=GraphPublic, responses=deps.errors(404, 422))
def graph(cfg: Annotated[ConfigQuery, Query()], store: DatasetStore = Depends(deps.datasets)) -> GraphPublic:
    """The nodes, with their shapes and texts for a config (its sizes, dtype
    and data set matter: the texts say what is true in that dtype)."""
    return _graph(Dims.of(cfg, store.vocab(cfg.dataset).size), cfg.dtype)


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
