"""The derivations the lecture does on paper, one step at a time: a sentence
and an equation (LaTeX) a step. The server turns the LaTeX into MathML, which
the browser draws itself; here it stays plain text, so the model needs no
typesetting library. `FOR_NODE` says which node's inspector offers which."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    text: str
    latex: str = ""


@dataclass(frozen=True)
class Derivation:
    id: str
    title: str
    steps: tuple[Step, ...]


DL = r"\frac{\partial L}{\partial "  # the prefix of every dL/d...

DERIVATIONS: tuple[Derivation, ...] = (
    Derivation("matmul", "Why a matrix product's gradient is another product, with a transpose", (
        Step("Take the smallest case that shows the pattern: d = a b + c with 2×2 matrices a, b and a "
             "bias row c added to both rows. Write every entry out.",
             r"\begin{pmatrix} d_{11} & d_{12} \\ d_{21} & d_{22} \end{pmatrix} = \begin{pmatrix} "
             r"a_{11}b_{11} + a_{12}b_{21} + c_1 & a_{11}b_{12} + a_{12}b_{22} + c_2 \\ "
             r"a_{21}b_{11} + a_{22}b_{21} + c_1 & a_{21}b_{12} + a_{22}b_{22} + c_2 \end{pmatrix}"),
        Step("a₁₁ appears in two entries, d₁₁ (times b₁₁) and d₁₂ (times b₁₂). The chain rule adds one "
             "term for each place it appears.",
             DL + r"a_{11}} = " + DL + r"d_{11}} b_{11} + " + DL + r"d_{12}} b_{12}"),
        Step("Do the same for all four entries of a. Each is a row of dL/dd times a row of b, which is a "
             "row of dL/dd times a column of bᵀ: the whole gradient is one product.",
             DL + r"a} = \begin{pmatrix} " + DL + r"d_{11}} b_{11} + " + DL + r"d_{12}} b_{12} & " + DL
             + r"d_{11}} b_{21} + " + DL + r"d_{12}} b_{22} \\ \cdots & \cdots \end{pmatrix} = " + DL
             + r"d}\, b^{T}"),
        Step("The same bookkeeping for b gives the product the other way round.",
             DL + r"b} = a^{T} " + DL + r"d}"),
        Step("cⱼ is added to every row of column j, so its gradient adds up that column: a broadcast in "
             "the forward is a sum in the backward.",
             DL + r"c_j} = \sum_i " + DL + r"d_{ij}}"),
        Step("You need not remember which side the transpose goes: only one product has the right shape. "
             "In the lecture's names: dh = dlogits @ W2.T, dW2 = h.T @ dlogits, db2 = dlogits.sum(0)."),
    )),
    Derivation("cross_entropy", "Cross-entropy through the softmax: where softmax minus one-hot comes from", (
        Step("One row of the batch, logits l and target y. The loss is minus the log of the softmax "
             "probability of the target. Two routes follow: first the lecture's own, with the quotient "
             "rule, then a shorter one that splits the log first. Both end at the same line.",
             r"\ell = -\log p_y, \qquad p_i = \frac{e^{l_i}}{\sum_j e^{l_j}}"),
        Step("Route 1, the lecture's: the chain rule through the log first. The derivative of −log p_y by "
             "any logit lᵢ is −1/p_y times the derivative of p_y by lᵢ; write S for the sum Σⱼ e^(lⱼ).",
             r"\frac{\partial \ell}{\partial l_i} = -\frac{1}{p_y}\,\frac{\partial p_y}{\partial l_i}, "
             r"\qquad p_y = \frac{e^{l_y}}{S}"),
        Step("Route 1. Case i = y: the quotient rule on e^(l_y)/S. The top's derivative is e^(l_y), and so "
             "is the bottom's (only one term of S depends on l_y). Times −1/p_y, that leaves p_y − 1.",
             r"\frac{\partial p_y}{\partial l_y} = \frac{e^{l_y} S - e^{l_y} e^{l_y}}{S^2} = p_y(1 - p_y) "
             r"\quad\Rightarrow\quad \frac{\partial \ell}{\partial l_y} = p_y - 1"),
        Step("Route 1. Case i ≠ y: the top does not depend on lᵢ, so only the bottom's derivative, e^(lᵢ), "
             "is left. Times −1/p_y, that leaves pᵢ.",
             r"\frac{\partial p_y}{\partial l_i} = \frac{0 \cdot S - e^{l_y} e^{l_i}}{S^2} = -p_y\, p_i "
             r"\quad\Rightarrow\quad \frac{\partial \ell}{\partial l_i} = p_i"),
        Step("Route 2: take the log apart before differentiating (log f − log g): the log of a quotient is a "
             "difference, and the log of e^(l_y) is l_y.",
             r"\ell = -l_y + \log \sum_j e^{l_j}"),
        Step("Route 2: differentiate the second term by any lᵢ: the log gives one over the sum, and of all the "
             "terms of the sum only e^(lᵢ) depends on lᵢ. Its derivative is e^(lᵢ) itself: that is "
             "where the e^(lᵢ) comes from, and the quotient is pᵢ again.",
             r"\frac{\partial}{\partial l_i} \log \sum_j e^{l_j} = \frac{1}{\sum_j e^{l_j}}\, e^{l_i} = p_i"),
        Step("Route 2. Case i = y: the first term, −l_y, adds −1: the same p_y − 1 as route 1.",
             r"\frac{\partial \ell}{\partial l_y} = p_y - 1"),
        Step("Route 2. Case i ≠ y: the first term does not depend on lᵢ, so only pᵢ is left, as in route 1.",
             r"\frac{\partial \ell}{\partial l_i} = p_i \qquad (i \neq y)"),
        Step("Either route, both cases in one line, with the one-hot vector of the target.",
             r"\frac{\partial \ell}{\partial l} = p - \mathrm{onehot}(y)"),
        Step("The loss is the mean over the n rows, so each row's part is divided by n. A row sums to zero: "
             "the probabilities sum to 1 and the one-hot holds a single 1.",
             r"\frac{\partial L}{\partial l_{ki}} = \frac{1}{n}\left(p_{ki} - [i = y_k]\right), \qquad "
             r"\sum_i \frac{\partial L}{\partial l_{ki}} = \frac{1}{n}(1 - 1) = 0"),
    )),
    Derivation("batchnorm", "BatchNorm on paper: x̂ → σ² → μ → x", (
        Step("One column of hprebn (one hidden unit) over the batch: x₁ … xₙ. The forward, with "
             "Bessel's n − 1 as in the lecture, and dL/dyᵢ (dhpreact) given.",
             r"\mu = \frac{1}{n}\sum_i x_i,\quad \sigma^2 = \frac{1}{n-1}\sum_i (x_i-\mu)^2,\quad "
             r"\hat x_i = \frac{x_i-\mu}{\sqrt{\sigma^2+\varepsilon}},\quad y_i = \gamma \hat x_i + \beta"),
        Step("x̂: each x̂ᵢ reaches the loss only through yᵢ.",
             DL + r"\hat x_i} = \gamma\, " + DL + r"y_i}"),
        Step("σ²: it feeds all n of the x̂ᵢ (a fan-out of n), so its gradient adds n terms. Each is the "
             "power rule on (σ² + ε)^(−1/2) times xᵢ − μ: this is dL/dσ² in its simplest form.",
             DL + r"\sigma^2} = \sum_i " + DL + r"\hat x_i}\,(x_i-\mu)\left(-\tfrac{1}{2}\right)"
             r"(\sigma^2+\varepsilon)^{-3/2}"),
        Step("μ: it feeds the n x̂ᵢ and also σ², so n + 1 terms.",
             DL + r"\mu} = \sum_i " + DL + r"\hat x_i} \frac{-1}{\sqrt{\sigma^2+\varepsilon}} + "
             + DL + r"\sigma^2} \cdot \frac{-2}{n-1}\sum_i (x_i-\mu)"),
        Step("The second term vanishes: deviations from the mean sum to zero, because μ is the mean of "
             "these very xᵢ. So dL/dμ simplifies to its first term alone.",
             r"\sum_i (x_i-\mu) = \sum_i x_i - n\mu = 0 \quad\Rightarrow\quad " + DL
             + r"\mu} = -\frac{1}{\sqrt{\sigma^2+\varepsilon}} \sum_i " + DL + r"\hat x_i}"),
        Step("The same happens in dσ²/dxᵢ taken all at once: μ's share drops out, and what is left is the "
             "simple form the next step uses.",
             r"\frac{\partial \sigma^2}{\partial x_i} = \frac{2}{n-1}\Big((x_i-\mu) - \frac{1}{n}\sum_j "
             r"(x_j-\mu)\Big) = \frac{2\,(x_i-\mu)}{n-1}"),
        Step("xᵢ: it reaches the loss three ways, through x̂ᵢ, through σ² and through μ. Add the three "
             "paths, each with its local derivative.",
             DL + r"x_i} = " + DL + r"\hat x_i} \frac{1}{\sqrt{\sigma^2+\varepsilon}} + " + DL
             + r"\sigma^2} \frac{2(x_i-\mu)}{n-1} + " + DL + r"\mu} \frac{1}{n}"),
        Step("Substitute the three results. Their sums run over the batch too, so rename their index to j "
             "(i is taken), write xⱼ − μ = x̂ⱼ √(σ² + ε), and pull out γ / (n √(σ² + ε)).",
             DL + r"x_i} = \frac{\gamma}{n\sqrt{\sigma^2+\varepsilon}}\Big(n\, " + DL + r"y_i} - \sum_j "
             + DL + r"y_j} - \frac{n}{n-1}\, \hat x_i \sum_j " + DL + r"y_j}\, \hat x_j\Big)"),
        Step("That is exercise 3's line for every column at once: 1/√(σ² + ε) is bnvar_inv, x̂ is bnraw, "
             "dL/dy is dhpreact, and the sums are .sum(0)."),
    )),
    Derivation("tanh", "tanh' = 1 − tanh², exactly", (
        Step("tanh written with exponentials.",
             r"\tanh x = \frac{e^{x} - e^{-x}}{e^{x} + e^{-x}}"),
        Step("The quotient rule: the derivative of the top is the bottom, and the derivative of the "
             "bottom is the top.",
             r"\frac{d}{dx}\tanh x = \frac{(e^{x}+e^{-x})^2 - (e^{x}-e^{-x})^2}{(e^{x}+e^{-x})^2}"),
        Step("Split the fraction: the first part is 1 and the second is tanh squared.",
             r"\frac{d}{dx}\tanh x = 1 - \left(\frac{e^{x}-e^{-x}}{e^{x}+e^{-x}}\right)^2 = 1 - \tanh^2 x"),
        Step("An identity, not a series or an approximation. Since h = tanh(hpreact) is already known, the "
             "backward needs no exp at all.",
             DL + r"\,\mathrm{hpreact}} = (1 - h^2)\, " + DL + r"h}"),
        Step("When the check shows ≈ here, that is rounding, not math: autograd evaluates the same "
             "expression with other roundings (see the float note)."),
    )),
    Derivation("embedding", "dC: the row lookup as a one-hot matrix product", (
        Step("Put the lookup as a product. Flatten Xb to one index per position (k runs over all n·block "
             "of them, and emb to one row per position): row k of onehot(X) holds a single 1, in column "
             "X_k, so it picks row X_k of C.",
             r"\mathrm{emb}_k = C_{X_k} \quad\Longleftrightarrow\quad \mathrm{emb} = \mathrm{onehot}(X)\, C"),
        Step("A matrix product, so the rule of the 2×2 example gives dC.",
             DL + r"C} = \mathrm{onehot}(X)^{T}\, " + DL + r"\,\mathrm{emb}}"),
        Step("Row r of that product adds up the gradient of every position that read row r.",
             DL + r"C_r} = \sum_{k:\, X_k = r} " + DL + r"\,\mathrm{emb}_k}"),
        Step("That sum is what the lecture's double loop computes, one position at a time with += (so a "
             "row read twice gets both parts). index_add_ in one call, the vectorised form the lecture's "
             "viewers proposed, computes the same sums; neither builds the one-hot matrix, which would be "
             "a row of vocabulary size for every character of the batch."),
    )),
)
BY_ID = {d.id: d for d in DERIVATIONS}

# Which derivation each node's inspector offers (fused group names included).
FOR_NODE = {
    "h": "matmul", "W2": "matmul", "b2": "matmul", "embcat": "matmul", "W1": "matmul", "b1": "matmul",
    "logits": "cross_entropy", "cross_entropy": "cross_entropy", "logprobs": "cross_entropy",
    "hprebn": "batchnorm", "batchnorm": "batchnorm", "bnvar": "batchnorm", "bnmeani": "batchnorm",
    "hpreact": "tanh",
    "C": "embedding",
}
assert set(FOR_NODE.values()) <= set(BY_ID)
