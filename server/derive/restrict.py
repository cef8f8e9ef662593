"""The restriction a learner's code passes before it runs: a small allowlist
over Python's own `ast`, deny by default.

Why not RestrictedPython: it refuses `dC[Xb[k, j]] += demb[k, j]` (it does
not allow augmented assignment to subscripts), which is the lecture's own dC
loop, and it is built around guard hooks (`_getattr_`, `_write_`, ...) whose
policy we would still have to write. The notebook's cells need very little
Python, so a list of the node types, names and attributes they use is shorter
to read, and anything not on it is refused.

This module runs inside the sandboxed child (sandbox_child.py), never in the
server: even parsing hostile source is left to the process that can crash.
"""
from __future__ import annotations

import ast

MAX_STRING = 64  # einsum's 'kj,ij->ki' is the longest string the lecture's ideas need

# Everything the notebook's backward cells call on `torch`, `F` or a tensor.
# Nothing here reads or writes files, starts processes or reaches Python's
# internals: torch.load/save/from_file, torch.ops, torch.hub, torch.utils,
# .numpy(), .storage(), .data_ptr() and .tolist() are left out.
ATTRIBUTES = frozenset("""
    T mT shape ndim dtype size numel dim item
    sum mean max min amax amin argmax argmin prod cumsum std var norm abs sign
    exp log log1p sqrt rsqrt tanh cosh sinh sigmoid relu pow square reciprocal neg clamp
    view reshape flatten unsqueeze squeeze expand expand_as broadcast_to permute transpose t swapaxes swapdims
    clone detach contiguous float double long int to type_as
    index_add index_add_ index_put_ scatter_add scatter_add_ scatter gather index_select
    add add_ sub sub_ mul mul_ div div_ zero_ fill_ masked_fill addmm addcmul matmul mm bmm outer
    sum_to_size values indices
    zeros zeros_like ones ones_like full full_like eye arange tensor empty_like
    cat stack where einsum diag softmax log_softmax one_hot cross_entropy
    float32 float64 int64
""".split())

BUILTINS = ("range", "zip", "enumerate", "len", "abs", "min", "max", "float", "int", "round", "sum")
# what a for loop may run over: lazy, so an endless one is stopped by the CPU limit, never by memory
LOOPS = ("range", "zip", "enumerate")

# The node types of the notebook's cells; anything else is refused.
_ALLOWED = (
    ast.Module, ast.Assign, ast.AugAssign, ast.For, ast.Expr, ast.Pass,
    ast.Name, ast.Load, ast.Store, ast.Constant, ast.Attribute, ast.Subscript, ast.Slice,
    ast.Tuple, ast.List, ast.Call, ast.keyword, ast.BinOp, ast.UnaryOp, ast.Compare,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.MatMult,
    ast.USub, ast.UAdd, ast.Invert, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE,
)

_WHY = {
    ast.Import: "imports", ast.ImportFrom: "imports", ast.FunctionDef: "defining functions",
    ast.AsyncFunctionDef: "defining functions", ast.Lambda: "lambda", ast.ClassDef: "classes",
    ast.While: "while loops", ast.If: "if statements",
    ast.With: "with blocks", ast.Try: "try blocks", ast.Raise: "raise", ast.Global: "global",
    ast.Nonlocal: "nonlocal", ast.Delete: "del", ast.ListComp: "list comprehensions",
    ast.GeneratorExp: "generator expressions", ast.DictComp: "comprehensions",
    ast.SetComp: "comprehensions", ast.JoinedStr: "f-strings", ast.Dict: "dict literals",
    ast.Set: "set literals", ast.Starred: "*unpacking", ast.Yield: "yield", ast.Await: "await",
    ast.NamedExpr: "the walrus operator", ast.IfExp: "conditional expressions",
    ast.BoolOp: "and/or", ast.Return: "return",
}
# the allowed form that does the same, for the forms learners reach for
_INSTEAD = {
    ast.While: "write `for i in range(...)`",
    ast.ListComp: "write a for loop, or better one tensor operation over the whole batch",
    ast.GeneratorExp: "write a for loop, or one tensor operation over the whole batch",
    ast.If: "for a choice per element use torch.where(condition, a, b)",
    ast.IfExp: "for a choice per element use torch.where(condition, a, b)",
    ast.Lambda: "write the expression inline where it is used",
    ast.FunctionDef: "write the expression inline where it is used",
    ast.Return: "assign the result to the gradient's name instead",
    ast.Import: "torch and F are already in scope",
    ast.ImportFrom: "torch and F are already in scope",
}
_INSTEAD_ATTR = {
    "numpy": "stay in torch: the gradient must be a tensor, and every tensor here is one already",
    "tolist": "stay in torch: index or sum the tensor itself",
    "backward": "autograd is what you replace here: write the gradient by hand",
    "grad": "autograd is what you replace here: write the gradient by hand",
    "copy_": "use .clone()",
    "new_zeros": "use torch.zeros_like(...)",
    "new_ones": "use torch.ones_like(...)",
    "softmax_": "use F.softmax(x, dim)",
}

ALLOWED_TEXT = ("allowed: assignments (also `+=` and `x[i] = ...`), `for` loops over range(...), zip(...) "
                "or enumerate(...), "
                "arithmetic and @, the names in scope, and torch/F functions and tensor methods "
                "such as .sum(1, keepdim=True), .T, .view(...)")


class Refused(Exception):
    """The code uses something outside the allowlist; the text says what."""


def _where(node: ast.AST) -> str:
    line = getattr(node, "lineno", None)
    return f"line {line}: " if line else ""


def check(code: str, names: frozenset[str]) -> ast.Module:
    """Parse and restrict; returns the tree or raises Refused / SyntaxError.

    `names`: what is in scope (tensors, n, torch, F and BUILTINS); reading
    any other name that the code did not assign fails when it runs."""
    tree = ast.parse(code, mode="exec")
    for node in ast.walk(tree):  # iterative: a deeply nested source cannot recurse here
        if not isinstance(node, _ALLOWED):
            what = _WHY.get(type(node), type(node).__name__)
            instead = _INSTEAD.get(type(node))
            raise Refused(f"{_where(node)}{what} not allowed" + (f": {instead}" if instead else "")
                          + f"; {ALLOWED_TEXT}")
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise Refused(f"{_where(node)}names starting with '_' are not allowed ({node.id})")
        if isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                raise Refused(f"{_where(node)}attributes starting with '_' are not allowed (.{node.attr})")
            if node.attr not in ATTRIBUTES:
                instead = _INSTEAD_ATTR.get(node.attr)
                raise Refused(f"{_where(node)}.{node.attr} is not on the list of torch functions and "
                              "tensor methods allowed here" + (f": {instead}" if instead else "")
                              + f"; {ALLOWED_TEXT}")
        if isinstance(node, ast.keyword) and (node.arg is None or node.arg.startswith("_")):
            raise Refused(f"{_where(node)}**keyword unpacking and '_' keywords are not allowed")
        if isinstance(node, ast.Constant):
            if isinstance(node.value, (bytes, complex)):
                raise Refused(f"{_where(node)}bytes and complex constants are not allowed")
            if isinstance(node.value, str) and len(node.value) > MAX_STRING:
                raise Refused(f"{_where(node)}strings longer than {MAX_STRING} characters are not allowed")
        if isinstance(node, ast.Call) and not isinstance(node.func, (ast.Name, ast.Attribute)):
            raise Refused(f"{_where(node)}only named functions and methods can be called")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in names:
            raise Refused(f"{_where(node)}{node.func.id}() is not available; functions here: "
                          f"{', '.join(BUILTINS)}, and torch.*, F.* and tensor methods")
        if isinstance(node, ast.For):
            if node.orelse:
                raise Refused(f"{_where(node)}for ... else is not allowed")
            it = node.iter
            if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id in LOOPS):
                raise Refused(f"{_where(node)}a for loop must run over range(...), zip(...) or "
                              "enumerate(...)")
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.For)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                _check_target(t)
    return tree


def _names_only(t: ast.AST) -> bool:
    # a name, or a tuple of them nested as `for i, (k, j) in enumerate(zip(...))` unpacks
    if isinstance(t, ast.Tuple):
        return all(_names_only(e) for e in t.elts)
    return isinstance(t, ast.Name)


def _check_target(t: ast.AST) -> None:
    # a subscript: dlogprobs[range(n), Yb] = -1.0/n writes into a tensor
    if _names_only(t) or isinstance(t, ast.Subscript):
        return
    raise Refused(f"{_where(t)}you can assign to names and to tensor elements (x[i] = ...) only")
