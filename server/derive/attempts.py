"""One attempt at a node's gradient: the learner's code runs in the sandbox
on the session's batch and on a second one, and model.derive_check judges it.

The second batch is drawn from a generator of its own, seeded from the
session's seed and step, so the session's generator does not move and the
learner's next forward sees the batch it would have seen anyway."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from backprop_ninja.model import derive, mistakes
from backprop_ninja.model.derive_check import judge
from backprop_ninja.model.graph import BY_NAME, Dims, Tensors
from backprop_ninja.model.mlp import MLP
from backprop_ninja.model.reference import autograd_grads
from backprop_ninja.model.texts import used_lines

from ..errors import Unprocessable
from ..schemas.derive import AttemptCreate, AttemptPublic, DeriveNodePublic, DerivePublic
from .restrict import BUILTINS
from .sandbox import Sandbox, SandboxError

SIZES = ("n", "n_embd", "n_hidden", "vocab_size", "block_size")
ERRORS = {  # how each kind of failure starts its message
    "syntax": "Your code does not parse: ", "refused": "Refused: ", "error": "Your code failed: ",
    "memory": "Stopped: ", "timeout": "Stopped: ", "crash": "Stopped: ",
}


def second_batch(mlp: MLP) -> tuple[torch.Tensor, torch.Tensor]:
    """A training batch the learner has not seen, without touching mlp.g."""
    g = torch.Generator().manual_seed((mlp.cfg.seed * 1_000_003 + mlp.step + 1) % (1 << 62))
    X, Y = mlp.data.splits["train"]
    ix = torch.randint(0, X.shape[0], (mlp.cfg.batch_size,), generator=g)
    return X[ix], Y[ix]


@dataclass(frozen=True)
class Inputs:
    """What an attempt needs from the session, taken under its lock."""
    truth: list[tuple[Tensors, Tensors]]  # (values, true grads) of the current batch, then the second
    sizes: dict[str, int]
    dtype: str


def inputs(mlp: MLP) -> Inputs:
    """The caller holds the session's lock and has checked there is a batch."""
    first = (dict(mlp.values), mlp.reference())
    Xb, Yb = second_batch(mlp)
    second = autograd_grads(mlp.params, Xb, Yb, mlp.cfg.bn_eps)
    return Inputs([first, second], sizes(mlp, mlp.cfg.batch_size), mlp.cfg.dtype)


def sizes(mlp: MLP, n: int) -> dict[str, int]:
    c = mlp.cfg
    return {"n": n, "n_embd": c.n_embd, "n_hidden": c.n_hidden, "vocab_size": mlp.vocab.size,
            "block_size": c.block_size}


def scope(mode: str, node: str, values: Tensors, grads: Tensors, sizes_: dict[str, int]) -> dict:
    """What the learner's code sees: every forward value, the sizes, and the
    true gradient of every node upstream of the attempted one."""
    out: dict = {k: t.detach().numpy() for k, t in values.items()}
    out.update(sizes_)
    for up in derive.upstream(mode, node):
        out["d" + up] = grads[up].detach().numpy()
    return out


def overview(mlp: MLP, mode: str) -> DerivePublic:
    """Each node of the mode's order with its shape, what is in scope, the lines
    that use it (above the editor: the backward comes from them) and its own line."""
    d = Dims.of(mlp.cfg, mlp.vocab.size)
    nodes = [DeriveNodePublic(node=n, shape=list(BY_NAME[n].shape(d)), axes=list(derive.axes(n)),
                              scope=["d" + u for u in derive.upstream(mode, n)],
                              used_in=list(used_lines(mode, n)), made_by=BY_NAME[n].forward)
             for n in derive.ORDER[mode]]
    names = [n.name for n in BY_NAME.values()] + list(SIZES) + ["torch", "F", *BUILTINS]
    return DerivePublic(mode=mode, nodes=nodes, names=names)


def _tensors(answer: dict, dtype: torch.dtype) -> list[torch.Tensor] | None:
    """The child's results, checked for form: it ran hostile code, so its JSON is not trusted."""
    out = []
    for r in answer.get("results", ()):
        shape, values = r.get("shape"), r.get("values")
        if not (isinstance(shape, list) and all(isinstance(s, int) and s >= 0 for s in shape)
                and isinstance(values, list) and len(values) == math.prod(shape)
                and all(isinstance(x, (int, float)) for x in values)):
            return None
        out.append(torch.tensor(values, dtype=dtype).reshape(shape))
    return out if len(out) == 2 else None


def _named(kind: str, hint: str) -> dict:
    """A mistake named from the child's error text (a product whose shapes do not fit)."""
    return {"mistake": kind, "mistake_label": mistakes.label(kind), "diagnosis": hint}


def attempt(sandbox: Sandbox, got: Inputs, body: AttemptCreate) -> AttemptPublic:
    mode, node, truth = body.mode, body.node, got.truth
    true_shape = list(truth[0][1][node].shape)
    scopes = [scope(mode, node, v, g, got.sizes) for v, g in truth]
    base = dict(node=node, mode=mode, true_shape=true_shape)
    try:
        answer = sandbox.run({"kind": "attempt", "code": body.code, "target": "d" + node, "scopes": scopes,
                             "dtype": got.dtype})
    except SandboxError as err:
        return AttemptPublic(**base, verdict="error", error="crash", message=str(err))
    status = answer.get("status")
    if status != "ok":
        kind = status if status in ERRORS else "crash"
        message = str(answer.get("message", ""))[:2000]
        named = mistakes.product_error(node, message, true_shape) if kind == "error" else None
        return AttemptPublic(**base, verdict="error", error=kind, message=ERRORS[kind] + message,
                             **_named(*named) if named else {})
    yours = _tensors(answer, getattr(torch, got.dtype))
    if yours is None:
        return AttemptPublic(**base, verdict="error", error="crash", message="Stopped: the sandbox answered in a "
                             "form the server does not accept")
    v = judge(mode, node, yours, truth)
    return AttemptPublic(**base, verdict=v.verdict, message=v.message, diagnosis=v.diagnosis, mistake=v.mistake,
                         mistake_label=v.mistake_label, shape_ok=v.shape_ok, exact=v.exact, approx=v.approx, maxdiff=v.maxdiff, note=v.note,
                         second_batch=v.second_batch, shape=list(yours[0].shape), absdiff=v.absdiff)


# elements of the widest (batch, ...) tensor an attempt ships to the sandbox
# and back: the lecture's 32 x 64 is 2,048; this allows batch 512 at 256 hidden
MAX_CELLS = 131_072


def check_size(mlp: MLP) -> None:
    c = mlp.cfg
    cells = c.batch_size * max(c.n_hidden, mlp.vocab.size, c.block_size * c.n_embd)
    if cells > MAX_CELLS:
        raise Unprocessable(f"Derive it checks sessions up to {MAX_CELLS:,} elements a batch tensor; this one has "
                            f"batch_size {c.batch_size} x {cells // c.batch_size} = {cells:,}: make a session with "
                            "a smaller batch or n_hidden (the lecture's 32 x 64 is 2,048)")


def check_node(mode: str, node: str) -> None:
    try:
        derive.check_mode(mode, node)
    except ValueError as err:
        raise Unprocessable(str(err)) from None  # (data nodes are in no order: they have no gradient)
