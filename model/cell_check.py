"""Judge a whole cell in lecture order: which node is the first wrong one,
and which later nodes are wrong only because they used a wrong gradient.

Each node comes with two runs of the learner's cell (made in the sandbox):
- chained: the cell as written, each line seeing the gradients the cell's
  earlier lines made (what the notebook's cmp lines print at the end);
- isolated: the same lines, but every gradient a line reads from upstream of
  its node replaced by the true one, so a node is judged on its own lines.
A node wrong in the chained run but right in isolation is "affected": its own
lines are right, it used a wrong gradient. Pure torch, like derive_check.

The notebook's check (notebook/check.py) judges with the same pieces: the
loop in lecture order (`in_lecture_order`), cmp's numbers (`cmp_numbers`),
NodeCheck (its Row adds what a table shows), mistakes.in_place. Only its
"right on its own" test differs: it has the learner's tensors, not their
lines, so a node's own rule is applied to the learner's upstream gradients."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from . import derive, mistakes
from .derive_check import Verdict, judge
from .graph import Tensors

Result = list[torch.Tensor] | str | None  # both batches' d<node>, an error message, or not assigned


@dataclass(frozen=True)
class Run:
    """One node of the cell as the sandbox ran it."""
    chained: Result
    isolated: Result
    line: int | None = None  # the first line that assigns d<node>
    reads: tuple[str, ...] = ()  # nodes whose gradients its lines read
    changed: bool = False  # in the chained run, a later line changed d<node> in place


@dataclass
class NodeCheck:
    node: str
    status: str  # "correct" | "wrong" | "affected" | "missing" | "error" (the notebook: "todo" for missing)
    message: str = ""
    mistake: str | None = None
    mistake_label: str | None = None
    diagnosis: str | None = None
    exact: bool | None = None
    approx: bool | None = None
    maxdiff: float | None = None
    affected_by: list[str] = field(default_factory=list)
    line: int | None = None


@dataclass
class CellCheck:
    mode: str
    nodes: list[NodeCheck]
    first_wrong: str | None
    solved: int
    total: int
    message: str


def _with(check: NodeCheck, v: Verdict | None, cmp: Verdict | None = None) -> NodeCheck:
    """The mistake from `v`; exact / approx / maxdiff from `cmp` (the chained run: what cmp prints)."""
    if v is not None and v.mistake:
        check.mistake, check.mistake_label, check.diagnosis = v.mistake, mistakes.label(v.mistake), v.diagnosis
    if cmp is not None:
        check.exact, check.approx, check.maxdiff = cmp.exact, cmp.approx, cmp.maxdiff
    return check


def _error(node: str, message: str, truth: list[tuple[Tensors, Tensors]]) -> NodeCheck:
    out = NodeCheck(node, "error", f"Your lines for d{node} failed: {message}")
    named = mistakes.product_error(node, message, list(truth[0][1][node].shape))
    if named is not None:
        out.mistake, out.diagnosis = named
        out.mistake_label = mistakes.label(out.mistake)
    return out


def _alone_right(node: str, run: Run) -> str:
    """Why a node whose own lines are right is wrong at the end of the cell, nothing upstream wrong."""
    if run.changed:
        return f"Your lines for d{node} are right, but d{node} did not keep their result. {mistakes.in_place(node)}"
    if isinstance(run.chained, str):
        return (f"Your lines for d{node} are right with the true gradients upstream, but in your cell they "
                f"failed: {run.chained}")
    return (f"Your lines for d{node} are right with the true gradients upstream, but in your cell they "
            "read a gradient that is not right where they run (assigned later, or changed since).")


def cmp_numbers(y: torch.Tensor, true: torch.Tensor) -> tuple[bool, bool, float] | None:
    """(exact, approximate, maxdiff) as the lecture's cmp prints them, which broadcasts a size-1 axis
    (derive.fits); None when the shapes do not fit at all."""
    if tuple(y.shape) != tuple(true.shape):
        if not derive.fits(tuple(y.shape), tuple(true.shape)):
            return None
        y = y.reshape(true.shape)
    diff = (y - true).abs()
    return bool(torch.equal(y, true)), bool(torch.allclose(y, true)), float(diff.max()) if diff.numel() else 0.0


def _cmp(yours: list[torch.Tensor] | str | None, truth: list[tuple[Tensors, Tensors]], node: str) -> Verdict | None:
    """The cmp numbers alone (exact, approx, maxdiff), without naming a mistake: a judge
    of every wrong result would look for a named mistake in each affected node too, and
    that is most of the time a cell with an early mistake takes."""
    if not isinstance(yours, list):
        return None
    numbers = [cmp_numbers(y, g[node]) for y, (_, g) in zip(yours, truth)]
    if any(x is None for x in numbers):
        return Verdict("wrong", "", shape_ok=False)
    exact, _, maxdiff = numbers[0]  # cmp's columns: the first batch's; approximate on both
    return Verdict("wrong", "", shape_ok=True, exact=exact, approx=all(x[1] for x in numbers), maxdiff=maxdiff)


def check_node(mode: str, node: str, run: Run, truth: list[tuple[Tensors, Tensors]], bad: set[str]) -> NodeCheck:
    """One node that the cell assigns, given which nodes before it are not right."""
    chained = _cmp(run.chained, truth, node)
    if chained is not None and chained.approx:  # right on both batches: the judge says how, and any note
        chained = judge(mode, node, run.chained, truth)
        message = chained.message if chained.note is None else f"{chained.message} {chained.note}"
        return _with(NodeCheck(node, chained.verdict, message, line=run.line), chained, chained)
    alone = judge(mode, node, run.isolated, truth) if isinstance(run.isolated, list) else None
    used = [u for u in run.reads if u in bad]
    if alone is not None and alone.verdict == "correct":
        if not used:  # it reads no wrong gradient: nothing upstream to blame, its own lines say why
            out = _with(NodeCheck(node, "wrong", _alone_right(node, run), line=run.line), None, chained)
            if run.changed:
                out.mistake, out.mistake_label, out.diagnosis = "in_place", mistakes.label("in_place"), \
                    mistakes.in_place(node)
            return out
        names = ", ".join("d" + u for u in used)
        return _with(NodeCheck(node, "affected", f"Wrong in your cell only because it uses {names}: with the "
                               f"true {names} your lines for d{node} are right.", affected_by=used,
                               line=run.line), None, chained)
    v = alone or (judge(mode, node, run.chained, truth) if chained is not None else None)
    if v is None:  # no result in either run: its own lines fail, even with the true gradients upstream
        out = _error(node, run.isolated if isinstance(run.isolated, str) else str(run.chained), truth)
        out.line = run.line
        return out
    return _with(NodeCheck(node, "wrong", v.message, line=run.line), v, chained)


def in_lecture_order(order: tuple[str, ...], judge_node: Callable[[str, set[str]], NodeCheck | None],
                     unassigned: Callable[[str], NodeCheck]) -> tuple[list[NodeCheck], str | None]:
    """The one walk of a cell's judgment, the web page's and the notebook's: each node in `order`, judged by
    `judge_node(node, bad)` (None: the learner has not written it) knowing the nodes before it that are not
    right; (every node's check, the first wrong one)."""
    nodes: list[NodeCheck] = []
    first_wrong: str | None = None
    bad: set[str] = set()  # nodes not right in the learner's run
    for node in order:
        check = judge_node(node, bad)
        if check is None:
            nodes.append(unassigned(node))
            continue
        if check.status != "correct":
            bad.add(node)
            if first_wrong is None and check.status in ("wrong", "error"):
                first_wrong = node
        nodes.append(check)
    return nodes, first_wrong


def check_cell(mode: str, runs: dict[str, Run], truth: list[tuple[Tensors, Tensors]]) -> CellCheck:
    """Every node of the mode's order, in lecture order. `runs` has the nodes the cell assigns."""
    order = derive.ORDER[mode]

    def judge_node(node: str, bad: set[str]) -> NodeCheck | None:
        run = runs.get(node)
        return None if run is None or run.chained is None else check_node(mode, node, run, truth, bad)

    nodes, first_wrong = in_lecture_order(order, judge_node, lambda node: _unassigned(mode, node))
    solved = sum(c.status == "correct" for c in nodes)
    message = summary(nodes, first_wrong) if runs else (
        f"The cell assigns none of the gradients of this exercise (d{order[0]} to d{order[-1]}): nothing to check.")
    return CellCheck(mode, nodes, first_wrong, solved, len(order), message)


def _unassigned(mode: str, node: str) -> NodeCheck:
    if mode == "atomic" and node == "loss":
        # the lecture's cell starts at dlogprobs: dloss = 1 is where backprop starts, not a line to write
        return NodeCheck(node, "correct", "dloss = 1: backprop starts here. The lecture's cell does not write "
                         "it, so the check takes it as given.", exact=True, approx=True, maxdiff=0.0)
    if mode == "fused":  # exercise 2's or 3's cell holds one node, exercise 4's all of them
        return NodeCheck(node, "missing", f"d{node} is not part of this cell.")
    return NodeCheck(node, "missing", f"d{node} is not assigned in this cell: still to do.")


def summary(nodes: list[NodeCheck], first_wrong: str | None) -> str:
    """One sentence (two at most) on the whole cell."""
    count = {s: sum(c.status == s for c in nodes) for s in ("correct", "wrong", "affected", "missing", "error")}
    total = len(nodes)
    if first_wrong is None:
        done = f"All {total} nodes are correct." if count["correct"] == total else \
            f"{count['correct']} of {total} nodes are correct, none is wrong"
        if count["missing"]:
            done += f"; {count['missing']} {'is' if count['missing'] == 1 else 'are'} not in this cell yet."
        return done if done.endswith(".") else done + "."
    first = next(c for c in nodes if c.node == first_wrong)
    what = f" ({first.mistake_label})" if first.mistake_label else (" (its lines fail)" if first.status == "error"
                                                                     else "")
    parts = [f"{count['correct']} of {total} correct; the first wrong node is d{first_wrong}{what}"]
    k = count["affected"]
    if k:
        parts.append(f"{k} after it {'is' if k == 1 else 'are'} wrong only because {'it uses' if k == 1 else 'they use'} "
                     "a wrong gradient (affected)")
    others = count["wrong"] + count["error"] - 1
    if others:
        parts.append(f"{others} more {'has' if others == 1 else 'have'} a mistake of {'its' if others == 1 else 'their'} own")
    if count["missing"]:
        parts.append(f"{count['missing']} not in the cell")
    return "; ".join(parts) + "."
