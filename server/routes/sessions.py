"""Create, step, train, seek and delete sessions.

Routes are plain `def`: FastAPI runs them in its thread pool, so model work
never blocks the event loop, and each session's lock serialises its own
requests without holding up any other session."""
from __future__ import annotations

from fastapi import APIRouter, Body, Depends, Response

from ..schemas.common import SessionCreate
from ..schemas.sessions import (BackwardRequest, BackwardResult, ForwardResult, SeekRequest, SessionPublic,
                                SessionState, SnapshotPublic, TrainRequest, TrainResult, UpdateResult)
from ..sessions.session import Session
from ..sessions.store import SessionStore
from . import deps

router = APIRouter(prefix="/api/sessions", tags=["sessions"])


@router.post("", status_code=201, response_model=SessionPublic, responses=deps.errors(404, 422, 429))
def create(body: SessionCreate | None = Body(None), store: SessionStore = Depends(deps.sessions)) -> SessionPublic:
    """A new session with the lecture's defaults for every field left out."""
    s = store.create(body or SessionCreate())
    return SessionPublic(id=s.id, config=s.config())


@router.post("/import", status_code=201, response_model=SessionPublic, responses=deps.errors(413, 422, 429))
def import_snapshot(snap: SnapshotPublic, store: SessionStore = Depends(deps.sessions)) -> SessionPublic:
    """Resume a snapshot: same step, bit-identical parameters, same batch order."""
    s = store.import_snapshot(snap)
    return SessionPublic(id=s.id, config=s.config())


@router.get("/{sid}", response_model=SessionState, responses=deps.errors(404, 429))
def state(s: Session = Depends(deps.session)) -> SessionState:
    return s.state()


@router.delete("/{sid}", status_code=204, response_class=Response, responses=deps.errors(404, 429))
def delete(sid: str, store: SessionStore = Depends(deps.sessions)) -> Response:
    store.delete(sid)
    return Response(status_code=204)


@router.post("/{sid}/forward", response_model=ForwardResult, responses=deps.errors(404, 409, 429))
def forward(s: Session = Depends(deps.session)) -> ForwardResult:
    """Sample the next batch and run the forward pass one tensor a line."""
    return s.forward()


@router.post("/{sid}/backward", response_model=BackwardResult, responses=deps.errors(404, 409, 422, 429))
def backward(body: BackwardRequest | None = Body(None), s: Session = Depends(deps.session)) -> BackwardResult:
    """The next `nodes` hand-written gradients (all when null), each checked against autograd."""
    body = body or BackwardRequest()
    return s.backward(body.mode, body.nodes)


@router.post("/{sid}/back", response_model=BackwardResult, responses=deps.errors(404, 409, 429))
def back(s: Session = Depends(deps.session)) -> BackwardResult:
    """Undo the last backward node."""
    return s.back()


@router.post("/{sid}/update", response_model=UpdateResult, responses=deps.errors(404, 409, 429))
def update(s: Session = Depends(deps.session)) -> UpdateResult:
    """SGD with the hand-written gradients; needs a complete backward."""
    return s.update()


@router.post("/{sid}/train", response_model=TrainResult, responses=deps.errors(404, 409, 422, 429))
def train(body: TrainRequest, s: Session = Depends(deps.session)) -> TrainResult:
    """`steps` SGD steps with the fused hand-written backward (exercise 4)."""
    return s.train(body.steps)


@router.post("/{sid}/seek", response_model=SessionState, responses=deps.errors(404, 409, 422, 429))
def seek(body: SeekRequest, s: Session = Depends(deps.session)) -> SessionState:
    """Go back (or forth) to a step kept in full, showing its batch with every gradient."""
    return s.seek(body.step)
