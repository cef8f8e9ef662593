"""`python -m backprop_ninja.check my_exercise.ipynb` on a saved notebook: it
runs top to bottom in a real kernel and the table is printed; the exit code
says right (0), wrong (1) or could not check (2, with a sentence)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import nbformat

from nbkit import FORWARD, exercise1, lines, starter


def save(path, *cells: str) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Becoming a backprop ninja")]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, str(path))
    return str(path)


def cli(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "backprop_ninja.check", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_a_notebook_with_its_check_cell_all_correct(tmp_path):
    path = save(tmp_path / "mine.ipynb", starter(), FORWARD, exercise1(), "bpn.check(globals())")
    out = cli(path, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Exercise 1: the backward pass, one tensor at a time · float32")
    assert out.stdout.rstrip().endswith("26 of 26 correct")
    assert out.stderr == ""  # no runpy warning, and the kernel's own warnings stay out


def test_a_notebook_without_a_check_cell_is_checked_at_its_end(tmp_path):
    path = save(tmp_path / "planted.ipynb", starter(), FORWARD, exercise1("counts"))
    out = cli(path, "--exercise", "1", cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    rows = lines(out.stdout)
    assert rows["counts"].endswith("| WRONG: one branch only (+= missing)")
    assert rows["norm_logits"].endswith("| affected: uses dcounts")
    assert "First wrong node: dcounts: one branch only (+= missing)" in out.stdout


def test_a_cell_that_raises_is_a_sentence_and_exit_code_2(tmp_path):
    path = save(tmp_path / "broken.ipynb", starter(), FORWARD, "dprobs = dlogprobs / probs", "bpn.check(globals())")
    out = cli(path, cwd=tmp_path)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip() == ("Cell 4 (code cell 3) raised NameError: name 'dlogprobs' is not defined. Fix that "
                                  "cell (or run the notebook up to it in Jupyter to see the traceback), then check "
                                  "again.")
    early = save(tmp_path / "early.ipynb", starter(), "bpn.check(globals())", FORWARD)
    out = cli(early, cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.startswith("Cell 3 (code cell 2): check could not run: No forward pass yet")


def test_what_is_not_a_notebook(tmp_path):
    out = cli(str(tmp_path / "nowhere.ipynb"), cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.strip() == (
        f"No notebook at {tmp_path / 'nowhere.ipynb'}: give the path of a saved .ipynb file.")
    (tmp_path / "notes.ipynb").write_text("dprobs = 1/probs\n")
    out = cli("notes.ipynb", cwd=tmp_path)
    assert out.returncode == 2 and "notes.ipynb is not a notebook that Jupyter can read" in out.stderr
    assert "Traceback" not in out.stderr


def test_the_kernel_is_this_python_whatever_kernelspec_is_named_python3(tmp_path):
    """A user's own kernelspec named python3 (here one whose kernel cannot start, as one for another Python
    without backprop_ninja) does not take the check's place: the notebook runs in this interpreter."""
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-c", "import sys; sys.exit('not the check kernel')", "{connection_file}"],
        "display_name": "Python 3 (another one)", "language": "python"}))
    path = save(tmp_path / "mine.ipynb", starter(), FORWARD, exercise1(), "bpn.check(globals())")
    env = {**os.environ, "JUPYTER_PATH": str(tmp_path / "jupyter")}
    out = subprocess.run([sys.executable, "-m", "backprop_ninja.check", path], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.rstrip().endswith("26 of 26 correct")
