"""Derive it, beyond one node: a whole pasted cell checked at once, and a
finite-difference check of any node's gradient that does not rely on autograd.

Plain `def` like the attempts route: the sandbox is waited for in FastAPI's
thread pool, under the session's derive lock (one learner's checks in turn)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from backprop_ninja.model import finite_differences as fd

from ..derive import attempts, cells
from ..schemas.derive import CellCreate, CellPublic, FiniteDiffCreate, FiniteDiffPublic
from ..sessions.session import Session
from . import deps

router = APIRouter(prefix="/api/sessions", tags=["derive"])


@router.post("/{sid}/cells", response_model=CellPublic, responses=deps.errors(404, 409, 422))
def cell(body: CellCreate, request: Request, s: Session = Depends(deps.session)) -> CellPublic:
    """Run a whole pasted cell (exercise 1's, or exercise 2, 3 or 4's backward
    lines) and judge every node in lecture order: the first wrong node with its
    mistake, and the later nodes wrong only because they used it ("affected")."""
    attempts.check_size(s.mlp)
    with s.derive_lock:
        return cells.cell(request.app.state.sandbox, s.derive_inputs(), body)


@router.post("/{sid}/finite-differences", response_model=FiniteDiffPublic, responses=deps.errors(404, 409, 422))
def finite_differences(body: FiniteDiffCreate, request: Request,
                       s: Session = Depends(deps.session)) -> FiniteDiffPublic:
    """Central differences in float64 at a few sampled entries of d<node>, the
    loss recomputed through the lecture's forward: beside autograd's values and,
    when code is sent, the learner's."""
    attempts.check_node(body.mode, body.node)
    attempts.check_size(s.mlp)
    cfg = s.mlp.cfg
    with s.derive_lock:
        got = s.derive_inputs()
        seed = fd.sample_seed(cfg.seed, s.mlp.step, body.node)
        return cells.finite_differences(request.app.state.sandbox, got, cfg.bn_eps, seed, body)
