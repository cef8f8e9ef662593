"""The class view: each follower's "Derive it" progress, counted anonymously
at the node the teacher shows. Pure: records in, ClassPublic out."""
from __future__ import annotations

from collections import Counter

from backprop_ninja.model.derive import ORDER
from backprop_ninja.model.mistakes import label

from ..schemas.rooms import ClassPublic, FollowProgress


def check(p: FollowProgress) -> str | None:
    """A sentence naming nodes that are not in the mode's backward, or None."""
    order = ORDER[p.mode]
    unknown = [n for n in p.nodes if n not in order]
    if unknown:
        return (f"progress: {', '.join(repr(n[:40]) for n in unknown[:3])} not in the {p.mode} backward; "
                f"nodes are: {', '.join(order)}")
    return None


def kinds_made(e: dict) -> set[str]:
    """Every kind of mistake a follower made at a node: a first try that was
    wrong counts even once the node is solved (what the teacher asks about is
    what the class got wrong, not only who is stuck)."""
    made = set(e.get("mistakes") or ())
    if e.get("mistake"):
        made.add(e["mistake"])
    return made


def _count_at(e: dict, counts: Counter, mistakes: Counter) -> None:
    """One follower's record at the teacher's node, into the counts."""
    if e["status"] == "revealed":
        counts["revealed"] += 1
    elif e["status"] == "solved":
        counts["hinted" if e["hints"] else "solved"] += 1
    elif e["status"] == "failing":
        counts["trying"] += 1
    made = kinds_made(e)
    if made or e.get("wrong") or e["status"] == "failing":
        counts["wrong"] += 1
    mistakes.update(made)


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
            _count_at(e, counts, mistakes)
        failing = next((n for n in order if nodes.get(n, {}).get("status") == "failing"), None)
        if failing:
            first[failing] += 1
    # the most followers first; a tie goes to the kind first in the alphabet, so the view does not flicker
    top = min(mistakes.items(), key=lambda kv: (-kv[1], kv[0]), default=None)
    return ClassPublic(node=node, mode=mode, reporting=counts["reporting"], solved=counts["solved"],
                       hinted=counts["hinted"], revealed=counts["revealed"], trying=counts["trying"],
                       first_failing={n: first[n] for n in order if first[n]}, wrong=counts["wrong"],
                       mistake=top[0] if top else None, mistake_label=label(top[0]) if top else None,
                       mistake_count=top[1] if top else 0,
                       nicknames=sorted(r["nickname"] for r in records if r.get("nickname")))
