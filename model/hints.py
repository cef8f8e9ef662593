"""The three hints of Derive it, each giving a little more away than the one
before, and none the answer: 1 the shape with its axes, 2 where the node is
used and what flows back from there, 3 the local derivative in words and
symbols (for a matrix product: reason with the shapes). Templates, filled for
the session's sizes and dtype like every text (texts.fill); code is set in
`backticks`, and tests/model/test_model_hints.py runs every such span."""
from __future__ import annotations

from .derive import axes, check_mode
from .graph import BY_NAME, Dims, sources
from .texts import FUSED_GROUPS, fill

# Hint 3, per node: the local derivative of the line(s) that use it, times
# what arrives from there. Never the code line (the test compares).
LOCAL = {
    "loss": "Nudge the loss by a small ε and the loss moves by exactly ε: the derivative of anything "
            "with respect to itself is one. There is nothing upstream to multiply by: this number is "
            "where the chain rule starts.",
    "logprobs": "The loss is −(1/n)·Σᵢ logprobs[i, Yb[i]]: minus the mean of one entry per row. By each "
                "picked entry its derivative is minus one over n (n = {n}); an entry the loss never "
                "reads does not move it at all, so its derivative is zero. Times the loss's own gradient, "
                "which is one.",
    "probs": "logprobs = log(probs), entry by entry, and d/dx log x = 1/x: each entry's local derivative "
             "is one over its own probability. Times the gradient arriving from logprobs, entry by "
             "entry. (A small probability on the right character makes a big gradient.)",
    "counts_sum_inv": "probs[i, j] = counts[i, j] · counts_sum_inv[i]: by counts_sum_inv[i] the local "
                      "derivative is the other factor, counts[i, j], times dprobs[i, j]. One "
                      "counts_sum_inv[i] served all {vocab} entries of row i (broadcast across the row), "
                      "so their {vocab} contributions add: sum across the row and keep the shape ({n}, 1).",
    "counts_sum": "counts_sum_inv = counts_sum^(−1). Power rule: d/dx xᵏ = k·xᵏ⁻¹, so d/dx x^(−1) is "
                  "minus x to the power −2 (mind the sign and the new exponent). Times the gradient "
                  "arriving from counts_sum_inv.",
    "counts": "Two parts. Through probs = counts · counts_sum_inv: the local derivative is the other "
              "factor, counts_sum_inv (one number per row, broadcast across it), times dprobs. Through "
              "counts_sum = Σⱼ counts[i, j]: a sum has local derivative 1 by each of its terms, so every "
              "entry of row i receives dcounts_sum[i], copied across the {vocab} columns. The two parts add.",
    "norm_logits": "counts = exp(norm_logits), and d/dx eˣ = eˣ: the local derivative is the forward's own "
                   "output, which counts already holds. Times the gradient arriving from counts, entry "
                   "by entry.",
    "logit_maxes": "norm_logits = logits − logit_maxes: by logit_maxes the local derivative is −1. Each "
                   "row's max was subtracted from all {vocab} entries of its row (broadcast), so the row's "
                   "{vocab} contributions add up, with that minus sign; keep the shape ({n}, 1). Expect "
                   "numbers near zero ({rounding} in {dtype}): shifting a row by a constant does not change "
                   "its softmax, so the max cannot change the loss.",
    "logits": "Two parts. Through norm_logits = logits − logit_maxes: the local derivative by logits is +1, "
              "so dnorm_logits passes through unchanged. Through logit_maxes, the row max: the max depends "
              "only on the entry that won, with derivative 1 there and 0 at the other {vocab_less}, so "
              "dlogit_maxes[i] goes to the argmax column of row i alone (a one-hot row of the argmax, "
              "scaled by dlogit_maxes[i]). The two parts add.",
    "h": "logits is the matrix product of h and W2, plus b2: each logit is a row of h times a column of W2, so h's "
         "gradient combines dlogits with the other operand, W2. Reason with the shapes: dlogits is "
         "({n}, {vocab}), W2 is ({hidden}, {vocab}), and dh must have h's shape, ({n}, {hidden}). Which "
         "product of dlogits and W2 (which order, which one transposed) gives ({n}, {hidden})?",
    "W2": "logits is the matrix product of h and W2, plus b2: W2's gradient combines dlogits with the other "
          "operand, h. Reason with the shapes: h is ({n}, {hidden}), dlogits is ({n}, {vocab}), and dW2 "
          "must have W2's shape, ({hidden}, {vocab}). Which product of h and dlogits gives that? The "
          "batch axis, {n}, is the one the product has to sum away.",
    "b2": "logits = h·W2 + b2 (a matrix product plus a bias): by b2 the local derivative is 1, so dlogits passes unchanged. But the "
          "one ({vocab},) vector b2 was added to all {n} rows (broadcast), so the {n} rows of the upstream "
          "gradient add up into one: sum over the batch axis. b2 has no leading size-1 axis, so the "
          "result is ({vocab},).",
    "hpreact": "h = tanh(hpreact), and d/dx tanh x = 1 − tanh²x exactly. tanh(hpreact) is h itself, so "
               "the local derivative is 1 − h², written with the output h, not with hpreact. Times the "
               "gradient arriving from h, entry by entry.",
    "bngain": "hpreact = bngain · bnraw + bnbias: by bngain the local derivative is the other factor, "
              "bnraw, times dhpreact, entry by entry. One gain per unit, shape (1, {hidden}), was "
              "broadcast to all {n} examples, so add over the batch axis and keep the shape (1, {hidden}).",
    "bnbias": "hpreact = bngain · bnraw + bnbias: by bnbias the local derivative is 1, so dhpreact passes "
              "unchanged. One bias per unit, shape (1, {hidden}), was added to all {n} examples: add over "
              "the batch axis, keeping (1, {hidden}).",
    "bnraw": "hpreact = bngain · bnraw + bnbias: by bnraw the local derivative is the other factor, "
             "bngain, times dhpreact. bnraw is ({n}, {hidden}) itself, so there is nothing to sum: the "
             "(1, {hidden}) gain broadcasts down the rows by itself.",
    "bnvar_inv": "bnraw = bndiff · bnvar_inv: by bnvar_inv the local derivative is the other factor, "
                 "bndiff, times dbnraw, entry by entry. The (1, {hidden}) scale was broadcast down all "
                 "{n} rows, so add over the batch axis and keep (1, {hidden}).",
    "bnvar": "bnvar_inv = (bnvar + ε)^(−1/2), with ε = 1e-5. Power rule: d/dx (x + ε)^k = k·(x + ε)^(k−1), "
             "so the −1/2 comes down as a factor and the exponent drops by one, to −3/2 (ε stays inside "
             "the bracket). Times the gradient arriving from bnvar_inv.",
    "bndiff2": "bnvar = 1/(n−1) · Σᵢ bndiff2[i, j]: a sum down each column, scaled by Bessel's 1/(n−1) = "
               "1/{n_less}, not 1/n. Every term of a sum has the same local derivative, here 1/(n−1), so "
               "every row receives its column's dbnvar times that factor: broadcast down the {n} rows.",
    "bndiff": "Two parts. Through bnraw = bndiff · bnvar_inv: the other factor, bnvar_inv (one per column, "
              "broadcast down the rows), times dbnraw. Through bndiff2 = bndiff²: d/dx x² = 2x, so twice "
              "bndiff, times dbndiff2. The two parts add.",
    "bnmeani": "bndiff = hprebn − bnmeani: by bnmeani the local derivative is −1. The (1, {hidden}) mean was "
               "subtracted from all {n} rows (broadcast), so the rows of the upstream gradient add up, with "
               "that minus sign. The lecture's own line drops the size-1 axis and gets ({hidden},); the "
               "check accepts either shape, as the lecture's cmp does.",
    "hprebn": "Two parts. Through bndiff = hprebn − bnmeani: the local derivative by hprebn is +1, so "
              "dbndiff passes through unchanged. Through bnmeani = (1/n)·Σᵢ hprebn[i, j]: each entry of "
              "column j has local derivative 1/n (n = {n}), so every row receives its column's dbnmeani "
              "divided by n, broadcast down the {n} rows. The two parts add.",
    "embcat": "hprebn is the matrix product of embcat and W1, plus b1: embcat's gradient combines dhprebn with the "
              "other operand, W1. Reason with the shapes: dhprebn is ({n}, {hidden}), W1 is ({fan_in}, "
              "{hidden}), and dembcat must have embcat's shape, ({n}, {fan_in}). Which product of dhprebn "
              "and W1 gives that?",
    "W1": "hprebn is the matrix product of embcat and W1, plus b1: W1's gradient combines dhprebn with the other "
          "operand, embcat. Reason with the shapes: embcat is ({n}, {fan_in}), dhprebn is ({n}, {hidden}), "
          "and dW1 must have W1's shape, ({fan_in}, {hidden}). Which product of embcat and dhprebn gives "
          "that? The batch axis, {n}, is the one the product has to sum away.",
    "b1": "hprebn = embcat·W1 + b1 (a matrix product plus a bias): by b1 the local derivative is 1, so dhprebn passes unchanged. b1, "
          "shape ({hidden},), was added to all {n} rows, so add over the batch axis (no size-1 axis to "
          "keep). Expect numbers near zero: BatchNorm subtracts the batch mean right after, so b1 cannot "
          "change the loss.",
    "emb": "embcat is emb viewed as ({n}, {fan_in}): the same numbers in the same order, only the shape "
           "differs. The local derivative is 1 for each number, so demb holds exactly dembcat's numbers, "
           "laid back out in emb's shape ({n}, {block}, {embd}). Nothing is summed and nothing moves.",
    "C": "emb = C[Xb] copies row Xb[k, j] of C into position (k, j) of emb, with local derivative 1. "
         "Backwards, the gradient at position (k, j) goes to row Xb[k, j] of C. A row read several times "
         "in the batch collects every one of those gradients: start from zeros shaped like C and add into "
         "the row at each position, never assign (assigning would keep only the last). The lecture does "
         "it with two nested loops over k and j.",
}

# Exercises 2 and 3: the fused view differentiates a whole block at once.
FUSED_WHERE = {
    "logits": "In the fused forward, logits go straight into the loss in one call: "
              "`loss = F.cross_entropy(logits, Yb)`. The seven nodes in between are gone, so no gradient "
              "of an intermediate (dprobs, dcounts, ...) is in scope: you differentiate the whole "
              "cross-entropy of the batch at once, from the loss itself, whose own gradient is one. "
              "You need logits (or their softmax), Yb and n.",
    "hprebn": "In the fused forward, hprebn feeds BatchNorm's lines: `bnmeani = hprebn.mean(0, keepdim=True)`, "
              "`bnvar = hprebn.var(0, keepdim=True, unbiased=True)`, `bnvar_inv = (bnvar + 1e-5)**-0.5` and "
              "`bnraw = (hprebn - bnmeani) * bnvar_inv`, then `hpreact = bngain * bnraw + bnbias`. What "
              "flows back is dhpreact; none of the gradients in between (dbnraw, dbnvar, dbnmeani) is in "
              "scope, so you go from dhpreact to dhprebn in one expression, with bnraw, bngain, bnvar_inv "
              "and n.",
}
FUSED_LOCAL = {
    "logits": "Work on one row, logits l and target y: its loss is ℓ = −log p_y, with pᵢ = e^(lᵢ) / Σⱼ "
              "e^(lⱼ). Either take the log apart first (ℓ = −l_y + log Σⱼ e^(lⱼ)) or use the quotient rule "
              "as the lecture does; either way split into two cases, i = y and i ≠ y, and look for the "
              "softmax in what you get. Then the batch: its loss is the mean of {n} such rows, and each "
              "logit belongs to one row.",
    "hprebn": "Per column, call hprebn x, the batch mean μ, the batch variance σ² (with n − 1), x̂ = bnraw, "
              "γ = bngain and dy = dhpreact. Each xᵢ reaches the loss three ways: directly through x̂ᵢ "
              "(local derivative 1/√(σ² + ε), which is bnvar_inv, once γ·dy has brought the gradient to "
              "x̂); through σ², on which all {n} x̂ⱼ of the column depend (dσ²/dxᵢ = 2(xᵢ − μ)/(n − 1)); "
              "and through μ (1/n for every row; μ's own route through σ² drops out, because deviations "
              "from the mean sum to zero). Find dL/dx̂ first, then dL/dσ² and dL/dμ as sums over the "
              "column, add the three routes, and write xⱼ − μ as x̂ⱼ·√(σ² + ε) to tidy up.",
}
assert set(FUSED_WHERE) == set(FUSED_LOCAL) == {g.output for g in FUSED_GROUPS}


def shape_hint(node: str, dims: Dims) -> str:
    """Hint 1: the gradient has the node's shape; here it is, with its axes."""
    shape = BY_NAME[node].shape(dims)
    if not shape:
        return f"d{node} is a single number, like {node}."
    return f"d{node} has the shape of {node}: {tuple(shape)}, axes ({', '.join(axes(node))})."


def where_used(mode: str, node: str) -> str:
    """Hint 2: the forward line(s) that use the node, and the gradient(s) that come back through them."""
    if mode == "fused" and node in FUSED_WHERE:
        return FUSED_WHERE[node]
    uses = sources(node)  # in the order the code adds their parts
    if not uses:
        return (f"Nothing uses {node}: it is the last line of the forward pass, so backprop starts here, "
                "and no gradient flows in from anywhere else.")
    if len(uses) == 1:
        c = uses[0]
        return (f"{node} is used once, in `{BY_NAME[c].forward}`. From there d{c} flows back (it is in "
                f"scope): the chain rule combines it with the local derivative of that line by {node}.")
    a, b = uses
    return (f"{node} is used twice: in `{BY_NAME[a].forward}` and in `{BY_NAME[b].forward}`. Gradient flows "
            f"back along both: d{a} through the first line, d{b} through the second. Each gives a part "
            f"(its gradient combined with the local derivative of its line by {node}), and the two parts "
            "add: assign the first, then add the second with +=.")


def local_rule(mode: str, node: str) -> str:
    """Hint 3: the local derivative in words and symbols, times what arrives from above."""
    if mode == "fused" and node in FUSED_LOCAL:
        return FUSED_LOCAL[node]
    return LOCAL[node]


def hints(mode: str, node: str, dims: Dims, dtype: str = "float32") -> list[str]:
    """The three hints for d<node>, filled for the sizes and the dtype."""
    check_mode(mode, node)
    return [fill(t, dims, dtype) for t in (shape_hint(node, dims), where_used(mode, node), local_rule(mode, node))]


assert set(LOCAL) == {n.name for n in BY_NAME.values() if n.kind != "data"}
