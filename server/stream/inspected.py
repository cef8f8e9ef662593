"""The inspector's tensors for a stream frame: what GET /tensors/{name}
gives, as frame entries, so a key press needs no second request.

The node is the one the page shows: a fixed one, or (node None) the one the
backward pass reached last, the rule `inspectedNode` of frontend/inspector.js
follows for a page that has not pinned a node."""
from __future__ import annotations

from backprop_ninja.model import MLP
from backprop_ninja.model.graph import BY_NAME, DATA, branches

from ..schemas.sessions import TensorPublic
from ..schemas.stream import InspectSpec
from .frames import Entry


def followed(m: MLP) -> str:
    """The backward pass's newest gradient, else the next node, else the loss."""
    if m.computed:
        return m.computed[-1]
    return m.remaining[0] if m.remaining else "loss"


def entries(m: MLP, spec: InspectSpec) -> tuple[str, list[Entry]]:
    """(node, its entries): value, grad, the per-consumer parts of a
    two-branch node (atomic and lecture views) and, with spec.diff,
    |grad - autograd's grad| in the session's dtype. A node with no value
    yet (an activation before the forward) has none."""
    name = spec.node or followed(m)
    value = m.params[name] if name in m.params else m.values.get(name)
    if value is None:
        return name, []
    out: list[Entry] = [(name, "value", None, value)]
    grad = m.grad(name)
    if grad is None:
        return name, out
    out.append((name, "grad", None, grad))
    st = m.stepper
    if branches(name) == 2 and m.mode != "fused" and st is not None and name in st.contributions:
        out += [(name, "contribution", c, t) for c, t in st.contributions[name].items()]
    if spec.diff and st is not None and BY_NAME[name].kind != DATA:
        ref = m.reference().get(name)
        if ref is not None:
            out.append((name, "absdiff", None, (grad - ref).abs()))
    return name, out


def tensor(m: MLP, name: str, reference: bool = False) -> TensorPublic | None:
    """The node's entries as GET /tensors/{name} answers them, as nested lists
    (`reference`: and autograd's gradient); None before it has a value."""
    _, got = entries(m, InspectSpec(node=name))
    if not got:
        return None
    lists = {(field, branch): t.tolist() for _, field, branch, t in got}
    ref = None
    if reference and m.stepper is not None and BY_NAME[name].kind != DATA:
        ref = m.reference().get(name)
    return TensorPublic(name=name, shape=list(got[0][3].shape), value=lists["value", None],
                        grad=lists.get(("grad", None)), reference=None if ref is None else ref.tolist(),
                        contributions={b: v for (f, b), v in lists.items() if f == "contribution"} or None)
