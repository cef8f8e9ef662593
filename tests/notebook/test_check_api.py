"""bpn.check / bpn.report / bpn.hint called as a notebook calls them, on a
namespace where the lecture's cells ran (here in this process, quickly; the
same in a real kernel is tests/notebook/test_check_kernel.py): one mistake
planted at every node of exercise 1, in float32 and float64; the named
mistakes; keyword arguments; exercise 4's grads list; and every error a
learner can meet, each a sentence."""
from __future__ import annotations

import contextlib
import io
import re

import pytest
import torch

import backprop_ninja as bpn
from backprop_ninja.model.graph import BACKWARD_ORDER, BY_NAME, PARAMS, Dims, consumers
from backprop_ninja.model.hints import hints
from backprop_ninja.model.mlp import FUSED_ORDER
from backprop_ninja.notebook import CheckError
from benchmarks.derive_bench import PLANTED

from nbkit import FORWARD, exercise1, exercise4, flat, starter


def run(*cells: str, ns: dict | None = None) -> dict:
    """The cells executed in one namespace, as a kernel runs them (print output dropped; an error stops the
    cell where it happens, as in a notebook, and is kept in ns["_error"])."""
    ns = {} if ns is None else ns
    for cell in cells:
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(cell, ns)
        except Exception as err:  # the learner's cell failed part way: what it assigned stays
            ns["_error"] = err
    return ns


@pytest.fixture(scope="module", params=["float32", "float64"])
def forward(request) -> dict:
    return run(starter(dtype=request.param), FORWARD)


def dependents(node: str) -> set[str]:
    out = {node}
    for x in BACKWARD_ORDER:
        if any(c in out for c in consumers(x)):
            out.add(x)
    return out - {node}


def test_every_node_has_a_planted_mistake():
    assert list(PLANTED) == list(BACKWARD_ORDER)


# planted lines that raise in the learner's cell (benchmarks/derive_bench.py's PLANTED), and torch's message
RAISES = {"embcat": "cannot be multiplied"}


@pytest.mark.parametrize("node", BACKWARD_ORDER)
def test_a_mistake_planted_at_any_node_is_the_first_wrong(forward, node):
    ns = run(exercise1(node), ns=dict(forward))
    r = bpn.report(ns)
    before = BACKWARD_ORDER[:BACKWARD_ORDER.index(node)]
    assert all(r.row(b).status == "correct" for b in before)
    if node in RAISES:  # the planted line itself raises: the cell stops there, as in a notebook
        assert isinstance(ns["_error"], RuntimeError) and RAISES[node] in str(ns["_error"])
        after = BACKWARD_ORDER[BACKWARD_ORDER.index(node):]  # it and every line after it: not written
        assert [r.row(x).status for x in after] == ["todo"] * len(after) and r.first_wrong is None
        assert r.ok and f"to do: d{node}" in flat(r.text())
        return
    assert r.first_wrong == node and r.row(node).status == "wrong" and r.row(node).message
    assert f"First wrong node: d{node}" in r.text()
    for x in BACKWARD_ORDER[BACKWARD_ORDER.index(node) + 1:]:
        row = r.row(x)
        if row.status == "affected":  # wrong only because of what it used, which is wrong itself
            assert x in dependents(node) and row.affected_by
            assert all(r.row(u).status in ("wrong", "affected") for u in row.affected_by)
        elif row.status == "wrong":  # a cell that raised part way (dC's loop over a wrong demb)
            assert "_error" in ns and x in dependents(node)


# the mistakes Derive it names (tests/server/derive/test_derive_cells.py), named the same here
NAMED = [("probs", "dprobs = 1.0 / probs", "no_upstream"),
         ("counts", "dcounts = counts_sum_inv * dprobs\ndcounts = torch.ones_like(counts) * dcounts_sum", "one_branch"),
         ("bnvar", "dbnvar = (0.5*(bnvar + 1e-5)**-1.5) * dbnvar_inv", "sign"),
         ("hpreact", "dhpreact = (1.0 - hpreact**2) * dh", "tanh_input"),
         ("W1", "dW1 = dhprebn.T @ embcat", "transposed"),
         ("C", PLANTED["C"], "overwrite")]


@pytest.mark.parametrize("node,code,kind", NAMED, ids=[n for n, _, _ in NAMED])
def test_the_first_wrong_node_has_its_mistake_named(forward, node, code, kind):
    lines = [code if n == node else BY_NAME[n].backward for n in BACKWARD_ORDER[1:]]  # the answers, one planted
    r = bpn.report(run("\n".join(lines), ns=dict(forward)))
    row = r.row(node)
    assert r.first_wrong == node and row.mistake == kind and row.mistake_label and row.diagnosis
    assert f"WRONG: {row.mistake_label}" in r.text() and row.diagnosis.split(".")[0] in flat(r.text())
    for x in BACKWARD_ORDER[BACKWARD_ORDER.index(node) + 1:]:
        assert r.row(x).status in ("correct", "affected")
        if node in consumers(x):
            assert r.row(x).status == "affected" and node in r.row(x).affected_by


def test_a_gradient_changed_in_place_later(forward):
    ns = run(exercise1().replace("dhprebn = dbndiff.clone()", "dhprebn = dbndiff"), ns=dict(forward))
    r = bpn.report(ns)
    assert r.first_wrong == "bndiff" and r.row("bndiff").mistake == "in_place"
    assert "dhprebn = dbndiff.clone()" in r.row("bndiff").diagnosis
    assert r.row("hprebn").status == "correct" and r.row("emb").status == "correct"  # demb is a view: fine


def test_all_correct_and_dloss_taken_as_given(forward):
    r = bpn.report(run(exercise1(), ns=dict(forward)))
    assert r.ok and r.first_wrong is None and r.count("correct") == 26 and r.row("loss").given
    assert "loss " not in r.text()  # dloss is not a line of the lecture's cell
    r = bpn.report(run("dloss = 1.0", ns=dict(forward)))
    assert not r.row("loss").given and r.row("loss").exact and "loss " in r.text()


def test_keywords_check_what_is_passed_and_read_the_rest_from_the_callers_globals(forward):
    ns = run(exercise1(), "r = bpn.report(dlogprobs=dlogprobs, dprobs=2 * dprobs)", ns={**forward, "bpn": bpn})
    r = ns["r"]
    assert [x.node for x in r.rows if x.status != "todo" and not x.given] == ["logprobs", "probs"]
    assert r.first_wrong == "probs" and r.count("todo") == 24
    with pytest.raises(CheckError, match="dlogprob: not a name of the lecture's notebook"):
        bpn.report(forward, dlogprob=1)
    ns = run("dlogits = F.softmax(logits, 1)", ns=dict(forward))
    with pytest.raises(CheckError, match="not part of exercise 2"):
        bpn.report({**ns, "loss_fast": ns["loss"]}, dprobs=ns["logits"])


def test_the_package_attribute_check_stays_the_function_after_importing_the_cli_module(forward):
    import backprop_ninja.check as module  # python -m backprop_ninja.check's module
    ns = run(exercise1(), "out = bpn.check()", ns={**forward, "bpn": bpn})  # the caller's globals, no argument
    assert callable(bpn.check) and ns["out"].ok and ns["out"].count("correct") == 26
    assert module.main is not None


def test_check_prints_outside_ipython(forward, capsys):
    r = bpn.check(run(exercise1("probs"), ns=dict(forward)))
    out = capsys.readouterr().out
    assert out.strip() == r.text() and "probs           | exact: False | approximate: False" in out
    assert re.match(r"<Report exercise 1: \d+ correct, 1 wrong, \d+ affected, 0 to do, first wrong dprobs>", repr(r))


def test_exercise_4_reads_the_grads_list():
    init, loop = exercise4(steps=1, hidden=32)
    # one step, stopped before its update (check comes after the backward lines and before the update)
    loop = loop.replace("bpn.check(globals())", "pass").replace("p.data += -0.1 * grad", "pass")
    ns = run(starter(), init, loop, ns={"bpn": bpn})
    for k in PARAMS + ("hprebn", "dlogits"):
        ns.pop("d" + k, None)
    r = bpn.report(ns, exercise=4)
    assert [x.node for x in r.rows] == list(FUSED_ORDER)
    assert all(r.row(k).status == "correct" for k in PARAMS) and r.row("hprebn").status == "todo"
    # in a kernel that ran exercise 1, its names are still there: the loop's forward is told apart all the same
    ns2 = run(FORWARD, ns=run(starter()))
    ns2.update({k: ns[k] for k in ("C", "W1", "b1", "W2", "b2", "bngain", "bnbias", "Xb", "Yb", "emb", "embcat",
                                   "hprebn", "bnmean", "bnvar", "bnvar_inv", "bnraw", "hpreact", "h", "logits",
                                   "loss", "grads", "parameters")})
    assert bpn.report(ns2).exercise == 4


@pytest.mark.parametrize("change,message", [
    (lambda ns: {}, "No forward pass in this namespace"),
    (lambda ns: {k: ns[k] for k in ("Xb", "Yb")}, "C, W1, b1, W2, b2, bngain and bnbias are not defined"),
    (lambda ns: {**ns, "W1": ns["W1"].double()}, "W1 is float64 but C is float32"),
    (lambda ns: {**ns, "Xb": ns["Xb"].float()}, "Xb holds float32 numbers"),
    (lambda ns: {**ns, "C": ns["C"].half()}, "C is float16"),
    (lambda ns: {**ns, "b1": torch.zeros(3)}, "b1 has shape (3,)"),
    (lambda ns: {**ns, "W1": [1, 2]}, "W1 is a list, not a torch tensor"),
    (lambda ns: {k: v for k, v in ns.items() if k != "counts_sum"}, "counts_sum is not defined: run the forward cell"),
    (lambda ns: {k: v for k, v in ns.items() if k not in FORWARD_NAMES}, "No forward pass yet"),
    (lambda ns: {**ns, "hprebn": ns["hprebn"][:, :5]}, "hprebn has shape (32, 5)"),
    (lambda ns: {**ns, "W2": ns["W2"].detach() + 0.01}, "The parameters changed after the forward pass ran"),
    (lambda ns: {**ns, "counts": ns["counts"].detach() * 1.1}, "counts does not follow from the tensors"),
])
def test_what_check_cannot_use_is_a_sentence(change, message):
    ns = change(run(starter(), FORWARD))
    with pytest.raises(CheckError) as err:
        bpn.report(ns)
    assert message in str(err.value) and err.value.__cause__ is None and err.value.__suppress_context__
    assert err.value._render_traceback_() == [f"\x1b[31mCheckError\x1b[0m: {err.value}"]  # IPython shows this alone


FORWARD_NAMES = ("emb", "embcat", "hprebn", "bnmeani", "bndiff", "bndiff2", "bnvar", "bnvar_inv", "bnraw", "hpreact",
                 "h", "logits", "logit_maxes", "norm_logits", "counts", "counts_sum", "counts_sum_inv", "probs",
                 "logprobs", "loss")


def test_bad_arguments_are_sentences():
    ns = run(starter(), FORWARD)
    with pytest.raises(CheckError, match="exercise is 1, 2, 3 or 4"):
        bpn.report(ns, exercise=5)
    with pytest.raises(CheckError, match="it got a Tensor"):
        bpn.report(ns["W1"])
    r = bpn.report({**ns, "dprobs": [1.0], "dC": torch.zeros(27, 10, dtype=torch.long)})
    assert r.row("probs").message == "dprobs is a list, not a tensor." and r.row("C").status == "wrong"
    assert "integers" in r.row("C").message or "int64" in r.row("C").message


def test_hint_gives_derive_its_hints_for_the_notebooks_sizes():
    assert bpn.hint("dhprebn", 2) == hints("atomic", "hprebn", Dims())[1]
    assert bpn.hint("hprebn", 3, mode="fused") == hints("fused", "hprebn", Dims())[2]
    ns = run(starter(block=4, embd=5, hidden=16, batch=8, dtype="float64"), FORWARD)
    dims = Dims(n=8, block=4, embd=5, hidden=16, vocab=27)
    for level in (1, 2, 3):
        assert bpn.hint("dbndiff2", level, ns=ns) == hints("atomic", "bndiff2", dims, "float64")[level - 1]
    assert "(8, 16)" in bpn.hint("dhprebn", 1, ns=ns)
    ns["loss_fast"] = ns["loss"]  # exercise 2's cell ran: its hints are the fused ones
    assert bpn.hint("dlogits", 3, ns=ns) == hints("fused", "logits", dims, "float64")[2]
    for args, message in ((("dfoo", 1), "No gradient 'dfoo'"), (("dprobs", 4), "level is 1"),
                          (("dprobs", 1, "fused"), "not one of the fused backward's gradients"),
                          (("dprobs", 1, "other"), "mode is 'atomic'")):
        with pytest.raises(CheckError, match=message):
            bpn.hint(*args)


def test_other_labels_in_this_batchs_forward_are_a_mistake_not_an_old_batch(forward):
    """dlogprobs / dlogits that mark other labels than Yb but were made from this forward (dprobs from this
    probs, dlogits from this softmax) are judged wrong as usual; the sentence about an earlier batch is for
    gradients whose other numbers are not this forward's either."""
    ns = run("dlogprobs = torch.zeros_like(logprobs)\ndlogprobs[range(n), Yb.flip(0)] = -1.0/n\n"
             "dprobs = (1.0/probs) * dlogprobs", ns=dict(forward))
    assert (ns["Yb"].flip(0) != ns["Yb"]).sum() * 2 >= ns["Yb"].numel()
    r = bpn.report(ns)
    assert r.first_wrong == "logprobs" and r.row("probs").status == "affected"
    ns = run("loss_fast = F.cross_entropy(logits, Yb)\ndlogits = F.softmax(logits, 1)\n"
             "dlogits[range(n), Yb.flip(0)] -= 1\ndlogits /= n", ns=dict(forward))
    r = bpn.report(ns)
    assert r.exercise == 2 and r.first_wrong == "logits"
    # the same numbers, no dprobs of this forward beside it: an earlier batch
    ns = run("dlogprobs = torch.zeros_like(logprobs)\ndlogprobs[range(n), Yb.flip(0)] = -1.0/n", ns=dict(forward))
    with pytest.raises(CheckError, match="^Your dlogprobs is from an earlier forward pass"):
        bpn.report(ns)
