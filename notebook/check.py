"""`check(globals())` in the learner's own notebook: every d... variable the
learner has written, against the true gradient computed here from the
learner's own forward tensors, in the lecture's order, with the first wrong
node, its named mistake (model/mistakes.py, the catalogue of Derive it) and
the nodes wrong only because they used it.

The true gradients come from truth.py (the model's hand-written backward on
the learner's forward tensors, never their .grad); this module judges the
learner's against them, walking the nodes as the web page's whole-cell check
does (model/cell_check.py).
"""
from __future__ import annotations

import contextlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

from backprop_ninja.model import derive, mistakes
from backprop_ninja.model.cell_check import NodeCheck, cmp_numbers, in_lecture_order
from backprop_ninja.model.derive_check import judge
from backprop_ninja.model.graph import BACKWARD_ORDER, BY_NAME, Dims, Tensors
from backprop_ninja.model.hints import hints as _hints
from backprop_ninja.model.result import torch_threads
from backprop_ninja.model.views import FUSED_ORDER

from . import render
from .find import MODES, ORDERS, TITLES, CheckError, forward_of, node_name, read, read_leaves
from .truth import AUTOGRAD_ROUNDING, own_rule, true_grads, upstream  # noqa: F401 (AUTOGRAD_ROUNDING: re-exported)

STATUSES = ("correct", "wrong", "affected", "todo")


@dataclass
class Row(NodeCheck):
    """One node of the exercise, as the table shows it: the web page's NodeCheck (status "correct" | "wrong" |
    "affected" | "todo"; mistake a kind of mistakes.LABELS), and what the table adds."""
    note: str | None = None  # correct, but worth a word (a size-1 axis, a branch near zero)
    shape: tuple[int, ...] | None = None  # the learner's shape
    given: bool = False  # dloss, which the lecture's cell does not write: taken as 1


@dataclass(eq=False)
class Report:
    """What `report` found; shows itself as the table (text, and HTML in Jupyter)."""
    exercise: int
    mode: str  # "atomic" (exercise 1) or "fused" (2-4), the mistake catalogue's mode
    rows: list[Row]
    first_wrong: str | None
    dims: Dims
    dtype: str
    why: str = ""  # how the exercise was chosen, when it was not given
    values: Tensors = field(default_factory=dict, repr=False)
    true: Tensors = field(default_factory=dict, repr=False)
    yours: Tensors = field(default_factory=dict, repr=False)
    _shown_in: int | None = field(default=None, repr=False)

    @property
    def title(self) -> str:
        return TITLES[self.exercise]

    def row(self, node: str) -> Row:
        """The row of a node, by its name or its gradient's ("hprebn" or "dhprebn")."""
        node = node_name(node)
        for r in self.rows:
            if r.node == node:
                return r
        raise KeyError(f"exercise {self.exercise} has no row d{node}: its rows are "
                       f"{', '.join('d' + r.node for r in self.rows)}")

    def count(self, status: str) -> int:
        return sum(r.status == status and not r.given for r in self.rows)

    @property
    def ok(self) -> bool:
        """Nothing written is wrong (some may still be to do)."""
        return self.count("wrong") == 0 and self.count("affected") == 0

    def text(self) -> str:
        return render.text(self)

    def html(self) -> str:
        return render.html(self)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        first = f", first wrong d{self.first_wrong}" if self.first_wrong else ""
        return (f"<Report exercise {self.exercise}: {self.count('correct')} correct, {self.count('wrong')} wrong, "
                f"{self.count('affected')} affected, {self.count('todo')} to do{first}>")

    def _repr_html_(self) -> str:
        return self.html()

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(self.text())

    def metadata(self) -> dict:
        """Beside the display: what the CLI reads back from a saved notebook's outputs."""
        return {"backprop_ninja": {"kind": "check", "exercise": self.exercise, "first_wrong": self.first_wrong,
                                   **{s: self.count(s) for s in STATUSES}}}

    def display(self) -> None:
        """Show the table: in IPython as text and HTML (once per cell), else printed."""
        ip = _ipython()
        if ip is None:
            print(self.text())
            return
        from IPython.display import display
        display({"text/plain": self.text(), "text/html": self.html()}, raw=True, metadata=self.metadata())
        self._shown_in = ip.execution_count

    def _ipython_display_(self) -> None:
        # `bpn.check(globals())` as a cell's last line: check has shown it already, once is enough
        ip = _ipython()
        if ip is not None and self._shown_in == ip.execution_count:
            return
        self.display()


def _ipython():
    mod = sys.modules.get("IPython")
    try:
        return mod.get_ipython() if mod is not None else None
    except Exception:  # an IPython too old or half imported: print instead
        return None


# ---- one node ---------------------------------------------------------------------------
def _numbers(node: str, y: torch.Tensor, t: torch.Tensor) -> Row:
    """exact / approximate / maxdiff as the lecture's cmp prints them (it broadcasts a size-1 axis)."""
    row = Row(node, "wrong", shape=tuple(y.shape))
    numbers = cmp_numbers(y, t)
    if numbers is None:
        row.exact = row.approx = False
    else:
        row.exact, row.approx, row.maxdiff = numbers
    return row


def _matches(y: torch.Tensor, expected: torch.Tensor) -> bool:
    if tuple(y.shape) != tuple(expected.shape):
        if not derive.fits(tuple(y.shape), tuple(expected.shape)):
            return False
        y = y.reshape(expected.shape)
    if not bool(torch.isfinite(expected).all()):
        return bool(torch.equal(torch.isfinite(y), torch.isfinite(expected)))
    scale = float(expected.abs().max()) if expected.numel() else 0.0
    return bool(torch.allclose(y, expected, rtol=1e-3, atol=1e-5 * scale + 1e-12))


def _name(row: Row, mode: str, v: Tensors, world: Tensors, true: Tensors, y: torch.Tensor) -> None:
    """The named mistake of a wrong node, judged on its own line: against what that line should give
    from the gradients it read (`world`), and failing that against the truth."""
    verdict = judge(mode, row.node, [y], [(v, world)])
    if verdict.verdict == "correct" or (verdict.mistake is None and world is not true):
        verdict = judge(mode, row.node, [y], [(v, true)])
    if verdict.mistake:
        row.mistake, row.mistake_label, row.diagnosis = verdict.mistake, mistakes.label(verdict.mistake), verdict.diagnosis
    if verdict.shape_ok is False:
        row.message = verdict.message
    elif row.maxdiff is not None and row.maxdiff != row.maxdiff:
        row.message = f"Your d{row.node} has NaN or infinite entries: a division by zero, or an overflow?"
    else:
        row.message = f"Your d{row.node} differs from the true gradient by up to {row.maxdiff:.3g}."


# Beyond cmp's allclose: a difference this small next to the gradient's largest entry is rounding. allclose's
# fixed atol (1e-8) fails float32 gradients whose entries are near 0 once the line is computed another way
# than the truth (exercise 4's fused lines: dW2 after a few steps, maxdiff 3e-8 on entries of 1e-2).
ROUNDING = {torch.float32: 1e-5, torch.float64: 1e-12}


def _rounding(row: Row, true: torch.Tensor) -> bool:
    if row.maxdiff is None or row.maxdiff != row.maxdiff or not true.numel():
        return False
    return row.maxdiff <= ROUNDING[true.dtype] * float(true.abs().max())


def _judge_node(mode: str, node: str, y: torch.Tensor, v: Tensors, true: Tensors,
                yours: Tensors, bad: set[str]) -> Row:
    row = _numbers(node, y, true[node])
    if row.approx or _rounding(row, true[node]):
        row.status = "correct"
        gap = mistakes.incomplete(mode, node, y, v, true)  # dlogits right to rounding, a branch missing
        if gap is not None:
            row.mistake, row.note = gap
            row.mistake_label = mistakes.label(gap[0])
        return row
    ups = upstream(mode, node)
    world = {**true, **{u: yours[u] for u in ups if isinstance(yours.get(u), torch.Tensor)}}
    try:
        expected = own_rule(mode, node, {**v, "bn_eps": 1e-5}, world)
    except (RuntimeError, KeyError, IndexError):  # the learner's upstream has a shape the line cannot take
        expected = None
    used = [u for u in ups if u in bad]
    if used and expected is not None and _matches(y, expected):
        row.status, row.affected_by = "affected", used
        names = ", ".join("d" + u for u in used)
        row.message = (f"Wrong only because it uses {names}: from your {names}, your line for d{node} "
                       "gives what it should.")
        return row
    row.status = "wrong"
    _name(row, mode, v, true if expected is None else {**world, node: expected}, true, y)
    return row


def _aliased(row: Row, storage: dict[str, int]) -> None:
    """A wrong d<node> that shares its numbers with a later gradient: `dhprebn = dbndiff` without .clone(),
    then `dhprebn += ...` changed dbndiff too. (demb is a view of dembcat by right: only a wrong one is told.)"""
    mine = storage.get(row.node)
    others = [k for k, ptr in storage.items() if ptr == mine and k != row.node and k in BY_NAME]
    if mine is None or not others:
        return
    later = [k for k in BACKWARD_ORDER[BACKWARD_ORDER.index(row.node) + 1:] if k in others]
    other = (later or others)[0]
    row.mistake, row.mistake_label, row.diagnosis = "in_place", mistakes.label("in_place"), mistakes.in_place(row.node, other)


def classify(exercise: int, v: Tensors, true: Tensors, yours: dict,
             storage: dict[str, int] | None = None) -> tuple[list[Row], str | None]:
    """Every node of the exercise in the lecture's order, and the first wrong one: the web page's walk
    (model.cell_check.in_lecture_order), each node judged on the learner's tensors."""
    mode = MODES[exercise]

    def judge_node(node: str, bad: set[str]) -> Row | None:
        y = yours.get(node)
        if y is None:
            return None
        if isinstance(y, str):  # not a float tensor: wrong, and the sentence says why
            row = Row(node, "wrong", exact=False, approx=False, message=y)
        else:
            row = _judge_node(mode, node, y, v, true, yours, bad)
        if row.status == "wrong" and row.mistake is None:
            _aliased(row, storage or {})
        return row

    def unassigned(node: str) -> Row:
        given = exercise == 1 and node == "loss"  # backprop starts at dloss = 1; the cell does not write it
        return Row(node, "correct" if given else "todo", given=given,
                   message="dloss = 1: backprop starts here." if given else f"d{node} is not written yet.")

    return in_lecture_order(ORDERS[exercise], judge_node, unassigned)


# ---- the API -----------------------------------------------------------------------------
def _caller(depth: int) -> dict:
    frame = sys._getframe(depth + 1)
    return {**frame.f_globals, **frame.f_locals}


def _build(ns: Mapping | None, exercise: int | None, tensors: dict, depth: int) -> Report:
    caller = _caller(depth + 1) if ns is None else {}
    # One torch thread to read and judge: these tensors hold a few thousand numbers, and a thread pool costs
    # more than it gains; on a busy machine it stalls (measured at lecture size: p95 6 ms on one thread, 220
    # ms on two). The truth on torch's own count: a matrix product can round differently on another thread
    # count (h at n_hidden 33, batch 7), and the truth is to be autograd's in the learner's session.
    with torch_threads(1):
        found = read(ns, tensors, caller, exercise)
    true = true_grads(found.values)
    with torch_threads(1):
        rows, first = classify(found.exercise, found.values, true, found.yours, found.storage)
    yours = {k: y for k, y in found.yours.items() if isinstance(y, torch.Tensor)}
    return Report(found.exercise, MODES[found.exercise], rows, first, found.dims,
                  str(found.dtype).removeprefix("torch."), found.why, found.values, true, yours)


def report(ns: Mapping | None = None, exercise: int | None = None, *, _depth: int = 1, **tensors) -> Report:
    """Check the learner's gradients and return the Report (without showing it).

    `ns`: the notebook's names, `globals()`. Left out, the caller's globals are read.
    Keyword arguments override names of `ns`: `report(dlogprobs=dlogprobs, dprobs=dprobs)` checks
    exactly the gradients passed (the namespace's other d... variables are left out), and the forward
    tensors, the batch and the parameters come from the keywords, else from `ns`, else from the
    caller's globals. In exercise 4 the `grads` list (C, W1, b1, W2, b2, bngain, bnbias order, or
    matched to `parameters`) stands in for d-variables that are not there.
    `exercise`: 1, 2, 3 or 4; left out, it is read from the namespace (see find.py): 2 when
    `loss_fast` is defined, 3 when `hpreact_fast` is, 4 when the forward in scope is exercise 4's.
    Raises CheckError (a sentence, no traceback in IPython) for what it cannot use: a forward
    tensor missing, of another batch, size or dtype, a parameter changed since the forward."""
    try:
        return _build(ns, exercise, tensors, _depth)
    except CheckError as err:
        raise CheckError(str(err)) from None


def check(ns: Mapping | None = None, exercise: int | None = None, *, _depth: int = 1, **tensors) -> Report:
    """`report(...)`, shown: in Jupyter as a table (HTML, and text for the CLI and plain
    terminals); printed elsewhere. Returns the Report; a cell ending in check shows it once.

    Call it after the backward lines. In exercise 4's training loop, call it before the update
    (the check recomputes each forward line from the parameters, and an update changes them),
    and on a few steps only, e.g. `if i < 3: bpn.check(globals())`: each call shows a table."""
    out = report(ns, exercise, _depth=_depth + 1, **tensors)
    out.display()
    return out


class Hint(str):
    """A hint: a str that a notebook shows as plain text (no quotes, no \\n)."""

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(str(self))


def hint(node: str, level: int = 1, mode: str | None = None, ns: Mapping | None = None) -> Hint:
    """Hint `level` (1 the shape, 2 where the node is used, 3 the local derivative) for d<node>:
    the hints of Derive it, for the notebook's sizes when `ns` (globals()) is given, else for the
    lecture's (batch 32, n_embd 10, n_hidden 64, block_size 3, vocab 27). `mode`: "atomic"
    (exercise 1) or "fused" (exercises 2 and 3: dlogits and dhprebn in one step); left out, it is
    "atomic", or read from `ns` (fused from exercise 2 on)."""
    name = node_name(node)
    if not isinstance(name, str) or name not in BY_NAME or BY_NAME[name].kind == "data":
        raise CheckError(f"No gradient {node!r} in the lecture: the names are "
                         f"{', '.join('d' + n for n in ORDERS[1])}.") from None
    if level not in (1, 2, 3):
        raise CheckError(f"level is 1 (the shape), 2 (where {name} is used) or 3 (the local derivative); "
                         f"got {level!r}.") from None
    dims, dtype, exercise = Dims(), "float32", 1
    if ns is not None:  # the sizes of the parameters and the batch there, else the lecture's
        with contextlib.suppress(CheckError):
            _, dims, dt = read_leaves(ns)
            dtype = str(dt).removeprefix("torch.")
            exercise = forward_of(ns, None)[0]
    if mode is None:
        mode = "fused" if exercise > 1 and name in FUSED_ORDER else "atomic"
    if mode not in MODES.values():
        raise CheckError(f"mode is 'atomic' (exercise 1) or 'fused' (exercises 2 and 3); got {mode!r}.") from None
    if name not in derive.ORDER[mode]:
        raise CheckError(f"d{name} is not one of the fused backward's gradients "
                         f"({', '.join('d' + n for n in FUSED_ORDER)}): use mode='atomic'.") from None
    return Hint(_hints(mode, name, dims, dtype)[level - 1])

