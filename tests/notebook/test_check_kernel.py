"""bpn.check in a real Jupyter kernel (nbclient), as the learner runs it: the
lecture's starter code and forward cell, exercise 1's cell (right, and with
one mistake planted at each of several nodes), exercises 2 and 3's fused
lines, exercise 4's training loop; a check before the forward ran, and after
an update. Asserted on what the learner sees: the cell's text/plain and
text/html outputs (and the error output, one sentence)."""
from __future__ import annotations

import re
from html import escape

import pytest

from backprop_ninja.model.graph import BACKWARD_ORDER, Dims
from backprop_ninja.model.hints import hints
from backprop_ninja.model.mlp import FUSED_ORDER

from nbkit import error, execute, flat, exercise1, exercise4, lines, only_table, shown, starter, EXERCISE2, EXERCISE3, FORWARD

CHECK = "bpn.check(globals())"
# node planted -> the mistake's label and the first nodes after it that use it (affected)
PLANTS = {
    "probs": ("upstream gradient missing", ["counts_sum_inv", "counts"]),
    "counts": ("one branch only (+= missing)", ["norm_logits", "logits"]),
    "hpreact": ("tanh' taken at the input", ["bngain", "bnraw"]),
    "hprebn": ("missing 1/n", ["embcat", "W1", "emb", "C"]),
    "C": ("= where += is due", []),
}


@pytest.fixture(scope="module")
def lecture(tmp_path_factory):
    """The lecture's notebook at lecture size, float32: every scenario a cell pair (write, check)."""
    cells = [("starter", starter()), ("too_early", CHECK), ("forward", FORWARD),
             ("ex1", exercise1()), ("check_ex1", CHECK),
             ("kwargs", "bpn.check(dlogprobs=dlogprobs, dprobs=dprobs)"),
             ("hint", 'bpn.hint("dhprebn", 2)')]
    for node in PLANTS:
        cells += [(f"ex1_{node}", exercise1(node)), (f"check_{node}", CHECK)]
    init, loop = exercise4()
    cells += [("ex1_again", exercise1()),
              ("ex2", EXERCISE2.format(dim=1)), ("check_ex2", CHECK),
              ("ex2_wrong", EXERCISE2.format(dim=0)), ("check_ex2_wrong", CHECK),
              ("ex3", EXERCISE3), ("check_ex3", CHECK),
              ("ex4_init", init), ("ex4_loop", loop), ("after_update", CHECK),
              ("ex4_bessel", exercise4(bessel=True)[1])]
    return execute(cells, str(tmp_path_factory.mktemp("lecture")))


def test_all_correct_in_lecture_order(lecture):
    table = only_table(lecture["check_ex1"])
    text, rows = table["text"], lines(table["text"])
    assert list(rows) == [n for n in BACKWARD_ORDER if n != "loss"]  # dloss is not written: taken as 1
    assert all(ln.endswith("| correct") for ln in rows.values()), text
    assert text.startswith("Exercise 1: the backward pass, one tensor at a time · float32 · batch 32, block_size 3, "
                           "n_embd 10, n_hidden 64, vocab 27")
    assert "26 of 26 correct" in text and "First wrong" not in text
    # the columns are cmp's: the same exact / approximate / maxdiff as the lecture's cmp printed in the cell above
    printed = {ln.split()[0]: ln for ln in lecture["ex1"].outputs[0]["text"].splitlines()}
    for node, ln in rows.items():
        assert ln.startswith(printed[node]), (ln, printed[node])
    assert table["meta"] == {"kind": "check", "exercise": 1, "first_wrong": None, "correct": 26, "wrong": 0,
                             "affected": 0, "todo": 0}
    html = table["html"]
    assert html.count("<tr>") == 26 + 1 and "<table" in html and "26 of 26 correct" in html


@pytest.mark.parametrize("node", list(PLANTS))
def test_a_planted_mistake_is_the_first_wrong_node_and_named(lecture, node):
    label, after = PLANTS[node]
    table = only_table(lecture[f"check_{node}"])
    text, rows = table["text"], lines(table["text"])
    assert table["meta"]["first_wrong"] == node
    assert rows[node].endswith(f"| WRONG: {label}")
    assert f"First wrong node: d{node}: {label}" in flat(text)
    before = BACKWARD_ORDER[1:BACKWARD_ORDER.index(node)]
    assert all(rows[b].endswith("| correct") for b in before)
    for a in after:  # wrong only because they used it, directly or through each other
        assert re.search(r"\| affected: uses d\w+", rows[a]), rows[a]
    if after:
        assert "Affected: " in text and "their own lines are right" in flat(text)
    assert not [r for r in rows.values() if "WRONG" in r and not r.startswith(node + " ")]
    assert escape(f"WRONG: {label}") in table["html"] and f"First wrong node: d{node}" in table["html"]


def test_the_learner_sees_dprobs_wrong_and_the_rest_affected(lecture):
    text = only_table(lecture["check_probs"])["text"]
    rows = lines(text)
    assert rows["counts_sum_inv"].endswith("| affected: uses dprobs")
    assert rows["counts"].endswith("| affected: uses dprobs, dcounts_sum")
    assert "This is the local derivative alone." in flat(text)  # the catalogue's diagnosis, as Derive it words it
    assert "1 of 26 correct · 1 wrong · 24 affected" in text


def test_before_the_forward_cell_a_sentence_not_a_traceback(lecture):
    err = error(lecture["too_early"])
    assert err.ename == "CheckError" and "Run the forward cell first" in err.evalue
    assert len(err.traceback) == 1 and "run the forward cell first" in err.traceback[0].lower()


def test_keywords_check_only_the_gradients_passed(lecture):
    table = only_table(lecture["kwargs"])
    rows = lines(table["text"])
    assert list(rows) == ["logprobs", "probs"] and all(r.endswith("| correct") for r in rows.values())
    assert "to do: dcounts_sum_inv, dcounts_sum" in flat(table["text"])
    assert table["meta"]["todo"] == 24


def test_hint_is_derive_its_hint(lecture):
    out = lecture["hint"].outputs
    assert out[0].output_type == "execute_result"
    assert out[0]["data"]["text/plain"] == hints("atomic", "hprebn", Dims())[1]


def test_exercise_2_dlogits_in_one_step(lecture):
    table = only_table(lecture["check_ex2"])
    assert table["meta"]["exercise"] == 2
    assert table["text"].startswith("Exercise 2: dlogits in one step")
    assert "because loss_fast (exercise 2's forward) is defined" in flat(table["text"])
    assert list(lines(table["text"])) == ["logits"] and "1 of 1 correct" in table["text"]
    wrong = only_table(lecture["check_ex2_wrong"])["text"]
    assert lines(wrong)["logits"].endswith("| WRONG: softmax over the wrong dim")
    assert "F.softmax(logits, 1)" in flat(wrong)


def test_exercise_3_dhprebn_in_one_line(lecture):
    table = only_table(lecture["check_ex3"])
    assert table["meta"]["exercise"] == 3
    rows = lines(table["text"])
    assert list(rows) == ["hpreact", "hprebn"] and all(r.endswith("| correct") for r in rows.values())
    # the printed cmp line of the exercise-3 cell and check's agree
    printed = lecture["ex3"].outputs[0]["text"].strip()
    assert rows["hprebn"].startswith(printed)


def test_exercise_4_each_training_step_checked(lecture):
    tables = shown(lecture["ex4_loop"])
    assert len(tables) == 3  # one a step
    for t in tables:
        assert t["meta"]["exercise"] == 4 and t["meta"]["correct"] == len(FUSED_ORDER)
        assert "n_hidden 200" in t["text"] and "the counts, probs... in scope belong to another batch" in flat(t["text"])
        assert list(lines(t["text"])) == list(FUSED_ORDER)
    assert len({t["text"] for t in tables}) == 3  # three batches, three different tables
    assert error(lecture["ex4_loop"]) is None


def test_exercise_4_a_mistake_in_the_loop(lecture):
    tables = shown(lecture["ex4_bessel"])
    assert len(tables) == 3
    for t in tables:
        rows = lines(t["text"])
        assert t["meta"]["first_wrong"] == "hprebn"
        assert rows["hprebn"].endswith("| WRONG: n and n-1 mixed up")
        assert rows["embcat"].endswith("| affected: uses dhprebn") and rows["C"].endswith("| affected: uses demb")
        # right, or right to rounding (fused lines against the chain: see check.ROUNDING)
        assert all(re.search(r"\| correct( \(to rounding\))?$", rows[k]) for k in FUSED_ORDER[:FUSED_ORDER.index("hprebn")])


def test_after_the_update_a_sentence(lecture):
    err = error(lecture["after_update"])
    assert err.ename == "CheckError"
    assert "The parameters changed after the forward pass ran" in err.evalue
    assert len(err.traceback) == 1


@pytest.fixture(scope="module")
def other_sizes(tmp_path_factory):
    """Another model in float64, in a fresh kernel: exercise 4 first (no exercise-1 tensors in it at all), then
    the forward cell and exercise 1."""
    sizes = dict(block=4, embd=5, hidden=16, batch=8, dtype="float64")
    init, loop = exercise4(hidden=16, dtype="float64")
    cells = [("starter", starter(**sizes)), ("ex4_init", init), ("ex4_loop", loop),
             ("forward", FORWARD), ("ex1", exercise1()), ("check_ex1", CHECK),
             ("ex1_bnvar", exercise1("bnvar")), ("check_bnvar", CHECK),
             ("hint", 'bpn.hint("dbndiff2", 3, ns=globals())')]
    return execute(cells, str(tmp_path_factory.mktemp("sizes")))


def test_other_sizes_read_from_the_tensors(other_sizes):
    table = only_table(other_sizes["check_ex1"])
    assert table["text"].startswith("Exercise 1: the backward pass, one tensor at a time · float64 · batch 8, "
                                    "block_size 4, n_embd 5, n_hidden 16, vocab 27")
    assert table["meta"]["correct"] == 26
    wrong = only_table(other_sizes["check_bnvar"])
    assert wrong["meta"]["first_wrong"] == "bnvar"
    assert lines(wrong["text"])["bnvar"].endswith("| WRONG: wrong sign")
    assert lines(wrong["text"])["bndiff2"].endswith("| affected: uses dbnvar")


def test_other_sizes_exercise_4_in_a_fresh_kernel(other_sizes):
    tables = shown(other_sizes["ex4_loop"])
    assert len(tables) == 3
    for t in tables:
        assert "there are no counts, probs... of exercise 1" in flat(t["text"])
        assert "float64 · batch 8, block_size 4, n_embd 5, n_hidden 16" in t["text"]
        assert t["meta"]["correct"] == len(FUSED_ORDER)


def test_other_sizes_hint(other_sizes):
    text = other_sizes["hint"].outputs[0]["data"]["text/plain"]
    assert text == hints("atomic", "bndiff2", Dims(n=8, block=4, embd=5, hidden=16, vocab=27), "float64")[2]
    assert "1/7" in text


NEW_BATCH = "ix = torch.randint(0, Xtr.shape[0], (batch_size,), generator=g)\nXb, Yb = Xtr[ix], Ytr[ix]\n" + FORWARD
STALE = ("is from an earlier forward pass: it marks the labels of another batch, not this batch's Yb. The forward "
         "cell ran again (a new batch) after your backward lines: rerun your backward cell after the forward cell, "
         "then check.")


def test_gradients_of_an_earlier_batch_are_one_sentence_not_eleven_wrong_nodes(tmp_path):
    """The forward cell run again (a new batch) and check called without rerunning the backward cell: one
    sentence says the gradients are the old batch's (not "dlogprobs: right numbers, wrong places"); the
    backward cell run again, all is correct. The same for exercise 2's dlogits."""
    cells = execute([("starter", starter()), ("forward", FORWARD), ("ex1", exercise1()),
                     ("new_batch", NEW_BATCH), ("check_stale", CHECK),
                     ("ex1_again", exercise1()), ("check_again", CHECK),
                     ("ex2", EXERCISE2.format(dim=1)),
                     ("new_batch_2", NEW_BATCH + "loss_fast = F.cross_entropy(logits, Yb)\n"), ("check_stale_2", CHECK),
                     ("ex2_again", EXERCISE2.format(dim=1)), ("check_again_2", CHECK)], str(tmp_path))
    err = error(cells["check_stale"])
    assert err is not None and err.ename == "CheckError", cells["check_stale"].outputs
    assert err.evalue == "Your dlogprobs " + STALE
    assert len(err.traceback) == 1 and not shown(cells["check_stale"])
    assert "26 of 26 correct" in only_table(cells["check_again"])["text"]
    err = error(cells["check_stale_2"])
    assert err is not None and err.evalue == "Your dlogits " + STALE, cells["check_stale_2"].outputs
    table = only_table(cells["check_again_2"])
    assert table["meta"]["exercise"] == 2 and "1 of 1 correct" in table["text"]


def test_notes_and_sentences_name_the_cause(tmp_path):
    """dlogits without its logit_maxes branch passes cmp: the gradients after it are not called rounding; in
    float64 the rounding note does not advise float64; a new batch drawn without rerunning the forward is
    said to be that (not an update of the parameters)."""
    no_max = exercise1().replace(
        "dlogits += F.one_hot(logits.max(1).indices, num_classes=logits.shape[1]) * dlogit_maxes\n", "")
    assert no_max != exercise1()
    draw = "ix = torch.randint(0, Xtr.shape[0], (batch_size,), generator=g)\nXb, Yb = Xtr[ix], Ytr[ix]"
    cells = execute([("starter", starter()), ("forward", FORWARD), ("no_max", no_max), ("check_no_max", CHECK),
                     ("draw", draw), ("check_drawn", CHECK),
                     ("starter64", starter(dtype="float64")), ("forward64", FORWARD), ("ex1_64", exercise1()),
                     ("check64", CHECK)], str(tmp_path))
    text = flat(only_table(cells["check_no_max"])["text"])
    assert "dlogits: Correct to rounding, but the branch through logit_maxes is missing." in text, text
    assert "Approximate, not exact" not in text, text
    err = error(cells["check_drawn"])
    assert err is not None and "a new batch (Xb) was drawn after the forward pass ran" in err.evalue, err
    assert "parameters changed" not in err.evalue
    text = flat(only_table(cells["check64"])["text"])
    assert re.search(r"Approximate, not exact \(\d+ gradients, dhpreact to dC\): rounding, not a mistake", text), text
    assert "In float64" not in text
