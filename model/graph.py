"""The compute graph of the lecture as data: one registry, in forward order.

Every node has the lecture's name, its kind, its inputs, its shape, and the
forward line and hand-written backward line as the student writes them. Each
entry also carries the two small functions that *do* those lines, side by
side, so the code reads against the video one node at a time.

`bwd(v, g)` returns the node's gradient split by the consumer it comes
from: {consumer name: contribution}. A node used twice in the forward
(counts, logits, bndiff, hprebn) gets two contributions, in the order its
code lines add them, and its gradient is their sum: that is why the lecture
writes `=` and then `+=` for them. Their `bwd` is a `Branches`, which can
also compute one branch alone (the lecture's order assigns the first early).

`explain` is a template: {n}, {vocab}, {hidden}, {embd}, {block}, {fan_in}
are filled from the config (see texts.py), so no size is written into a text.

`v` holds the forward values by name, `g` the gradients computed so far by
name (without the 'd' prefix): g["probs"] is the lecture's dprobs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

Tensors = dict[str, torch.Tensor]

DATA, PARAM, ACTIVATION, LOSS = "data", "param", "activation", "loss"


@dataclass(frozen=True)
class Dims:
    """The sizes a shape depends on: batch n, block, embedding, hidden, vocab."""

    n: int = 32
    block: int = 3
    embd: int = 10
    hidden: int = 64
    vocab: int = 27

    @classmethod
    def of(cls, cfg, vocab: int) -> "Dims":
        """The sizes of a config (model.Config, or a schema with its fields) and a vocabulary."""
        return cls(n=cfg.batch_size, block=cfg.block_size, embd=cfg.n_embd, hidden=cfg.n_hidden, vocab=vocab)


@dataclass(frozen=True)
class Node:
    name: str
    kind: str
    inputs: tuple[str, ...]
    shape: Callable[[Dims], tuple[int, ...]]
    forward: str
    backward: str
    # the local rule in a sentence or two, shown beside the code (a template)
    explain: str = ""
    fwd: Callable[[Tensors], torch.Tensor] | None = field(default=None, repr=False)
    bwd: Callable[[Tensors, Tensors], Tensors] | None = field(default=None, repr=False)

    @property
    def grad_name(self) -> str:
        return "d" + self.name


def _n(v: Tensors) -> int:
    return v["Xb"].shape[0]


def _eps(v: Tensors) -> float:
    return v.get("bn_eps", 1e-5)


class Branches:
    """The backward of a node used twice: one rule per consumer, in code order
    (the line with `=` first, then the one with `+=`)."""

    def __init__(self, *rules: tuple[str, Callable[[Tensors, Tensors], torch.Tensor]]):
        self.rules = rules

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.rules)

    def __call__(self, v: Tensors, g: Tensors, only: str | None = None) -> Tensors:
        return {c: fn(v, g) for c, fn in self.rules if only is None or c == only}


# dC as the lecture writes it, in exercises 1 and 4: every position (k, j) of the
# batch adds its gradient into the row of C it read (index_add_ in one call is a
# viewer's vectorisation: model/derive.py offers it as the alternative).
DC_LOOP = ("dC = torch.zeros_like(C)\n"
           "for k in range(Xb.shape[0]):\n"
           "    for j in range(Xb.shape[1]):\n"
           "        ix = Xb[k, j]\n"
           "        dC[ix] += demb[k, j]")

NODES: tuple[Node, ...] = (
    # ---- data and parameters: the leaves -------------------------------
    Node("Xb", DATA, (), lambda d: (d.n, d.block),
         "Xb = Xtr[ix]", "",
         "Integer contexts: indices carry no gradient."),
    Node("Yb", DATA, (), lambda d: (d.n,),
         "Yb = Ytr[ix]", "",
         "The target characters: indices carry no gradient."),
    Node("C", PARAM, (), lambda d: (d.vocab, d.embd),
         "C = torch.randn((vocab_size, n_embd))",
         DC_LOOP,
         "A row lookup in the forward routes each row's gradient back to the row it read; rows read "
         "several times add up, hence += in the lecture's double loop. Seen as a matrix product, with "
         "Xb and demb flattened so that each of the {n}·{block} positions is a row, emb is a one-hot "
         "matrix times C, so dC is that one-hot matrix transposed times demb: "
         "`F.one_hot(Xb.view(-1), num_classes=vocab_size).to(demb.dtype).T @ demb.view(-1, n_embd)` "
         "(.to(demb.dtype) makes the integer one-hot a float matrix, .float() in float32). The loop "
         "computes the same sums without building those {vocab}-wide one-hot rows.",
         bwd=lambda v, g: {"emb": torch.zeros_like(v["C"]).index_add_(
             0, v["Xb"].reshape(-1), g["emb"].reshape(-1, v["C"].shape[1]))}),
    Node("W1", PARAM, (), lambda d: (d.block * d.embd, d.hidden),
         "W1 = torch.randn((n_embd * block_size, n_hidden)) * (5/3) / (n_embd * block_size)**0.5",
         "dW1 = embcat.T @ dhprebn",
         "hprebn = embcat @ W1 + b1: W1's gradient is the upstream dhprebn multiplied by the other "
         "operand, embcat. ({fan_in},{n}) @ ({n},{hidden}) is the only product of the two giving W1's "
         "shape ({fan_in},{hidden}).",
         bwd=lambda v, g: {"hprebn": v["embcat"].T @ g["hprebn"]}),
    Node("b1", PARAM, (), lambda d: (d.hidden,),
         "b1 = torch.randn(n_hidden) * 0.1",
         "db1 = dhprebn.sum(0)",
         "hprebn = embcat @ W1 + b1: the local derivative by b1 is 1, so dhprebn passes unchanged, "
         "summed over the batch because b1 was broadcast to every row. BatchNorm subtracts the batch mean right after, so b1 cannot change the loss and db1 is "
         "rounding noise around 0.",
         bwd=lambda v, g: {"hprebn": g["hprebn"].sum(0)}),
    Node("W2", PARAM, (), lambda d: (d.hidden, d.vocab),
         "W2 = torch.randn((n_hidden, vocab_size)) * 0.1",
         "dW2 = h.T @ dlogits",
         "logits = h @ W2 + b2: W2's gradient is the upstream dlogits multiplied by the other operand, "
         "h. ({hidden},{n}) @ ({n},{vocab}) is the only product of the two giving W2's shape "
         "({hidden},{vocab}).",
         bwd=lambda v, g: {"logits": v["h"].T @ g["logits"]}),
    Node("b2", PARAM, (), lambda d: (d.vocab,),
         "b2 = torch.randn(vocab_size) * 0.1",
         "db2 = dlogits.sum(0)",
         "logits = h @ W2 + b2: the local derivative by b2 is 1, so dlogits passes unchanged, summed "
         "over the batch because the one b2 was added to every row.",
         bwd=lambda v, g: {"logits": g["logits"].sum(0)}),
    Node("bngain", PARAM, (), lambda d: (1, d.hidden),
         "bngain = torch.randn((1, n_hidden)) * 0.1 + 1.0",
         "dbngain = (bnraw * dhpreact).sum(0, keepdim=True)",
         "hpreact = bngain * bnraw + bnbias: the local derivative by bngain is the other factor, bnraw; "
         "times dhpreact, then summed over the batch, because one gain per unit was broadcast to every "
         "example.",
         bwd=lambda v, g: {"hpreact": (v["bnraw"] * g["hpreact"]).sum(0, keepdim=True)}),
    Node("bnbias", PARAM, (), lambda d: (1, d.hidden),
         "bnbias = torch.randn((1, n_hidden)) * 0.1",
         "dbnbias = dhpreact.sum(0, keepdim=True)",
         "hpreact = bngain * bnraw + bnbias: the local derivative by bnbias is 1, so dhpreact passes "
         "unchanged, summed over the batch because one bias per unit was added to every example.",
         bwd=lambda v, g: {"hpreact": g["hpreact"].sum(0, keepdim=True)}),
    # ---- the forward pass, one tensor a line -----------------------------
    Node("emb", ACTIVATION, ("C", "Xb"), lambda d: (d.n, d.block, d.embd),
         "emb = C[Xb]",
         "demb = dembcat.view(emb.shape)",
         "embcat is emb viewed as ({n},{fan_in}): a view moves no numbers, so demb is dembcat viewed "
         "back to ({n},{block},{embd}).",
         fwd=lambda v: v["C"][v["Xb"]],
         bwd=lambda v, g: {"embcat": g["embcat"].view(v["emb"].shape)}),
    Node("embcat", ACTIVATION, ("emb",), lambda d: (d.n, d.block * d.embd),
         "embcat = emb.view(emb.shape[0], -1)",
         "dembcat = dhprebn @ W1.T",
         "hprebn = embcat @ W1 + b1: embcat's gradient is the upstream dhprebn multiplied by the other "
         "operand, W1. ({n},{hidden}) @ ({hidden},{fan_in}) is the only product of the two giving "
         "embcat's shape ({n},{fan_in}).",
         fwd=lambda v: v["emb"].view(v["emb"].shape[0], -1),
         bwd=lambda v, g: {"hprebn": g["hprebn"] @ v["W1"].T}),
    Node("hprebn", ACTIVATION, ("embcat", "W1", "b1"), lambda d: (d.n, d.hidden),
         "hprebn = embcat @ W1 + b1",
         "dhprebn = dbndiff.clone()\n"
         "dhprebn += 1.0/n * torch.ones_like(hprebn) * dbnmeani",
         "Used twice (directly in bndiff, and through the mean bnmeani), so the two "
         "gradients add; the mean's sum becomes a 1/n broadcast down the {n} rows.",
         fwd=lambda v: v["embcat"] @ v["W1"] + v["b1"],
         bwd=Branches(
             ("bndiff", lambda v, g: g["bndiff"].clone()),
             ("bnmeani", lambda v, g: 1.0 / _n(v) * torch.ones_like(v["hprebn"]) * g["bnmeani"]))),
    Node("bnmeani", ACTIVATION, ("hprebn",), lambda d: (1, d.hidden),
         "bnmeani = 1/n * hprebn.sum(0, keepdim=True)",
         "dbnmeani = (-dbndiff).sum(0)",
         "bndiff = hprebn - bnmeani: the local derivative by bnmeani is -1, and the mean was broadcast "
         "down the rows when subtracted, so its gradient sums dbndiff over the batch, negated. The "
         "lecture writes the sum without keepdim, so dbnmeani comes out ({hidden},), one size-1 axis "
         "short of bnmeani's (1,{hidden}): cmp accepts it because the same numbers broadcast to that "
         "shape, and the dhprebn line broadcasts it down the rows either way.",
         fwd=lambda v: 1 / _n(v) * v["hprebn"].sum(0, keepdim=True),
         bwd=lambda v, g: {"bndiff": -g["bndiff"].sum(0, keepdim=True)}),
    Node("bndiff", ACTIVATION, ("hprebn", "bnmeani"), lambda d: (d.n, d.hidden),
         "bndiff = hprebn - bnmeani",
         "dbndiff = bnvar_inv * dbnraw\n"
         "dbndiff += 2 * bndiff * dbndiff2",
         "Used twice (in bnraw and, squared, in the variance bndiff2), so two gradients add.",
         fwd=lambda v: v["hprebn"] - v["bnmeani"],
         bwd=Branches(
             ("bnraw", lambda v, g: v["bnvar_inv"] * g["bnraw"]),
             ("bndiff2", lambda v, g: 2 * v["bndiff"] * g["bndiff2"]))),
    Node("bndiff2", ACTIVATION, ("bndiff",), lambda d: (d.n, d.hidden),
         "bndiff2 = bndiff**2",
         "dbndiff2 = 1.0/(n-1) * torch.ones_like(bndiff2) * dbnvar",
         "A sum over rows in the forward is a broadcast down the rows in the backward "
         "(scaled by Bessel's 1/(n-1)).",
         fwd=lambda v: v["bndiff"] ** 2,
         bwd=lambda v, g: {"bnvar": 1.0 / (_n(v) - 1) * torch.ones_like(v["bndiff2"]) * g["bnvar"]}),
    Node("bnvar", ACTIVATION, ("bndiff2",), lambda d: (1, d.hidden),
         "bnvar = 1/(n-1) * bndiff2.sum(0, keepdim=True)",
         "dbnvar = -0.5 * (bnvar + 1e-5)**-1.5 * dbnvar_inv",
         "Power rule on (bnvar + 1e-5)^(-1/2): the exponent drops by one, to -3/2.",
         fwd=lambda v: 1 / (_n(v) - 1) * v["bndiff2"].sum(0, keepdim=True),
         bwd=lambda v, g: {"bnvar_inv": -0.5 * (v["bnvar"] + _eps(v)) ** -1.5 * g["bnvar_inv"]}),
    Node("bnvar_inv", ACTIVATION, ("bnvar",), lambda d: (1, d.hidden),
         "bnvar_inv = (bnvar + 1e-5)**-0.5",
         "dbnvar_inv = (bndiff * dbnraw).sum(0, keepdim=True)",
         "bnraw = bndiff * bnvar_inv: the local derivative by bnvar_inv is the other factor, bndiff; "
         "times dbnraw, then summed over the batch, because bnvar_inv was broadcast down the rows.",
         fwd=lambda v: (v["bnvar"] + _eps(v)) ** -0.5,
         bwd=lambda v, g: {"bnraw": (v["bndiff"] * g["bnraw"]).sum(0, keepdim=True)}),
    Node("bnraw", ACTIVATION, ("bndiff", "bnvar_inv"), lambda d: (d.n, d.hidden),
         "bnraw = bndiff * bnvar_inv",
         "dbnraw = bngain * dhpreact",
         "Elementwise product: the local derivative is the other factor.",
         fwd=lambda v: v["bndiff"] * v["bnvar_inv"],
         bwd=lambda v, g: {"hpreact": v["bngain"] * g["hpreact"]}),
    Node("hpreact", ACTIVATION, ("bngain", "bnraw", "bnbias"), lambda d: (d.n, d.hidden),
         "hpreact = bngain * bnraw + bnbias",
         "dhpreact = (1.0 - h**2) * dh",
         "h = tanh(hpreact), and tanh' = 1 - tanh² exactly (no series, no approximation), so it is written "
         "with the output h. Near saturation little passes: at |h| = 0.97, 1 - h² is about 0.06, "
         "so 6% of dh gets through.",
         fwd=lambda v: v["bngain"] * v["bnraw"] + v["bnbias"],
         bwd=lambda v, g: {"h": (1.0 - v["h"] ** 2) * g["h"]}),
    Node("h", ACTIVATION, ("hpreact",), lambda d: (d.n, d.hidden),
         "h = torch.tanh(hpreact)",
         "dh = dlogits @ W2.T",
         "logits = h @ W2 + b2: h's gradient is the upstream dlogits multiplied by the other operand, "
         "W2. ({n},{vocab}) @ ({vocab},{hidden}) is the only product of the two giving h's shape "
         "({n},{hidden}).",
         fwd=lambda v: torch.tanh(v["hpreact"]),
         bwd=lambda v, g: {"logits": g["logits"] @ v["W2"].T}),
    Node("logits", ACTIVATION, ("h", "W2", "b2"), lambda d: (d.n, d.vocab),
         "logits = h @ W2 + b2",
         "dlogits = dnorm_logits.clone()\n"
         "dlogits += F.one_hot(logits.max(1).indices, num_classes=logits.shape[1]) * dlogit_maxes",
         "Used twice (in norm_logits directly, and through the row max logit_maxes), so two gradients "
         "add; the max passes its gradient only to the position that won.",
         fwd=lambda v: v["h"] @ v["W2"] + v["b2"],
         bwd=Branches(
             ("norm_logits", lambda v, g: g["norm_logits"].clone()),
             ("logit_maxes", lambda v, g: F.one_hot(v["logits"].max(1).indices,
                                                    num_classes=v["logits"].shape[1]) * g["logit_maxes"]))),
    Node("logit_maxes", ACTIVATION, ("logits",), lambda d: (d.n, 1),
         "logit_maxes = logits.max(1, keepdim=True).values",
         "dlogit_maxes = (-dnorm_logits).sum(1, keepdim=True)",
         "Subtracting the max does not change the probabilities, so this is 0 up to rounding "
         "({rounding} in {dtype}).",
         fwd=lambda v: v["logits"].max(1, keepdim=True).values,
         bwd=lambda v, g: {"norm_logits": (-g["norm_logits"]).sum(1, keepdim=True)}),
    Node("norm_logits", ACTIVATION, ("logits", "logit_maxes"), lambda d: (d.n, d.vocab),
         "norm_logits = logits - logit_maxes",
         "dnorm_logits = counts * dcounts",
         "counts = exp(norm_logits), and exp is its own derivative: counts already holds it.",
         fwd=lambda v: v["logits"] - v["logit_maxes"],
         bwd=lambda v, g: {"counts": v["counts"] * g["counts"]}),
    Node("counts", ACTIVATION, ("norm_logits",), lambda d: (d.n, d.vocab),
         "counts = norm_logits.exp()",
         "dcounts = counts_sum_inv * dprobs\n"
         "dcounts += torch.ones_like(counts) * dcounts_sum",
         "Used twice (in probs and in its own row sum counts_sum), so two gradients add; "
         "the row sum becomes a broadcast across the {vocab} entries of the row.",
         fwd=lambda v: v["norm_logits"].exp(),
         bwd=Branches(
             ("probs", lambda v, g: v["counts_sum_inv"] * g["probs"]),
             ("counts_sum", lambda v, g: torch.ones_like(v["counts"]) * g["counts_sum"]))),
    Node("counts_sum", ACTIVATION, ("counts",), lambda d: (d.n, 1),
         "counts_sum = counts.sum(1, keepdim=True)",
         "dcounts_sum = (-counts_sum**-2) * dcounts_sum_inv",
         "Power rule on x^-1: the derivative is -x^-2.",
         fwd=lambda v: v["counts"].sum(1, keepdim=True),
         bwd=lambda v, g: {"counts_sum_inv": (-v["counts_sum"] ** -2) * g["counts_sum_inv"]}),
    Node("counts_sum_inv", ACTIVATION, ("counts_sum",), lambda d: (d.n, 1),
         "counts_sum_inv = counts_sum**-1",
         "dcounts_sum_inv = (counts * dprobs).sum(1, keepdim=True)",
         "counts_sum_inv was broadcast across each row: its gradient sums across the row. The forward "
         "writes counts_sum**-1, not 1.0/counts_sum, so that autograd differentiates the same power "
         "we do and the check can be bit-exact.",
         fwd=lambda v: v["counts_sum"] ** -1,
         bwd=lambda v, g: {"probs": (v["counts"] * g["probs"]).sum(1, keepdim=True)}),
    Node("probs", ACTIVATION, ("counts", "counts_sum_inv"), lambda d: (d.n, d.vocab),
         "probs = counts * counts_sum_inv",
         "dprobs = (1.0 / probs) * dlogprobs",
         "d log(x) = 1/x: a low probability on the right answer gets a big gradient.",
         fwd=lambda v: v["counts"] * v["counts_sum_inv"],
         bwd=lambda v, g: {"logprobs": (1.0 / v["probs"]) * g["logprobs"]}),
    Node("logprobs", ACTIVATION, ("probs",), lambda d: (d.n, d.vocab),
         "logprobs = probs.log()",
         "dlogprobs = torch.zeros_like(logprobs)\n"
         "dlogprobs[range(n), Yb] = -1.0/n",
         "The loss reads one entry a row, logprobs[i, Yb[i]], and averages the {n} of them: those entries "
         "get -1/n = -1/{n}, the other {vocab_less} of each row get 0.",
         fwd=lambda v: v["probs"].log(),
         bwd=lambda v, g: {"loss": _dlogprobs(v, g)}),
    Node("loss", LOSS, ("logprobs", "Yb"), lambda d: (),
         "loss = -logprobs[range(n), Yb].mean()",
         "dloss = 1.0",
         "Backprop starts here: dloss/dloss = 1. (At init the lecture printed 3.3377 on its list of "
         "32033 names. The number depends on the word list, the sizes and the random draws, so other "
         "data give other numbers; even the notebook's own code gives 3.31 to 3.35 on fresh runs, "
         "because it drew bngain and bnbias from an unseeded generator. For scale: a net that spread "
         "its probability evenly over the {vocab} characters would score ln {vocab}.)",
         fwd=lambda v: -v["logprobs"][torch.arange(_n(v)), v["Yb"]].mean(),
         bwd=lambda v, g: {"": torch.ones_like(v["loss"])}),
)


def _dlogprobs(v: Tensors, g: Tensors) -> torch.Tensor:
    n = _n(v)
    d = torch.zeros_like(v["logprobs"])
    d[torch.arange(n), v["Yb"]] = -1.0 / n * g["loss"]
    return d


BY_NAME: dict[str, Node] = {node.name: node for node in NODES}
PARAMS: tuple[str, ...] = tuple(n.name for n in NODES if n.kind == PARAM)
FORWARD_ORDER: tuple[str, ...] = tuple(n.name for n in NODES if n.fwd is not None)

# The lecture's backward order, one node a step: a node comes only after every
# node that consumes it, so its gradient is complete when it is computed.
BACKWARD_ORDER: tuple[str, ...] = (
    "loss", "logprobs", "probs", "counts_sum_inv", "counts_sum", "counts",
    "norm_logits", "logit_maxes", "logits", "h", "W2", "b2", "hpreact",
    "bngain", "bnbias", "bnraw", "bnvar_inv", "bnvar", "bndiff2", "bndiff",
    "bnmeani", "hprebn", "embcat", "W1", "b1", "emb", "C",
)


def consumers(name: str) -> tuple[str, ...]:
    """The nodes that take `name` as an input, in forward order."""
    return tuple(n.name for n in NODES if name in n.inputs)


def sources(name: str) -> tuple[str, ...]:
    """Where d<name> comes from, in the order its code adds the parts."""
    bwd = BY_NAME[name].bwd
    return bwd.sources if isinstance(bwd, Branches) else consumers(name)


def branches(name: str) -> int:
    """How many gradient contributions a node receives (2 for the `+=` nodes)."""
    return max(1, len(consumers(name)))


def _validate() -> None:
    # The registry is the single source of truth: check it is consistent once,
    # at import, so a typo fails loudly rather than drawing a wrong graph.
    seen: set[str] = set()
    for node in NODES:
        for inp in node.inputs:
            assert inp in seen, f"{node.name} uses {inp} before it is defined"
        seen.add(node.name)
    done: set[str] = set()
    for name in BACKWARD_ORDER:
        for c in consumers(name):
            assert c in done, f"d{name} needs d{c} first"
        done.add(name)
    for node in NODES:
        if branches(node.name) == 2:
            assert isinstance(node.bwd, Branches) and set(node.bwd.sources) == set(consumers(node.name)), node.name
    grad_nodes = {n.name for n in NODES if n.kind != DATA}
    assert set(BACKWARD_ORDER) == grad_nodes, grad_nodes ^ set(BACKWARD_ORDER)


_validate()
