"""Exercise 4: the learner's accepted fused expressions train the network,
in the sandbox (sandbox_train.py), beside the lecture's fused backward from
the same seed. Both start from a fresh model with the session's config, so
the session itself is not touched."""
from __future__ import annotations

import math

import torch

from backprop_ninja.model.graph import BY_NAME
from backprop_ninja.model.mlp import FUSED_ORDER, MLP

from ..errors import Unprocessable
from ..schemas.derive import DeriveTrainCreate, DeriveTrainPublic
from .attempts import ERRORS, SIZES, sizes
from .sandbox import Sandbox, SandboxError

CPU_S, WALL_S = 60, 120  # a training run takes ~2 ms a step in the sandbox


def check_codes(codes: dict[str, str]) -> None:
    missing = [n for n in FUSED_ORDER if n not in codes]
    extra = [n for n in codes if n not in FUSED_ORDER]
    if missing or extra:
        raise Unprocessable("codes: exercise 4 needs one expression for each node of the fused backward ("
                            f"{', '.join(FUSED_ORDER)})" + (f"; missing: {', '.join(missing)}" if missing else "")
                            + (f"; not in the fused backward: {', '.join(extra)}" if extra else ""))


def train(sandbox: Sandbox, mlp: MLP, body: DeriveTrainCreate) -> DeriveTrainPublic:
    check_codes(body.codes)
    cfg, steps = mlp.cfg, body.steps
    learner = MLP(cfg, mlp.data)  # the seed's init; then the batches the reference will draw
    batches = [learner.sample_batch() for _ in range(steps)]
    job = {
        "kind": "train", "codes": body.codes, "bn_eps": cfg.bn_eps, "sizes": sizes(mlp, cfg.batch_size),
        "params": {k: t.numpy() for k, t in learner.params.items()},
        "X": torch.stack([b[0] for b in batches]).numpy(), "Y": torch.stack([b[1] for b in batches]).numpy(),
        "lrs": [learner.lr_at(k) for k in range(steps)], "names": [*BY_NAME, *SIZES],
    }
    try:
        answer = sandbox.run(job, CPU_S, WALL_S)
    except SandboxError as err:
        return DeriveTrainPublic(steps=steps, reference=[], verdict="error", error="crash", message=str(err), losses=[])
    losses = answer.get("losses", [])
    if not (isinstance(losses, list) and len(losses) <= steps and all(isinstance(x, (int, float)) for x in losses)):
        return DeriveTrainPublic(steps=steps, reference=[], verdict="error", error="crash", losses=[],
                                 message="Stopped: the sandbox answered in a form the server does not accept")
    # the reference for as many steps as the learner's run got through (none when it did not start)
    reference = MLP(cfg, mlp.data).train(len(losses), "fused") if losses else []
    base = dict(steps=steps, reference=reference)
    diff = max((abs(a - b) for a, b in zip(losses, reference)), default=None)
    if answer.get("status") != "ok":
        kind = answer.get("status") if answer.get("status") in ERRORS else "crash"
        return DeriveTrainPublic(**base, verdict="error", error=kind, losses=losses, maxdiff=diff,
                                 message=ERRORS[kind] + str(answer.get("message", ""))[:2000])
    tail = max(1, steps // 10)
    mine, ref = sum(losses[-tail:]) / tail, sum(reference[-tail:]) / tail
    if diff is not None and diff < 1e-3:
        message = (f"Your backward trains the network as the lecture's does: over {steps} steps the two loss "
                   f"curves differ by at most {diff:.2g} (mean of the last {tail} steps: {mine:.4f}).")
    else:
        message = (f"Trained, but not like the lecture's backward: the curves part by up to {diff:.3g} "
                   f"(last {tail} steps: yours {mine:.4f}, the lecture's {ref:.4f}); one of your expressions "
                   "is right on a batch but not in training?" if math.isfinite(mine) else "Trained, but diverged.")
    return DeriveTrainPublic(**base, verdict="trained", message=message, losses=losses, maxdiff=diff)
