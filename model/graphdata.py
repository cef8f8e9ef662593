"""The compute graph as plain data for a config: what every drawing of it
needs (frontend/graph.js lays it out and draws it): each node's name, kind,
inputs, consumers, shape and lines, the fused groups and the orders.

One builder for both places the graph is drawn: server/lecture.py adds the
texts and validates this into GraphPublic (GET /api/graph); the notebook
widget (notebook/widget.py) sends it to the same figure code as it is,
without pydantic or the server."""
from __future__ import annotations

from .atomic import LECTURE_ORDER
from .graph import BACKWARD_ORDER, BY_NAME, NODES, Dims, branches, sources
from .texts import FUSED_GROUPS
from .views import FUSED_ORDER


def node_data(dims: Dims) -> list[dict]:
    """The registry in forward order, shapes for `dims` (NodePublic's fields without the texts)."""
    return [{"name": n.name, "kind": n.kind, "inputs": list(n.inputs), "consumers": list(sources(n.name)),
             "shape": list(n.shape(dims)), "forward": n.forward, "backward": n.backward,
             "branches": branches(n.name)} for n in NODES]


def group_data(dims: Dims) -> list[dict]:
    """The chains the fused view draws as one node (FusedGroupPublic's fields without the texts)."""
    return [{"name": g.name, "members": list(g.members), "output": g.output,
             "shape": list(BY_NAME[g.members[-1]].shape(dims))} for g in FUSED_GROUPS]


def graph_data(dims: Dims) -> dict:
    """The graph a figure needs: nodes, fused groups and the three orders (GraphPublic's fields of the same names)."""
    return {"nodes": node_data(dims), "fused_groups": group_data(dims), "backward_order": list(BACKWARD_ORDER),
            "fused_order": list(FUSED_ORDER),
            "lecture_order": [{"node": n, "branch": b} for n, b in LECTURE_ORDER]}
