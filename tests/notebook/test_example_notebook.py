"""The notebook a learner starts from, examples/backprop_ninja.ipynb: valid,
committed without outputs, in the lecture's names, and run top to bottom in a
real Jupyter kernel (nbclient) on the built-in names, as a learner runs it.

Its cells carry tags the tests read: `install` (the pip cell), `forward`,
`exercise-1`, `check` (cells that call bpn.check) and `show` (bpn.show).

The kernel starts in a folder of its own, without names.txt, so the notebook
takes the built-in names; its first batch and loss are then the ones
backprop_ninja.model's MLP draws for the same seed."""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from backprop_ninja.model import MLP, Config
from backprop_ninja.model.graph import BACKWARD_ORDER, BY_NAME, FORWARD_ORDER
from backprop_ninja.notebook.cli import this_python
from nbkit import EXERCISE4_LOOP

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "examples" / "backprop_ninja.ipynb"
EXERCISE_1 = BACKWARD_ORDER[1:]  # dlogprobs ... dC: the lecture's exercise starts below dloss
# after the forward cell: what the test compares with the model, printed as one JSON line
PROBE = ('import json\n'
         'print(json.dumps({"loss": loss.item(), "Xb": Xb.tolist(), "Yb": Yb.tolist(), "words": len(words),'
         ' "vocab_size": vocab_size, "parameters": sum(p.nelement() for p in parameters)}))')


def load() -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK, as_version=4)


def tags(cell) -> set[str]:
    return set(cell.metadata.get("tags", []))


def tagged(nb, tag: str) -> int:
    found = [i for i, c in enumerate(nb.cells) if tag in tags(c)]
    assert found, f"no cell tagged {tag!r}"
    return found[0]


def execute(nb, folder: Path) -> nbformat.NotebookNode:
    # the kernel is this interpreter, not whatever kernelspec named python3 the machine has
    NotebookClient(nb, timeout=600, kernel_name="python3", kernel_manager_class=this_python(),
                   resources={"metadata": {"path": str(folder)}}).execute()
    return nb


def fill_exercise_1(nb, overwrite: str | None = None) -> None:
    """Each None of the exercise-1 cell replaced by the lecture's line (model.graph's); with `overwrite`,
    that node's `+=` line written with `=` (the second branch replaces the first)."""
    cell = nb.cells[tagged(nb, "exercise-1")]
    cell.source = re.sub(r"^d(\w+) = None  # TODO.*$", lambda m: BY_NAME[m.group(1)].backward, cell.source,
                         flags=re.M)
    if overwrite:
        assert f"d{overwrite} += " in cell.source
        cell.source = cell.source.replace(f"d{overwrite} += ", f"d{overwrite} = ")


def loop_cell(nb) -> int:
    found = [i for i, c in enumerate(nb.cells) if "for i in range(max_steps)" in c.source]
    assert len(found) == 1
    return found[0]


def fill_exercise_4(nb, steps: int, drop: str | None = None) -> None:
    """Exercise 4's TODO lines replaced by the fused backward (tests/notebook/nbkit.py's loop), `steps`
    steps instead of 200,000; with `drop`, that line of the backward left out (a planted mistake)."""
    cell = nb.cells[loop_cell(nb)]
    todo = re.search(r"^ +dlogits = None.*?^ +dC = None  # TODO\n", cell.source, re.M | re.S)
    lines = re.search(r"^ +dlogits = F\.softmax.*?index_add_.*?\n", EXERCISE4_LOOP, re.M | re.S).group(0)
    if drop:
        assert drop in lines
        lines = "".join(ln for ln in lines.splitlines(keepends=True) if drop not in ln)
    cell.source = cell.source[:todo.start()] + lines + cell.source[todo.end():]
    assert "max_steps = 200_000" in cell.source
    cell.source = cell.source.replace("max_steps = 200_000", f"max_steps = {steps}")


def text(cell) -> str:
    """What a learner sees of a cell: its printed text and its text/plain and text/html outputs."""
    out = []
    for o in cell.get("outputs", []):
        out.append(o.get("text", ""))
        for kind in ("text/plain", "text/html"):
            out.append(o.get("data", {}).get(kind, ""))
        if o.output_type == "error":
            out.append(f"{o.ename}: {o.evalue}")
    return "\n".join(out)


def errors(nb) -> list[str]:
    return [f"cell {i}: {o.ename}: {o.evalue}" for i, c in enumerate(nb.cells) if c.cell_type == "code"
            for o in c.outputs if o.output_type == "error"]


def assigned(source: str) -> list[str]:
    """The names a cell assigns, in order (tuple targets flattened)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                out += [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]
    return out


def test_the_notebook_is_valid_and_committed_without_outputs():
    nb = load()
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    dirty = [i for i, c in enumerate(code) if c.outputs or c.execution_count is not None]
    assert not dirty, f"code cells {dirty} have outputs or an execution count: clear them before committing"
    first = code[0]
    assert "install" in tags(first) and '%pip install' in first.source and "[notebook]" in first.source
    for tag in ("forward", "exercise-1", "check", "show"):
        tagged(nb, tag)


def test_the_forward_and_exercise_1_use_the_lectures_names_in_its_order():
    nb = load()
    forward = [n for n in assigned(nb.cells[tagged(nb, "forward")].source) if n in FORWARD_ORDER]
    assert forward == list(FORWARD_ORDER), forward
    source = nb.cells[tagged(nb, "exercise-1")].source
    todo = re.findall(r"^d(\w+) = None  # TODO", source, re.M)
    assert todo == list(EXERCISE_1), todo
    # the cells a learner fills hold no answer: every gradient of exercises 1-4 starts as None
    for cell in nb.cells:
        for line in re.findall(r"^\s*(d\w+) = (.+)$", cell.source, re.M):
            assert line[1].startswith("None"), f"{line[0]} = {line[1]}: the notebook gives an answer away"


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> nbformat.NotebookNode:
    """The notebook as committed, run top to bottom, with the probe after its forward cell."""
    nb = load()
    nb.cells.insert(tagged(nb, "forward") + 1, nbformat.v4.new_code_cell(PROBE, metadata={"tags": ["probe"]}))
    return execute(nb, tmp_path_factory.mktemp("learner"))


def test_it_runs_on_the_built_in_names_with_the_models_batch_and_loss(ran):
    assert not errors(ran), errors(ran)
    assert "installed already" in text(ran.cells[tagged(ran, "install")])  # the pip cell installs nothing where the package is
    probe = json.loads(text(ran.cells[tagged(ran, "probe")]).strip().splitlines()[-1])
    m = MLP(Config())  # the built-in names, the lecture's sizes and seed
    m.forward()
    assert probe["words"] == len(m.data.words) and probe["vocab_size"] == m.data.vocab.size == 27
    assert probe["parameters"] == 4137  # the lecture's count at n_hidden 64
    assert probe["Xb"] == m.value("Xb").tolist() and probe["Yb"] == m.value("Yb").tolist()
    assert probe["loss"] == pytest.approx(m.value("loss").item(), rel=1e-6), (probe["loss"], m.value("loss"))
    # nothing written yet: cmp prints nothing, the training loop stops at once, the rest still runs
    assert text(ran.cells[tagged(ran, "exercise-1")]).strip() == ""
    after = "\n".join(text(c) for c in ran.cells[tagged(ran, "exercise-1"):])
    assert re.search(r"^train loss \d\.\d{4}$", after, re.M) and re.search(r"^val loss \d\.\d{4}$", after, re.M)
    sampled = text(ran.cells[-1]).split()
    assert len(sampled) == 10 and all(re.fullmatch(r"[a-z]+", w) for w in sampled), sampled


def test_the_check_cell_lists_exercise_1_as_to_do(ran):
    shown = text(ran.cells[tagged(ran, "check")])
    assert "to do" in shown, shown
    for name in ("dlogprobs", "dhprebn", "dC"):
        assert name in shown, (name, shown)
    loop = [c for c in ran.cells if "check" in tags(c) and "for i in range(max_steps)" in c.source]
    assert loop and "the loop stopped at step 0" in text(loop[0]), text(loop[0]) if loop else "no loop"


def test_the_show_cell_shows_a_widget(ran):
    outputs = ran.cells[tagged(ran, "show")].outputs
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs), outputs


def test_exercise_1_filled_with_the_lectures_lines_passes_cmp(tmp_path):
    """The exercise cell with each None replaced by the lecture's backward line
    (model.graph's), run in the kernel: cmp prints one line a gradient, every
    one approximate (and bpn.check, when there, finds nothing wrong)."""
    nb = load()
    fill_exercise_1(nb)
    nb.cells = nb.cells[:tagged(nb, "check") + 1]
    execute(nb, tmp_path)
    assert not errors(nb), errors(nb)
    lines = text(nb.cells[tagged(nb, "exercise-1")]).strip().splitlines()
    assert [ln.split("|")[0].strip() for ln in lines] == list(EXERCISE_1), lines
    assert all("approximate: True " in ln for ln in lines), "\n".join(lines)
    shown = text(nb.cells[tagged(nb, "check")])
    assert "WRONG" not in shown and "to do:" not in shown, shown


@pytest.mark.parametrize("drop", [None, "dlogits /= n"])
def test_exercise_4_trains_only_once_check_finds_its_gradients_right(tmp_path, drop):
    """Exercise 4 filled in: with every line right the loop trains; with dlogits' /n left out, check shows
    dlogits wrong at step 0 and the loop stops there, before any update."""
    nb = load()
    fill_exercise_4(nb, steps=30, drop=drop)
    nb.cells = nb.cells[:loop_cell(nb) + 1]
    nb.cells.append(nbformat.v4.new_code_cell("print('steps', len(lossi))", metadata={"tags": ["steps"]}))
    execute(nb, tmp_path)
    assert not errors(nb), errors(nb)
    loop = text(nb.cells[loop_cell(nb)])
    steps = text(nb.cells[tagged(nb, "steps")]).strip()
    if drop is None:
        assert "WRONG" not in loop and "stopped" not in loop, loop
        assert steps == "steps 30"
    else:
        assert "First wrong node: dlogits" in loop, loop
        assert "A gradient above is wrong: the loop stopped at step 0." in loop, loop
        assert steps == "steps 0"


def test_the_cli_on_the_example_reports_a_mistake_in_exercise_1(tmp_path):
    """The README's command on the example notebook with exercise 1 filled in and `dcounts =` where
    `dcounts +=` is due: exercise 1's table (its first wrong node) is printed before the later exercises'
    tables, and the exit status is 1; --exercise 1 prints that table alone."""
    nb = load()
    fill_exercise_1(nb, overwrite="counts")
    path = tmp_path / "mine.ipynb"
    nbformat.write(nb, str(path))
    run = [sys.executable, "-m", "backprop_ninja.check", str(path)]
    out = subprocess.run(run, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 1, (out.stdout, out.stderr)
    titles = re.findall(r"^Exercise (\d):", out.stdout, re.M)
    assert titles == ["1", "2", "3", "4"], out.stdout
    first = out.stdout.split("Exercise 2:")[0]
    assert "First wrong node: dcounts" in first, first
    assert re.search(r"^counts .*\| WRONG", first, re.M), first
    only = subprocess.run(run + ["--exercise", "1"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert only.returncode == 1, (only.stdout, only.stderr)
    assert re.findall(r"^Exercise (\d):", only.stdout, re.M) == ["1"]
    assert "First wrong node: dcounts" in only.stdout
