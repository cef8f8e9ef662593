"""The notebook a learner starts from, examples/backprop_ninja.ipynb: valid,
committed without outputs, in the lecture's names, and run top to bottom in a
real Jupyter kernel (nbclient) on the built-in names, as a learner runs it.

Its cells carry tags the tests read: `install` (the pip cell), `forward`,
`exercise-1`, `check` (cells that call bpn.check) and `show` (bpn.show). A
check or show cell runs when the package has that function, and is left out
while it does not.

The kernel starts in a folder of its own, without names.txt, so the notebook
takes the built-in names; its first batch and loss are then the ones
backprop_ninja.model's MLP draws for the same seed."""
from __future__ import annotations

import ast
import importlib.util
import json
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from backprop_ninja.model import MLP, Config
from backprop_ninja.model.graph import BACKWARD_ORDER, BY_NAME, FORWARD_ORDER

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "examples" / "backprop_ninja.ipynb"
HAS = {"check": importlib.util.find_spec("backprop_ninja.notebook.check") is not None,
       "show": importlib.util.find_spec("backprop_ninja.notebook.widget") is not None}
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


def runnable(nb) -> nbformat.NotebookNode:
    """The notebook less the check and show cells whose functions the package does not have yet."""
    nb.cells = [c for c in nb.cells if all(HAS[t] for t in tags(c) & set(HAS))]
    return nb


def execute(nb, folder: Path) -> nbformat.NotebookNode:
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    return nb


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
    return execute(runnable(nb), tmp_path_factory.mktemp("learner"))


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


@pytest.mark.skipif(not HAS["check"], reason="bpn.check is not in the package yet")
def test_the_check_cell_lists_exercise_1_as_to_do(ran):
    shown = text(ran.cells[tagged(ran, "check")])
    assert "to do" in shown, shown
    for name in ("dlogprobs", "dhprebn", "dC"):
        assert name in shown, (name, shown)
    loop = [c for c in ran.cells if "check" in tags(c) and "for i in range(max_steps)" in c.source]
    assert loop and "the loop stopped at step 0" in text(loop[0]), text(loop[0]) if loop else "no loop"


@pytest.mark.skipif(not HAS["show"], reason="bpn.show is not in the package yet")
def test_the_show_cell_shows_a_widget(ran):
    outputs = ran.cells[tagged(ran, "show")].outputs
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs), outputs


def test_exercise_1_filled_with_the_lectures_lines_passes_cmp(tmp_path):
    """The exercise cell with each None replaced by the lecture's backward line
    (model.graph's), run in the kernel: cmp prints one line a gradient, every
    one approximate (and bpn.check, when there, finds nothing wrong)."""
    nb = load()
    cell = nb.cells[tagged(nb, "exercise-1")]
    cell.source = re.sub(r"^d(\w+) = None  # TODO.*$", lambda m: BY_NAME[m.group(1)].backward, cell.source,
                         flags=re.M)
    end = tagged(nb, "check") + 1 if HAS["check"] else tagged(nb, "exercise-1") + 1
    nb.cells = nb.cells[:end]
    execute(runnable(nb), tmp_path)
    assert not errors(nb), errors(nb)
    lines = text(nb.cells[tagged(nb, "exercise-1")]).strip().splitlines()
    assert [ln.split("|")[0].strip() for ln in lines] == list(EXERCISE_1), lines
    assert all("approximate: True " in ln for ln in lines), "\n".join(lines)
    if HAS["check"]:
        shown = text(nb.cells[tagged(nb, "check")])
        assert "WRONG" not in shown and "to do:" not in shown, shown
