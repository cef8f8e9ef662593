"""What the pages say about each node, per view (atomic or fused), derived
from the sizes, the dtype and the mode: lecture knowledge as data, sent out
by the graph route. Every code line here is executed by
tests/model/test_model_texts.py and compared with the function that runs;
code inside a paragraph is set in `backticks` and executed there too.

A node's text in one view (`NodeText`):
- `used_by`: the forward line(s) that use the node, the lines the backward
  rule differentiates ("" for the loss, which nothing uses);
- `made_by`: the node's own forward line, which only says how it was made;
- `backward`, `explain`: the rule and why, in plain sentences;
- `upstream`: the gradients the rule reads, for the float note;
- `rounding`: why this node's own rule can round differently from
  autograd's, when it does (the float note's first sentence), else "".
"""
from __future__ import annotations

from dataclasses import dataclass

from .derive import ALTERNATIVES
from .graph import BY_NAME, DATA, PARAM, Dims, branches, sources

MODES = ("atomic", "fused")


@dataclass(frozen=True)
class FusedGroup:
    """A chain the fused view draws as one node (exercise 2 or 3)."""

    name: str
    members: tuple[str, ...]
    output: str  # the gradient the group's backward produces in one expression
    reads: tuple[str, ...]  # the gradients that expression reads
    forward: str
    backward: str
    explain: tuple[str, ...]


FUSED_GROUPS: tuple[FusedGroup, ...] = (
    FusedGroup(
        "cross_entropy",
        ("logit_maxes", "norm_logits", "counts", "counts_sum", "counts_sum_inv", "probs", "logprobs"),
        "logits", (),
        "loss = F.cross_entropy(logits, Yb)",
        "dlogits = F.softmax(logits, 1)\ndlogits[range(n), Yb] -= 1\ndlogits /= n",
        ("Exercise 2: the seven cross-entropy nodes collapse into one. Write one row's loss with the "
         "softmax, differentiate it on paper, and the whole chain shrinks to: the probabilities, minus "
         "1 at the target, divided by n = {n}. The lecture gets there with the quotient rule, in two "
         "cases (i = y and i ≠ y); the derivation beside does it that way and by splitting the log.",
         "So every row of dlogits adds up to zero: each wrong character is pushed down by its "
         "probability and the right one is pulled up by the same total. The dlogits panel beside "
         "shows those pulls, row by row.")),
    FusedGroup(
        "batchnorm",
        ("bnmeani", "bndiff", "bndiff2", "bnvar", "bnvar_inv", "bnraw"),
        "hprebn", ("hpreact",),
        "bnmeani = hprebn.mean(0, keepdim=True)\n"
        "bnvar = hprebn.var(0, keepdim=True, unbiased=True)\n"
        "bnvar_inv = (bnvar + 1e-5)**-0.5\n"
        "bnraw = (hprebn - bnmeani) * bnvar_inv",
        "dhprebn = bngain*bnvar_inv/n * (n*dhpreact - dhpreact.sum(0)\n"
        "          - n/(n-1)*bnraw*(dhpreact*bnraw).sum(0))",
        ("Exercise 3: the six BatchNorm nodes collapse into one line. Each input xᵢ of a column "
         "reaches the output three ways: directly, through the batch mean and through the batch "
         "variance; the formula adds the three routes for all {n} rows of a column at once.",
         "The mean's route through the variance drops out, because deviations from a mean always sum "
         "to zero (the derivation shows it step by step).")),
)
GROUP_OF = {m: grp for grp in FUSED_GROUPS for m in grp.members}
GROUP_BY_OUTPUT = {grp.output: grp for grp in FUSED_GROUPS}

# Nodes reused along a whole axis in the forward: their gradient is a sum.
BROADCAST = {
    "b1": "b1, shape ({hidden},), is added to every row of the batch",
    "b2": "b2, shape ({vocab},), is added to every row of the batch",
    "bngain": "one gain per unit, shape (1,{hidden}), multiplies every example",
    "bnbias": "one bias per unit, shape (1,{hidden}), is added to every example",
    "bnmeani": "the (1,{hidden}) mean is subtracted from every row",
    "bnvar_inv": "the (1,{hidden}) scale multiplies every row",
    "counts_sum_inv": "each row's single number multiplies all {vocab} entries of the row",
    "logit_maxes": "each row's max is subtracted from all {vocab} logits of the row",
}
KEEPDIM = {
    "b1": "db1 is .sum(0) without keepdim, as in the lecture: b1 has shape ({hidden},), so the summed "
          "axis is dropped (bngain and bnbias are (1,{hidden}) instead, and keep it with keepdim=True).",
    "b2": "db2 is .sum(0) without keepdim, as in the lecture: b2 has shape ({vocab},), so the summed "
          "axis is dropped.",
    "bnmeani": "The lecture's line has no keepdim here, so its dbnmeani is ({hidden},): a shape the check "
               "accepts, because it broadcasts to bnmeani's (1,{hidden}) with the same numbers.",
}
# Nodes summed (or averaged) by their consumer: their gradient is a broadcast.
SUMMED = {
    "hprebn": ("bnmeani averages hprebn over the batch", "1/n = 1/{n}"),
    "bndiff2": ("bnvar adds up bndiff2 over the batch", "1/(n-1) = 1/{n_less}"),
    "counts": ("counts_sum adds up each row of counts", "1"),
}
MATMUL = {"embcat", "W1", "h", "W2"}

ROUNDING = {
    ("atomic", "hpreact"): (
        "Here the rounding starts: autograd's tanh backward computes dh·(1 − h²) with 1 − h² folded "
        "into one fused multiply-add (one rounding), while (1.0 - h**2)*dh rounds 1 − h² first and "
        "the product after (two roundings). On this build many float32 entries then differ in their "
        "last bit."),
    ("fused", "hpreact"): (
        "The line is the lecture's, but the training step (the fused pass) computes the same value as "
        "dh − (dh·h)·h with one torch.addcmul, which needs fewer passes over the ({n},{hidden}) tensors "
        "and rounds in yet another order than autograd's tanh backward."),
    ("fused", "logits"): (
        "Here the rounding starts: dlogits is softmax − one-hot over n in one expression, while "
        "autograd goes back through log_softmax's own backward: the same value, other operations, "
        "so the last bits differ."),
    ("fused", "hprebn"): (
        "The one-line BatchNorm backward adds the three routes in another order than autograd's "
        "chain of six nodes, so its own rounding adds to what arrives from above."),
}

FLOAT_NOTE = {
    "float32": (
        "float32 keeps 24 bits, about 7 digits: the same math in another order can differ in the last "
        "place (~1e-9 to 1e-8 for gradients of this size), and a gap travels on to every node below. Which "
        "nodes come out exact depends on the PyTorch build and the CPU: the lecture's own run printed "
        "exact for every node. Switch dtype to float64 and such gaps fall to ~1e-17."),
    "float64": (
        "This run is float64 (53 bits, about 16 digits): the same roundings leave gaps of ~1e-17 and "
        "below, the last bit of the numbers. Nothing is wrong; float64 cannot do better."),
}
LOGIT_MAX_ROUNDING = {"float32": "~1e-9", "float64": "~1e-17"}

# The lecture's reasons, where a learner meets them (its chapters 0:07:26 and 1:05:17).
CMP = ("The first check. The lecture's cmp compares your gradient with autograd's .grad three ways: "
       "exact, every element bit for bit equal; approximate, torch.allclose with its default tolerance "
       "(rtol 1e-05, atol 1e-08: each |yours − autograd's| at most 1e-08 + 1e-05·|autograd's|); and "
       "maxdiff, the largest |yours − autograd's| of all elements. A right formula can miss exact by "
       "rounding; approximate and a tiny maxdiff are what the check is really after.")
BESSEL = ("Why n − 1 and not n (Bessel's correction): the batch mean is computed from these very "
          "numbers, so it sits closer to them than the true mean would, and their squared deviations from "
          "it come out small on average; dividing by n − 1 = {n_less} instead of n = {n} corrects that. The "
          "BatchNorm paper and PyTorch normalise a training batch with 1/n but keep the running variance "
          "for test time with 1/(n − 1), so training and testing use two different estimates: the lecture "
          "calls that a bug and uses n − 1 in both, here and when it calibrates BatchNorm after training.")
INIT = {
    "C": "C starts as N(0,1) draws",
    "W1": "W1 starts as N(0,1)·(5/3)/√{fan_in}, tanh's gain over the square root of the fan-in",
    "b1": ("b1 starts as N(0,1)·0.1 rather than zeros, and is kept although BatchNorm makes it useless, so "
           "that its gradient, rounding noise around 0, can be checked too"),
    "W2": "W2 starts as N(0,1)·0.1, small, so the first logits are close to each other",
    "b2": "b2 starts as N(0,1)·0.1 rather than the usual zeros",
    "bngain": "bngain starts as 1 + N(0,1)·0.1 rather than the usual ones",
    "bnbias": "bnbias starts as N(0,1)·0.1 rather than the usual zeros",
}
INIT_WHY = ("The notebook sets these numbers on purpose, small and none exactly 0: a wrong gradient can "
            "hide behind zeros (a term multiplied by a zero vanishes, whether it is right or wrong), and "
            "then pass the check. With every parameter non-zero, a mistake shows up.")


@dataclass(frozen=True)
class NodeText:
    used_by: str
    made_by: str
    backward: str
    explain: tuple[str, ...]
    upstream: tuple[str, ...]
    rounding: str


def fill(template: str, dims: Dims, dtype: str = "float32") -> str:
    return template.format(n=dims.n, vocab=dims.vocab, hidden=dims.hidden, embd=dims.embd,
                           block=dims.block, fan_in=dims.block * dims.embd, n_less=dims.n - 1,
                           vocab_less=dims.vocab - 1, dtype=dtype, rounding=LOGIT_MAX_ROUNDING[dtype])


def used_lines(mode: str, name: str) -> tuple[str, ...]:
    """The forward lines that use `name`, in the order its gradient adds their parts:
    the lines the backward differentiates (none for the loss)."""
    grp = GROUP_BY_OUTPUT.get(name) if mode == "fused" else None
    if grp is not None:  # the fused forward that takes it in
        return tuple(grp.forward.splitlines())
    return tuple(BY_NAME[c].forward for c in sources(name))


def _atomic_explain(name: str) -> list[str]:
    node = BY_NAME[name]
    out = [node.explain] if node.explain else []
    if name in BROADCAST:
        keep = KEEPDIM.get(name, f"keepdim=True keeps the summed axis, so d{name} has {name}'s shape.")
        out.append(f"Broadcast forward, sum backward: {BROADCAST[name]}. Every copy sends its own gradient "
                   f"back and they all land on the same number, so the backward adds them up along the "
                   f"copied axis. {keep}")
    if name in SUMMED:
        what, factor = SUMMED[name]
        out.append(f"Sum forward, broadcast backward: {what}. A sum passes a small change of any term "
                   f"straight through, so every term receives the same upstream gradient, copied across "
                   f"the summed axis (times {factor}).")
    if name in MATMUL:
        out.append("Why the transpose: every output entry is a dot product of a row with a column, so each "
                   "operand's gradient is the upstream gradient multiplied by the other operand. Write down "
                   "the shapes and the one product that fits tells you where the .T goes (the derivation "
                   "writes out a 2×2 example).")
    if branches(name) == 2:
        a, b = sources(name)
        out.append(f"Two branches add: {name} feeds both {a} and {b}. Nudge one entry and the loss moves "
                   f"along both routes at once; to first order the two effects add, so the code assigns the "
                   f"part from {a} with = and adds the part from {b} with +=. The panel below shows the two "
                   f"parts and their sum once both are in.")
    if node.kind == DATA:
        out.append("Data: integers pick rows and targets; nothing to differentiate.")
    if node.kind == PARAM:
        out.append(f"{INIT[name]}. {INIT_WHY}")
    if name in ALTERNATIVES:
        out.append(f"{ALTERNATIVES[name].label} In code: `{ALTERNATIVES[name].code}`")
    if name == "logprobs":
        out.append(CMP)
    if name == "bnvar":
        out.append(BESSEL)
    return out


def node_text(name: str, mode: str, dims: Dims, dtype: str) -> NodeText:
    """Everything the inspector says about a node in one view."""
    node = BY_NAME[name]
    rounding = fill(ROUNDING.get((mode, name), ""), dims, dtype)
    grp = GROUP_BY_OUTPUT.get(name) if mode == "fused" else None
    if grp is not None:  # logits and hprebn in the fused view: exercises 2 and 3
        explain = grp.explain + ((CMP,) if name == "logits" else ())  # the fused view's first check
        return NodeText(grp.forward, node.forward, grp.backward, tuple(fill(t, dims, dtype) for t in explain),
                        grp.reads, rounding)
    explain = _atomic_explain(name)
    upstream = sources(name) if node.kind != DATA and name != "loss" else ()
    if mode == "fused" and name in GROUP_OF:
        explain.append(f"In the fused view this gradient is not computed on its own: it is inside "
                       f"{GROUP_OF[name].name}. Switch to atomic to step through it.")
    return NodeText("\n".join(used_lines(mode, name)), node.forward, node.backward,
                    tuple(fill(t, dims, dtype) for t in explain), upstream, rounding)


def group_text(grp: FusedGroup, dims: Dims, dtype: str) -> NodeText:
    return node_text(grp.output, "fused", dims, dtype)


def float_note(dtype: str) -> str:
    return FLOAT_NOTE[dtype]


__all__ = ["FUSED_GROUPS", "MODES", "NodeText", "node_text", "group_text", "float_note", "fill", "used_lines"]
