"""Derive it yourself: submit code for a node's gradient, ask for hints, reveal the answer.

`attempts` is plain `def` like every model route: the wait for the sandbox
happens in FastAPI's thread pool, never on the event loop."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request

from backprop_ninja.model import derive, hints
from backprop_ninja.model.graph import Dims

from ..derive import attempts, exercise4
from ..schemas.common import DeriveMode
from ..schemas.derive import (AnswerPublic, AttemptCreate, AttemptPublic, DerivePublic, DeriveTrainCreate,
                              DeriveTrainPublic, HintPublic)
from ..sessions.session import Session
from . import deps

router = APIRouter(prefix="/api/sessions", tags=["derive"])
LEVELS = 3


@router.post("/{sid}/attempts", response_model=AttemptPublic, responses=deps.errors(404, 409, 422))
def attempt(body: AttemptCreate, request: Request, s: Session = Depends(deps.session)) -> AttemptPublic:
    """Run the learner's code for d<node> in the sandbox on this batch and a
    second one, and compare with autograd: shape, exact, approx, maxdiff,
    the mistake when one is recognised."""
    attempts.check_node(body.mode, body.node)
    attempts.check_size(s.mlp)
    with s.derive_lock:
        return attempts.attempt(request.app.state.sandbox, s.derive_inputs(), body)


@router.get("/{sid}/derive/{mode}", response_model=DerivePublic, responses=deps.errors(404, 422))
def overview(mode: DeriveMode, s: Session = Depends(deps.session)) -> DerivePublic:
    """The nodes to derive in this mode, in order, with what is in scope for each."""
    return attempts.overview(s.mlp, mode)


@router.get("/{sid}/derive/{mode}/{node}/hints/{level}", response_model=HintPublic,
            responses=deps.errors(404, 422))
def hint(mode: DeriveMode, node: str, level: int = Path(ge=1, le=LEVELS), s: Session = Depends(deps.session)) -> HintPublic:
    """Hint 1 gives the shape, 2 where the node is used and what flows back from
    there, 3 the local derivative in words: filled for the session's sizes and dtype."""
    attempts.check_node(mode, node)
    text = hints.hints(mode, node, Dims.of(s.mlp.cfg, s.mlp.vocab.size), s.mlp.cfg.dtype)[level - 1]
    return HintPublic(node=node, mode=mode, level=level, levels=LEVELS, text=text)


@router.get("/{sid}/derive/{mode}/{node}/answer", response_model=AnswerPublic, responses=deps.errors(404, 422))
def answer(mode: DeriveMode, node: str, s: Session = Depends(deps.session)) -> AnswerPublic:
    """The lecture's lines for d<node>: the reveal, with an equivalent form
    others wrote when there is one (dC's index_add_), labelled as theirs."""
    attempts.check_node(mode, node)
    alt = derive.alternative(mode, node)
    return AnswerPublic(node=node, mode=mode, code=derive.answer(mode, node),
                        alternative=alt.code if alt else None, alternative_label=alt.label if alt else None)


@router.post("/{sid}/derive/train", response_model=DeriveTrainPublic, responses=deps.errors(404, 422))
def train(body: DeriveTrainCreate, request: Request, s: Session = Depends(deps.session)) -> DeriveTrainPublic:
    """Exercise 4: train a fresh model (the session's config and seed) for
    `steps` steps with the learner's fused expressions, in the sandbox, and
    the same steps with the lecture's fused backward."""
    attempts.check_size(s.mlp)
    with s.derive_lock:
        return exercise4.train(request.app.state.sandbox, s.mlp, body)
