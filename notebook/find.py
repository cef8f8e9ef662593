"""Read the lecture's names out of a learner's namespace (globals() or keyword
arguments): the batch, the parameters, the forward tensors and the d... variables.

Everything is read from the tensors themselves: the sizes (batch n from Xb,
block size from Xb, n_embd and vocab from C, n_hidden from W1), the dtype, and
which exercise the namespace is at. Whatever cannot be used raises CheckError
with a sentence that says what is wrong and what to do; it shows in a notebook
as that sentence, without a traceback.

How the exercise is told (when `exercise` is not given):
- the forward in scope is exercise 1's (every atomic tensor, emb to loss, of
  this batch and these sizes) -> 3 if `hpreact_fast` of this forward is
  defined (the lecture's exercise 3 cell), else 2 if `loss_fast` is (its
  exercise 2 cell), else 1;
- else the fused forward of exercise 4 (emb, embcat, hprebn, bnvar_inv, bnraw,
  hpreact, h, logits, loss) -> 4: in a kernel that ran exercise 1 before, its
  counts, probs... are still there but belong to another batch or model.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from backprop_ninja.model.graph import BACKWARD_ORDER, BY_NAME, FORWARD_ORDER, PARAMS, Dims, Tensors
from backprop_ninja.model.views import FUSED_ORDER

LEAVES = ("Xb", "Yb") + PARAMS
ATOMIC_FORWARD = FORWARD_ORDER  # emb ... loss, the lecture's exercise-1 forward cell
# exercise 4's forward: BatchNorm in a few lines and F.cross_entropy; its mean is called bnmean there
FUSED_FORWARD = ("emb", "embcat", "hprebn", "bnvar_inv", "bnraw", "hpreact", "h", "logits", "loss")
ALIASES = {"bnmeani": ("bnmeani", "bnmean")}
# exercise 1's own names: exercise 4's forward has none of them (its mean is bnmean, and it has a bnvar too)
ATOMIC_ONLY = tuple(k for k in ATOMIC_FORWARD if k not in FUSED_FORWARD and k != "bnvar")
# the nodes each exercise checks, in the order the lecture writes them
ORDERS: dict[int, tuple[str, ...]] = {
    1: BACKWARD_ORDER,
    2: ("logits",),
    3: ("hpreact", "hprebn"),  # exercise 3's line reads exercise 1's dhpreact: shown with it
    4: FUSED_ORDER,
}
MODES = {1: "atomic", 2: "fused", 3: "fused", 4: "fused"}
TITLES = {1: "Exercise 1: the backward pass, one tensor at a time",
          2: "Exercise 2: dlogits in one step (cross-entropy)",
          3: "Exercise 3: dhprebn in one line (BatchNorm)",
          4: "Exercise 4: this training step's gradients"}
GRAD_NAMES = {"d" + n for n in BACKWARD_ORDER}
# other names a notebook of the lecture has, which check reads when they are passed
EXTRAS = {"grads", "parameters", "n", "loss_fast", "hpreact_fast", "bnmean", "lr", "g"}
# lines that read a parameter: a mismatch there usually means an update ran after the forward
_READS_PARAMS = {"emb", "hprebn", "hpreact", "logits"}


class CheckError(Exception):
    """What check cannot use, in a sentence or two. In IPython it shows as that
    sentence alone, not a traceback (the `_render_traceback_` hook)."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[31mCheckError\x1b[0m: {self}"]


@dataclass
class Found:
    """What check read from the namespace."""
    exercise: int
    why: str  # how the exercise was chosen, one sentence ("" when given)
    values: Tensors  # leaves and every atomic forward tensor (the learner's, or filled in from them)
    dims: Dims
    dtype: torch.dtype
    yours: dict[str, torch.Tensor | str] = field(default_factory=dict)  # a tensor, or why it is unusable
    storage: dict[str, int] = field(default_factory=dict)  # where each d-tensor's numbers live (aliases)


def node_name(name):
    """The node a name stands for: "dhprebn" (its gradient's name) and "hprebn" are both "hprebn"; anything
    else comes back as it is, for the caller to refuse with its own sentence."""
    return name[1:] if isinstance(name, str) and name.startswith("d") and name[1:] in BY_NAME else name


def names_list(names) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _detach(t: torch.Tensor) -> torch.Tensor:
    return t.detach().cpu()


def read_leaves(ns: Mapping) -> tuple[Tensors, Dims, torch.dtype]:
    """Xb, Yb and the seven parameters, checked: types, dtypes, shapes; and the sizes they imply."""
    missing = [k for k in LEAVES if k not in ns]
    if missing:
        if len(missing) == len(LEAVES):
            raise CheckError("No forward pass in this namespace: none of Xb, Yb, C, W1, b1, W2, b2, bngain, "
                             "bnbias is defined. Run the notebook's cells from the top (the parameters, the "
                             "batch and the forward cell) first, then check.")
        raise CheckError(f"{names_list(missing)} {'is' if len(missing) == 1 else 'are'} not defined: run the "
                         "cells that make the parameters and the batch, and the forward cell, first (check "
                         "reads them by the lecture's names: Xb, Yb, C, W1, b1, W2, b2, bngain, bnbias).")
    for k in LEAVES:
        if not isinstance(ns[k], torch.Tensor):
            raise CheckError(f"{k} is a {type(ns[k]).__name__}, not a torch tensor: check reads the lecture's "
                             f"{k} (rerun the cell that makes it).")
    v = {k: _detach(ns[k]) for k in LEAVES}
    for k in ("Xb", "Yb"):
        if v[k].is_floating_point() or v[k].dtype == torch.bool:
            raise CheckError(f"{k} holds {str(v[k].dtype).removeprefix('torch.')} numbers: it must hold "
                             "character indices, integers (torch.int64 as the lecture builds it).")
    dtype = v["C"].dtype
    if dtype not in (torch.float32, torch.float64):
        raise CheckError(f"C is {str(dtype).removeprefix('torch.')}: check works in float32 (the lecture's) "
                         "or float64.")
    other = [k for k in PARAMS if v[k].dtype != dtype]
    if other:
        raise CheckError(f"{names_list(other)} {'is' if len(other) == 1 else 'are'} "
                         f"{str(v[other[0]].dtype).removeprefix('torch.')} but C is "
                         f"{str(dtype).removeprefix('torch.')}: use one dtype for all seven parameters.")
    if v["Xb"].dim() != 2 or v["C"].dim() != 2 or v["W1"].dim() != 2:
        bad = next(k for k in ("Xb", "C", "W1") if v[k].dim() != 2)
        raise CheckError(f"{bad} has shape {tuple(v[bad].shape)}: the lecture's {bad} is a matrix "
                         f"({'batch, block_size' if bad == 'Xb' else 'vocab, n_embd' if bad == 'C' else 'block_size*n_embd, n_hidden'}).")
    n, block = v["Xb"].shape
    dims = Dims(n=n, block=block, embd=v["C"].shape[1], hidden=v["W1"].shape[1], vocab=v["C"].shape[0])
    for k in PARAMS + ("Yb",):
        want = BY_NAME[k].shape(dims)
        if tuple(v[k].shape) != tuple(want):
            raise CheckError(f"{k} has shape {tuple(v[k].shape)}, but with {_sizes(dims)} (read from Xb, C "
                             f"and W1) it should be {tuple(want)}: are they from the same run? Rerun the cells "
                             "from the parameters on.")
    if n < 2:
        raise CheckError("The batch has one example: BatchNorm's variance divides by n-1, so n must be at least 2.")
    for k in ("Xb", "Yb"):
        if v[k].numel() and (int(v[k].min()) < 0 or int(v[k].max()) >= dims.vocab):
            raise CheckError(f"{k} holds an index outside 0..{dims.vocab - 1}, the rows of C: is it from "
                             "another word list?")
    return v, dims, dtype


def _sizes(d: Dims) -> str:
    return f"batch {d.n}, block_size {d.block}, n_embd {d.embd}, n_hidden {d.hidden} and vocab {d.vocab}"


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    # the learner's line and ours may compute the same tensor in another way (addmm, var): rounding only
    scale = float(b.abs().max()) if b.numel() else 0.0
    return bool(torch.allclose(a, b, rtol=1e-4, atol=1e-5 * scale + 1e-12))


def _rows_of(emb: torch.Tensor, c: torch.Tensor) -> bool:
    """Every row of emb is a row of C (bit-equal): an embedding of some batch, if not of this Xb."""
    rows = emb.reshape(-1, c.shape[1])
    return bool((rows[:, None, :] == c[None, :, :]).all(-1).any(-1).all())


def _problem(name: str, t, ref: torch.Tensor, dims: Dims, dtype: torch.dtype,
             c: torch.Tensor | None = None) -> str | None:
    """Why the learner's forward tensor `t` cannot be this forward's `name`, or None (`c`: C, to tell a new
    batch from an update at emb)."""
    if not isinstance(t, torch.Tensor):
        return f"{name} is a {type(t).__name__}, not a torch tensor: rerun the forward cell."
    if tuple(t.shape) != tuple(ref.shape):
        return (f"{name} has shape {tuple(t.shape)}, but with {_sizes(dims)} it should be {tuple(ref.shape)}: it "
                "is from another run (other sizes): rerun the forward cell.")
    if t.dtype != dtype:
        return (f"{name} is {str(t.dtype).removeprefix('torch.')} but the parameters are "
                f"{str(dtype).removeprefix('torch.')}: rerun the forward cell after changing the dtype.")
    if not _close(_detach(t), ref):
        line = BY_NAME[name].forward
        then = (" The parameters changed after the forward pass ran (an update?): call check after the backward "
                "lines and before the update, or rerun the forward cell." if name in _READS_PARAMS else
                " Is it from another batch, or was the line changed? Rerun the forward cell as the lecture "
                "writes it.")
        if name == "emb" and c is not None and _rows_of(_detach(t), c):
            then = (" Every row of it is a row of C, of other characters: a new batch (Xb) was drawn after the "
                    "forward pass ran. Rerun the forward cell after drawing the batch, then the backward cell.")
        return f"{name} does not follow from the tensors it is made of by the lecture's line `{line}`.{then}"
    return None


def assemble(ns: Mapping, leaves: Tensors, dims: Dims, dtype: torch.dtype,
             required: tuple[str, ...]) -> tuple[Tensors, str | None, list[str], str | None]:
    """(values, the first problem or None, missing names, the name with the problem): every atomic forward tensor, the
    learner's where `required` (and where another is present and belongs to this forward),
    recomputed from the learner's inputs elsewhere."""
    v: Tensors = dict(leaves)
    missing = [k for k in required if not any(a in ns for a in ALIASES.get(k, (k,)))]
    if missing:
        return v, None, missing, None
    for name in ATOMIC_FORWARD:
        ref = BY_NAME[name].fwd(v)
        v[name] = ref
        problem = None
        for alias in (a for a in ALIASES.get(name, (name,)) if a in ns):  # the first that fits
            problem = _problem(name, ns[alias], ref, dims, dtype, c=v["C"])
            if problem is None:
                v[name] = _detach(ns[alias])
                break
        if problem is not None and name in required:
            return v, problem, [], name
    return v, None, [], None


def _fresh(ns: Mapping, name: str, like: torch.Tensor) -> bool:
    t = ns.get(name)
    return isinstance(t, torch.Tensor) and tuple(t.shape) == tuple(like.shape) and _close(_detach(t).to(like.dtype), like)


def forward_of(ns: Mapping, exercise: int | None) -> tuple[int, str, Tensors, Dims, torch.dtype]:
    """(exercise, why, values, dims, dtype) for the namespace."""
    leaves, dims, dtype = read_leaves(ns)
    if exercise is not None:
        required = ATOMIC_FORWARD if exercise == 1 else FUSED_FORWARD  # 2 and 3 need no more than 4
        v, problem, missing, _ = assemble(ns, leaves, dims, dtype, required)
        _raise(problem, missing, exercise)
        return exercise, "", v, dims, dtype
    v, problem, missing, bad = assemble(ns, leaves, dims, dtype, ATOMIC_FORWARD)
    if problem is None and not missing:
        if _fresh(ns, "hpreact_fast", v["hpreact"]):
            return 3, "hpreact_fast (exercise 3's forward) is defined", v, dims, dtype
        if _fresh(ns, "loss_fast", v["loss"]):
            return 2, "loss_fast (exercise 2's forward) is defined", v, dims, dtype
        return 1, "", v, dims, dtype
    atomic_only = [k for k in ATOMIC_ONLY if k in ns]
    if atomic_only and missing:  # exercise 1's forward, with names missing
        _raise(None, missing, 1)
    v4, problem4, missing4, _ = assemble(ns, leaves, dims, dtype, FUSED_FORWARD)
    fused = problem4 is None and not missing4
    # exercise 4's loop runs under no_grad and names its mean bnmean; exercise 1's forward tracks gradients
    looks4 = fused and (not atomic_only or getattr(ns.get("logits"), "grad_fn", 0) is None
                        or _fresh(ns, "bnmean", v4["bnmeani"]))
    if fused and looks4:
        why = ("the forward pass in scope is exercise 4's: " +
               ("there are no counts, probs... of exercise 1" if not atomic_only else
                "the counts, probs... in scope belong to another batch or model"))
        return 4, why, v4, dims, dtype
    if fused:  # exercise 1's forward with a line that does not fit, or exercise 4 written another way
        raise CheckError(f"{problem} (If this is exercise 4's training loop, pass exercise=4.)")
    if not any(k in ns for k in ATOMIC_FORWARD + ("bnmean",)):
        raise CheckError("No forward pass yet: emb, embcat, hprebn ... logits, loss are not defined. Run the "
                         "forward cell first, then check.")
    if atomic_only and bad in FUSED_FORWARD:  # at exercise 1, or a problem both forwards share
        _raise(problem, missing, 1)
    _raise(problem4, missing4, 4)
    raise AssertionError("unreachable")


def _raise(problem: str | None, missing: list[str], exercise: int) -> None:
    if problem is not None:
        raise CheckError(problem)
    if missing:
        where = " (in exercise 4: the forward lines of the training loop)" if exercise == 4 else ""
        raise CheckError(f"{names_list(missing)} {'is' if len(missing) == 1 else 'are'} not defined: run "
                         f"the forward cell first{where}; check reads the forward pass by the lecture's names.")


# ---- the learner's gradients ---------------------------------------------------------
def _as_tensor(name: str, x, dtype: torch.dtype) -> torch.Tensor | str:
    """The learner's d-variable as a tensor of the forward's dtype, or why it cannot be one."""
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return torch.tensor(float(x), dtype=dtype)
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        return f"{name} is a {type(x).__name__}, not a tensor."
    if not x.is_floating_point():
        return (f"{name} holds {str(x.dtype).removeprefix('torch.')} numbers: a gradient is a float tensor "
                "(an integer one-hot needs .to(demb.dtype), or .float(), before the product).")
    return _detach(x).to(dtype)


def _from_grads_list(src: Mapping) -> dict[str, object]:
    """Exercise 4's `grads = [dC, dW1, db1, dW2, db2, dbngain, dbnbias]`, by parameter: matched to
    `parameters` by identity when it is there, else in the lecture's order."""
    grads = src.get("grads")
    if not isinstance(grads, (list, tuple)) or len(grads) != len(PARAMS):
        return {}
    params = src.get("parameters")
    if isinstance(params, (list, tuple)) and len(params) == len(PARAMS):
        out = {}
        for p, gr in zip(params, grads):
            name = next((k for k in PARAMS if src.get(k) is p), None)
            if name is not None:
                out[name] = gr
        return out
    return dict(zip(PARAMS, grads))


def gradients(src: Mapping, exercise: int, dtype: torch.dtype) -> dict[str, torch.Tensor | str]:
    """{node: the learner's d<node> (a tensor) or why it is unusable}; nodes not written are left out
    (None, as the lecture's templates leave them, counts as not written)."""
    out: dict[str, torch.Tensor | str] = {}
    listed = _from_grads_list(src) if exercise == 4 else {}
    for node in ORDERS[exercise]:
        x = src.get("d" + node)
        if x is None:
            x = listed.get(node)
        if x is not None:
            out[node] = _as_tensor("d" + node, x, dtype)
    return out


# ---- gradients of an earlier batch -----------------------------------------------------
# The forward cell run again (a new batch) after the backward cell leaves every d... of the old batch in the
# namespace: judged against the new batch, they would all be "wrong" for a reason no mistake names. The first
# gradient tells: the lecture's dlogprobs is -1/n at (i, Yb[i]) and 0 elsewhere, and dlogits is negative at
# (i, Yb[i]) alone. Those marks at other labels in most rows, and the rest of the numbers not this forward's
# either (a learner indexing other labels in the new batch's forward is a mistake, judged as one), say: old batch.
def _float(x, like: torch.Tensor) -> torch.Tensor | None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or tuple(x.shape) != tuple(like.shape):
        return None
    return _detach(x).to(like.dtype)


def _off_labels(cols: torch.Tensor, yb: torch.Tensor) -> bool:
    return 2 * int((cols != yb).sum()) >= yb.numel() > 0


def _stale_dlogprobs(src: Mapping, v: Tensors) -> bool:
    d = _float(src.get("dlogprobs"), v["logprobs"])
    if d is None or not bool(((d != 0).sum(1) == 1).all()):
        return False
    n, cols = d.shape[0], (d != 0).to(torch.int8).argmax(1)
    marks = d[torch.arange(n), cols]
    if not torch.allclose(marks, torch.full_like(marks, -1.0 / n)) or not _off_labels(cols, v["Yb"]):
        return False
    dprobs = _float(src.get("dprobs"), v["probs"])  # made from this forward's probs: a mistake of this batch
    return dprobs is None or not _close(dprobs, d / v["probs"])


def _stale_dlogits(src: Mapping, v: Tensors) -> bool:
    d = _float(src.get("dlogits"), v["logits"])
    if d is None or not bool(((d < 0).sum(1) == 1).all()):
        return False
    n, cols = d.shape[0], (d < 0).to(torch.int8).argmax(1)
    if not _off_labels(cols, v["Yb"]):
        return False
    marks = torch.zeros_like(d)
    marks[torch.arange(n), cols] = 1.0 / n
    return not _close(d + marks, torch.softmax(v["logits"], 1) / n)  # softmax of this forward's logits: a mistake


def stale(src: Mapping, v: Tensors, exercise: int) -> str | None:
    """The sentence for gradients of an earlier forward pass (another batch), or None."""
    # exercise 4's loop leaves exercise 1's dlogprobs of another model in scope: only its own dlogits count there
    # (exercise 2 reads no gradient of exercise 1's cell; exercise 3's dhpreact comes out of it)
    tests = (("dlogits", _stale_dlogits),) if exercise in (2, 4) else (("dlogprobs", _stale_dlogprobs),
                                                                       ("dlogits", _stale_dlogits))
    for name, test in tests:
        if test(src, v):
            return (f"Your {name} is from an earlier forward pass: it marks the labels of another batch, not this "
                    "batch's Yb. The forward cell ran again (a new batch) after your backward lines: rerun your "
                    "backward cell after the forward cell, then check.")
    return None


def read(ns: Mapping | None, tensors: Mapping, caller: Mapping, exercise: int | None) -> Found:
    """Everything check needs. `ns` is globals() (or None: the caller's globals are used);
    keyword `tensors` override it, and when they hold any d-variable, only those are checked."""
    if ns is not None and not isinstance(ns, Mapping):
        raise CheckError(f"check takes globals() (a dict of the notebook's names) or keyword arguments "
                         f"such as dlogprobs=dlogprobs; it got a {type(ns).__name__}.")
    if exercise is not None and exercise not in ORDERS:
        raise CheckError(f"exercise is 1, 2, 3 or 4 (the lecture's four exercises); got {exercise!r}.")
    unknown = [k for k in tensors if k not in GRAD_NAMES and k not in BY_NAME and k not in EXTRAS]
    if unknown:
        raise CheckError(f"{names_list(unknown)}: not a name of the lecture's notebook. Gradients are d plus a "
                         f"node's name (dlogprobs, dprobs, ... dC); forward tensors and parameters go by their "
                         "own names (logits, W1, ...).")
    merged = {**(caller if ns is None else ns), **tensors}
    ex, why, values, dims, dtype = forward_of(merged, exercise)
    own = [k for k in tensors if k in GRAD_NAMES or k == "grads"]
    if own and not any(k == "grads" or k[1:] in ORDERS[ex] for k in own):
        raise CheckError(f"{names_list(own)} {'is' if len(own) == 1 else 'are'} not part of exercise {ex} "
                         f"({', '.join('d' + n for n in ORDERS[ex])}): pass exercise=1 to check exercise 1's "
                         "gradients.")
    src = merged
    if own:  # only the gradients passed: the namespace's own d-variables are not this call's
        src = {k: x for k, x in merged.items() if k not in GRAD_NAMES and k != "grads"}
        src.update({k: tensors[k] for k in own})
    old = stale(src, values, ex)
    if old is not None:
        raise CheckError(old)
    found = Found(ex, why, values, dims, dtype)
    found.yours = gradients(src, ex, dtype)
    found.storage = {k[1:]: x.untyped_storage().data_ptr() for k, x in src.items()
                     if k in GRAD_NAMES and isinstance(x, torch.Tensor) and x.device.type == "cpu"}
    return found
