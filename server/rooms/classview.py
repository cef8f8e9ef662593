"""The class view: each follower's "Derive it" progress, counted anonymously
at the node the teacher shows. Pure: records in, ClassPublic out."""
from __future__ import annotations

from collections import Counter

from backprop_ninja.model.derive import ORDER

from ..schemas.rooms import ClassPublic, FollowProgress


def check(p: FollowProgress) -> str | None:
    """A sentence naming nodes that are not in the mode's backward, or None."""
    order = ORDER[p.mode]
    unknown = [n for n in p.nodes if n not in order]
    if unknown:
        return (f"progress: {', '.join(repr(n[:40]) for n in unknown[:3])} not in the {p.mode} backward; "
                f"nodes are: {', '.join(order)}")
    return None


def summarise(records: list[dict], node: str | None, mode: str) -> ClassPublic:
    """records: {"nickname": str|None, "progress": FollowProgress JSON dict|None} per follower."""
    order = ORDER[mode]
    counts = Counter()
    first, mistakes = Counter(), Counter()
    for r in records:
        p = r.get("progress")
        if not p or p["mode"] != mode:
            continue
        counts["reporting"] += 1
        nodes = p["nodes"]
        e = nodes.get(node) if node else None
        if e is not None:
            if e["status"] == "revealed":
                counts["revealed"] += 1
            elif e["status"] == "solved":
                counts["hinted" if e["hints"] else "solved"] += 1
            elif e["status"] == "failing":
                counts["trying"] += 1
                if e.get("mistake"):
                    mistakes[e["mistake"]] += 1
        failing = next((n for n in order if nodes.get(n, {}).get("status") == "failing"), None)
        if failing:
            first[failing] += 1
    top = mistakes.most_common(1)
    return ClassPublic(node=node, mode=mode, reporting=counts["reporting"], solved=counts["solved"],
                       hinted=counts["hinted"], revealed=counts["revealed"], trying=counts["trying"],
                       first_failing={n: first[n] for n in order if first[n]},
                       mistake=top[0][0] if top else None, mistake_count=top[0][1] if top else 0,
                       nicknames=sorted(r["nickname"] for r in records if r.get("nickname")))
