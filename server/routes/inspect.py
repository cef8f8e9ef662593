"""Look inside a session: tensors, frames, history, losses, samples, snapshots."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from backprop_ninja.model.graph import BY_NAME

from ..guards import budget
from ..schemas.frames import FramePublic
from ..schemas.sessions import (HistoryPublic, SamplesPublic, SamplesRequest, SnapshotPublic, SplitLossesPublic,
                                TensorPublic)
from ..sessions import evaluate, snapshots
from ..sessions.session import Session
from ..sessions.store import SessionStore
from . import deps

router = APIRouter(prefix="/api/sessions", tags=["inspect"])


@router.get("/{sid}/tensors/{name}", response_model=TensorPublic, responses=deps.errors(404, 409, 413, 429))
def tensor(request: Request, name: str, reference: bool = Query(False, description="add autograd's gradient"),
           s: Session = Depends(deps.session)) -> Response:
    """A node's value and gradient as nested lists (parameters, Xb and Yb too)."""
    if name not in BY_NAME:
        return s.tensor(name, reference)  # its 404 names the nodes
    cost = budget.tensor_cost(s.mlp.cfg, s.mlp.vocab.size, name, reference)
    what = f"GET tensors/{name}{'?reference=true' if reference else ''} at this session's config"
    with deps.budget(request).hold(cost, what):
        # serialised here, within the hold: pydantic writes the JSON from
        # the lists directly (FastAPI's encoder copied them first, ~2x)
        return Response(s.tensor(name, reference).model_dump_json(), media_type="application/json")


@router.get("/{sid}/frame", response_model=FramePublic, responses=deps.errors(404, 429))
def frame(s: Session = Depends(deps.session)) -> Response:
    """The summary every stream frame carries, as JSON, without tensors."""
    return Response(s.frame(), media_type="application/json")


@router.get("/{sid}/history", response_model=HistoryPublic, responses=deps.errors(404, 422, 429))
def history(since: int = Query(-1, ge=-1, description="only steps after this one"),
            until: int | None = Query(None, ge=0, description="only steps up to this one (inclusive); "
                                      "with since, one range of an old, thinned history in full"),
            max_points: int = Query(10_000, ge=1, le=1_000_000,
                                    description="thinned evenly beyond this, keeping the range's newest step"),
            s: Session = Depends(deps.session)) -> HistoryPublic:
    """A point for every step (loss, lr, ...) with since < step <= until, and
    the steps seek can go to. full_steps and lr_changes are never limited by
    since/until."""
    return evaluate.history(s, since, max_points, until)


@router.get("/{sid}/losses", response_model=SplitLossesPublic, responses=deps.errors(404, 422, 429))
def losses(stats: Literal["calibrated", "running"] = "calibrated",
           s: Session = Depends(deps.session)) -> SplitLossesPublic:
    """Loss over the whole train, val and test splits, BatchNorm in inference mode."""
    return evaluate.split_losses(s, stats)


@router.post("/{sid}/samples", response_model=SamplesPublic, responses=deps.errors(404, 422, 429))
def samples(body: SamplesRequest | None = Body(None), s: Session = Depends(deps.session)) -> SamplesPublic:
    """Words drawn from the model; `seen` = it is in the training words."""
    body = body or SamplesRequest()
    return evaluate.samples(s, body.k, body.seed)


@router.get("/{sid}/snapshot", response_model=SnapshotPublic, responses=deps.errors(404, 413, 429))
def snapshot(request: Request, sid: str, store: SessionStore = Depends(deps.sessions)) -> Response:
    """Everything to resume this session elsewhere (POST /api/sessions/import)."""
    s = store.get(sid)
    words = store.words_of(s)
    cost = budget.snapshot_cost(s.mlp.cfg, s.mlp.vocab.size, len(words or ()))
    with deps.budget(request).hold(cost, "GET snapshot of this session"):
        return Response(snapshots.export(s, words).model_dump_json(), media_type="application/json")
