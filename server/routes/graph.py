"""The compute graph of the lecture, with shapes for a given config."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from model.graph import BACKWARD_ORDER, NODES, Dims, branches, consumers
from model.mlp import FUSED_ORDER

from ..datasets import DatasetStore
from ..schemas import ConfigSpecPublic, FieldSpec, GraphPublic, HealthPublic, NodePublic, SessionCreate
from . import deps

router = APIRouter(prefix="/api", tags=["graph"])


@router.get("/health", response_model=HealthPublic)
def health(request: Request) -> HealthPublic:
    """Up, and where live training runs: each worker's sessions and their steps/s."""
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


@router.get("/graph", response_model=GraphPublic, responses=deps.errors(404, 422))
def graph(cfg: Annotated[SessionCreate, Query()], store: DatasetStore = Depends(deps.datasets)) -> GraphPublic:
    """The nodes, with their shapes for a config (only its sizes and data set matter)."""
    dims = Dims(n=cfg.batch_size, block=cfg.block_size, embd=cfg.n_embd, hidden=cfg.n_hidden,
                vocab=store.vocab(cfg.dataset).size)
    nodes = [NodePublic(name=n.name, kind=n.kind, inputs=list(n.inputs), consumers=list(consumers(n.name)),
                        shape=list(n.shape(dims)), forward=n.forward, backward=n.backward,
                        branches=branches(n.name), explain=n.explain) for n in NODES]
    return GraphPublic(nodes=nodes, backward_order=list(BACKWARD_ORDER), fused_order=list(FUSED_ORDER))
