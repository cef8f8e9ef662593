"""A whole cell at once (POST /cells), and the finite-difference oracle
(POST /finite-differences): the server's side.

A cell goes to the sandbox like an attempt, with the forward values and the
sizes of both batches and, for its isolated run only, the true gradients of
the mode's nodes (cell_child.py runs it); model.cell_check judges the
answer. The server never parses the learner's source: the child reports
which lines assign which node."""
from __future__ import annotations

import base64
import binascii
import math

import torch

from backprop_ninja.model import cell_check, derive
from backprop_ninja.model import finite_differences as fd
from backprop_ninja.model.graph import Tensors

from ..schemas.derive import (CellCreate, CellNodePublic, CellPublic, FiniteDiffCreate, FiniteDiffPublic,
                              FiniteDiffSample)
from .attempts import ERRORS, Inputs, scope
from .sandbox import Sandbox, SandboxError

MALFORMED = "the sandbox answered in a form the server does not accept"


def job(got: Inputs, body: CellCreate) -> dict:
    order = derive.ORDER[body.mode]
    scopes = [{**{k: t.detach().numpy() for k, t in v.items()}, **got.sizes} for v, _ in got.truth]
    truths = [{x: g[x].detach().numpy() for x in order} for _, g in got.truth]
    return {"kind": "cell", "mode": body.mode, "code": body.code, "order": list(order), "scopes": scopes,
            "truths": truths, "dtype": got.dtype}


def cell(sandbox: Sandbox, got: Inputs, body: CellCreate) -> CellPublic:
    try:
        answer = sandbox.run(job(got, body))
    except SandboxError as err:
        return failed(body.mode, "crash", str(err))
    status = answer.get("status")
    if status != "ok":
        kind = status if status in ERRORS else "crash"
        return failed(body.mode, kind, ERRORS[kind] + str(answer.get("message", ""))[:2000])
    runs = read_runs(answer, derive.ORDER[body.mode], getattr(torch, got.dtype), sandbox.limits.max_numel)
    if runs is None:
        return failed(body.mode, "crash", "Stopped: " + MALFORMED)
    checked = cell_check.check_cell(body.mode, runs, got.truth)
    message = checked.message
    unowned = [str(e)[:400] for e in answer.get("unowned", ()) if isinstance(e, str)]
    if unowned:
        message += f" A line that assigns no gradient failed: {unowned[0]}"
    return CellPublic(mode=body.mode, nodes=[CellNodePublic(**vars(c)) for c in checked.nodes],
                      first_wrong=checked.first_wrong, solved=checked.solved, total=checked.total, message=message)


def failed(mode: str, kind: str, message: str) -> CellPublic:
    """The cell did not run at all: no node is checked."""
    order = derive.ORDER[mode]
    nodes = [CellNodePublic(node=x, status="missing", message="Not checked: the cell did not run.") for x in order]
    return CellPublic(mode=mode, nodes=nodes, solved=0, total=len(order), message=message, error=kind,
                      error_message=message)


# ---- the child's answer, checked for form: it ran hostile code ---------------------
def decode(entry, dtype: torch.dtype, max_numel: int) -> torch.Tensor | str | None:
    """A result ({"shape", "b64"} or {"error"}) as a tensor or an error sentence; None if malformed."""
    if not isinstance(entry, dict):
        return None
    if isinstance(entry.get("error"), str):
        return entry["error"][:2000]
    shape, data = entry.get("shape"), entry.get("b64")
    if not (isinstance(shape, list) and all(isinstance(s, int) and s >= 0 for s in shape)
            and isinstance(data, str) and math.prod(shape) <= max_numel):
        return None
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    numel = math.prod(shape)
    if len(raw) != numel * torch.empty((), dtype=dtype).element_size():
        return None
    if numel == 0:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(bytearray(raw), dtype=dtype).reshape(shape)


def _both(answer: dict, run: str, node: str, dtype: torch.dtype, max_numel: int):
    """A node's results on both batches of one run: a list of two tensors, an error, None (not
    assigned), or False (malformed)."""
    batches = answer.get(run)
    if not (isinstance(batches, list) and len(batches) == 2 and all(isinstance(b, dict) for b in batches)):
        return False
    if node not in batches[0]:
        return None
    got = [decode(b.get(node), dtype, max_numel) for b in batches]
    if any(g is None for g in got):
        return False
    errors = [g for g in got if isinstance(g, str)]
    return errors[0] if errors else got


def read_runs(answer: dict, order: tuple[str, ...], dtype: torch.dtype, max_numel: int) -> dict | None:
    """{node: cell_check.Run} for the nodes the cell assigns, or None if the answer is malformed."""
    nodes, changed = answer.get("nodes"), answer.get("changed", [])
    if not (isinstance(nodes, dict) and isinstance(changed, list)):
        return None
    runs = {}
    for x, info in nodes.items():
        if x not in order or not isinstance(info, dict):
            return None
        line, reads = info.get("line"), info.get("reads")
        if not (isinstance(line, int) and isinstance(reads, list) and all(r in order for r in reads)):
            return None
        chained, isolated = (_both(answer, run, x, dtype, max_numel) for run in ("chained", "isolated"))
        if chained is False or isolated is False:
            return None
        runs[x] = cell_check.Run(chained, isolated, line, tuple(reads), x in changed)
    return runs


# ---- finite differences --------------------------------------------------------------
def finite_differences(sandbox: Sandbox, got: Inputs, bn_eps: float, seed: int,
                       body: FiniteDiffCreate) -> FiniteDiffPublic:
    """The numeric derivative at a few entries of d<node>, beside autograd's and, when
    code was sent, the learner's (run in the sandbox in float64, like an attempt)."""
    values, grads = fd.float64(got.truth[0][0], got.truth[0][0]["Xb"], got.truth[0][0]["Yb"], bn_eps)
    yours, problem = (None, None) if body.code is None else _yours(sandbox, got, body, values, grads)
    out = fd.check(values, grads, bn_eps, body.node, body.samples, seed, yours)
    message = out.message if problem is None else f"{problem} {out.message}"
    return FiniteDiffPublic(node=body.node, mode=body.mode, eps=out.eps, tolerance=out.tolerance, atol=out.atol,
                            samples=[FiniteDiffSample(index=list(s.index), numeric=s.numeric, autograd=s.autograd,
                                                      yours=s.yours) for s in out.samples],
                            agree=out.agree, yours_agree=out.yours_agree, message=message)


def _yours(sandbox: Sandbox, got: Inputs, body: FiniteDiffCreate, values: Tensors,
           grads: Tensors) -> tuple[torch.Tensor | None, str | None]:
    """(the learner's d<node> in float64, None) or (None, why there is none)."""
    node = body.node
    job = {"kind": "attempt", "code": body.code, "target": "d" + node, "dtype": "float64",
           "scopes": [scope(body.mode, node, values, grads, got.sizes)]}
    try:
        answer = sandbox.run(job)
    except SandboxError as err:
        return None, f"Your code was not checked: {err}."
    if answer.get("status") != "ok":
        kind = answer.get("status") if answer.get("status") in ERRORS else "crash"
        return None, ERRORS[kind] + str(answer.get("message", ""))[:2000] + "."
    results = answer.get("results")
    r = results[0] if isinstance(results, list) and len(results) == 1 and isinstance(results[0], dict) else {}
    shape, flat = r.get("shape"), r.get("values")
    if not (isinstance(shape, list) and all(isinstance(s, int) and s >= 0 for s in shape)
            and isinstance(flat, list) and len(flat) == math.prod(shape)
            and all(isinstance(v, (int, float)) for v in flat)):
        return None, f"Your code was not checked: {MALFORMED}."
    true = tuple(grads[node].shape)
    if tuple(shape) != true and not derive.fits(tuple(shape), true):
        return None, (f"Your d{node} has shape {tuple(shape)} and d{node} has {node}'s shape {true}: "
                      "they cannot be compared entry by entry.")
    return torch.tensor(flat, dtype=torch.float64).reshape(true), None
