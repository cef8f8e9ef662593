"""A Report as the learner sees it: text (the lecture's cmp lines, one a node,
with a verdict after them) and the same as an HTML table for Jupyter.

    Exercise 1: the backward pass, one tensor at a time · float32 · batch 32, ...
    logprobs        | exact: True  | approximate: True  | maxdiff: 0.0                    | correct
    probs           | exact: False | approximate: False | maxdiff: 2.5                    | WRONG: missing 1/n
    counts_sum_inv  | exact: False | approximate: False | maxdiff: 0.79                   | affected: uses dprobs
    to do: dembcat, dW1, db1, demb, dC

then the first wrong node, its named mistake and what to do, and the affected nodes.
"""
from __future__ import annotations

import html as _html
import textwrap

WIDTH = 100
COLOURS = {"correct": "#1a7f37", "wrong": "#cf222e", "affected": "#9a6700", "todo": "#6e7781"}


def header(r) -> str:
    d = r.dims
    return (f"{r.title} · {r.dtype} · batch {d.n}, block_size {d.block}, n_embd {d.embd}, n_hidden {d.hidden}, "
            f"vocab {d.vocab}")


def chosen(r) -> str:
    """Why this exercise, when check chose it."""
    if not r.why:
        return ""
    return f"Checked as exercise {r.exercise} because {r.why}; pass exercise=1 (or 2, 3, 4) to choose."


def verdict(row) -> str:
    if row.status == "correct":
        if row.mistake is not None:
            return f"correct, but: {row.mistake_label}"
        return "correct" if row.approx is not False else "correct (to rounding)"
    if row.status == "affected":
        return "affected: uses " + ", ".join("d" + u for u in row.affected_by)
    if row.status == "wrong":
        return "WRONG" + (f": {row.mistake_label}" if row.mistake_label else "")
    return "to do"


def maxdiff(row) -> str:
    if row.maxdiff is None:
        return "n/a (shape)" if row.shape is not None else "n/a"
    return str(row.maxdiff)  # as cmp prints it: the float, unformatted


def cmp_line(row) -> str:
    """The lecture's cmp line, with our verdict after it."""
    return (f"{row.node:15s} | exact: {str(row.exact):5s} | approximate: {str(row.approx):5s} | "
            f"maxdiff: {maxdiff(row):22s} | {verdict(row)}")


def shown(r) -> list:
    return [row for row in r.rows if not row.given]


def first_wrong_lines(r) -> list[str]:
    if r.first_wrong is None:
        return []
    row = r.row(r.first_wrong)
    out = [f"First wrong node: d{row.node}" + (f": {row.mistake_label}" if row.mistake_label else "")]
    out += [row.message] if row.message else []
    if row.diagnosis:
        out.append(row.diagnosis)
    elif row.shape is not None:  # a tensor no classic mistake matches: the hints, step by step
        out.append(f"No classic mistake matches it. The hints go step by step: bpn.hint(\"d{row.node}\", 1), "
                   "then 2 and 3.")
    return out


def _some(names: list[str], k: int = 6) -> str:
    return ", ".join(names) if len(names) <= k else ", ".join(names[:k]) + f" and {len(names) - k} more"


def affected_line(r) -> str:
    hit = ["d" + row.node for row in r.rows if row.status == "affected"]
    if not hit:
        return ""
    return (f"Affected: {_some(hit)}. {'It is' if len(hit) == 1 else 'They are'} wrong only because "
            f"{'it uses' if len(hit) == 1 else 'they use'} a wrong gradient (see the table): "
            f"{'its own line is' if len(hit) == 1 else 'their own lines are'} right. Fix d{r.first_wrong or hit[0][1:]} "
            "first and they follow.")


def others_line(r) -> str:
    own = [row for row in r.rows if row.status == "wrong" and row.node != r.first_wrong]
    if not own:
        return ""
    parts = ", ".join(f"d{row.node}" + (f" ({row.mistake_label})" if row.mistake_label else "") for row in own)
    return f"Wrong on their own as well: {parts}."


def _before_incomplete(r) -> list:
    """The rows shown, up to the first correct one with a branch missing (dlogits without its logit_maxes
    branch passes cmp's allclose): the approximate ones after it may owe their difference to it, not to
    rounding, so the rounding note leaves them out (the incomplete node has its own note)."""
    out = []
    for row in shown(r):
        if row.status == "correct" and row.mistake is not None:
            break
        out.append(row)
    return out


def notes(r) -> list[str]:
    out = []
    rounded = ["d" + row.node for row in _before_incomplete(r) if row.status == "correct" and row.exact is False]
    if rounded:
        which = _some(rounded, 4) if len(rounded) <= 4 else f"{len(rounded)} gradients, {rounded[0]} to {rounded[-1]}"
        why = ("autograd evaluates tanh's backward 1 - h**2 with one rounding, where (1.0 - h**2) * dh rounds "
               "twice, and every gradient after dhpreact inherits the difference" if r.exercise == 1
               and rounded[0] == "dhpreact" else "your operations round in another order than autograd's")
        # float64 rounds too, only less: the advice to switch is for float32 alone
        then = " In float64 the differences fall to about 1e-17." if r.dtype == "float32" else ""
        out.append(f"Approximate, not exact ({which}): rounding, not a mistake: {why}.{then}")
    loose = ["d" + row.node for row in shown(r) if row.status == "correct" and row.approx is False]
    if loose:
        out.append(f"Correct although approximate is False ({_some(loose, 4)}): the differences are rounding, under "
                   f"{'1e-5' if r.dtype == 'float32' else '1e-12'} of the gradient's largest entry. allclose "
                   "allows each entry only 1e-8 plus 1e-5 of itself, too little for entries near 0 when a line "
                   "computes them another way (fused lines, say).")
    for row in shown(r):
        if row.status == "correct" and row.note and row.mistake:
            out.append(f"d{row.node}: {row.note}")
    return out


def summary(r) -> str:
    total = len(shown(r))
    if all(row.status == "todo" for row in shown(r)):
        return (f"No gradient of exercise {r.exercise} is written yet: start with d{shown(r)[0].node} "
                f"(bpn.hint(\"d{shown(r)[0].node}\", 1) if you want a start).")
    parts = [f"{r.count('correct')} of {total} correct"]
    parts += [f"{r.count(s)} {w}" for s, w in (("wrong", "wrong"), ("affected", "affected"), ("todo", "to do"))
              if r.count(s)]
    return " · ".join(parts)


def _wrap(paragraph: str, indent: str = "") -> str:
    return textwrap.fill(paragraph, WIDTH, initial_indent=indent, subsequent_indent=indent,
                         break_long_words=False, break_on_hyphens=False)


def text(r) -> str:
    lines = [header(r)]
    if chosen(r):
        lines.append(_wrap(chosen(r)))
    lines += [cmp_line(row) for row in shown(r) if row.status != "todo"]
    todo = [row for row in shown(r) if row.status == "todo"]
    if todo:
        lines.append(_wrap("to do: " + ", ".join("d" + row.node for row in todo)))
    first = first_wrong_lines(r)
    if first:
        lines += ["", first[0]] + [_wrap(p, "  ") for p in first[1:]]
    for extra in (affected_line(r), others_line(r)):
        if extra:
            lines.append(_wrap(extra))
    for note in notes(r):
        lines.append(_wrap(note))
    lines.append(summary(r))
    return "\n".join(lines)


# ---- HTML -------------------------------------------------------------------------------
def _e(s) -> str:
    return _html.escape(str(s))


def _cell(s, style: str = "") -> str:
    return f'<td style="padding:2px 8px;text-align:left;{style}">{s}</td>'


def _html_row(row) -> str:
    colour = COLOURS[row.status]
    if row.status == "todo":
        cells = _cell(f"<code>d{_e(row.node)}</code>") + _cell("") * 3 + _cell("to do", f"color:{colour}")
        return f'<tr style="color:{colour}">{cells}</tr>'
    weight = "font-weight:bold;" if row.status == "wrong" else ""
    cells = (_cell(f"<code>d{_e(row.node)}</code>") + _cell(_e(row.exact)) + _cell(_e(row.approx))
             + _cell(f"<code>{_e(maxdiff(row))}</code>")
             + _cell(_e(verdict(row)), f"color:{colour};{weight}"))
    return f"<tr>{cells}</tr>"


def html(r) -> str:
    head = "".join(f'<th style="padding:2px 8px;text-align:left">{h}</th>'
                   for h in ("gradient", "exact", "approximate", "maxdiff", "verdict"))
    body = "".join(_html_row(row) for row in shown(r))
    parts = ['<div class="bpn-check" style="font-family:sans-serif;line-height:1.4">',
             f"<div><b>{_e(r.title)}</b> · {_e(header(r).split(' · ', 1)[1])}</div>"]
    if chosen(r):
        parts.append(f'<div style="color:#6e7781">{_e(chosen(r))}</div>')
    parts.append(f'<table style="border-collapse:collapse;margin:4px 0">'
                 f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    first = first_wrong_lines(r)
    if first:
        parts.append(f'<div style="border-left:3px solid {COLOURS["wrong"]};padding-left:8px;margin:6px 0">'
                     f'<b style="color:{COLOURS["wrong"]}">{_e(first[0])}</b>'
                     + "".join(f"<div>{_e(p)}</div>" for p in first[1:]) + "</div>")
    for extra in (affected_line(r), others_line(r)):
        if extra:
            parts.append(f"<div>{_e(extra)}</div>")
    for note in notes(r):
        parts.append(f'<div style="color:#6e7781">{_e(note)}</div>')
    parts.append(f"<div><b>{_e(summary(r))}</b></div></div>")
    return "".join(parts)
