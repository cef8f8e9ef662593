"""The learner's notebook, cell by cell, for the tests of bpn.check: the
lecture's starter code on the built-in names (backprop_ninja.model's data),
its forward cell (with retain_grad and loss.backward(), so its `cmp` works),
exercise 1's cell (benchmarks/derive_bench.py's `lecture_cell`: the lecture's
lines in the notebook's order with a cmp line per node, one mistake planted
at will), exercises 2 and 3's fused lines and exercise 4's training loop.
`execute` runs such a notebook in a real kernel (nbclient) and hands back
each cell by its tag, with what the learner sees in its outputs."""
from __future__ import annotations

import textwrap

import nbformat
from nbclient import NotebookClient

from backprop_ninja.model.graph import BY_NAME, FORWARD_ORDER
from backprop_ninja.notebook.cli import this_python
from benchmarks.derive_bench import lecture_cell

META = "backprop_ninja"

STARTER = """
import torch
import torch.nn.functional as F
from backprop_ninja.model.data import Dataset, load_words
import backprop_ninja as bpn

block_size, n_embd, n_hidden, batch_size = {block}, {embd}, {hidden}, {batch}
data = Dataset.from_words(load_words(None), block_size)
Xtr, Ytr = data.splits["train"]
vocab_size = data.vocab.size
g = torch.Generator().manual_seed(2147483647)
C = torch.randn((vocab_size, n_embd), generator=g)
W1 = torch.randn((n_embd * block_size, n_hidden), generator=g) * (5/3) / ((n_embd * block_size)**0.5)
b1 = torch.randn(n_hidden, generator=g) * 0.1
W2 = torch.randn((n_hidden, vocab_size), generator=g) * 0.1
b2 = torch.randn(vocab_size, generator=g) * 0.1
torch.manual_seed(1)  # the lecture draws bngain and bnbias unseeded; the tests want the same numbers each run
bngain = torch.randn((1, n_hidden)) * 0.1 + 1.0
bnbias = torch.randn((1, n_hidden)) * 0.1
parameters = [C, W1, b1, W2, b2, bngain, bnbias]
if "{dtype}" == "float64":
    parameters = [p.double() for p in parameters]
    C, W1, b1, W2, b2, bngain, bnbias = parameters
for p in parameters:
    p.requires_grad = True
n = batch_size
ix = torch.randint(0, Xtr.shape[0], (batch_size,), generator=g)
Xb, Yb = Xtr[ix], Ytr[ix]

def cmp(s, dt, t):
    ex = torch.all(dt == t.grad).item()
    app = torch.allclose(dt, t.grad)
    maxdiff = (dt - t.grad).abs().max().item()
    print(f'{{s:15s}} | exact: {{str(ex):5s}} | approximate: {{str(app):5s}} | maxdiff: {{maxdiff}}')
"""

FORWARD = "\n".join(BY_NAME[k].forward for k in FORWARD_ORDER) + """
for p in parameters:
    p.grad = None
for t in [logprobs, probs, counts, counts_sum, counts_sum_inv, norm_logits, logit_maxes, logits, h, hpreact,
          bnraw, bnvar_inv, bnvar, bndiff2, bndiff, hprebn, bnmeani, embcat, emb]:
    t.retain_grad()
loss.backward()
loss
"""

EXERCISE2 = """
loss_fast = F.cross_entropy(logits, Yb)
dlogits = F.softmax(logits, {dim})
dlogits[range(n), Yb] -= 1
dlogits /= n
cmp('logits', dlogits, logits)
"""

EXERCISE3 = """
hpreact_fast = bngain * (hprebn - hprebn.mean(0, keepdim=True)) / torch.sqrt(hprebn.var(0, keepdim=True, unbiased=True) + 1e-5) + bnbias
dhprebn = bngain*bnvar_inv/n * (n*dhpreact - dhpreact.sum(0) - n/(n-1)*bnraw*(dhpreact*bnraw).sum(0))
cmp('hprebn', dhprebn, hprebn)
"""

EXERCISE4_INIT = """
n_hidden = {hidden}
C = torch.randn((vocab_size, n_embd), generator=g)
W1 = torch.randn((n_embd * block_size, n_hidden), generator=g) * (5/3) / ((n_embd * block_size)**0.5)
b1 = torch.randn(n_hidden, generator=g) * 0.1
W2 = torch.randn((n_hidden, vocab_size), generator=g) * 0.1
b2 = torch.randn(vocab_size, generator=g) * 0.1
g_bn = torch.Generator().manual_seed(2147483647)  # seeded, as the example notebook: the same numbers each run
bngain = torch.randn((1, n_hidden), generator=g_bn) * 0.1 + 1.0
bnbias = torch.randn((1, n_hidden), generator=g_bn) * 0.1
parameters = [C, W1, b1, W2, b2, bngain, bnbias]
if "{dtype}" == "float64":
    parameters = [p.double() for p in parameters]
    C, W1, b1, W2, b2, bngain, bnbias = parameters
for p in parameters:
    p.requires_grad = True
"""

# exercise 4's fused forward (cross-entropy in one call, BatchNorm in three lines)
FUSED_FORWARD = """emb = C[Xb]
embcat = emb.view(emb.shape[0], -1)
hprebn = embcat @ W1 + b1
bnmean = hprebn.mean(0, keepdim=True)
bnvar = hprebn.var(0, keepdim=True, unbiased=True)
bnvar_inv = (bnvar + 1e-5)**-0.5
bnraw = (hprebn - bnmean) * bnvar_inv
hpreact = bngain * bnraw + bnbias
h = torch.tanh(hpreact)
logits = h @ W2 + b2
loss = F.cross_entropy(logits, Yb)
"""

# exercise 4: the fused forward, the fused backward by hand, no autograd; check each step before the update
EXERCISE4_LOOP = """
with torch.no_grad():
    for i in range({steps}):
        ix = torch.randint(0, Xtr.shape[0], (batch_size,), generator=g)
        Xb, Yb = Xtr[ix], Ytr[ix]
""" + textwrap.indent(FUSED_FORWARD, " " * 8) + """
        dlogits = F.softmax(logits, 1)
        dlogits[range(n), Yb] -= 1
        dlogits /= n
        dh = dlogits @ W2.T
        dW2 = h.T @ dlogits
        db2 = dlogits.sum(0)
        dhpreact = (1.0 - h**2) * dh
        dbngain = (bnraw * dhpreact).sum(0, keepdim=True)
        dbnbias = dhpreact.sum(0, keepdim=True)
        dhprebn = bngain*bnvar_inv/n * (n*dhpreact - dhpreact.sum(0) - n/(n-1)*bnraw*(dhpreact*bnraw).sum(0))
        dembcat = dhprebn @ W1.T
        dW1 = embcat.T @ dhprebn
        db1 = dhprebn.sum(0)
        demb = dembcat.view(emb.shape)
        dC = torch.zeros_like(C)
        dC.index_add_(0, Xb.view(-1), demb.view(-1, n_embd))
        grads = [dC, dW1, db1, dW2, db2, dbngain, dbnbias]

        bpn.check(globals())
        for p, grad in zip(parameters, grads):
            p.data += -0.1 * grad
"""
# exercise 3's line with n where Bessel's n-1 is due
EXERCISE4_BESSEL = ("n/(n-1)*bnraw*(dhpreact*bnraw)", "bnraw*(dhpreact*bnraw)")


def starter(block=3, embd=10, hidden=64, batch=32, dtype="float32") -> str:
    return STARTER.format(block=block, embd=embd, hidden=hidden, batch=batch, dtype=dtype)


def exercise1(planted: str | None = None) -> str:
    return lecture_cell(planted)


def exercise4(steps: int = 3, hidden: int = 200, dtype: str = "float32", bessel: bool = False) -> tuple[str, str]:
    loop = EXERCISE4_LOOP.format(steps=steps)
    if bessel:
        loop = loop.replace(*EXERCISE4_BESSEL)
    return EXERCISE4_INIT.format(hidden=hidden, dtype=dtype), loop


def execute(cells: list[tuple[str, str]], cwd: str, timeout: int = 300) -> dict:
    """Run [(tag, source), ...] top to bottom in a fresh kernel, errors allowed (as a learner's
    notebook goes on after a cell fails); {tag: the executed cell}."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src, metadata={"tags": [tag]}) for tag, src in cells]
    # the kernel is this interpreter (cli.this_python), not a kernelspec named python3 of another Python
    NotebookClient(nb, timeout=timeout, kernel_name="python3", kernel_manager_class=this_python(),
                   allow_errors=True, resources={"metadata": {"path": cwd}}).execute()
    return {cell.metadata["tags"][0]: cell for cell in nb.cells}


def shown(cell) -> list[dict]:
    """check's displays in a cell, as the learner sees them: [{text, html, meta}]."""
    return [{"text": o["data"]["text/plain"], "html": o["data"]["text/html"], "meta": o["metadata"][META]}
            for o in cell.outputs if o.output_type == "display_data" and META in o.get("metadata", {})]


def only_table(cell) -> dict:
    """The one table a check cell shows (and no other output: check's Report is not shown twice)."""
    tables = shown(cell)
    assert len(tables) == 1, [o.output_type for o in cell.outputs]
    assert [o.output_type for o in cell.outputs] == ["display_data"], cell.outputs
    return tables[0]


def error(cell) -> dict | None:
    errs = [o for o in cell.outputs if o.output_type == "error"]
    return errs[0] if errs else None


def lines(text: str) -> dict[str, str]:
    """The table's cmp lines by node: {"probs": "probs | exact: ... | WRONG: ..."}."""
    return {ln.split()[0]: ln for ln in text.splitlines() if " | exact: " in ln}


def flat(text: str) -> str:
    """The text with its wrapped lines joined: for phrases that may break across lines."""
    return " ".join(text.split())
