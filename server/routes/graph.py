"""The compute graph of the lecture, with shapes and texts for a given config."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from backprop_ninja.model.graph import Dims

from .. import lecture
from ..schemas.common import ConfigQuery, ConfigSpecPublic, FieldSpec, HealthPublic, SessionCreate
from ..schemas.graph import GraphPublic
from ..sessions.datasets import DatasetStore
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


@router.get("/graph", response_model=GraphPublic, responses=deps.errors(404, 422))
def graph(cfg: Annotated[ConfigQuery, Query()], store: DatasetStore = Depends(deps.datasets)) -> GraphPublic:
    """The nodes, with their shapes and texts for a config (its sizes, dtype
    and data set matter: the texts say what is true in that dtype)."""
    return lecture.graph(Dims.of(cfg, store.vocab(cfg.dataset).size), cfg.dtype)
