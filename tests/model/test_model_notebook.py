"""The notebook recipe in the README runs as written, and MLP's docstring too:
the lecture's audience works in Jupyter, so the documented calls must work."""
import re
from pathlib import Path

import model.mlp

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> dict:
    ns: dict = {}
    exec(compile(code.replace("m.train(10_000)", "m.train(200)").replace("m.train(1000)", "m.train(200)"),
                 "<notebook>", "exec"), ns)
    return ns


def test_readme_notebook_block_runs():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## From a notebook\s+```python\n(.*?)```", text, re.S).group(1)
    ns = _run(block)
    m = ns["m"]
    assert m.step == 201  # one update() and 200 train steps
    assert len(m.sample_names(3)) == 3


def test_mlp_docstring_recipe_runs():
    lines = [ln.strip() for ln in model.mlp.__doc__.splitlines() if ln.startswith("    ")]
    ns = _run("\n".join(ln.split("  #")[0] for ln in lines))
    m = ns["m"]
    assert m.cfg.dtype == "float64" and m.step == 201
    assert m.calibration is not None
