"""A whole cell inside the sandboxed child (job kind "cell"; the server's
side is cells.py). Runs shut in, like an attempt (sandbox_child.py).

The cell is split into its top-level statements; `cmp(...)` and `print(...)`
lines are dropped before the restriction (the notebook's cells have them).
For each statement: which d<node> it assigns (a name, a subscript such as
`dlogits[range(n), Yb] -= 1`, an in-place method such as `.index_add_`, or
inside a loop like dC's) and which d<node> it reads. A statement that
assigns none (a temporary, a forward line) belongs to the next one that does.

Each batch is run twice: chained, the cell as written, and isolated, where
before each statement the gradients it reads from upstream of its node are
replaced by the true ones. Both start with the true gradients of the nodes
before the cell's first node in scope (what earlier cells of the notebook
would have made), and no others. A statement that raises is reported against its
nodes, and the run goes on, so later nodes are still judged."""
from __future__ import annotations

import ast
import base64
import textwrap
from dataclasses import dataclass
from types import CodeType

import torch

from . import restrict
from .sandbox_common import SOURCE, Failed, environment, guarded, run_code, tensors

DROPPED = ("cmp", "print")


@dataclass(frozen=True)
class Statement:
    program: CodeType
    line: int
    writes: tuple[str, ...]  # nodes whose d<node> it assigns or changes
    reads: tuple[str, ...]  # nodes whose d<node> it reads
    owner: tuple[str, ...]  # nodes it is judged with: its writes, or else the next statement's


# ---- the cell's text ---------------------------------------------------------------
def parse(code: str) -> tuple[str, ast.Module]:
    """(text, tree) of the cell; lines copied from inside exercise 4's loop
    come indented, so a dedented text is tried too."""
    code = code.replace("\r\n", "\n").replace("\r", "\n")  # as the parser counts lines
    first, _, rest = code.partition("\n")
    failed = None
    for text in (code, textwrap.dedent(code), first + "\n" + textwrap.dedent(rest)):
        try:
            return text, guarded(lambda: ast.parse(text))
        except Failed as err:
            failed = failed or err
    if "indent" in failed.answer["message"]:
        failed.answer["message"] += " (paste the lines with the same indentation each)"
    raise failed


def more_than_backward(tree: ast.Module) -> str | None:
    """What in the cell is not a backward line, if it is the training loop or an import."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            return "imports"
        if isinstance(node, (ast.With, ast.While, ast.FunctionDef)):
            return "the training loop (a with block, a while loop or a function)"
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and node.attr in ("data", "grad"):
            return f"p.{node.attr} = ... (the update, or autograd's set-up)"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "backward":
            return "loss.backward() (that is autograd's backward)"
    return None


def paste_hint(mode: str, what: str) -> str:
    lines = ("from `dlogprobs = ...` down to dC's loop, the cmp(...) lines may stay" if mode == "atomic" else
             "from `dlogits = ...` down to dC's loop: in exercise 4's cell, the lines between the forward "
             "pass (which ends with the loss) and the update (`p.data += -lr * grad`)")
    return (f"Your cell has {what}. Paste only the backward lines, {lines}. The forward values, n and the "
            "other sizes, torch and F are already in scope.")


def drop_checks(text: str, tree: ast.Module) -> str:
    """The text with every cmp(...) and print(...) statement replaced by `pass`, line numbers kept."""
    spans = sorted(((n.lineno, n.col_offset, n.end_lineno, n.end_col_offset) for n in ast.walk(tree)
                    if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)
                    and isinstance(n.value.func, ast.Name) and n.value.func.id in DROPPED), reverse=True)
    lines = [line.encode() for line in text.split("\n")]  # the parser's offsets count UTF-8 bytes
    for l0, c0, l1, c1 in spans:  # from the end, so the offsets before each stay true
        lines[l0 - 1:l1] = [lines[l0 - 1][:c0] + b"pass" + lines[l1 - 1][c1:]] + [b""] * (l1 - l0)
    return b"\n".join(lines).decode()


# ---- what each statement assigns and reads ----------------------------------------
def _base(t: ast.AST) -> str | None:
    while isinstance(t, (ast.Subscript, ast.Attribute)):
        t = t.value
    return t.id if isinstance(t, ast.Name) else None


def names(stmt: ast.stmt) -> tuple[set[str], set[str]]:
    """(names it writes, names it reads); an in-place method (`x.index_add_(...)`) writes x."""
    written, read = set(), set()
    for n in ast.walk(stmt):
        if isinstance(n, ast.Name):
            (written if isinstance(n.ctx, ast.Store) else read).add(n.id)
        elif isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Store):
            written.add(_base(n))
        elif isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name):
            read.add(n.target.id)
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr.endswith("_"):
            written.add(_base(n.func.value))
    return written, read


def _nodes(ids: set[str], order: tuple[str, ...]) -> tuple[str, ...]:
    """The nodes among d-names, in the mode's order."""
    return tuple(x for x in order if "d" + x in ids)


def split(tree: ast.Module, order: tuple[str, ...]) -> list[Statement]:
    out: list[Statement] = []
    for stmt in tree.body:
        written, read = names(stmt)
        program = guarded(lambda: compile(ast.Module([stmt], []), SOURCE, "exec"))
        out.append(Statement(program, stmt.lineno, _nodes(written, order), _nodes(read, order), ()))
    owner: tuple[str, ...] = ()
    for k in range(len(out) - 1, -1, -1):  # from the end: a statement without a d-line takes the next's
        owner = out[k].writes or owner
        out[k] = Statement(out[k].program, out[k].line, out[k].writes, out[k].reads, owner)
    return out


# ---- running it ----------------------------------------------------------------------
# what a cell's line can read, said after a NameError
IN_SCOPE = ("the forward values, n and the other sizes, torch and F, the gradients that earlier lines of the "
            "cell assign, and the true gradients of the nodes upstream of this line's node that the cell "
            "does not write itself")


def _execute(program: CodeType, env: dict) -> str | None:
    """Run one statement; the error as a sentence with its line, or None."""
    return run_code(program, env, IN_SCOPE)


def _copy(value):
    return value.detach().clone() if isinstance(value, torch.Tensor) else value


def _same(a, b) -> bool:
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
        return a is b  # _copy keeps what is not a tensor as the same object
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return bool(((a == b) | (a.isnan() & b.isnan())).all())


def show_given(st: Statement, env: dict, given: dict, order: tuple[str, ...]) -> None:
    """Before a statement: the true gradients of the nodes the cell never assigns, as the
    notebook's earlier cells would have left them, but only those upstream of the
    statement's node. A later node's truth is not in scope, or a line could copy it back
    (dh = dhpreact / (1 - h**2) from the true dhpreact)."""
    target = order.index(st.owner[0]) if st.owner else -1
    for x, t in given.items():
        if order.index(x) < target:
            env["d" + x] = t.clone()  # fresh: a line may change it in place
        else:
            env.pop("d" + x, None)


def chained(stmts: list[Statement], env: dict, given: dict, order: tuple[str, ...]) -> tuple[dict, set[str], list[str]]:
    """The cell as written: ({node: final value or error}, nodes changed after their last line,
    errors of statements that belong to no node)."""
    errors: dict[str, str] = {}
    last: dict[str, object] = {}  # each node's value right after the last line that assigns it
    unowned: list[str] = []
    for st in stmts:
        show_given(st, env, given, order)
        err = _execute(st.program, env)
        if err is not None:
            for x in st.owner:
                errors.setdefault(x, err)
            if not st.owner:
                unowned.append(err)
            continue
        for x in st.writes:
            last[x] = _copy(env.get("d" + x))
    out = {x: errors[x] if x in errors else env.get("d" + x) for x in last.keys() | errors.keys()}
    changed = {x for x, v in last.items() if x not in errors and not _same(v, env.get("d" + x))}
    return out, changed, unowned


def isolated(stmts: list[Statement], env: dict, truth: dict, given: dict, order: tuple[str, ...]) -> dict:
    """Each statement with the true gradients upstream of its node: {node: its own value or error}."""
    errors: dict[str, str] = {}
    last: dict[str, object] = {}
    for st in stmts:
        show_given(st, env, given, order)
        if st.owner:
            target = order.index(st.owner[0])  # owners are in order: the first is the most upstream
            for x in st.reads:
                if order.index(x) < target:
                    env["d" + x] = truth[x].clone()  # fresh: the line may change it in place
        err = _execute(st.program, env)
        if err is not None:
            for x in st.owner:
                errors.setdefault(x, err)
            continue
        for x in st.writes:
            last[x] = _copy(env.get("d" + x))
    return {x: errors.get(x, last.get(x)) for x in last.keys() | errors.keys()}


def pack(node: str, value, dtype: torch.dtype, max_numel: int) -> dict:
    """A result as JSON: shape and raw bytes in base64 (the server reads them in the dtype it chose)."""
    if isinstance(value, str):
        return {"error": value}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = torch.tensor(float(value), dtype=dtype)
    if not isinstance(value, torch.Tensor):
        return {"error": f"d{node} must be a tensor: it is a {type(value).__name__}"}
    if value.numel() > max_numel:
        return {"error": f"d{node} has {value.numel():,} elements; at most {max_numel:,} are allowed"}
    t = value.detach().to(dtype).resolve_conj().resolve_neg().contiguous()
    return {"shape": list(t.shape), "b64": base64.b64encode(t.numpy().tobytes()).decode("ascii")}


def prepare(job: dict) -> tuple[list[Statement], set[str]]:
    """The cell's statements, or Failed; and the nodes it assigns."""
    order = tuple(job["order"])
    text, tree = parse(job["code"])
    what = more_than_backward(tree)
    if what is not None:
        raise Failed("refused", paste_hint(job["mode"], what))
    scope = frozenset(job["scopes"][0]) | {"d" + x for x in order} | {"torch", "F"} | set(restrict.BUILTINS)
    text = drop_checks(text, tree)
    tree = guarded(lambda: restrict.check(text, scope))
    stmts = split(tree, order)
    return stmts, {x for st in stmts for x in st.writes}


def run(job: dict) -> dict:
    """{"status": "ok", "nodes", "chained", "isolated", "changed", "unowned"}, or a failure."""
    dtype, order, limit = getattr(torch, job["dtype"]), tuple(job["order"]), job["max_numel"]
    try:
        stmts, assigned = prepare(job)
        runs: dict[str, list] = {"chained": [], "isolated": []}
        changed: set[str] = set()
        unowned: list[str] = []
        for arrays, true_arrays in zip(job["scopes"], job["truths"]):
            truth = tensors(true_arrays)
            given = {x: truth[x] for x in order if x not in assigned}  # shown to each line by show_given
            out, moved, failed = chained(stmts, environment(tensors(arrays)), given, order)
            runs["chained"].append({x: pack(x, v, dtype, limit) for x, v in out.items()})
            runs["isolated"].append({x: pack(x, v, dtype, limit) for x, v in
                                     isolated(stmts, environment(tensors(arrays)), truth, given, order).items()})
            changed |= moved
            unowned = unowned or failed
    except Failed as err:
        return err.answer
    nodes = {x: {"line": min(st.line for st in stmts if x in st.writes),
                 "reads": sorted({r for st in stmts if x in st.owner for r in st.reads} - {x}, key=order.index)}
             for x in assigned}
    return {"status": "ok", "nodes": nodes, **runs, "changed": sorted(changed), "unowned": unowned[:5]}
