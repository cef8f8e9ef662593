"""The three hints of Derive it (model/hints.py): filled for the config and
the dtype, teaching without giving the answer away, and every code span in
them runs."""
from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F

from backprop_ninja.model import derive, hints
from backprop_ninja.model.atomic import BackwardStepper
from backprop_ninja.model.config import Config
from backprop_ninja.model.graph import BY_NAME, Dims, sources
from backprop_ninja.model.mlp import MLP
from backprop_ninja.model.texts import MODES, node_text

WORDS = ["anna", "bob", "zoe", "kai", "lena", "max", "nora", "omar", "pia", "quin", "rosa", "ugo"]
LECTURE, ODD = Dims(), Dims(n=9, block=4, embd=5, hidden=11, vocab=13)
ALL = [(mode, node) for mode in MODES for node in derive.ORDER[mode]]
PLACEHOLDER = re.compile(r"\{[a-z_]*\}")


def all_hints(dims: Dims, dtype: str):
    for mode, node in ALL:
        for level, text in enumerate(hints.hints(mode, node, dims, dtype), 1):
            yield mode, node, level, text


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("dims", [LECTURE, ODD], ids=["lecture", "odd"])
def test_no_placeholder_left_anywhere(dims, dtype):
    for mode, node, level, text in all_hints(dims, dtype):
        assert text and not PLACEHOLDER.search(text), (mode, node, level, text)
        assert "{" not in text and "}" not in text, (mode, node, level, text)
    for mode in MODES:
        for name in BY_NAME:
            t = node_text(name, mode, dims, dtype)
            for field in (t.used_by, t.made_by, t.backward, t.rounding, *t.explain):
                assert not PLACEHOLDER.search(field), (mode, name, field)
    for mode, node in ALL:
        assert not PLACEHOLDER.search(derive.answer(mode, node)), (mode, node)


def test_sizes_and_dtype_come_from_the_session():
    say = {(m, n, k): t for m, n, k, t in all_hints(ODD, "float64")}
    assert "(9, 13)" in say["atomic", "logits", 1] and "n, vocab" in say["atomic", "logits", 1]
    assert "n = 9" in say["atomic", "logprobs", 3] and "float64" in say["atomic", "logit_maxes", 3]
    assert "~1e-17" in say["atomic", "logit_maxes", 3] and "1/8" in say["atomic", "bndiff2", 3]
    lecture = " ".join(t for *_, t in all_hints(LECTURE, "float32"))
    odd = " ".join(t for *_, t in all_hints(ODD, "float32"))
    numbers = lambda s: set(re.findall(r"(?<![\w.\-])\d+(?![\w.])", s))  # noqa: E731
    assert not numbers(odd) & {"27", "26", "32", "31", "64", "30", "10"}
    assert not numbers(lecture) & {"13", "12", "9", "8", "11", "20"}


# ---- the answer stays hidden ---------------------------------------------------
# the hints write math; read it back as code before comparing with the answer
SYMBOLS = (("·", "*"), ("−", "-"), ("γ", "bngain"), ("x̂", "bnraw"), ("dy", "dhpreact"), ("Σ", ""),
           ("²", "**2"), ("ᵀ", ".T"), ("⁻¹", "**-1"))


def as_code(text: str) -> str:
    for a, b in SYMBOLS:
        text = text.replace(a, b)
    text = re.sub(r"\.sum\([^)]*\)", "", text)  # a sum in words reads the same as .sum(...)
    return re.sub(r"\s+", "", text)


def giveaways(mode: str, node: str, dims: Dims) -> list[str]:
    """What a hint must not contain: every line of the answer (and of its alternative),
    the right-hand side of every d... line, and each matrix product written with its shapes."""
    code = derive.answer(mode, node)
    alt = derive.alternative(mode, node)
    lines = [ln for ln in (code + ("\n" + alt.code if alt else "")).splitlines() if ln.strip()]
    out = [as_code(ln) for ln in lines]
    for ln in lines:
        m = re.match(r"\s*d\w*(\[[^\]]*\])?\s*[-+*/]?=\s*(.+)$", ln)
        if m:
            rhs = as_code(m.group(2))
            if len(rhs) >= 3 and not re.fullmatch(r"[A-Za-z_]\w*", rhs):  # a bare name says nothing
                out.append(rhs)
        p = re.fullmatch(r"\s*d\w+\s*=\s*(\w+)(\.T)?\s*@\s*(\w+)(\.T)?\s*", ln)
        if p:
            shapes = []
            for name, t in ((p.group(1), p.group(2)), (p.group(3), p.group(4))):
                shape = BY_NAME[name.removeprefix("d") if name not in BY_NAME else name].shape(dims)
                shapes.append(str(tuple(reversed(shape)) if t else tuple(shape)).replace(" ", ""))
            out.append("@".join(shapes))
    return out


@pytest.mark.parametrize("dims", [LECTURE, ODD], ids=["lecture", "odd"])
def test_no_hint_gives_the_answer(dims):
    for mode, node, level, text in all_hints(dims, "float32"):
        said = as_code(text)
        for line in giveaways(mode, node, dims):
            assert line not in said, (mode, node, level, line, text)
        assert not re.search(rf"\bd{node}\s*(\[[^\]]*\])?\s*[-+*/]?=\s*\S", text), (mode, node, level, text)
        if level == 3:
            assert "`" not in text and "@" not in text, (mode, node, text)  # words and symbols, no code


def test_the_check_catches_what_the_old_hints_gave_away():
    # the matrix product with its shapes, and exercise 3's formula in symbols
    assert "(32,27)@(27,64)" in giveaways("atomic", "h", LECTURE)
    old = "γ·bnvar_inv/n · (n·dy − Σdy − n/(n−1)·x̂·Σ(dy·x̂))"
    assert any(g in as_code(old) for g in giveaways("fused", "hprebn", LECTURE))


# ---- what the hints say --------------------------------------------------------
def test_hint_2_names_the_lines_that_use_the_node():
    say = {(m, n, k): t for m, n, k, t in all_hints(LECTURE, "float32")}
    for mode, node in ALL:
        text = say[mode, node, 2]
        if mode == "fused" and node in ("logits", "hprebn"):
            continue
        for c in sources(node):
            assert f"`{BY_NAME[c].forward}`" in text and f"d{c}" in text, (mode, node)
        if len(sources(node)) == 2:
            assert "twice" in text and "add" in text, node
    assert "`loss = -logprobs[range(n), Yb].mean()`" in say["atomic", "logprobs", 2]
    assert "probs = counts * counts_sum_inv" in say["atomic", "counts", 2]
    assert "counts_sum = counts.sum(1, keepdim=True)" in say["atomic", "counts", 2]
    # the fused hints: the forward lines the block replaces, in order, and what flows back
    ce = say["fused", "logits", 2]
    assert "`loss = F.cross_entropy(logits, Yb)`" in ce and "from the loss itself, whose own gradient is one" in ce
    bn = say["fused", "hprebn", 2]
    lines = ["`bnmeani = hprebn.mean(0, keepdim=True)`", "`bnvar = hprebn.var(0, keepdim=True, unbiased=True)`",
             "`bnvar_inv = (bnvar + 1e-5)**-0.5`", "`bnraw = (hprebn - bnmeani) * bnvar_inv`",
             "`hpreact = bngain * bnraw + bnbias`"]
    assert all(x in bn for x in lines) and [bn.index(x) for x in lines] == sorted(bn.index(x) for x in lines), bn
    assert "What flows back is dhpreact" in bn


def test_hint_3_is_the_local_derivative():
    say = {(m, n, k): t for m, n, k, t in all_hints(LECTURE, "float32")}
    assert "d/dx log x = 1/x" in say["atomic", "probs", 3] and "arriving from logprobs" in say["atomic", "probs", 3]
    for node, other in (("h", "W2"), ("W2", "h"), ("embcat", "W1"), ("W1", "embcat")):
        assert "Which product" in say["atomic", node, 3] and other in say["atomic", node, 3], node
    assert "(32, 64)" in say["atomic", "h", 3]
    assert "three ways" in say["fused", "hprebn", 3] and "i = y" in say["fused", "logits", 3]
    assert "quotient rule" in say["fused", "logits", 3]
    assert "never assign" in say["atomic", "C", 3] and "bnraw" in say["atomic", "bngain", 3]


# ---- every code span in a hint runs ---------------------------------------------
@pytest.fixture(scope="module", params=["float32", "float64"])
def run(request):
    m = MLP(Config(n_hidden=11, batch_size=9, n_embd=5, block_size=4, seed=3, dtype=request.param), WORDS)
    m.forward()
    s = BackwardStepper(m.values)
    s.run()
    return m, s


def test_every_code_span_in_a_hint_runs(run):
    m, s = run
    dims = Dims(n=m.cfg.batch_size, block=m.cfg.block_size, embd=m.cfg.n_embd, hidden=m.cfg.n_hidden,
                vocab=m.vocab.size)
    ran = 0
    for mode, node, level, text in all_hints(dims, m.cfg.dtype):
        for code in re.findall(r"`([^`]+)`", text):
            ns = {"torch": torch, "F": F, "n": m.cfg.batch_size, **m.values}
            exec(code, ns)
            target = code.split("=")[0].strip()
            tol = 1e-6 if mode == "fused" else 0.0  # the fused forward's one-call forms round otherwise
            assert float((ns[target] - m.values[target]).abs().max()) <= tol, (mode, node, code)
            ran += 1
    assert ran >= len(ALL)
