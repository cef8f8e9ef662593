"""`bpn.show(globals())`: the lecture's compute graph with the learner's own
gradients, inline in the notebook (an anywidget: JupyterLab, Notebook 7, VS
Code and Colab draw it through the kernel's widget messages; no server, port
or socket of ours).

The figures are the pages' own: graph.js (the graph), deriveresult.js (Derive
it's |yours − true| heatmap), dlogits.js (the dlogits row inspector) and the
modules they import, read from the installed backprop_ninja.frontend and sent
to the browser as text with plotly.min.js from the installed `plotly`
package. widget.js imports them from blob: URLs (their `./x.js` imports
rewritten to the blobs' URLs): no build step, nothing from another host.

Those assets (~4.9 MB, nearly all plotly.js) travel once per kernel, in one
`_Assets` widget every graph refers to: a notebook showing the graph ten
times sends plotly.js once, and a reloaded page gets it again from the
kernel. What each graph sends is the check's result (notebook/check.py's
Report) as the figures' inputs: the graph (model/graphdata.py, as the server
sends it), per node the summary of the learner's gradient (the frame's
`nodes`, model/diagnostics.py), the status rings (Derive it's `derive`),
and |yours − true| per node as float32 bytes."""
from __future__ import annotations

import hashlib
import math
import re
import sys
from importlib import resources

import anywidget
import torch
import traitlets
from ipywidgets import widget_serialization

from backprop_ninja.model import derive
from backprop_ninja.model.diagnostics import summary
from backprop_ninja.model.graph import BY_NAME, Branches
from backprop_ninja.model.graphdata import graph_data

from . import render
from .check import Report, report
from .find import ORDERS, CheckError, node_name

ENTRIES = ("graph.js", "deriveresult.js", "dlogits.js")  # the views the widget draws; the rest are their imports
IMPORT = re.compile(r"""(?:from|import)\s*\(?\s*(['"])\./([\w.-]+\.js)\1""")
RING = {"correct": "solved", "wrong": "failing", "affected": "revealed"}  # graph.js's ring colours: green, red, orange
LECTURE_VOCAB = ".abcdefghijklmnopqrstuvwxyz"  # '.' then a-z, as the lecture's names give it


# ---- the assets: the pages' modules and plotly.js, once per kernel ----------------------
def page_modules() -> dict[str, str]:
    """{file name: source} of the views' modules and every module they import (frontend/)."""
    pages = resources.files("backprop_ninja.frontend")
    out: dict[str, str] = {}
    todo = list(ENTRIES)
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out[name] = (pages / name).read_text(encoding="utf-8")
        todo += [m.group(2) for m in IMPORT.finditer(out[name])]
    return out


def plotly_js() -> bytes:
    """plotly.min.js as the installed `plotly` package ships it (what the server serves at /vendor/)."""
    return (resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()


WIDGET_JS = (resources.files("backprop_ninja.notebook") / "widget.js").read_text(encoding="utf-8")


class _Assets(anywidget.AnyWidget):
    """Never displayed: the graphs' widget.js reads its traits (widget_manager.get_model). Its module
    is widget.js too, whose `initialize` starts importing them as soon as this model arrives."""
    _esm = WIDGET_JS
    version = traitlets.Unicode().tag(sync=True)  # the browser keeps what it imported under this key
    modules = traitlets.Dict().tag(sync=True)
    plotly = traitlets.Bytes().tag(sync=True)  # binary: a buffer of the message, not JSON text


_assets: _Assets | None = None


def assets() -> _Assets:
    """The kernel's one _Assets widget (made again if it was closed)."""
    global _assets
    if _assets is None or _assets.comm is None:
        mods, js = page_modules(), plotly_js()
        digest = hashlib.sha256(js)
        for name in sorted(mods):
            digest.update(name.encode() + b"\0" + mods[name].encode())
        _assets = _Assets(version=digest.hexdigest()[:16], modules=mods, plotly=js)
    return _assets


# ---- the figures' inputs, from a Report ----------------------------------------------------
def _finite(x):
    """NaN and infinities as None (null in JSON), in nested dicts and lists."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def _summary(t: torch.Tensor | None) -> dict | None:
    """model.diagnostics.summary without its histogram: what graph.js reads (colour, size, hover)."""
    if t is None:
        return None
    s = summary(t)
    s.pop("hist")
    return _finite(s)


def _grid(t: torch.Tensor) -> torch.Tensor:
    """Any tensor as rows for a heatmap, as model/derive_check.py's as_grid: () 1x1, (k,) 1xk, (n,3,10) n x 30."""
    return t.reshape(1, -1) if t.dim() < 2 else t.reshape(t.shape[0], -1)


def _fit(y: torch.Tensor, t: torch.Tensor) -> torch.Tensor | None:
    """y in t's shape when they differ by size-1 axes only (as cmp broadcasts them), else None."""
    if tuple(y.shape) == tuple(t.shape):
        return y
    return y.reshape(t.shape) if derive.fits(tuple(y.shape), tuple(t.shape)) else None


def _diff(y: torch.Tensor, t: torch.Tensor) -> torch.Tensor | None:
    """|yours − true| per element; None when the shapes differ (nothing to compare)."""
    y = _fit(y, t)
    return None if y is None else (y.to(t.dtype) - t).abs()


def _edges(rep: Report, grads: dict[str, torch.Tensor]) -> list[dict]:
    """The gradient each consumer sends into a two-branch node (counts, logits, bndiff, hprebn), by the
    node's own rule from the learner's upstream gradients: the width of those edges (the frame's `edges`).
    The other edges take their node's own norm (graph.js)."""
    if rep.mode != "atomic":
        return []  # the fused view draws one consumer a node
    v = {**rep.values, "bn_eps": 1e-5}
    fitted = {n: _fit(g, rep.true[n]) for n, g in grads.items()}
    fitted = {n: g for n, g in fitted.items() if g is not None}
    out = []
    for name in grads:
        bwd = BY_NAME[name].bwd
        if not isinstance(bwd, Branches) or not all(s in fitted for s in bwd.sources):
            continue
        try:
            parts = bwd(v, fitted)
        except (RuntimeError, KeyError, IndexError):
            continue
        for dst, part in parts.items():
            s = _summary(part)
            out.append({"src": name, "dst": dst, "norm": s["norm"], "mean": s["mean"]})
    return out


def _vocab(ns, size: int) -> list[str]:
    """The characters of the learner's `itos` when it fits, else the lecture's ('.' and a-z), else indices."""
    itos = ns.get("itos") if ns is not None else None
    if isinstance(itos, dict) and all(isinstance(itos.get(i), str) for i in range(size)):
        return [itos[i] for i in range(size)]
    return list(LECTURE_VOCAB) if size == len(LECTURE_VOCAB) else [str(i) for i in range(size)]


def _diffs(rep: Report, grads: dict[str, torch.Tensor]) -> tuple[dict, bytes]:
    """|yours − true| of every node the learner wrote, as float32 rows one after the other, and where each starts."""
    rows = {r.node: r for r in rep.rows}
    chunks, index, at = [], {}, 0
    for name, y in grads.items():
        if name not in rows or rows[name].given:
            continue
        d = _diff(y, rep.true[name])
        if d is None:
            continue
        g = _grid(d).to(torch.float32).contiguous()
        chunks.append(g.numpy().tobytes())
        index[name] = {"offset": at, "rows": g.shape[0], "cols": g.shape[1], "maxdiff": _finite(float(d.max()))}
        at += g.numel()
    return index, b"".join(chunks)


def _view(rep: Report, grads: dict[str, torch.Tensor]) -> dict:
    """graph.js's state: the view, the nodes done, their checks, the rings (Derive it's `derive`) and the frame."""
    order = ORDERS[rep.exercise]
    rows = {r.node: r for r in rep.rows}
    computed = [n for n in order if n in rows and rows[n].status != "todo"]
    own = [r for r in rep.rows if not r.given]  # dloss = 1 is given: no ring, no check
    frame = {"nodes": {name: {"value": _summary(rep.values.get(name)), "grad": _summary(grads.get(name))}
                       for name in BY_NAME},
             "edges": _edges(rep, grads), "remaining": [n for n in order if n not in computed]}
    return {"mode": rep.mode, "computed": computed, "frame": frame,
            "checks": _finite({r.node: {"exact": r.exact, "approx": r.approx, "maxdiff": r.maxdiff}
                               for r in own if r.exact is not None}),
            "derive": {"status": {r.node: RING[r.status] for r in own if r.status in RING},
                       "firstWrong": rep.first_wrong}}


def _row(r) -> dict:
    """A row of the report with the words render.py gives it."""
    return _finite({"node": r.node, "status": r.status, "verdict": render.verdict(r), "exact": r.exact,
                    "approx": r.approx, "maxdiff": r.maxdiff, "maxdiff_text": render.maxdiff(r), "mistake": r.mistake,
                    "mistake_label": r.mistake_label, "diagnosis": r.diagnosis, "affected_by": r.affected_by,
                    "message": r.message, "note": r.note, "given": r.given})


def traits_of(rep: Report, vocab: list[str]) -> dict:
    """Every synced trait of the graph widget for this report (pure: a test reads it without a browser)."""
    # the learner's gradient where written; dloss (given, = 1) the true one
    grads = {n: y for n, y in rep.yours.items() if isinstance(y, torch.Tensor)}
    grads.update({r.node: rep.true[r.node] for r in rep.rows if r.given})
    index, diffs = _diffs(rep, grads)
    v, d = rep.values, rep.dims
    return {
        "graph": graph_data(d),
        "view": _view(rep, grads),
        "rows": [_row(r) for r in rep.rows],
        "info": {"exercise": rep.exercise, "title": rep.title, "header": render.header(rep),
                 "summary": render.summary(rep), "first_wrong": rep.first_wrong,
                 "first_wrong_lines": render.first_wrong_lines(rep), "order": list(ORDERS[rep.exercise]),
                 "dtype": rep.dtype, "dims": {"n": d.n, "block": d.block, "embd": d.embd, "hidden": d.hidden,
                                              "vocab": d.vocab}},
        "batch": {"Xb": v["Xb"].tolist(), "Yb": v["Yb"].tolist(),
                  "probs": _finite(v["probs"].double().tolist()) if "probs" in v else None, "vocab": vocab},
        "diff_index": index,
        "diffs": diffs,
    }


class GraphWidget(anywidget.AnyWidget):
    """The compute graph with the learner's gradients; a click on a node shows its |yours − true|."""
    _esm = WIDGET_JS
    _css = (resources.files("backprop_ninja.notebook") / "widget.css").read_text(encoding="utf-8")
    _assets = traitlets.Instance(_Assets).tag(sync=True, **widget_serialization)
    graph = traitlets.Dict().tag(sync=True)  # model/graphdata.py: what graph.js lays out
    view = traitlets.Dict().tag(sync=True)  # graph.js's state: mode, computed, checks, derive, frame
    rows = traitlets.List().tag(sync=True)  # the report's rows, with their sentences (check.py, render.py)
    info = traitlets.Dict().tag(sync=True)  # the exercise, its header and summary lines, the sizes
    batch = traitlets.Dict().tag(sync=True)  # Xb, Yb, probs and the characters: the dlogits inspector's
    diff_index = traitlets.Dict().tag(sync=True)  # node -> {offset, rows, cols, maxdiff} into diffs
    diffs = traitlets.Bytes().tag(sync=True)  # |yours − true| of every node written, float32, row by row
    selected = traitlets.Unicode(None, allow_none=True).tag(sync=True)  # the clicked node (set by the browser)

    def __init__(self, rep: Report, vocab: list[str], **kwargs):
        super().__init__(_assets=assets(), **traits_of(rep, vocab), **kwargs)
        self.report = rep
        self.on_msg(self._on_msg)

    def _on_msg(self, _widget, content, _buffers) -> None:
        # a front end where one widget cannot reach another asks for the assets directly (widget.js askKernel)
        if isinstance(content, dict) and content.get("ask") == "assets":
            a = assets()
            self.send({"assets": {"version": a.version, "modules": a.modules}}, buffers=[a.plotly])


def show(ns=None, exercise: int | None = None, *, node: str | None = None, **tensors) -> GraphWidget:
    """The lecture's compute graph with your gradients, in the notebook: `bpn.show(globals())`.

    Each node you have written is ringed: green right, red wrong (the first wrong one marked),
    orange wrong only because it used a wrong gradient; grey nodes are still to do. A node's colour
    is the sign of your gradient (mean/rms: red positive, blue negative), its size the gradient's norm.
    Click a node for its |yours − true| heatmap; at logits, the dlogits row inspector too.
    Takes what `bpn.check` takes (ns, exercise, keyword tensors; see check.report) and `node`,
    a node to open at once. Raises CheckError with a sentence for what it cannot use."""
    assets()  # first: the browser imports plotly.js while the kernel checks the gradients
    rep = report(ns, exercise, _depth=2, **tensors)
    names = {**(sys._getframe(1).f_globals if ns is None else ns), **tensors}
    if node is not None:
        name = node_name(node)
        if not isinstance(name, str) or name not in BY_NAME:
            raise CheckError(f"node={node!r} is not a node of the lecture's graph: give a name such as "
                             "'hprebn' or 'dhprebn'.")
        node = name
    return GraphWidget(rep, _vocab(names, rep.dims.vocab), selected=node)
