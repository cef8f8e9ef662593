"""The compute graph of the lecture, with shapes for a given config."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from model.graph import BACKWARD_ORDER, NODES, Dims, branches, consumers
from model.mlp import FUSED_ORDER

from ..datasets import DatasetStore
from ..schemas import MAX_BATCH, MAX_BLOCK, MAX_N_EMBD, MAX_N_HIDDEN, GraphPublic, HealthPublic, NodePublic
from . import deps

router = APIRouter(prefix="/api", tags=["graph"])


@router.get("/health", response_model=HealthPublic)
async def health(request: Request) -> HealthPublic:
    # async: answered on the event loop, never behind busy worker threads
    return HealthPublic(training=request.app.state.sessions.trainer.where)


@router.get("/graph", response_model=GraphPublic, responses=deps.errors(404, 422))
def graph(n_hidden: int = Query(64, ge=1, le=MAX_N_HIDDEN), n_embd: int = Query(10, ge=1, le=MAX_N_EMBD),
          block_size: int = Query(3, ge=1, le=MAX_BLOCK), batch_size: int = Query(32, ge=2, le=MAX_BATCH),
          dataset: str = Query("default", description='"default" or an id from POST /api/datasets'),
          store: DatasetStore = Depends(deps.datasets)) -> GraphPublic:
    dims = Dims(n=batch_size, block=block_size, embd=n_embd, hidden=n_hidden, vocab=store.vocab(dataset).size)
    nodes = [NodePublic(name=n.name, kind=n.kind, inputs=list(n.inputs), consumers=list(consumers(n.name)),
                        shape=list(n.shape(dims)), forward=n.forward, backward=n.backward,
                        branches=branches(n.name), explain=n.explain) for n in NODES]
    return GraphPublic(nodes=nodes, backward_order=list(BACKWARD_ORDER), fused_order=list(FUSED_ORDER))
