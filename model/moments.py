"""Where in the lecture video each part is done: a timestamped link per
chapter, per exercise, per exercise-1 node and per derivation. Links only:
nothing is ever loaded from the video's site.

The chapter times are the video's own chapter list. The finer moments come
from a timed transcript of the lecture (a Whisper transcription published in
the GitHub repository ckarageorgkaneen/whisperzh, makemore4/makemore4.json;
its segment times agree with the chapter list to within two seconds). Each
moment is the start of the transcript segment where the lecture turns to
that part, rounded to the nearest second; the comment beside it quotes the
words spoken there, so a moment can be checked against the video. Those
quotes are evidence for maintainers and are never shown to learners.

One thing the chapter list hides: exercise 1 does not end at the Bessel
chapter (1:05:17). That chapter is a digression in the middle of exercise 1,
right before the backward through the bnvar line, and exercise 1 carries on
(dbndiff2 ... dC) until exercise 2 begins at 1:26:31."""
from __future__ import annotations

from dataclasses import dataclass

VIDEO = "https://www.youtube.com/watch?v=q8SA3rM6ckI"
VIDEO_SECONDS = 6924  # 1:55:24; the transcript's last words start at 6921 s


@dataclass(frozen=True)
class Moment:
    seconds: int
    label: str

    def url(self) -> str:
        return f"{VIDEO}&t={self.seconds}s"

    def clock(self) -> str:
        """The moment as the video player writes it, e.g. 1:05:17."""
        h, rest = divmod(self.seconds, 3600)
        m, s = divmod(rest, 60)
        return f"{h}:{m:02d}:{s:02d}"


def _at(h: int, m: int, s: int, label: str) -> Moment:
    return Moment(h * 3600 + m * 60 + s, label)


# The video's chapter list (its description), unchanged.
INTRO = _at(0, 0, 0, "intro: backprop is a leaky abstraction, and some history")
STARTER = _at(0, 7, 26, "starter code: the notebook, cmp, the small random initialisation")
EXERCISE: dict[int, Moment] = {
    1: _at(0, 13, 1, "exercise 1: backprop through the atomic graph, node by node"),
    2: _at(1, 26, 31, "exercise 2: the cross-entropy backward in one expression"),
    3: _at(1, 36, 37, "exercise 3: the BatchNorm backward in one expression"),
    4: _at(1, 50, 2, "exercise 4: training with the hand-written backward only"),
}
BESSEL = _at(1, 5, 17, "a digression in exercise 1: Bessel's correction (n − 1) in BatchNorm")
OUTRO = _at(1, 54, 24, "outro")
CHAPTERS: tuple[Moment, ...] = (INTRO, STARTER, EXERCISE[1], BESSEL, EXERCISE[2], EXERCISE[3],
                                EXERCISE[4], OUTRO)


def _node(seconds: int, label: str) -> Moment:
    return Moment(seconds, f"exercise 1: {label}")


# Exercise 1: where the lecture turns to each node's gradient. A node used
# twice (counts, logits, bndiff, hprebn) links to its first branch here and
# to the branch that completes it (the `+=`) in SECOND_BRANCH.
NODE: dict[str, Moment] = {
    # 779.7 "...so we are starting here with d log props now d log props" (the words fall on the chapter start)
    "logprobs": _node(781, "dlogprobs"),
    # 1146.2 "Okay, so let's now continue our backpropagation. We have that logPROPS depends on PROPS through a log."
    "probs": _node(1146, "dprobs"),
    # 1256.1 "Next up is COUNTSUMINV. So we want the derivative of this."
    "counts_sum_inv": _node(1256, "dcounts_sum_inv"),
    # 1584.3 "Now let's also backpropagate into counts, which is the other variable here to create props."
    "counts": _node(1584, "dcounts, first branch (from probs)"),
    # 1677.0 "Okay, so we're continuing with this branch. ... Now we want the derivative for countSum."
    "counts_sum": _node(1677, "dcounts_sum"),
    # 1948.2 "Okay, hopefully we're getting a hang of this now. Counts is an element-wise exp of norm logits."
    "norm_logits": _node(1948, "dnorm_logits"),
    # 1994.0 "Okay, so we are here on this line now, dNormLogits. ... we're trying to calculate dLogits"
    "logits": _node(1994, "dlogits, first branch (from norm_logits)"),
    # 2105.7 "And then we have that dlogitmaxis, will be the negative of dnormlogits"
    "logit_maxes": _node(2105, "dlogit_maxes"),
    # 2502.9 "Next up, we want to continue with logits here. That is an outcome of a matrix multiplication"
    "h": _node(2502, "dh (the second linear layer, with the 2×2 example)"),
    # 3087.3 "Similarly, now if I want dw2 well I know that it must be a matrix multiplication of"
    "W2": _node(3087, "dW2"),
    # 3145.2 "So that's w2 and then db2 is just the vertical sum"
    "b2": _node(3145, "db2"),
    # 3214.9 "Now next up we have derivative for the h already and we need to backpropagate through tanh into h preact."
    "hpreact": _node(3214, "dhpreact (through tanh)"),
    # 3310.8 "...Okay next up we have dh preact and we want to backpropagate into the gain the b in raw"
    "bngain": _node(3311, "dbngain"),
    # 3480.6 "Next up we have b in raw so db in raw will be b in gain multiplying dh preact"
    "bnraw": _node(3480, "dbnraw"),
    # 3520.5 "And finally for the bias very similar"
    "bnbias": _node(3520, "dbnbias"),
    # 3690.2 "so now what we want to do is ... we have to first backpropagate into bndiff and bnvar inv"
    "bndiff": _node(3690, "dbndiff, first branch (from bnraw)"),
    # 3730.1 "and conversely to get dbnvar inv we need to take bndiff and multiply that by dbnraw"
    "bnvar_inv": _node(3730, "dbnvar_inv"),
    # 3855.7 "okay so now we have the derivative here ... because we're raising to a power of negative 0.5"
    "bnvar": _node(3855, "dbnvar (the power rule)"),
    # 4140.8 "okay so let's now actually backpropagate through this line" (after Bessel; "bndiff2.shape is 32 by 64")
    "bndiff2": _node(4140, "dbndiff2"),
    # 4438.0 "okay so let's now back propagate through this line here" (then "back propagate into the h pre bn")
    "hprebn": _node(4438, "dhprebn, first branch (from bndiff)"),
    # 4499.8 "to back propagate into this one what I'm inclined to do here is d bn mean i will basically be"
    "bnmeani": _node(4499, "dbnmeani"),
    # 4719.2 "let's backpropagate through the linear layer 1 here now" ("we have that d mcat should be")
    "embcat": _node(4719, "dembcat (the first linear layer)"),
    # 4779.2 "to get d w1 I need to end up with 30 by 64"
    "W1": _node(4779, "dW1"),
    # 4797.2 "and finally to get d b1 this is an addition"
    "b1": _node(4797, "db1"),
    # 4835.2 "okay so we now continue almost there we have the derivative of mcat and we want to backpropagate into mb"
    "emb": _node(4835, "demb (undoing the view)"),
    # 4920.9 "so now we are at the final line ... is this indexing operation here"
    "C": _node(4920, "dC (the embedding lookup, a loop with +=)"),
}
# The lecture never writes dloss: it starts at dlogprobs, so "loss" has no moment.

SECOND_BRANCH: dict[str, Moment] = {
    # 1739.8 "Okay, next up we want to backpropagate through this line. We have that countSum is counts.sum"
    "counts": _node(1739, "dcounts, second branch (from counts_sum), added with +="),
    # 2307.3 "Okay, so let's now continue backpropagation through this line here. We've just calculated the logitmaxis"
    "logits": _node(2307, "dlogits, second branch (from logit_maxes), added with +="),
    # 4362.2 "next up let's differentiate here into b and df so here we have that b and df is elementwise squared"
    "bndiff": _node(4362, "dbndiff, second branch (from bndiff2), added with +="),
    # 4611.5 "so let's now back propagate from b and mean i into h pre bn"
    "hprebn": _node(4611, "dhprebn, second branch (from bnmeani), added with +="),
}

# The fused groups of exercises 2 and 3, keyed by the gradient each produces.
FUSED: dict[str, Moment] = {
    "logits": Moment(EXERCISE[2].seconds, "exercise 2: dlogits in one expression"),
    "hprebn": Moment(EXERCISE[3].seconds, "exercise 3: dhprebn in one expression"),
}

# The derivations of model/derivations.py, keyed by their ids.
DERIVATION: dict[str, Moment] = {
    # 2618.6 "So pardon the low-budget production here, but ... I'm writing it out on a piece of paper."
    "matmul": Moment(2618, "exercise 1: d = a @ b + c worked out for 2×2 matrices on paper"),
    # 5305.6 "so let me show you a hint ... of how to get started mathematically"
    "cross_entropy": Moment(5305, "exercise 2: differentiating one row's loss on paper"),
    # 5898.0 "so to help you a little bit like I did before I started off the implementation here on pen and paper"
    "batchnorm": Moment(5898, "exercise 3: the BatchNorm backward on paper"),
    # 3226.9 "and here we have to backpropagate through a tanh and we've already done this in micrograd"
    "tanh": Moment(3226, "exercise 1: tanh's derivative, 1 − h², while deriving dhpreact"),
    # 4920.9 "so now we are at the final line ... this indexing operation here"
    "embedding": Moment(4920, "exercise 1: dC, routing demb back to the rows of C"),
}

# Moments of the lecture's explanations that other texts point at.
TOPIC: dict[str, Moment] = {
    # 488.9 "Now, you will note that I changed the initialization a little bit to be small numbers."
    "small_init": Moment(489, "starter code: why everything starts as small random numbers, not zeros"),
    # 1054.2 "Okay, so CMP ran, and let's go back to CMP. And you see that what it's doing is"
    "cmp": Moment(1054, "exercise 1: what cmp's exact, approximate and maxdiff mean"),
    # 2179.4 "Now before we move on, I want to pause here briefly, and I want to look at these logitmaxis"
    "logit_maxes_zero": Moment(2180, "exercise 1: why dlogit_maxes comes out almost zero"),
    # 3795.9 "now we'll actually notice that dbndiff by the way is going to be incorrect"
    "branch_pending": Moment(3795, "exercise 1: cmp flags dbndiff until its second branch is added"),
    # 4178.8 "any time you have a sum in the forward pass that turns into a replication or broadcasting"
    "sum_broadcast": Moment(4178, "exercise 1: a sum forward is a broadcast backward, and the reverse"),
    # 5409.3 "okay so I'm going to give away the result here ... the ith index ... is either equal to the label or not"
    "cross_entropy_cases": Moment(5409, "exercise 2: the two cases, i = y and i ≠ y"),
    # 5568.8 "now I'd like to pause here briefly ... I'd like us to get an intuitive sense of what dlogits is"
    "dlogits_forces": Moment(5568, "exercise 2: dlogits as pulls on the probabilities"),
    # 6045.6 "okay, so to get dl by d sigma square we have to remember again ... there are many x hats here"
    "batchnorm_dvar": Moment(6045, "exercise 3: dL/dσ²"),
    # 6117.4 "so now let's continue our back-propagation into mu which is dl by d mu" (then: "the gradient vanishes")
    "batchnorm_dmean": Moment(6117, "exercise 3: dL/dμ, and why its σ² term vanishes"),
    # 6233.1 "okay and now we get to the craziest part which is deriving dl by d xi"
    "batchnorm_dx": Moment(6233, "exercise 3: dL/dxᵢ, the three paths into each xᵢ"),
}
